#pragma once

// Test helpers beside the jobs tests (downloader_test, build_handlers_test, sync_mods_test): a
// local HTTP artifact server that can fail the first N requests and serves Range, and a byte
// relay in front of it that throttles and cuts connections (issue 6 "Tests"). Header-only.
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

// A byte relay in front of the artifact server (no HTTP in it): throttles what flows back to the
// client and cuts the first `cuts` connections after `cut_after` response bytes.
class FaultyRelay {
 public:
  struct Options {
    std::uint16_t upstream_port = 0;
    std::size_t bytes_per_second = 0;  // 0: unthrottled
    std::size_t cut_after = 0;
    int cuts = 0;
  };

  explicit FaultyRelay(Options options) : options_(options), cuts_left_(options.cuts) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    accepter_ = std::thread([this] { Accept(); });
  }
  ~FaultyRelay() {
    stop_ = true;
    accepter_.join();
    for (auto& thread : pipes_)
      thread.join();
    ::close(listener_);
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd poll_fd{listener_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 20) <= 0) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(options_.upstream_port);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(client);
        ::close(upstream);
        continue;
      }
      const bool cut = cuts_left_.fetch_sub(1) > 0;
      pipes_.emplace_back([this, client, upstream, cut] { Pipe(client, upstream, cut); });
    }
  }

  void Pipe(int client, int upstream, bool cut) {
    std::vector<char> buffer(16 * 1024);
    std::size_t sent_back = 0;
    const auto start = std::chrono::steady_clock::now();
    while (!stop_) {
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (::poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents != 0) {
        const ssize_t n = ::read(client, buffer.data(), buffer.size());
        if (n <= 0 || ::write(upstream, buffer.data(), static_cast<std::size_t>(n)) != n) break;
      }
      if (fds[1].revents != 0) {
        std::size_t want = buffer.size();
        if (options_.bytes_per_second > 0) want = std::min(want, options_.bytes_per_second / 20);
        if (cut) want = std::min(want, options_.cut_after - sent_back);
        const ssize_t n = ::read(upstream, buffer.data(), want);
        if (n <= 0 || ::write(client, buffer.data(), static_cast<std::size_t>(n)) != n) break;
        sent_back += static_cast<std::size_t>(n);
        if (cut && sent_back >= options_.cut_after) break;
        if (options_.bytes_per_second > 0) {
          // Throttling is the point here, not a wait for a condition.
          const auto due =
              start + std::chrono::microseconds(sent_back * 1'000'000 / options_.bytes_per_second);
          std::this_thread::sleep_until(due);
        }
      }
    }
    ::close(client);
    ::close(upstream);
  }

  Options options_;
  std::atomic<int> cuts_left_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::vector<std::thread> pipes_;  // only touched by the accepter, joined after it
};

}  // namespace orb::testing
