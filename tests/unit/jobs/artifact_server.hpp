#pragma once

// Test helpers beside the jobs tests (downloader_test, build_handlers_test, sync_mods_test): a
// local HTTP artifact server that can fail the first N requests and serves Range, and a byte
// relay in front of it that throttles and cuts connections (support/tcp_relay.hpp). Header-only.
// It lives here and not in tests/support because it needs net/ (net::HttpServer), which
// tests/support may not include (scripts/check-includes.sh).
// Thread-safety: the servers run on their own threads; the accessors are thread-safe.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sha256.hpp"
#include "net/http_server.hpp"
#include "support/matchers.hpp"
#include "support/tcp_relay.hpp"

namespace orb::testing {

namespace artifact_fs = std::filesystem;

// fleet-cmdr's artifact store in miniature, on net::HttpServer: GET /v1/artifacts/<sha256> with
// the agent's token (Range served by the server), /public/<name> without (Add, or AddFile for a
// file already in the store directory under any name). Can fail the first N
// requests with 503. Records every request's Range and Authorization headers.
class ArtifactServer {
 public:
  explicit ArtifactServer(const artifact_fs::path& dir, std::string token = "agent-token-1")
      : dir_(dir), token_(std::move(token)) {
    server_ = std::make_unique<net::HttpServer>(
        net::HttpServerOptions{},
        [this](net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
          responder->Send(Handle(request));
        });
    EXPECT_THAT(server_->Start(), IsOk());
  }
  ~ArtifactServer() { server_->Stop(); }

  // Stores `content`, returns its sha256.
  std::string Add(const std::string& content) {
    const std::string sha = Sha256Hex(content);
    std::ofstream(dir_ / sha, std::ios::binary) << content;
    return sha;
  }
  // Stores a copy of `file` under its sha256, returns the sha256.
  std::string AddFile(const artifact_fs::path& file) {
    const std::string sha = *Sha256FileHex(file);
    artifact_fs::copy_file(file, dir_ / sha, artifact_fs::copy_options::overwrite_existing);
    return sha;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::uint16_t port() const { return server_->port(); }
  void FailFirst(int n) { fail_left_ = n; }
  // Answers GET `path` with `status` and `Location: location` (before any other route).
  void AddRedirect(const std::string& path, std::string location, int status = 302) {
    std::lock_guard lock(mutex_);
    redirects_.emplace_back(path, std::make_pair(std::move(location), status));
  }
  int requests() const { return requests_.load(); }
  std::vector<std::string> ranges() const {
    std::lock_guard lock(mutex_);
    return ranges_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }

 private:
  net::HttpResponse Handle(const net::HttpRequest& request) {
    ++requests_;
    const std::string* range = request.FindHeader("Range");
    const std::string* auth = request.FindHeader("Authorization");
    {
      std::lock_guard lock(mutex_);
      ranges_.push_back(range != nullptr ? *range : "");
      authorizations_.push_back(auth != nullptr ? *auth : "");
    }
    net::HttpResponse response;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [path, redirect] : redirects_) {
        if (path != request.path) continue;
        response.status = redirect.second;
        response.headers.push_back({"Location", redirect.first});
        return response;
      }
    }
    if (fail_left_.fetch_sub(1) > 0) {
      response.status = 503;
      response.body = net::ErrorBody("unavailable", "try later");
      return response;
    }
    std::string name;
    if (request.path.rfind("/v1/artifacts/", 0) == 0) {
      if (auth == nullptr || *auth != "Bearer " + token_) {
        response.status = 401;
        response.body = net::ErrorBody("unauthenticated", "no token");
        return response;
      }
      name = request.path.substr(14);
    } else if (request.path.rfind("/public/", 0) == 0) {
      name = request.path.substr(8);
    }
    if (name.empty() || name.find('/') != std::string::npos || !artifact_fs::exists(dir_ / name)) {
      response.status = 404;
      response.body = net::ErrorBody("not_found", "no such artifact");
      return response;
    }
    response.content_type = "application/octet-stream";
    response.file = dir_ / name;
    return response;
  }

  artifact_fs::path dir_;
  std::string token_;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<int> fail_left_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> ranges_;
  std::vector<std::string> authorizations_;
  std::vector<std::pair<std::string, std::pair<std::string, int>>> redirects_;
};

// The byte relay in front of the artifact server that throttles and cuts connections.
using FaultyRelay = TcpRelay;

}  // namespace orb::testing
