#pragma once

// Several fleet-cmdr processes (the real binary) on one fresh PostgreSQL database, each of them
// killable with SIGKILL and restartable on its port and data dir (docs/decisions/0016), and a
// stream client that follows /v1/stream across them, reconnecting with `since` to the next
// replica whenever its own dies. For the replica fault tests (replicas_chaos_test.cpp).
// Thread-safety: ReplicaSet is used by one thread at a time (its url()/port() are fixed and may be
// read from any); StreamFollower runs its own thread, its accessors are thread-safe.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "integration/cmdr_process.hpp"
#include "net/ws_client.hpp"
#include "protocol/codec.hpp"
#include "support/free_port.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"
#include "support/wait_for.hpp"

namespace orb::testing {

// Replica i is "r<i>": data dir <tmp>/r<i>, log <tmp>/r<i>.log (appended across restarts), and a
// store URL whose application_name is "replica-<i>", so that its database sessions can be told
// apart (pg_stat_activity) and terminated.
class ReplicaSet {
 public:
  ReplicaSet(int count, std::vector<std::string> flags) : flags_(std::move(flags)) {
    auto database = TestDatabase::OnFixture();
    if (!database) {
      ADD_FAILURE() << database.error().Describe();
      return;
    }
    database_ = std::move(*database);
    for (int i = 0; i < count; ++i) {
      std::filesystem::create_directories(dir_ / Name(i));
      ports_.push_back(FreePort());
      processes_.emplace_back();
    }
  }

  // Starts every replica; true once all answer /healthz and one of them wrote admin.token.
  bool Start() {
    if (!database_) return false;
    for (int i = 0; i < size(); ++i)
      Launch(i);
    for (int i = 0; i < size(); ++i) {
      if (!processes_[i]->WaitHealthy()) {
        ADD_FAILURE() << "replica " << i << " not healthy:\n" << Log(i);
        return false;
      }
    }
    for (int i = 0; i < size() && admin_token_.empty(); ++i) {
      std::ifstream in(dir_ / Name(i) / "admin.token");
      in >> admin_token_;
    }
    return !admin_token_.empty();
  }

  // SIGKILL, reaped.
  void Kill(int i) { processes_[i].reset(); }
  // Starts a killed replica again on its port and data dir; true once it answers /healthz.
  bool Restart(int i) {
    Launch(i);
    if (processes_[i]->WaitHealthy()) return true;
    ADD_FAILURE() << "replica " << i << " not healthy after a restart:\n" << Log(i);
    return false;
  }
  bool alive(int i) const { return processes_[i] != nullptr; }
  // Stops and starts (SIGSTOP/SIGCONT) a replica without killing it.
  void Signal(int i, int signal) {
    if (processes_[i]) processes_[i]->Kill(signal);
  }

  int size() const { return static_cast<int>(ports_.size()); }
  std::uint16_t port(int i) const { return ports_[i]; }
  std::string url(int i) const { return fmt::format("http://127.0.0.1:{}", ports_[i]); }
  std::vector<std::string> urls() const {
    std::vector<std::string> all;
    for (int i = 0; i < size(); ++i)
      all.push_back(url(i));
    return all;
  }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& db_url() const { return database_->url(); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string Log(int i) const {
    std::ifstream in(dir_ / (Name(i) + ".log"));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // The replica holding the leader lease `fleet-timers` now (an unexpired row), by the holder id
  // it logged on taking it ("running the fleet's timers (leader: <holder>)"); nullopt when none.
  std::optional<int> Leader() const {
    auto holder = Query(
        "SELECT holder FROM leases WHERE name = 'fleet-timers' AND expires_ms > "
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint");
    if (holder.empty()) return std::nullopt;
    const std::string took = fmt::format("running the fleet's timers (leader: {})", holder);
    for (int i = 0; i < size(); ++i) {
      const std::string log = Log(i);
      for (auto at = log.find(took); at != std::string::npos; at = log.find(took, at + 1)) {
        if (at < 4 || log.compare(at - 4, 4, "not ") != 0) return i;
      }
    }
    return std::nullopt;
  }

  // The first column of the first row of `sql` on the test database ("" on none; fails the test
  // on an error).
  std::string Query(const std::string& sql) const {
    auto value = PgQuery(database_->url(), sql);
    if (!value) {
      ADD_FAILURE() << sql << ": " << value.error().Describe();
      return "";
    }
    return *value;
  }
  std::int64_t Count(const std::string& sql) const {
    const std::string value = Query(sql);
    return value.empty() ? -1 : std::stoll(value);
  }

 private:
  static std::string Name(int i) { return fmt::format("r{}", i); }
  void Launch(int i) {
    std::vector<std::string> flags = {
        "--store", fmt::format("{}?application_name=replica-{}", database_->url(), i)};
    flags.insert(flags.end(), flags_.begin(), flags_.end());
    processes_[i] = std::make_unique<CmdrProcess>(dir_ / Name(i), ports_[i], std::move(flags),
                                                  dir_ / (Name(i) + ".log"));
  }

  TempDir dir_;
  std::vector<std::string> flags_;
  std::unique_ptr<TestDatabase> database_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::unique_ptr<CmdrProcess>> processes_;
  std::string admin_token_;
};

// A /v1/stream client on its own thread: subscribes with since=0, and whenever its connection
// breaks (its replica died) subscribes again with `since` = the last seq it saw, to the next
// replica of the list that accepts. Records every event, and every problem: a resync, a message it
// cannot parse, an event at or below the seq before it (a duplicate or out of order).
class StreamFollower {
 public:
  StreamFollower(std::vector<std::string> urls, std::string token)
      : urls_(std::move(urls)), token_(std::move(token)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~StreamFollower() { Stop(); }
  StreamFollower(const StreamFollower&) = delete;
  StreamFollower& operator=(const StreamFollower&) = delete;

  void Stop() {
    {
      const std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::int64_t last_seq() const {
    const std::lock_guard lock(mutex_);
    return last_seq_;
  }
  std::vector<protocol::Event> events() const {
    const std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> problems() const {
    const std::lock_guard lock(mutex_);
    return problems_;
  }
  int subscriptions() const {
    const std::lock_guard lock(mutex_);
    return subscriptions_;
  }

 private:
  void Run() {
    std::size_t index = 0;
    while (!stopping()) {
      net::WebSocketOptions options;
      options.base_url = urls_[index];
      options.connect_timeout = std::chrono::seconds(2);
      net::WebSocketClient ws(options);
      if (Subscribe(ws)) Follow(ws);
      index = (index + 1) % urls_.size();
      // A short pause between two tries of a dead replica, ended early by Stop.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopped_; });
    }
  }

  bool Subscribe(net::WebSocketClient& ws) {
    if (!ws.Connect("/v1/stream")) return false;
    const std::int64_t since = last_seq();
    if (!ws.Send(fmt::format(R"({{"type":"subscribe","token":"{}","since":{}}})", token_, since))) {
      return false;
    }
    auto ready = ws.Receive(std::chrono::seconds(5));
    if (!ready) return false;
    auto message = protocol::ParseStreamMessage(*ready);
    const std::lock_guard lock(mutex_);
    if (!message || message->kind != protocol::StreamMessage::Kind::kReady) {
      problems_.push_back("expected ready, got: " + *ready);
      return false;
    }
    ++subscriptions_;
    return true;
  }

  void Follow(net::WebSocketClient& ws) {
    while (!stopping()) {
      auto text = ws.Receive(std::chrono::milliseconds(200));
      if (!text) {
        if (text.error().code == Errc::kTimeout) continue;
        return;  // the replica went away (or dropped a slow client): the next one
      }
      auto message = protocol::ParseStreamMessage(*text);
      const std::lock_guard lock(mutex_);
      if (!message || message->kind != protocol::StreamMessage::Kind::kEvent || !message->event) {
        problems_.push_back("unexpected message: " + *text);
        if (message && message->kind == protocol::StreamMessage::Kind::kResync) return;
        continue;
      }
      if (message->event->seq <= last_seq_) {
        problems_.push_back(fmt::format("seq {} after {}", message->event->seq, last_seq_));
        continue;
      }
      last_seq_ = message->event->seq;
      events_.push_back(*message->event);
    }
  }

  bool stopping() const {
    const std::lock_guard lock(mutex_);
    return stopped_;
  }

  const std::vector<std::string> urls_;
  const std::string token_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
  std::int64_t last_seq_ = 0;
  std::vector<protocol::Event> events_;
  std::vector<std::string> problems_;
  int subscriptions_ = 0;
  std::thread thread_;
};

}  // namespace orb::testing
