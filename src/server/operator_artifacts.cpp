// The artifact routes of the operator API (docs/protocol.md §5): upload, download, list, delete.
// Content-addressed files under <data-dir>/artifacts: on SQLite the store's own, on a store shared
// by replicas a cache of the store's (docs/decisions/0013, 0016).

#include <exception>
#include <fstream>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "common/log.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "net/file_io.hpp"
#include "protocol/codec.hpp"
#include "server/operator_api.hpp"

namespace orb::server {
namespace {

struct FileDigest {
  std::string sha256;
  std::uint64_t size = 0;
};

// The SHA-256 of a file's content. Errors: kIo.
Expected<FileDigest> DigestOf(const std::filesystem::path& path) {
  Sha256 hash;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(MakeError(Errc::kIo, "cannot open " + path.string()));
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) hash.Update(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Fail(MakeError(Errc::kIo, "cannot read " + path.string()));
  const auto size = hash.bytes();
  return FileDigest{hash.FinishHex(), size};
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

void OperatorApi::UploadArtifact(Call&& call) {
  const auto responder = call.responder;  // before `call` moves into the work
  deps_.calls.OnWorker(responder, [this, call = std::move(call)] {
    std::filesystem::path upload;
    if (call.request.body_file) {
      upload = *call.request.body_file;
    } else {
      // A body that was not streamed (the upload was small or had no Content-Length).
      upload = artifact_dir_ / (".upload-" + RandomHex(8));
      std::ofstream out(upload, std::ios::binary);
      out.write(call.request.body.data(), static_cast<std::streamsize>(call.request.body.size()));
      if (!out) return ReplyError(call.responder, MakeError(Errc::kIo, "cannot write upload"));
    }
    const auto fail = [&](const std::string& why) {
      std::error_code ignored;
      std::filesystem::remove(upload, ignored);
      ReplyError(call.responder, MakeError(Errc::kIo, why));
    };
    const auto digest = DigestOf(upload);
    if (!digest) return fail("cannot read upload");
    const auto& sha = digest->sha256;
    const auto size = digest->size;
    const auto target = artifact_dir_ / sha;
    std::optional<bool> stored_now;  // a shared store's answer: created by this upload
    if (artifacts_in_store_) {
      // Into the shared store, streamed from the upload file; the file then becomes this
      // replica's cached copy (docs/decisions/0016).
      std::ifstream in(upload, std::ios::binary);
      auto stored = deps_.store.PutArtifact(
          sha, size, [&in](std::span<char> buffer) -> Expected<std::size_t> {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            if (in.bad()) return Fail(Errc::kIo, "cannot read upload");
            return static_cast<std::size_t>(in.gcount());
          });
      in.close();
      if (!stored) {
        std::error_code ignored;
        std::filesystem::remove(upload, ignored);
        return ReplyError(call.responder, stored.error());
      }
      stored_now = *stored;
    }
    int status = 201;
    std::error_code ec;
    if (std::filesystem::exists(target, ec)) {
      // Content-addressed: the same name is the same bytes, unless the disk changed them. A stored
      // copy whose digest no longer matches is replaced by this upload.
      const auto stored = DigestOf(target);
      if (stored && stored->sha256 == sha) {
        std::filesystem::remove(upload, ec);
        status = 200;
      } else {
        GetLogger("fleet-cmdr")
            ->warn("artifact {} on disk no longer matches its digest: replaced by the upload", sha);
      }
    }
    if (status == 201) {
      // Durable before it is visible under its name: fsync, rename, fsync of the directory (a
      // crash leaves the old name or the whole new file, never a short one).
      if (auto synced = net::SyncPath(upload); !synced) {
        GetLogger("fleet-cmdr")->error("artifact {}: {}", sha, synced.error().message);
        return fail("cannot store artifact");
      }
      std::filesystem::rename(upload, target, ec);
      if (ec) return fail("cannot store artifact");
      if (auto synced = net::SyncPath(artifact_dir_); !synced) {
        GetLogger("fleet-cmdr")->warn("artifact {}: {}", sha, synced.error().message);
      }
    }
    if (stored_now) status = *stored_now ? 201 : 200;  // the shared store says, not the cache
    GetLogger("fleet-cmdr")
        ->info("artifact {} ({} bytes) {}", sha, size,
               status == 201 ? "stored" : "already present");
    Reply(call.responder, status,
          protocol::ToJson(protocol::ArtifactInfo{sha, size, "/v1/artifacts/" + sha}));
  });
}

void OperatorApi::DownloadArtifact(Call&& call) {
  std::string sha256(call.Param("sha256"));
  if (!IsSha256Hex(sha256)) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no artifact " + sha256));
  }
  const auto path = artifact_dir_ / sha256;
  // net answers Range from the file, or from the copy as it grows.
  const auto send = [path, sha256](const ResponderPtr& responder,
                                   std::shared_ptr<net::GrowingBody> growing) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    if (growing) {
      response.growing = std::move(growing);
    } else {
      response.file = path;
    }
    response.headers.push_back({"ETag", "\"" + sha256 + "\""});
    responder->Send(std::move(response));
  };
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return send(call.responder, nullptr);
  if (!artifacts_in_store_) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no artifact " + sha256));
  }
  // Uploaded through another replica: copied here from the store, and served as the copy grows.
  copies_.Open(sha256, [send, responder = call.responder](Expected<ArtifactCopies::Body> body) {
    if (!body) return ReplyError(responder, body.error());
    send(responder, std::move(body->growing));
  });
}

void OperatorApi::ListArtifacts(Call&& call) {
  deps_.calls.OnWorker(call.responder, [this, responder = call.responder] {
    auto entries = deps_.store.ListArtifacts();
    if (!entries) return ReplyError(responder, entries.error());
    protocol::ArtifactList list;
    for (auto& entry : *entries) {
      list.artifacts.push_back({entry.stat.sha256, entry.stat.size, entry.stat.created_at,
                                "/v1/artifacts/" + entry.stat.sha256, entry.unfinished_jobs});
    }
    Reply(responder, 200, protocol::ToJson(list));
  });
}

void OperatorApi::DeleteArtifact(Call&& call) {
  std::string sha256(call.Param("sha256"));
  if (!IsSha256Hex(sha256)) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no artifact " + sha256));
  }
  deps_.calls.OnWorker(call.responder,
                       [this, responder = call.responder, sha256 = std::move(sha256)] {
                         // The store refuses (409 invalid_state) while an unfinished job names the artifact.
                         if (auto deleted = deps_.store.DeleteArtifact(sha256); !deleted) {
                           return ReplyError(responder, deleted.error());
                         }
                         if (artifacts_in_store_) {
                           // This replica's cached copy; the other replicas drop theirs at their next retention pass.
                           std::error_code ignored;
                           std::filesystem::remove(artifact_dir_ / sha256, ignored);
                         }
                         GetLogger("fleet-cmdr")->info("artifact {} deleted", sha256);
                         ReplyNoContent(responder);
                       });
}

}  // namespace orb::server
