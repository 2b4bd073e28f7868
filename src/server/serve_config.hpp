#pragma once

// `fleet-cmdr serve` flags (protocol.md §7) and their checks. Every flag is also a key of the
// --config TOML file (CLI11 reads it), and a flag on the command line wins over the file.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "server/fleet_cmdr.hpp"

namespace CLI {
class App;
}

namespace orb::server {

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir;
  std::string store = "sqlite";    // or a PostgreSQL URL (postgresql://user@host:port/db)
  int store_writers = 2;           // PostgreSQL writer connections (docs/decisions/0014)
  int store_timeout_seconds = 15;  // PostgreSQL: how long a call waits for the database's answer
  std::string tls_cert;
  std::string tls_key;
  bool insecure = false;
  int lease_seconds = 60;
  int long_poll_seconds = 25;
  int heartbeat_seconds = 15;
  int progress_min_interval_ms = 1000;
  std::string poll_interval_seconds = "3-5";
  std::string log_format = "text";
  std::string log_level = "info";
  // Store calls block on the group commit: more callers make bigger batches per fsync. 64 gave
  // +41% over 8 in W1 (docs/benchmarks.md).
  int workers = 64;
  int io_threads = 1;
  // Load limits (docs/reliability.md, "fleet-cmdr under hostile input"): beyond them, 503.
  int max_connections = 50'000;
  int max_queued_requests = 10'000;
  // Reverse proxies whose X-Forwarded-For is believed (server/client_address.hpp).
  std::vector<std::string> trusted_proxies;
  // Retention (server/retention_policy.hpp, docs/decisions/0018); 0 days: kept forever.
  int retention_days = 30;
  int artifact_retention_days = 30;
  int idempotency_key_days = 7;
  int retention_batch_rows = 200;
  // The per-run log cap (docs/decisions/0020); 0: no cap.
  std::int64_t run_log_max_lines = 20'000;
  std::int64_t run_log_max_bytes = 8 << 20;
};

void AddServeFlags(CLI::App& app, ServeFlags& flags);

// Checks the flags together. Errors (kInvalidRequest) say which flag and why: a listen address
// that is not host:port, plain HTTP on a non-loopback address without --insecure, a store that is
// neither sqlite nor a postgresql:// URL (the error shows the URL without its password), half a
// TLS pair, bad intervals.
Expected<FleetCmdrOptions> ToOptions(const ServeFlags& flags);

// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopback(std::string_view host);

}  // namespace orb::server
