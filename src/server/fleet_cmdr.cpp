// FleetCmdr: life cycle, routing and authentication, timers, presence (online/offline).

#include "server/fleet_cmdr.hpp"

#include <charconv>
#include <cstdlib>
#include <system_error>

#include "common/log.hpp"
#include "common/random.hpp"
#include "protocol/api_error.hpp"
#include "protocol/codec.hpp"
#include "protocol/job_types.hpp"
#include "protocol/job_types_json.hpp"
#include "server/fleet_cmdr_impl.hpp"
#include "server/web_ui.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace orb::server {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  return GetLogger("fleet-cmdr");
}

bool IsJsonContentType(const std::string* value) {
  if (value == nullptr) return false;
  std::string_view type(*value);
  if (const auto semicolon = type.find(';'); semicolon != std::string_view::npos) {
    type = type.substr(0, semicolon);
  }
  while (!type.empty() && type.back() == ' ')
    type.remove_suffix(1);
  if (type.size() != 16) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != "application/json"[i]) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = path.find('/', start);
    const auto piece = path.substr(start, end == std::string_view::npos ? end : end - start);
    if (!piece.empty()) segments.emplace_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments;
}

Expected<std::optional<std::int64_t>> QueryInt(const HttpRequest& request, std::string_view key,
                                               std::int64_t min, std::int64_t max) {
  const auto text = request.Query(key);
  if (!text) return std::optional<std::int64_t>{};
  std::int64_t value = 0;
  const auto* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max || text->empty()) {
    Error error = MakeError(Errc::kInvalidRequest,
                            fmt::format("{}: must be an integer from {} to {}", key, min, max));
    error.details.push_back(
        {std::string(key), fmt::format("must be an integer from {} to {}", min, max)});
    return error;
  }
  return std::optional<std::int64_t>{value};
}

// A route's label in /metrics: the path with its ids replaced by their names.
std::string RouteLabel(const std::string& method, const std::vector<std::string>& segments) {
  std::string label = method + " ";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    label += '/';
    const std::string& previous = i > 0 ? segments[i - 1] : segments[i];
    if (i == 2 && (previous == "jobs" || previous == "tokens")) {
      label += "{id}";
    } else if (i == 2 && previous == "agents") {
      label += "{agentId}";
    } else if (i == 2 && previous == "artifacts") {
      label += "{sha256}";
    } else if (i == 4 && previous == "runs") {
      label += "{runId}";
    } else {
      label += segments[i];
    }
  }
  return label;
}

namespace {

class MeteredResponder final : public Responder {
 public:
  MeteredResponder(ResponderPtr inner, Family<Counter>& counter, std::string route)
      : inner_(std::move(inner)), counter_(counter), route_(std::move(route)) {}
  void Send(HttpResponse response) override {
    if (!sent_.exchange(true)) counter_.With({route_, std::to_string(response.status)}).Inc();
    inner_->Send(std::move(response));
  }
  bool IsOpen() const override { return inner_->IsOpen(); }

 private:
  ResponderPtr inner_;
  Family<Counter>& counter_;
  std::string route_;
  std::atomic<bool> sent_{false};
};

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
  auto& waiters =
      metrics_.AddGauge("fleet_cmdr_notify_waiters", "Notify long-polls being held").With({});
  auto& clients =
      metrics_.AddGauge("fleet_cmdr_stream_clients", "WebSocket stream subscribers").With({});
  auto& coalesced = metrics_
                        .AddGauge("fleet_cmdr_stream_coalesced",
                                  "Progress events coalesced away for slow stream clients")
                        .With({});
  metrics_.AddCollector([this, &waiters, &clients, &coalesced] {
    waiters.Set(static_cast<double>(notifier_.WaiterCount()));
    if (hub_) {
      clients.Set(static_cast<double>(hub_->SubscriberCount()));
      coalesced.Set(static_cast<double>(hub_->coalesced_total()));
    }
  });
}

ResponderPtr FleetCmdr::Impl::Metered(ResponderPtr responder, std::string route) {
  return std::make_shared<MeteredResponder>(std::move(responder), *http_requests_,
                                            std::move(route));
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
  deps.on_queues_committed = [this](std::vector<store::AgentQueue> queues) {
    for (auto& queue : queues) {
      notifier_.Update(queue.agent_id,
                       AgentQueueState{queue.state.pending, std::move(queue.state.cancel)});
    }
  };
  auto opened = open_store(std::move(deps));
  if (!opened) return Fail(std::move(opened.error()).WithContext("open store"));
  store_ = std::move(*opened);

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
    auto created = store_->CreateToken(record);
    if (!created) return Fail(std::move(created.error()).WithContext("store admin token"));
  }

  auto all = store_->ListTokens();
  if (!all) return Fail(std::move(all.error()).WithContext("load tokens"));
  std::vector<TokenEntry> entries;
  for (const auto& token : *all) {
    if (token.revoked_at) continue;
    entries.push_back({token.token_hash, Principal{token.id, token.role, token.agent_id}});
  }
  tokens_.Load(std::move(entries));

  auto last_seq = store_->LastEventSeq();
  if (!last_seq) return Fail(std::move(last_seq.error()).WithContext("read event seq"));
  published_seq_ = *last_seq;
  hub_ = std::make_unique<StreamHub>(StreamHubOptions{}, *last_seq);
  return Ok();
}

Status FleetCmdr::Impl::Start() {
  workers_ = std::make_unique<net::WorkerPool>(static_cast<std::size_t>(options_.worker_threads));
  net::HttpServerOptions http;
  http.address = options_.address;
  http.port = options_.port;
  http.threads = options_.io_threads;
  http.body_limit = options_.body_limit;
  http.request_timeout = options_.request_timeout;
  http.idle_timeout = options_.idle_timeout;
  if (options_.tls_cert && options_.tls_key) {
    http.tls = net::TlsFiles{*options_.tls_cert, *options_.tls_key};
  }
  net::WebSocketHandlers ws;
  ws.on_open = [this](std::shared_ptr<net::WebSocketSession> session, const HttpRequest& upgrade) {
    StreamOpen(std::move(session), upgrade);
  };
  ws.on_message = [this](net::WebSocketSession& session, std::string message) {
    StreamMessage(session, std::move(message));
  };
  ws.on_close = [this](net::WebSocketSession& session) { StreamClose(session); };
  http_ = std::make_unique<net::HttpServer>(
      http,
      [this](HttpRequest&& request, ResponderPtr responder) {
        Handle(std::move(request), std::move(responder));
      },
      [this](const HttpRequest& head) { return BodyPolicyFor(head); }, std::move(ws),
      [](std::string_view path) { return path == "/v1/stream"; });
  if (auto started = http_->Start(); !started) return started;
  Log()->info("listening on {}://{}:{} (data dir {})", http.tls ? "https" : "http",
              options_.address, http_->port(), options_.data_dir.string());
  ScheduleTick();
  return Ok();
}

void FleetCmdr::Impl::Stop() {
  if (stopping_.exchange(true)) return;
  {
    const std::lock_guard lock(tick_mutex_);
    if (tick_timer_) tick_timer_->Cancel();
  }
  if (http_) http_->Stop();
  if (workers_) workers_->Stop();
  WaitForStoreCalls();
  FlushSeen();
}

bool FleetCmdr::Impl::BeginStoreCall() {
  const std::lock_guard lock(store_calls_mutex_);
  if (stopping_.load() || !store_) return false;
  ++store_calls_;
  return true;
}

void FleetCmdr::Impl::EndStoreCall() {
  const std::lock_guard lock(store_calls_mutex_);
  if (--store_calls_ == 0) store_calls_done_.notify_all();
}

void FleetCmdr::Impl::WaitForStoreCalls() {
  // The store completes every call it took (its writer finishes its queue), so this ends.
  std::unique_lock lock(store_calls_mutex_);
  store_calls_done_.wait(lock, [this] { return store_calls_ == 0; });
}

// ---- routing ----

net::BodyPolicy FleetCmdr::Impl::BodyPolicyFor(const HttpRequest& head) {
  net::BodyPolicy policy;
  policy.limit = options_.body_limit;
  if (head.method == "PUT" && head.path == "/v1/artifacts") {
    // Stream to disk only for a caller allowed to upload; others get their 401/403 (or 413).
    const auto principal = tokens_.Authenticate(
        head.FindHeader("Authorization")
            ? std::optional<std::string_view>(*head.FindHeader("Authorization"))
            : std::nullopt);
    if (Authorize(principal, RouteClass::kOperatorWrite)) {
      policy.limit = static_cast<std::size_t>(options_.artifact_limit);
      policy.stream_to_file = artifact_dir_ / (".upload-" + RandomHex(12));
    }
  }
  return policy;
}

void FleetCmdr::Impl::Handle(HttpRequest&& request, ResponderPtr responder) {
  Call call;
  const auto segments = SplitPath(request.path);
  call.responder = responder;  // metered below, once the route is known
  const auto& method = request.method;
  const auto n = segments.size();
  auto at = [&](std::size_t i) -> const std::string& { return segments[i]; };

  // Public routes.
  if (method == "GET" && n == 1 && at(0) == "healthz") {
    return Reply(Metered(call.responder, "GET /healthz"), 200, R"({"status":"ok"})");
  }
  if (method == "GET" && n == 1 && at(0) == "readyz") {
    call.request = std::move(request);
    call.responder = Metered(call.responder, "GET /readyz");
    return Ready(std::move(call));
  }
  if (method == "GET" && (n == 0 || (n == 1 && at(0) == "index.html"))) {
    HttpResponse page;
    page.content_type = "text/html; charset=utf-8";
    page.body = std::string(WebUiIndexHtml());
    return call.responder->Send(std::move(page));
  }

  const std::string* authorization = request.FindHeader("Authorization");
  call.principal = tokens_.Authenticate(
      authorization ? std::optional<std::string_view>(*authorization) : std::nullopt);
  // A request for a route: its class, the agentId of agent routes, and what runs it.
  RouteClass route_class = RouteClass::kViewerRead;
  std::string path_agent;
  std::function<void(Call)> run;
  bool path_known = false;  // for 405 vs 404
  bool json_body = false;

  if (n == 1 && at(0) == "metrics") {
    path_known = true;
    if (method == "GET") {
      route_class = RouteClass::kMetrics;
      run = [this](Call c) { Metrics(std::move(c)); };
    }
  } else if (n >= 2 && at(0) == "v1") {
    const auto& area = at(1);
    if (area == "jobs") {
      if (n == 2) {
        path_known = true;
        if (method == "POST") {
          route_class = RouteClass::kOperatorWrite;
          json_body = true;
          run = [this](Call c) { CreateJobs(std::move(c)); };
        } else if (method == "GET") {
          run = [this](Call c) { ListJobs(std::move(c)); };
        }
      } else if (n == 3) {
        path_known = true;
        if (method == "GET") run = [this, id = at(2)](Call c) { GetJob(std::move(c), id); };
      } else if (n == 4) {
        const auto& action = at(3);
        path_known =
            action == "events" || action == "logs" || action == "cancel" || action == "retry";
        if (method == "GET" && action == "events") {
          run = [this, id = at(2)](Call c) { GetJobEvents(std::move(c), id); };
        } else if (method == "GET" && action == "logs") {
          run = [this, id = at(2)](Call c) { GetJobLogs(std::move(c), id); };
        } else if (method == "POST" && action == "cancel") {
          route_class = RouteClass::kOperatorWrite;
          run = [this, id = at(2)](Call c) { CancelJob(std::move(c), id); };
        } else if (method == "POST" && action == "retry") {
          route_class = RouteClass::kOperatorWrite;
          run = [this, id = at(2)](Call c) { RetryJob(std::move(c), id); };
        }
      }
    } else if (area == "agents") {
      if (n == 2) {
        path_known = true;
        if (method == "GET") {
          run = [this](Call c) { ListAgents(std::move(c)); };
        } else if (method == "POST") {
          route_class = RouteClass::kAdmin;
          json_body = true;
          run = [this](Call c) { EnrollAgent(std::move(c)); };
        }
      } else if (n == 3) {
        path_known = true;
        if (method == "GET") {
          run = [this, id = at(2)](Call c) { GetAgent(std::move(c), id); };
        } else if (method == "DELETE") {
          route_class = RouteClass::kAdmin;
          run = [this, id = at(2)](Call c) { RevokeAgent(std::move(c), id); };
        }
      } else {
        // Agent API: /v1/agents/{agentId}/...
        path_agent = at(2);
        route_class = RouteClass::kAgentOwn;
        if (n == 4 && at(3) == "hello") {
          path_known = true;
          json_body = true;
          if (method == "POST")
            run = [this, a = path_agent](Call c) { AgentHello(std::move(c), a); };
        } else if (n == 4 && at(3) == "notify") {
          path_known = true;
          if (method == "GET")
            run = [this, a = path_agent](Call c) { AgentNotify(std::move(c), a); };
        } else if (n == 5 && at(3) == "jobs" && at(4) == "next") {
          path_known = true;
          if (method == "POST")
            run = [this, a = path_agent](Call c) { AgentNext(std::move(c), a); };
        } else if (n == 6 && at(3) == "runs" && at(5) == "updates") {
          path_known = true;
          json_body = true;
          if (method == "POST") {
            run = [this, a = path_agent, r = at(4)](Call c) { AgentUpdates(std::move(c), a, r); };
          }
        }
      }
    } else if (area == "tokens") {
      route_class = RouteClass::kAdmin;
      if (n == 2) {
        path_known = true;
        json_body = true;
        if (method == "POST") run = [this](Call c) { CreateToken(std::move(c)); };
      } else if (n == 3) {
        path_known = true;
        if (method == "DELETE") run = [this, id = at(2)](Call c) { RevokeToken(std::move(c), id); };
      }
    } else if (area == "artifacts") {
      if (n == 2) {
        path_known = true;
        route_class = RouteClass::kOperatorWrite;
        if (method == "PUT") run = [this](Call c) { UploadArtifact(std::move(c)); };
      } else if (n == 3) {
        path_known = true;
        route_class = RouteClass::kArtifactDownload;
        if (method == "GET") {
          run = [this, sha = at(2)](Call c) { DownloadArtifact(std::move(c), sha); };
        }
      }
    } else if (area == "job-types" && n == 2) {
      path_known = true;
      if (method == "GET") {
        run = [this](Call c) { Reply(c.responder, 200, protocol::JobTypesJson()); };
      }
    } else if (area == "stream" && n == 2) {
      path_known = true;  // only as a WebSocket upgrade
    }
  }

  if (path_known) {
    call.responder = Metered(std::move(responder), RouteLabel(method, segments));
  } else {
    call.responder = Metered(std::move(responder), "other");  // bounded label set
  }
  if (!path_known) {
    return ReplyError(call.responder, MakeError(Errc::kNotFound, "no such path: " + request.path));
  }
  if (!run) {
    return ReplyError(call.responder, MakeError(Errc::kMethodNotAllowed,
                                                method + " is not allowed on " + request.path));
  }
  if (auto allowed = Authorize(call.principal, route_class, path_agent); !allowed) {
    return ReplyError(call.responder, allowed.error());
  }
  if (route_class != RouteClass::kAgentOwn && call.principal &&
      call.principal->role != protocol::Role::kAgent) {
    if (const int wait = limiter_.Acquire(call.principal->token_id, clock_.Now()); wait > 0) {
      HttpResponse limited;
      limited.status = 429;
      limited.headers.push_back({"Retry-After", std::to_string(wait)});
      limited.body = protocol::ErrorBodyJson(MakeError(
          Errc::kRateLimited, "too many requests: retry in " + std::to_string(wait) + " s"));
      return call.responder->Send(std::move(limited));
    }
  }
  if (json_body && !request.body.empty() &&
      !IsJsonContentType(request.FindHeader("Content-Type"))) {
    return ReplyError(call.responder, MakeError(Errc::kUnsupportedMediaType,
                                                "Content-Type must be application/json"));
  }
  call.request = std::move(request);
  call.segments = segments;
  run(std::move(call));
}

// ---- responses ----

void FleetCmdr::Impl::Reply(const ResponderPtr& responder, int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  responder->Send(std::move(response));
}

void FleetCmdr::Impl::ReplyNoContent(const ResponderPtr& responder) {
  HttpResponse response;
  response.status = 204;
  response.content_type.clear();
  responder->Send(std::move(response));
}

void FleetCmdr::Impl::ReplyError(const ResponderPtr& responder, const Error& original) {
  // A store that fails in a way a retry can fix is "unavailable" to clients (protocol.md §1).
  Error error = original;
  if (error.code == Errc::kStore && error.retryable) error.code = Errc::kUnavailable;
  HttpResponse response;
  response.status = protocol::HttpStatusFor(error.code);
  response.body = protocol::ErrorBodyJson(error);
  if (response.status == 503 || response.status == 429) {
    response.headers.push_back({"Retry-After", "1"});
  }
  if (response.status >= 500) Log()->error("request failed: {}", error.Describe());
  responder->Send(std::move(response));
}

void FleetCmdr::Impl::OnWorker(const ResponderPtr& responder, std::function<void()> work) {
  if (stopping_.load() || !workers_) {
    return ReplyError(responder,
                      MakeError(Errc::kUnavailable, "fleet-cmdr is shutting down", true));
  }
  workers_->Post([this, responder, work = std::move(work)] {
    try {
      work();
    } catch (const std::exception& e) {
      ReplyError(responder, MakeError(Errc::kInternal, std::string("internal error: ") + e.what()));
    }
  });
}

// ---- publishing ----

void FleetCmdr::Impl::PublishEvents(const std::vector<protocol::Event>& events) {
  if (events.empty()) return;
  const std::lock_guard lock(publish_mutex_);
  for (const auto& event : events) {
    if (event.seq > published_seq_) unpublished_.emplace(event.seq, event);
  }
  for (const auto& event : events) {
    events_published_->With({std::string(protocol::ToString(event.type))}).Inc();
  }
  std::vector<protocol::Event> ready;
  while (!unpublished_.empty() && unpublished_.begin()->first == published_seq_ + 1) {
    ready.push_back(std::move(unpublished_.begin()->second));
    unpublished_.erase(unpublished_.begin());
    ++published_seq_;
  }
  if (unpublished_.empty()) {
    gap_since_ = {};
  } else if (gap_since_ == std::chrono::steady_clock::time_point{}) {
    gap_since_ = std::chrono::steady_clock::now();
  }
  // Under the lock, so two threads never hand the hub events out of order (Publish only queues).
  if (!ready.empty()) hub_->Publish(ready);
}

void FleetCmdr::Impl::FillEventGaps() {
  std::int64_t after = 0;
  {
    const std::lock_guard lock(publish_mutex_);
    if (unpublished_.empty() ||
        std::chrono::steady_clock::now() - gap_since_ < std::chrono::milliseconds(200)) {
      return;
    }
    after = published_seq_;
  }
  auto events = store_->ReadEvents(after, 1000, store::EventFilter{});
  if (!events) return;
  const std::lock_guard lock(publish_mutex_);
  if (published_seq_ != after) return;  // someone moved on meanwhile
  // Seqs the store does not have were never committed: skip them.
  if (!events->empty() && events->front().seq > published_seq_ + 1) {
    published_seq_ = events->front().seq - 1;
  } else if (events->empty() && !unpublished_.empty()) {
    published_seq_ = unpublished_.begin()->first - 1;
  }
  std::vector<protocol::Event> ready;
  for (auto& event : *events) {
    if (event.seq == published_seq_ + 1) {
      unpublished_.erase(event.seq);
      ready.push_back(std::move(event));
      ++published_seq_;
    }
  }
  while (!unpublished_.empty() && unpublished_.begin()->first <= published_seq_ + 1) {
    if (unpublished_.begin()->first == published_seq_ + 1) {
      ready.push_back(std::move(unpublished_.begin()->second));
      ++published_seq_;
    }
    unpublished_.erase(unpublished_.begin());
  }
  gap_since_ = unpublished_.empty() ? std::chrono::steady_clock::time_point{}
                                    : std::chrono::steady_clock::now();
  if (!ready.empty()) hub_->Publish(ready);
}

void FleetCmdr::Impl::RefreshAgent(const std::string& agent_id) {
  // Version first, then read: a change that lands between the two makes Load refuse the stale
  // state, and we read again (notifier.hpp).
  for (int attempt = 0; attempt < 5; ++attempt) {
    const auto version = notifier_.Version(agent_id);
    auto state = store_->AgentQueueState(agent_id);
    if (!state) {
      Log()->warn("agentId={} cannot read notify state: {}", agent_id, state.error().Describe());
      notifier_.Invalidate(agent_id);
      return;
    }
    if (notifier_.Load(agent_id, AgentQueueState{state->pending, state->cancel}, version)) return;
  }
}

// ---- presence and timers ----

void FleetCmdr::Impl::MarkSeen(const std::string& agent_id) {
  const auto now = clock_.WallNow();
  bool came_online = false;
  {
    const std::lock_guard lock(presence_mutex_);
    auto& presence = presence_[agent_id];
    presence.last_seen = now;
    unflushed_seen_.push_back({agent_id, now});
    if (!presence.online) {
      presence.online = true;
      came_online = true;
    }
  }
  if (!came_online || !workers_) return;
  workers_->Post([this, agent_id, now] {
    protocol::Event event;
    event.type = protocol::EventType::kAgentOnline;
    event.timestamp = now;
    event.agent_id = agent_id;
    event.status = "online";
    auto appended = store_->AppendEvents({event});
    if (appended) Publish(*appended);
    Log()->info("agentId={} online", agent_id);
  });
}

void FleetCmdr::Impl::CheckOffline() {
  const auto now = clock_.WallNow();
  const auto limit = std::chrono::seconds(3 * options_.long_poll_seconds);
  std::vector<protocol::Event> events;
  {
    const std::lock_guard lock(presence_mutex_);
    for (auto& [agent_id, presence] : presence_) {
      if (presence.online && now - presence.last_seen > limit) {
        presence.online = false;
        protocol::Event event;
        event.type = protocol::EventType::kAgentOffline;
        event.timestamp = now;
        event.agent_id = agent_id;
        event.status = "offline";
        events.push_back(std::move(event));
      }
    }
  }
  if (events.empty()) return;
  for (const auto& event : events)
    Log()->info("agentId={} offline", *event.agent_id);
  auto appended = store_->AppendEvents(std::move(events));
  if (appended) Publish(*appended);
}

void FleetCmdr::Impl::FlushSeen() {
  std::vector<store::AgentSeen> seen;
  {
    const std::lock_guard lock(presence_mutex_);
    seen.swap(unflushed_seen_);
  }
  if (seen.empty() || !store_) return;
  // Keep only the latest time per agent.
  std::unordered_map<std::string, WallTime> latest;
  for (const auto& s : seen) {
    auto& t = latest[s.agent_id];
    if (s.seen_at > t) t = s.seen_at;
  }
  std::vector<store::AgentSeen> batch;
  batch.reserve(latest.size());
  for (auto& [agent_id, at] : latest)
    batch.push_back({agent_id, at});
  if (auto flushed = store_->TouchAgents(batch); !flushed) {
    Log()->warn("cannot record last-seen times: {}", flushed.error().Describe());
  }
}

void FleetCmdr::Impl::ScheduleTick() {
  if (stopping_.load()) return;
  const std::lock_guard lock(tick_mutex_);
  tick_timer_ = http_->RunAfter(options_.tick, [this] {
    if (stopping_.load()) return;
    workers_->Post([this] {
      Tick();
      ScheduleTick();
    });
  });
}

void FleetCmdr::Impl::Tick() {
  const auto now = clock_.WallNow();
  // Bounded loops: each call handles a bounded number of rows.
  for (int i = 0; i < 16; ++i) {
    auto expired = store_->ExpireLeases(now);
    if (!expired) {
      Log()->warn("lease expiry failed: {}", expired.error().Describe());
      break;
    }
    Publish(*expired);
    for (const auto& event : expired->events) {
      if (event.type == protocol::EventType::kJobFailed && event.job_id && event.run_id) {
        Log()->warn("jobId={} runId={} lease expired: agent lost", *event.job_id, *event.run_id);
      }
    }
    if (expired->value == 0) break;
  }
  for (int i = 0; i < 16; ++i) {
    auto promoted = store_->PromoteDue(now);
    if (!promoted) {
      Log()->warn("promoting due jobs failed: {}", promoted.error().Describe());
      break;
    }
    Publish(*promoted);
    if (promoted->value == 0) break;
  }
  CheckOffline();
  FillEventGaps();
  DrainStreams();
  const auto mono = clock_.Now();
  if (mono - last_flush_ >= std::chrono::seconds(5)) {
    last_flush_ = mono;
    FlushSeen();
  }
  if (mono - last_prune_ >= std::chrono::seconds(60)) {
    last_prune_ = mono;
    if (auto pruned = store_->PruneEvents(options_.events_kept); !pruned) {
      Log()->warn("pruning events failed: {}", pruned.error().Describe());
    }
  }
}

// ---- metrics and readiness ----

void FleetCmdr::Impl::Ready(Call call) {
  OnWorker(call.responder, [this, responder = call.responder] {
    auto seq = store_->LastEventSeq();
    if (!seq) {
      return ReplyError(responder, MakeError(Errc::kUnavailable,
                                             "store unreachable: " + seq.error().message, true));
    }
    Reply(responder, 200, R"({"status":"ready"})");
  });
}

void FleetCmdr::Impl::Metrics(Call call) {
  // Jobs by type and status come from the store (the truth when replicas share it), on a worker.
  OnWorker(call.responder, [this, responder = call.responder] {
    auto counts = store_->CountJobs();
    if (!counts) {
      return ReplyError(responder, MakeError(Errc::kUnavailable,
                                             "store unreachable: " + counts.error().message, true));
    }
    // Every pair is rendered, zeros included, so a status that emptied does not keep its count.
    const std::lock_guard lock(jobs_by_status_mutex_);
    for (const auto& type : protocol::AllJobTypes()) {
      for (const auto status : {protocol::JobStatus::kCreated, protocol::JobStatus::kQueued,
                                protocol::JobStatus::kRunning, protocol::JobStatus::kCompleted,
                                protocol::JobStatus::kFailed, protocol::JobStatus::kCancelled}) {
        jobs_by_status_->With({std::string(type.name), std::string(protocol::ToString(status))})
            .Set(0);
      }
    }
    for (const auto& count : *counts) {
      jobs_by_status_->With({count.type, std::string(protocol::ToString(count.status))})
          .Set(static_cast<double>(count.count));
    }
    HttpResponse response;
    response.content_type = std::string(kPrometheusContentType);
    response.body = metrics_.RenderPrometheus();
    responder->Send(std::move(response));
  });
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

}  // namespace orb::server
