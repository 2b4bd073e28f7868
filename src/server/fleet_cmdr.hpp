#pragma once

// fleet-cmdr, the control plane (protocol.md §1–§7): the HTTP API for agents and operators, the
// event stream, artifacts and the timers that expire leases and promote delayed jobs, over one
// Store. main/fleet_cmdr.cpp builds the options and runs it; integration tests start it on
// 127.0.0.1:0 with a temporary data dir.
//
// Threads: the HTTP server's event loops answer requests and hold long-polls without blocking;
// every store call runs on a worker pool, which then answers. Thread-safety: Start/Stop from one
// controlling thread; port() from any.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/expected.hpp"
#include "server/retention_policy.hpp"

namespace orb::store {
class Store;
struct StoreDeps;
}  // namespace orb::store

namespace orb::net {
class ServiceNotifier;  // net/service_notifier.hpp
}  // namespace orb::net

namespace orb::server {

struct RouteSpec;  // server/route_table.hpp

struct FleetCmdrOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port
  std::filesystem::path data_dir;
  // Empty: SQLite in data_dir. Otherwise the PostgreSQL database shared by every replica
  // (docs/decisions/0016); it may carry a password, so it is never logged as is (SanitizeUrl).
  std::string store_url;
  int store_writers = 2;  // PostgreSQL writer connections
  // PostgreSQL: how long a call waits for the database's answer (PostgresStoreOptions).
  std::chrono::milliseconds store_timeout{15'000};
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;

  // What `hello` hands out (protocol.md §4, §7 flags).
  int lease_seconds = 60;
  int long_poll_seconds = 25;
  int heartbeat_seconds = 15;
  int progress_min_interval_ms = 1000;
  int poll_interval_min_seconds = 3;
  int poll_interval_max_seconds = 5;

  // Limits (protocol.md §1).
  std::size_t body_limit = 1 << 20;
  std::uint64_t artifact_limit = 4ULL << 30;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{75'000};

  // Operator and viewer calls per token (protocol.md §1 429); agents are not limited.
  double rate_limit_per_second = 200;
  double rate_limit_burst = 400;
  // Failed authentications per client address (RouterOptions::auth_failures_*).
  double auth_failures_per_second = 2;
  double auth_failures_burst = 100;

  int io_threads = 1;
  int worker_threads = 64;                   // see ServeFlags::workers
  std::size_t max_connections = 50'000;      // see net::HttpServerOptions::max_connections
  std::size_t max_queued_requests = 10'000;  // see AsyncCalls (0: no bound)
  // Peers whose X-Forwarded-For names the client (server/client_address.hpp): addresses, CIDRs.
  std::vector<std::string> trusted_proxies;
  std::int64_t events_kept = 200'000;  // older events are pruned; a client behind them resyncs
  // What the leader prunes, and how (server/retention_policy.hpp, docs/decisions/0018).
  RetentionOptions retention{};
  // The per-run log cap (store::StoreDeps::run_log_cap, docs/decisions/0020); 0 = no cap.
  std::int64_t run_log_max_lines = 20'000;
  std::int64_t run_log_max_bytes = 8 << 20;
  std::chrono::milliseconds tick{250};  // lease expiry / notBefore / online checks
  std::chrono::milliseconds stream_auth_timeout{5'000};

  // The build (main/build_info.hpp), in the fleet_cmdr_build_info metric.
  std::string version = "unknown";
  std::string revision = "unknown";
  // systemd's Type=notify (not owned; null: none): READY=1 once Start has the port bound and the
  // timers running, STOPPING=1 when Stop begins, and, when WatchdogSec is set, a watchdog ping
  // after timer rounds (at most every quarter of the timeout), so a fleet-cmdr whose event loop or
  // workers hang is restarted.
  net::ServiceNotifier* service_notifier = nullptr;
};

class FleetCmdr {
 public:
  // Opens the store (PostgreSQL at options.store_url when set, else SQLite in options.data_dir,
  // which is created if missing) and bootstraps the admin token (protocol.md §2). Errors:
  // kStore, kIo, kInvalidRequest (bad admin token in env).
  static Expected<std::unique_ptr<FleetCmdr>> Create(FleetCmdrOptions options, const Clock& clock);
  // Same over another store (tests): `open_store` opens it with the StoreDeps
  // that fleet-cmdr gives (its id source and its listener for committed agent queues).
  using StoreOpener = std::function<Expected<std::unique_ptr<store::Store>>(store::StoreDeps deps)>;
  static Expected<std::unique_ptr<FleetCmdr>> Create(FleetCmdrOptions options, const Clock& clock,
                                                     const StoreOpener& open_store);
  ~FleetCmdr();
  FleetCmdr(const FleetCmdr&) = delete;
  FleetCmdr& operator=(const FleetCmdr&) = delete;

  Status Start();
  std::uint16_t port() const;
  // Stops taking requests, answers held long-polls, closes streams, flushes last-seen times.
  void Stop();

  // Every route it serves (method, pattern, role, body kind), in registration order: for tests
  // that walk the whole table. Callers include server/route_table.hpp.
  std::vector<RouteSpec> Routes() const;

  class Impl;

 private:
  explicit FleetCmdr(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::server
