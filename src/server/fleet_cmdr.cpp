// FleetCmdr: the life cycle (Init, Start, Stop) and the wiring of its parts (fleet_cmdr_impl.hpp).

#include "server/fleet_cmdr.hpp"

#include <cstdlib>
#include <system_error>

#include "common/log.hpp"
#include "common/sanitize.hpp"
#include "net/service_notifier.hpp"
#include "server/fleet_cmdr_impl.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace orb::server {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  return GetLogger("fleet-cmdr");
}

// The password of a postgresql://user:password@host/db URL joins the secrets no log line or error
// may carry (common/sanitize.hpp), beyond the URL rule that already drops userinfo.
void RegisterUrlPassword(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return;
  const auto rest = url.substr(scheme + 3);
  const auto at = rest.find('@');
  if (at == std::string_view::npos || rest.substr(0, at).find('/') != std::string_view::npos) {
    return;
  }
  const auto userinfo = rest.substr(0, at);
  if (const auto colon = userinfo.find(':'); colon != std::string_view::npos) {
    RegisterSecret(userinfo.substr(colon + 1));
  }
}

}  // namespace

void FleetCmdr::Impl::InitMetrics() {
  http_requests_ =
      &metrics_.AddCounter("fleet_cmdr_http_requests_total",
                           "HTTP requests answered, by route and status code", {"route", "code"});
  dispatch_latency_ =
      &metrics_
           .AddHistogram("fleet_cmdr_dispatch_seconds",
                         "Time from a jobs/next request to its answer", {}, DefaultLatencyBuckets())
           .With({});
  store_latency_ = &metrics_.AddHistogram(
      "fleet_cmdr_store_seconds",
      "Time from submitting a hot-path store write to its durable commit, by operation",
      {"operation"}, DefaultLatencyBuckets());
  store_create_jobs_ = &store_latency_->With({"create_jobs"});
  store_dispatch_next_ = &store_latency_->With({"dispatch_next"});
  store_apply_updates_ = &store_latency_->With({"apply_updates"});
  events_published_ = &metrics_.AddCounter("fleet_cmdr_events_total",
                                           "Events published to the stream, by type", {"type"});
  jobs_by_status_ = &metrics_.AddGauge("fleet_cmdr_jobs", "Jobs in the store, by type and status",
                                       {"type", "status"});
  store_up_ = &metrics_
                   .AddGauge("fleet_cmdr_store_up",
                             "1 when the store answered the last scrape's job counts, else 0")
                   .With({});
  auto& waiters =
      metrics_.AddGauge("fleet_cmdr_notify_waiters", "Notify long-polls being held").With({});
  auto& clients =
      metrics_.AddGauge("fleet_cmdr_stream_clients", "WebSocket stream subscribers").With({});
  auto& coalesced = metrics_
                        .AddGauge("fleet_cmdr_stream_coalesced",
                                  "Progress events coalesced away for slow stream clients")
                        .With({});
  // Prometheus' build_info convention: a constant 1 whose labels say what runs.
  metrics_
      .AddGauge("fleet_cmdr_build_info", "The version and git commit of this fleet-cmdr",
                {"version", "commit"})
      .With({options_.version, options_.revision})
      .Set(1);
  // Load and its limits (docs/reliability.md): connections open and refused at the connection
  // limit, requests waiting for a worker and refused because too many waited.
  auto& connections =
      metrics_.AddGauge("fleet_cmdr_connections", "Connections open (HTTP and WebSocket)").With({});
  auto& connections_refused =
      metrics_
          .AddGauge("fleet_cmdr_connections_refused",
                    "Connections answered 503 at the connection limit or out of descriptors")
          .With({});
  auto& queued =
      metrics_.AddGauge("fleet_cmdr_worker_queue", "Requests waiting for a worker").With({});
  auto& busy_refused = metrics_
                           .AddGauge("fleet_cmdr_worker_queue_refused",
                                     "Requests answered 503 because too many waited for a worker")
                           .With({});
  // Which replica runs the fleet's timers (1 on the leader; with SQLite the one process leads).
  auto& leader =
      metrics_
          .AddGauge("fleet_cmdr_leader",
                    "1 on the replica that runs the fleet's timers (leader lease), else 0")
          .With({});
  metrics_.AddCollector([this, &waiters, &clients, &coalesced, &connections, &connections_refused,
                         &queued, &busy_refused, &leader] {
    waiters.Set(static_cast<double>(notifier_.WaiterCount()));
    leader.Set(timers_ && (timers_->leading() || !shared_store()) ? 1 : 0);
    if (http_) {
      const net::HttpServerStats stats = http_->stats();
      connections.Set(static_cast<double>(stats.connections));
      connections_refused.Set(static_cast<double>(stats.refused));
    }
    queued.Set(static_cast<double>(calls_.queued()));
    busy_refused.Set(static_cast<double>(calls_.busy_refused()));
    if (hub_) {
      clients.Set(static_cast<double>(hub_->SubscriberCount()));
      coalesced.Set(static_cast<double>(hub_->coalesced_total()));
    }
  });
}

// ---- construction ----

FleetCmdr::Impl::Impl(FleetCmdrOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      ids_(clock),
      store_ids_(clock),
      limiter_(options_.rate_limit_per_second, options_.rate_limit_burst) {
  InitMetrics();
}

FleetCmdr::Impl::~Impl() {
  Stop();
}

Status FleetCmdr::Impl::Init(const FleetCmdr::StoreOpener& open_store) {
  store::StoreDeps deps;
  deps.ids = &store_ids_;
  deps.run_log_cap = {options_.run_log_max_lines, options_.run_log_max_bytes};
  deps.on_queues_committed = [this](std::vector<store::AgentQueue> queues) {
    for (auto& queue : queues) {
      notifier_.Update(queue.agent_id,
                       AgentQueueState{queue.state.pending, std::move(queue.state.cancel)});
    }
  };
  deps.on_foreign_commit = [this](std::int64_t last_seq) {
    if (auto* sync = foreign_commits_.load()) sync->OnForeignCommit(last_seq);
  };
  auto opened = open_store(std::move(deps));
  if (!opened) return Fail(std::move(opened.error()).WithContext("open store"));
  store_ = std::move(*opened);

  if (auto made = InitArtifactDir(); !made) return made;
  if (auto loaded = InitTokens(); !loaded) return loaded;
  auto last_seq = store_->LastEventSeq();
  if (!last_seq) return Fail(std::move(last_seq.error()).WithContext("read event seq"));
  return Wire(*last_seq);
}

Status FleetCmdr::Impl::InitArtifactDir() {
  std::error_code ec;
  artifact_dir_ = options_.data_dir / "artifacts";
  std::filesystem::create_directories(artifact_dir_, ec);
  if (ec) return Fail(Errc::kIo, "cannot create " + artifact_dir_.string() + ": " + ec.message());
  // Uploads that a crash interrupted are garbage.
  for (const auto& entry : std::filesystem::directory_iterator(artifact_dir_, ec)) {
    if (entry.path().filename().string().starts_with(".upload-")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return Ok();
}

Status FleetCmdr::Impl::InitTokens() {
  auto has_admin = store_->HasAdminToken();
  if (!has_admin) return Fail(std::move(has_admin.error()).WithContext("bootstrap admin token"));
  auto admin =
      BootstrapAdminToken(*has_admin, std::getenv("FLEET_CMDR_ADMIN_TOKEN"), options_.data_dir);
  if (!admin) return Fail(std::move(admin.error()).WithContext("bootstrap admin token"));
  if (*admin) {
    store::TokenRecord record;
    record.id = ids_.Next();
    record.name = "bootstrap admin";
    record.role = protocol::Role::kAdmin;
    record.token_hash = HashToken(**admin);
    record.created_at = clock_.WallNow();
    // Atomic: of replicas starting together on an empty database, one creates it.
    auto created = store_->CreateFirstAdminToken(record);
    if (!created) return Fail(std::move(created.error()).WithContext("store admin token"));
    const char* env = std::getenv("FLEET_CMDR_ADMIN_TOKEN");
    const bool from_env = env != nullptr && *env != '\0';
    const auto file = options_.data_dir / kAdminTokenFileName;
    // Said only once the store has it: of replicas starting together, the others' tokens are not
    // valid, and their files go.
    if (!created->value) {
      if (!from_env) {
        std::error_code ec;
        std::filesystem::remove(file, ec);
      }
      Log()->info("another replica created the first admin token");
    } else if (from_env) {
      Log()->info("no admin token in the store: using FLEET_CMDR_ADMIN_TOKEN");
    } else {
      Log()->info("no admin token in the store: generated one and wrote it to {}", file.string());
    }
  }

  // The whole feed from version 0 (live tokens as they are now); ReplicaSync follows it on.
  auto all = store_->TokenChangesSince(0);
  if (!all) return Fail(std::move(all.error()).WithContext("load tokens"));
  std::vector<TokenEntry> entries;
  for (const auto& token : all->tokens) {
    if (token.revoked_at) continue;
    entries.push_back({token.token_hash, Principal{token.id, token.role, token.agent_id}});
  }
  tokens_.Load(std::move(entries));
  token_version_ = all->version;
  return Ok();
}

Status FleetCmdr::Impl::Wire(std::int64_t last_seq) {
  store::Store& store = *store_;
  hub_ = std::make_unique<StreamHub>(StreamHubOptions{}, last_seq);
  publisher_ = std::make_unique<EventPublisher>(store, *hub_, *events_published_, clock_, last_seq);
  presence_ = std::make_unique<Presence>(store, *publisher_, calls_, clock_,
                                         std::chrono::seconds(3 * options_.long_poll_seconds),
                                         shared_store());
  auto trusted = TrustedProxies::Parse(options_.trusted_proxies);
  if (!trusted) return Fail(std::move(trusted.error()));
  RouterOptions routing;
  routing.body_limit = options_.body_limit;
  routing.file_limit = options_.artifact_limit;
  routing.upload_dir = artifact_dir_;
  routing.trusted_proxies = std::move(*trusted);
  routing.auth_failures_per_second = options_.auth_failures_per_second;
  routing.auth_failures_burst = options_.auth_failures_burst;
  if (shared_store()) {
    routing.sync_tokens = [this](std::function<void()> done) {
      if (replica_sync_) return replica_sync_->SyncTokensNow(std::move(done));
      done();
    };
    routing.tokens_readable = [this] { return !replica_sync_ || replica_sync_->TokensReadable(); };
  }
  router_ =
      std::make_unique<Router>(std::move(routing), tokens_, limiter_, clock_, *http_requests_);

  net::HttpServerOptions http;
  http.address = options_.address;
  http.port = options_.port;
  http.threads = options_.io_threads;
  http.body_limit = options_.body_limit;
  http.request_timeout = options_.request_timeout;
  http.idle_timeout = options_.idle_timeout;
  http.max_connections = options_.max_connections;
  if (options_.tls_cert && options_.tls_key) {
    http.tls = net::TlsFiles{*options_.tls_cert, *options_.tls_key};
  }
  net::WebSocketHandlers ws;
  ws.on_open = [this](std::shared_ptr<net::WebSocketSession> session,
                      const net::HttpRequest& upgrade) {
    stream_api_->Open(std::move(session), upgrade);
  };
  ws.on_message = [this](net::WebSocketSession& session, std::string message) {
    stream_api_->Message(session, std::move(message));
  };
  ws.on_close = [this](net::WebSocketSession& session) { stream_api_->Close(session); };
  http_ = std::make_unique<net::HttpServer>(
      http,
      [this](net::HttpRequest&& request, ResponderPtr responder) {
        router_->Handle(std::move(request), std::move(responder));
      },
      [this](const net::HttpRequest& head) { return router_->BodyPolicyFor(head); }, std::move(ws),
      [this](std::string_view path) { return router_->IsWebSocketPath(path); });

  agent_api_ = std::make_unique<AgentApi>(
      options_, AgentApi::Deps{store, notifier_, *presence_, *publisher_, calls_, *http_, clock_},
      AgentApi::Metrics{*dispatch_latency_, *store_dispatch_next_, *store_apply_updates_});
  operator_api_ = std::make_unique<OperatorApi>(
      artifact_dir_,
      OperatorApi::Deps{store, tokens_, ids_, *presence_, *publisher_, calls_, clock_},
      OperatorApi::Metrics{metrics_, *jobs_by_status_, *store_create_jobs_, *store_up_},
      shared_store());
  stream_api_ = std::make_unique<StreamApi>(options_.stream_auth_timeout,
                                            StreamApi::Deps{tokens_, *hub_, store, calls_, *http_});
  rollout_driver_ = std::make_unique<RolloutDriver>(store, *publisher_);
  publisher_->SetObserver(
      [this](const std::vector<protocol::Event>& events) { rollout_driver_->Observe(events); });
  rollout_api_ = std::make_unique<RolloutApi>(
      RolloutApi::Deps{store, *publisher_, *rollout_driver_, calls_, clock_});
  operator_api_->RegisterRoutes(*router_);
  schedule_api_ =
      std::make_unique<ScheduleApi>(ScheduleApi::Deps{store, *publisher_, calls_, clock_});
  schedule_api_->RegisterRoutes(*router_);
  agent_api_->RegisterRoutes(*router_);
  inventory_api_ = std::make_unique<InventoryApi>(
      InventoryApi::Deps{store, *presence_, *publisher_, calls_, clock_});
  inventory_api_->RegisterRoutes(*router_);
  stream_api_->RegisterRoutes(*router_);
  rollout_api_->RegisterRoutes(*router_);
  history_api_ = std::make_unique<HistoryApi>(HistoryApi::Deps{store, calls_, clock_});
  history_api_->RegisterRoutes(*router_);
  if (auto routes = router_->status(); !routes) {
    return Fail(std::move(routes.error()).WithContext("route table"));
  }

  ServerTimersOptions timers;
  timers.tick = options_.tick;
  timers.events_kept = options_.events_kept;
  timers.retention = options_.retention;
  timers.after_round = [this] { PingWatchdog(); };
  if (shared_store()) {
    timers.shared_store = true;
    timers.holder = ids_.Next();                // this replica, for this run
    timers.artifact_cache_dir = artifact_dir_;  // a cache of the store's artifacts
    // Last-seen times reach the store sooner: the leader turns agents offline from them.
    timers.flush_every = std::chrono::seconds(1);
    replica_sync_ = std::make_unique<ReplicaSync>(
        ReplicaSyncOptions{}, ReplicaSync::Deps{store, *publisher_, notifier_, tokens_},
        token_version_);
    foreign_commits_.store(replica_sync_.get());
  }
  timers_ = std::make_unique<ServerTimers>(
      timers, ServerTimers::Deps{store, *publisher_, *presence_, *stream_api_, calls_, *http_,
                                 clock_, rollout_driver_.get()});
  return Ok();
}

Status FleetCmdr::Impl::Start() {
  calls_.Start(static_cast<std::size_t>(options_.worker_threads), options_.max_queued_requests);
  if (auto started = http_->Start(); !started) return started;
  Log()->info("listening on {}://{}:{} (data dir {}, store {})",
              options_.tls_cert && options_.tls_key ? "https" : "http", options_.address,
              http_->port(), options_.data_dir.string(),
              shared_store() ? SanitizeUrl(options_.store_url) : std::string("sqlite"));
  timers_->Start();
  if (replica_sync_) replica_sync_->Start();
  if (options_.service_notifier != nullptr) options_.service_notifier->Ready();
  return Ok();
}

void FleetCmdr::Impl::PingWatchdog() {
  auto* const notifier = options_.service_notifier;
  if (notifier == nullptr || !notifier->watchdog_timeout()) return;
  const auto now = clock_.Now();
  if (last_watchdog_ping_ != Clock::MonoTime{} &&
      now - last_watchdog_ping_ < *notifier->watchdog_timeout() / 4) {
    return;
  }
  last_watchdog_ping_ = now;
  notifier->Watchdog();
}

void FleetCmdr::Impl::Stop() {
  if (stopping_.exchange(true)) return;
  if (options_.service_notifier != nullptr) options_.service_notifier->Stopping();
  calls_.RefuseNew();
  if (timers_) timers_->Stop();
  if (http_) http_->Stop();
  calls_.Stop();
  if (replica_sync_) replica_sync_->Stop();
  if (presence_) presence_->Flush();
  if (timers_) timers_->ReleaseLeadership();
}

std::vector<RouteSpec> FleetCmdr::Impl::Routes() const {
  std::vector<RouteSpec> routes;
  if (!router_) return routes;
  for (const auto& route : router_->table().routes())
    routes.push_back(route.spec);
  return routes;
}

// ---- FleetCmdr ----

FleetCmdr::FleetCmdr(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FleetCmdr::~FleetCmdr() = default;

Expected<std::unique_ptr<FleetCmdr>> FleetCmdr::Create(FleetCmdrOptions options,
                                                       const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return Fail(Errc::kIo, "cannot create data dir " + options.data_dir.string());
  const auto data_dir = options.data_dir;
  if (!options.store_url.empty()) {
    const auto url = options.store_url;
    RegisterUrlPassword(url);
    store::PostgresStoreOptions pg;
    pg.writers = options.store_writers;
    pg.response_timeout = options.store_timeout;
    return Create(std::move(options), clock,
                  [&url, &pg](store::StoreDeps deps) -> Expected<std::unique_ptr<store::Store>> {
                    auto opened = store::PostgresStore::Open(url, pg, std::move(deps));
                    // libpq's messages name the host, never the password; the URL may carry
                    // one, so nothing here repeats it (and the logger sanitizes URLs anyway).
                    if (!opened) return Fail(Sanitize(std::move(opened.error())));
                    return std::unique_ptr<store::Store>(std::move(*opened));
                  });
  }
  return Create(std::move(options), clock,
                [&data_dir](store::StoreDeps deps) -> Expected<std::unique_ptr<store::Store>> {
                  auto sqlite = store::SqliteStore::Open({data_dir, 512}, std::move(deps));
                  if (!sqlite) return Fail(std::move(sqlite.error()));
                  return std::unique_ptr<store::Store>(std::move(*sqlite));
                });
}

Expected<std::unique_ptr<FleetCmdr>> FleetCmdr::Create(FleetCmdrOptions options, const Clock& clock,
                                                       const StoreOpener& open_store) {
  auto impl = std::make_unique<Impl>(std::move(options), clock);
  if (auto init = impl->Init(open_store); !init) return Fail(init.error());
  return std::unique_ptr<FleetCmdr>(new FleetCmdr(std::move(impl)));
}

Status FleetCmdr::Start() {
  return impl_->Start();
}
std::uint16_t FleetCmdr::port() const {
  return impl_->port();
}
void FleetCmdr::Stop() {
  impl_->Stop();
}
std::vector<RouteSpec> FleetCmdr::Routes() const {
  return impl_->Routes();
}

}  // namespace orb::server
