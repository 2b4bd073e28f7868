#include "server/serve_config.hpp"

#include <chrono>
#include <cstdint>

#include <CLI/CLI.hpp>

#include "common/numbers.hpp"
#include "common/sanitize.hpp"
#include "server/client_address.hpp"

namespace orb::server {
namespace {

Error Bad(std::string message) {
  return MakeError(Errc::kInvalidRequest, std::move(message));
}

bool ParseInt(std::string_view text, int& out) {
  const auto value = ParseWholeNumber<int>(text);
  if (value) out = *value;
  return value.has_value();
}

}  // namespace

void AddServeFlags(CLI::App& app, ServeFlags& flags) {
  app.add_option("--listen", flags.listen, "address:port to listen on")->capture_default_str();
  app.add_option("--data-dir", flags.data_dir,
                 "state directory (SQLite store, artifacts, admin.token)")
      ->required();
  app.add_option("--store", flags.store,
                 "sqlite (the default, in --data-dir) or postgresql://user@host:port/db, shared "
                 "by replicas")
      ->capture_default_str();
  app.add_option("--store-writers", flags.store_writers,
                 "PostgreSQL writer connections for the fleet's calls, each with its own group "
                 "commit (operators' writes have one more of their own)")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  app.add_option("--store-timeout-seconds", flags.store_timeout_seconds,
                 "PostgreSQL: a call the database leaves unanswered this long fails (503) and its "
                 "connection is replaced")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  app.add_option("--tls-cert", flags.tls_cert, "PEM certificate chain for HTTPS");
  app.add_option("--tls-key", flags.tls_key, "PEM private key for HTTPS");
  app.add_flag("--insecure", flags.insecure, "allow plain HTTP on a non-loopback address");
  app.add_option("--lease-seconds", flags.lease_seconds, "a run without updates this long is lost")
      ->capture_default_str()
      ->check(CLI::Range(5, 3600));
  app.add_option("--long-poll-seconds", flags.long_poll_seconds, "longest notify wait")
      ->capture_default_str()
      ->check(CLI::Range(1, 60));
  app.add_option("--heartbeat-seconds", flags.heartbeat_seconds, "agent heartbeat interval")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  app.add_option("--progress-min-interval-ms", flags.progress_min_interval_ms,
                 "at most one progress update per run this often")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  app.add_option("--poll-interval-seconds", flags.poll_interval_seconds,
                 "MIN-MAX seconds between polls of agents without long-poll")
      ->capture_default_str();
  app.add_option("--log-format", flags.log_format, "text or json (JSON lines, for journald)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--workers", flags.workers, "threads for store calls")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--io-threads", flags.io_threads, "HTTP event loops")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--max-connections", flags.max_connections,
                 "connections open at once (HTTP and WebSocket); more are answered 503")
      ->capture_default_str()
      ->check(CLI::Range(16, 10'000'000));
  app.add_option("--max-queued-requests", flags.max_queued_requests,
                 "requests waiting for a store worker; more are answered 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  app.add_option("--trusted-proxy", flags.trusted_proxies,
                 "a reverse proxy (address or CIDR, repeatable) whose X-Forwarded-For names the "
                 "client; others' is ignored");
  app.add_option("--retention-days", flags.retention_days,
                 "finished jobs (with their runs, logs, events) and events older than this many "
                 "days are pruned; 0 keeps them")
      ->capture_default_str()
      ->check(CLI::Range(0, 36'500));
  app.add_option("--artifact-retention-days", flags.artifact_retention_days,
                 "artifacts uploaded longer ago that no unfinished job names are pruned; 0 keeps "
                 "them")
      ->capture_default_str()
      ->check(CLI::Range(0, 36'500));
  app.add_option("--idempotency-key-days", flags.idempotency_key_days,
                 "idempotency keys are forgotten after this many days; 0 keeps them as long as "
                 "their job")
      ->capture_default_str()
      ->check(CLI::Range(0, 36'500));
  app.add_option("--retention-batch-rows", flags.retention_batch_rows,
                 "rows pruned per store transaction (jobs, events, keys)")
      ->capture_default_str()
      ->check(CLI::Range(10, 10'000));
  app.add_option("--run-log-max-lines", flags.run_log_max_lines,
                 "log lines stored per run; later ones are acknowledged, counted and dropped; "
                 "0: no cap")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1'000'000'000}));
  app.add_option("--run-log-max-bytes", flags.run_log_max_bytes,
                 "log message bytes stored per run; later lines are acknowledged, counted and "
                 "dropped; 0: no cap")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40));
}

bool IsLoopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

Expected<FleetCmdrOptions> ToOptions(const ServeFlags& flags) {
  FleetCmdrOptions options;
  const auto colon = flags.listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Bad("--listen must be address:port, got '" + flags.listen + "'");
  }
  int port = 0;
  if (!ParseInt(std::string_view(flags.listen).substr(colon + 1), port) || port < 0 ||
      port > 65535) {
    return Bad("--listen: bad port in '" + flags.listen + "'");
  }
  options.address = flags.listen.substr(0, colon);
  if (options.address.size() > 2 && options.address.front() == '[' &&
      options.address.back() == ']') {
    options.address = options.address.substr(1, options.address.size() - 2);
  }
  options.port = static_cast<std::uint16_t>(port);
  options.data_dir = flags.data_dir;
  if (flags.store.starts_with("postgresql://") || flags.store.starts_with("postgres://")) {
    options.store_url = flags.store;
  } else if (flags.store != "sqlite") {
    // SanitizeUrl: a mistyped URL may still carry a password.
    return Bad("--store must be sqlite or a postgresql:// URL, got '" + SanitizeUrl(flags.store) +
               "'");
  }
  options.store_writers = flags.store_writers;
  options.store_timeout = std::chrono::seconds(flags.store_timeout_seconds);
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return Bad("--tls-cert and --tls-key go together");
  }
  if (!flags.tls_cert.empty()) {
    options.tls_cert = flags.tls_cert;
    options.tls_key = flags.tls_key;
  } else if (!IsLoopback(options.address) && !flags.insecure) {
    return Bad("plain HTTP on " + options.address +
               " would send tokens in clear text: give --tls-cert and --tls-key, or --insecure");
  }
  const auto dash = flags.poll_interval_seconds.find('-');
  int min = 0;
  int max = 0;
  if (dash == std::string::npos ||
      !ParseInt(std::string_view(flags.poll_interval_seconds).substr(0, dash), min) ||
      !ParseInt(std::string_view(flags.poll_interval_seconds).substr(dash + 1), max) || min < 1 ||
      max < min || max > 3600) {
    return Bad("--poll-interval-seconds must be MIN-MAX with 1 <= MIN <= MAX, got '" +
               flags.poll_interval_seconds + "'");
  }
  options.poll_interval_min_seconds = min;
  options.poll_interval_max_seconds = max;
  options.lease_seconds = flags.lease_seconds;
  options.long_poll_seconds = flags.long_poll_seconds;
  options.heartbeat_seconds = flags.heartbeat_seconds;
  options.progress_min_interval_ms = flags.progress_min_interval_ms;
  if (options.heartbeat_seconds >= options.lease_seconds) {
    return Bad("--heartbeat-seconds must be shorter than --lease-seconds");
  }
  options.worker_threads = flags.workers;
  options.io_threads = flags.io_threads;
  options.max_connections = static_cast<std::size_t>(flags.max_connections);
  options.max_queued_requests = static_cast<std::size_t>(flags.max_queued_requests);
  if (auto trusted = TrustedProxies::Parse(flags.trusted_proxies); !trusted) {
    return Fail(std::move(trusted.error()));
  }
  options.trusted_proxies = flags.trusted_proxies;
  options.retention.job_age = RetentionOptions::Days(flags.retention_days);
  options.retention.artifact_age = RetentionOptions::Days(flags.artifact_retention_days);
  options.retention.idempotency_key_age = RetentionOptions::Days(flags.idempotency_key_days);
  options.retention.batch_rows = flags.retention_batch_rows;
  options.run_log_max_lines = flags.run_log_max_lines;
  options.run_log_max_bytes = flags.run_log_max_bytes;
  return options;
}

}  // namespace orb::server
