#include "store/postgres/pg_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include <libpq-fe.h>
#include <poll.h>

#include "common/log.hpp"

namespace orb::store::postgres {
namespace {

using Steady = std::chrono::steady_clock;
using OwnedResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

constexpr Oid kBoolOid = 16;

// libpq's text on one line: its messages end with a newline and often continue on a second,
// indented one ("...refused\n\tIs the server running..."), which would split a log line.
std::string Trimmed(const char* text) {
  std::string message;
  bool space = false;
  for (const char* c = text != nullptr ? text : ""; *c != '\0'; ++c) {
    if (*c == '\n' || *c == '\t' || *c == '\r' || *c == ' ') {
      space = !message.empty();
      continue;
    }
    if (space) message += ' ';
    space = false;
    message += *c;
  }
  return message;
}

// libpq writes the server's notices (a NOTICE of "CREATE ... IF NOT EXISTS", a FATAL that ends an
// idle session when the server shuts down) to stderr by default, past the log and its format.
void LogNotice(void* /*unused*/, const char* message) {
  const std::string text = Trimmed(message);
  auto log = GetLogger("fleet-cmdr");
  if (text.starts_with("NOTICE:") || text.starts_with("DEBUG:") || text.starts_with("INFO:") ||
      text.starts_with("LOG:")) {
    log->debug("postgres: {}", text);
  } else {
    log->warn("postgres: {}", text);
  }
}

sql::Failure FailureOfState(std::string_view state) {
  if (state == "40001" || state == "40P01" || state == "55P03") return sql::Failure::kConflict;
  if (state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03") {
    return sql::Failure::kConnection;
  }
  if (state.starts_with("53") || state.starts_with("58")) return sql::Failure::kRetryable;
  return sql::Failure::kOther;
}

std::string InList(std::string_view column, int param) {
  return std::string(column) + " = ANY(?" + std::to_string(param) + "::text[])";
}

std::string NoIndexHint(std::string_view /*index*/) {
  return {};
}

const sql::Dialect kDialect{" FOR UPDATE", &InList, &NoIndexHint};

std::int64_t ParseInt64(std::string_view text, Oid type) {
  if (type == kBoolOid) return text == "t" ? 1 : 0;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    sql::Corrupt("not an integer: " + std::string(text));
  }
  return value;
}

}  // namespace

// ---- placeholders and literals ----

std::pair<std::string, int> RewritePlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int bare = 0;
  int highest = 0;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      out += c;
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: same result
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    std::size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9')
      ++j;
    int index = 0;
    if (j > i + 1) {
      std::from_chars(sql.data() + i + 1, sql.data() + j, index);
      i = j - 1;
    } else {
      index = ++bare;
    }
    highest = std::max(highest, index);
    out += '$';
    out += std::to_string(index);
  }
  return {std::move(out), highest};
}

std::string TextArrayLiteral(std::span<const std::string> values) {
  std::string literal = "{";
  for (const std::string& value : values) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

// ---- PgResult ----

PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}

int PgResult::rows() const {
  return PQntuples(result_);
}

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string_view PgResult::Value(int row, int column) const {
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::int64_t PgResult::Int64(int row, int column) const {
  return ParseInt64(Value(row, column), PQftype(result_, column));
}

std::int64_t PgResult::Changes() const {
  const char* tuples = PQcmdTuples(result_);
  return tuples != nullptr && *tuples != '\0' ? std::atoll(tuples) : 0;
}

// ---- PgConnection ----

PgConnection::PgConnection(const std::string& url, bool pipeline, PgCounters* counters,
                           std::chrono::milliseconds response_timeout)
    : pipeline_(pipeline), counters_(counters), response_timeout_(response_timeout) {
  // The store's defaults first: what the URL says comes later and wins (expand_dbname).
  const char* keys[] = {"connect_timeout",  "keepalives",
                        "keepalives_idle",  "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout",
                        "client_encoding",  "application_name",
                        "dbname",           nullptr};
  const char* values[] = {"5",     "1",    "10",         "3",         "3",
                          "15000", "UTF8", "fleet-cmdr", url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = "postgres: cannot connect: " +
                                Trimmed(conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory");
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    throw sql::SqlError(sql::Failure::kConnection, message);
  }
  PQsetNoticeProcessor(conn_, &LogNotice, nullptr);
  // A replica that stops inside a transaction (SIGSTOP, a frozen VM, a debugger) keeps its
  // session open, and with it its row locks: the leader lease's row, the agents' rows, the commit
  // order. The server ends such a session after this long, so the other replicas wait seconds,
  // not a minute, and take the leader lease within its ttl. Every transaction of the store runs
  // its statements back to back (an artifact upload too: from the replica's spooled file), so
  // only a stopped or hung replica is idle this long inside one.
  ExecScript("SET idle_in_transaction_session_timeout = '" +
             std::to_string(kIdleInTransactionTimeout.count()) + "ms'");
  if (pipeline_ && PQenterPipelineMode(conn_) != 1) ThrowConnection("cannot enter pipeline mode");
}

PgConnection::~PgConnection() {
  statements_.clear();  // their results are freed before the connection
  if (conn_ != nullptr) PQfinish(conn_);
}

void PgConnection::ThrowConnection(std::string_view what) {
  broken_ = true;
  pending_.clear();
  throw sql::SqlError(sql::Failure::kConnection,
                      "postgres: " + std::string(what) + ": " + Trimmed(PQerrorMessage(conn_)));
}

Steady::time_point PgConnection::Deadline() const {
  return response_timeout_.count() > 0 ? Steady::now() + response_timeout_
                                       : Steady::time_point::max();
}

void PgConnection::AwaitResult(Steady::time_point deadline) {
  while (PQisBusy(conn_) == 1) {
    int wait_ms = -1;  // no deadline: as long as it takes
    if (deadline != Steady::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) {
        broken_ = true;
        timed_out_ = true;
        pending_.clear();
        throw sql::SqlError(sql::Failure::kConnection,
                            "postgres: no answer from the server within " +
                                std::to_string(response_timeout_.count()) + " ms");
      }
      wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX));
    }
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    const int ready = ::poll(&fd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) ThrowConnection("cannot wait for the server");
    if (ready > 0 && PQconsumeInput(conn_) != 1) {
      ThrowConnection("lost the connection while waiting for results");
    }
  }
}

pg_result* PgConnection::TakeLastResult() {
  const Steady::time_point deadline = Deadline();
  OwnedResult kept(nullptr, &PQclear);
  for (;;) {
    AwaitResult(deadline);
    OwnedResult next(PQgetResult(conn_), &PQclear);
    if (next == nullptr) break;
    const bool failed = kept != nullptr && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR;
    if (!failed) kept = std::move(next);
  }
  return kept.release();
}

sql::SqlError PgConnection::ErrorOf(pg_result* result, bool deferred) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  sql::Failure failure = FailureOfState(state != nullptr ? state : "");
  if (PQstatus(conn_) == CONNECTION_BAD) failure = sql::Failure::kConnection;
  if (failure == sql::Failure::kConnection) broken_ = true;
  std::string message = "postgres: " + Trimmed(PQresultErrorMessage(result));
  if (state != nullptr) message += std::string(" (SQLSTATE ") + state + ")";
  return sql::SqlError(failure, message, deferred);
}

sql::Statement& PgConnection::Prepare(std::string_view sql) {
  return PrepareStatement(sql);
}

PgStatement& PgConnection::PrepareStatement(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return *it->second;
  auto [text, params] = RewritePlaceholders(sql);
  auto statement = std::make_unique<PgStatement>(*this, "s" + std::to_string(++next_statement_),
                                                 std::move(text), params);
  auto [inserted, _] = statements_.emplace(std::string(sql), std::move(statement));
  return *inserted->second;
}

void PgConnection::Send(PgStatement& statement, bool waited) {
  if (broken_) throw sql::SqlError(sql::Failure::kConnection, "postgres: connection lost");
  if (!pipeline_) {
    throw sql::SqlError(sql::Failure::kOther, "postgres: statements need a pipeline connection");
  }
  if (!statement.prepared_) {
    if (PQsendPrepare(conn_, statement.name_.c_str(), statement.sql_.c_str(),
                      statement.param_count_, nullptr) != 1) {
      ThrowConnection("cannot send a statement");
    }
    statement.prepared_ = true;
    pending_.push_back({Pending::kPrepare, &statement, 0});
  }
  std::vector<const char*> values(static_cast<std::size_t>(statement.param_count_), nullptr);
  for (std::size_t i = 0; i < values.size() && i < statement.params_.size(); ++i) {
    if (statement.params_[i]) values[i] = statement.params_[i]->c_str();
  }
  if (PQsendQueryPrepared(conn_, statement.name_.c_str(), statement.param_count_, values.data(),
                          nullptr, nullptr, 0) != 1) {
    ThrowConnection("cannot send a statement");
  }
  if (counters_ != nullptr) counters_->statements.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t ticket = ++next_ticket_;
  if (waited) {
    statement.ticket_ = ticket;
    statement.done_ = false;
    pending_.push_back({Pending::kWaited, &statement, ticket});
  } else {
    ++writes_;
    pending_.push_back({Pending::kDeferred, nullptr, ticket});
  }
}

void PgConnection::Wait() {
  if (broken_) throw sql::SqlError(sql::Failure::kConnection, "postgres: connection lost");
  if (PQpipelineSync(conn_) != 1) ThrowConnection("cannot send a sync");
  if (counters_ != nullptr) counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
  pending_.push_back({Pending::kSync, nullptr, 0});
  const Steady::time_point deadline = Deadline();
  std::optional<sql::SqlError> failure;
  while (!pending_.empty()) {
    const Pending pending = pending_.front();
    pending_.pop_front();
    AwaitResult(deadline);
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) ThrowConnection("lost the connection while waiting for results");
    const ExecStatusType status = PQresultStatus(result);
    if (pending.kind == Pending::kSync) {
      PQclear(result);
      if (status != PGRES_PIPELINE_SYNC) ThrowConnection("out of step with the server");
      break;
    }
    // Every result of a query is followed by a null one.
    try {
      AwaitResult(deadline);
    } catch (const sql::SqlError&) {
      PQclear(result);
      throw;
    }
    if (PGresult* end = PQgetResult(conn_); end != nullptr) {
      PQclear(end);
      PQclear(result);
      ThrowConnection("out of step with the server");
    }
    if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR ||
        status == PGRES_BAD_RESPONSE) {
      if (!failure) {
        failure = ErrorOf(result,
                          pending.kind == Pending::kDeferred || pending.kind == Pending::kPrepare);
      }
      if (pending.kind == Pending::kPrepare) pending.statement->prepared_ = false;
      PQclear(result);
      if (broken_) {
        pending_.clear();
        throw *failure;
      }
      continue;
    }
    if (status == PGRES_PIPELINE_ABORTED) {  // after an earlier failure of this pipeline
      PQclear(result);
      continue;
    }
    if (pending.kind == Pending::kWaited && pending.statement != nullptr &&
        pending.statement->ticket_ == pending.ticket) {
      PgStatement& statement = *pending.statement;
      if (statement.result_ != nullptr) PQclear(statement.result_);
      statement.result_ = result;
      statement.done_ = true;
      const std::string_view command = PQcmdStatus(result);
      if (!command.starts_with("SELECT") && statement.Changes() > 0) ++writes_;
      continue;
    }
    PQclear(result);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) ThrowConnection("connection lost");
  if (failure) throw *failure;
}

void PgConnection::Exec(std::string_view sql) {
  if (!pipeline_) return ExecScript(sql);
  ExecDeferred(sql);
  pending_.back().kind = Pending::kWaited;  // a failure is this statement's, not deferred
  Wait();
}

void PgConnection::ExecDeferred(std::string_view sql) {
  if (broken_) throw sql::SqlError(sql::Failure::kConnection, "postgres: connection lost");
  const std::string text(sql);
  if (PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
    ThrowConnection("cannot send a statement");
  }
  if (counters_ != nullptr) counters_->statements.fetch_add(1, std::memory_order_relaxed);
  pending_.push_back({Pending::kDeferred, nullptr, ++next_ticket_});
}

void PgConnection::RefreshPlansIfDue(Steady::time_point now) {
  if (now - plans_since_ < kPlanLifetime) return;
  plans_since_ = now;
  ExecDeferred("DISCARD PLANS");
}

void PgConnection::Sync() {
  if (!pending_.empty()) Wait();
}

void PgConnection::Flush() {
  if (broken_) return;
  // A Flush message makes the server send the results so far, which the next wait reads.
  if (PQsendFlushRequest(conn_) != 1 || PQflush(conn_) != 0) {
    ThrowConnection("cannot send");
  }
}

bool PgConnection::InTransaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

const sql::Dialect& PgConnection::dialect() const {
  return kDialect;
}

void PgConnection::ExecScript(std::string_view sql) {
  if (broken_) throw sql::SqlError(sql::Failure::kConnection, "postgres: connection lost");
  if (!pending_.empty()) Wait();
  const bool in_pipeline = PQpipelineStatus(conn_) != PQ_PIPELINE_OFF;
  if (in_pipeline && PQexitPipelineMode(conn_) != 1) ThrowConnection("cannot leave pipeline mode");
  const std::string text(sql);
  if (counters_ != nullptr) {
    counters_->statements.fetch_add(1, std::memory_order_relaxed);
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
  }
  if (PQsendQuery(conn_, text.c_str()) != 1) ThrowConnection("cannot send a statement");
  PGresult* result = TakeLastResult();
  std::optional<sql::SqlError> failure;
  if (result == nullptr) {
    ThrowConnection("lost the connection");
  }
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) failure = ErrorOf(result, false);
  PQclear(result);
  if (in_pipeline && !broken_ && PQenterPipelineMode(conn_) != 1) {
    ThrowConnection("cannot enter pipeline mode");
  }
  if (failure) throw *failure;
}

PgResult PgConnection::ExecBinary(std::string_view sql, std::span<const PgParam> params,
                                  bool binary_result) {
  if (broken_) throw sql::SqlError(sql::Failure::kConnection, "postgres: connection lost");
  if (!pending_.empty()) Wait();
  const bool in_pipeline = PQpipelineStatus(conn_) != PQ_PIPELINE_OFF;
  if (in_pipeline && PQexitPipelineMode(conn_) != 1) ThrowConnection("cannot leave pipeline mode");
  auto [text, count] = RewritePlaceholders(sql);
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const PgParam& param : params) {
    values.push_back(param.null ? nullptr : param.value.data());
    lengths.push_back(static_cast<int>(param.value.size()));
    formats.push_back(param.binary ? 1 : 0);
  }
  // Text parameters must be NUL-terminated: copy them.
  std::vector<std::string> texts;
  texts.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].binary && !params[i].null) {
      texts.emplace_back(params[i].value);
      values[i] = texts.back().c_str();
    }
  }
  if (counters_ != nullptr) {
    counters_->statements.fetch_add(1, std::memory_order_relaxed);
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
  }
  if (PQsendQueryParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                        values.data(), lengths.data(), formats.data(),
                        binary_result ? 1 : 0) != 1) {
    ThrowConnection("cannot send a statement");
  }
  PGresult* result = TakeLastResult();
  if (result == nullptr) ThrowConnection("lost the connection");
  PgResult owned(result);
  const ExecStatusType status = PQresultStatus(result);
  std::optional<sql::SqlError> failure;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) failure = ErrorOf(result, false);
  if (in_pipeline && !broken_ && PQenterPipelineMode(conn_) != 1) {
    ThrowConnection("cannot enter pipeline mode");
  }
  if (failure) throw *failure;
  (void)count;
  return owned;
}

bool PgConnection::PeerStillThere() {
  if (broken_ || conn_ == nullptr) return false;
  // A server that ends a session sends its reason (a FATAL message) and then closes: the first
  // read takes the message, the second sees the end. Reads that find nothing return at once.
  for (int read = 0; read < 2 && !broken_; ++read) {
    if (PQconsumeInput(conn_) != 1 || PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
  }
  return !broken_;
}

std::vector<std::string> PgConnection::TakeNotifications(std::string_view channel) {
  if (PQconsumeInput(conn_) != 1) ThrowConnection("lost the connection");
  std::vector<std::string> payloads;
  while (PGnotify* notify = PQnotifies(conn_)) {
    if (channel == notify->relname) payloads.emplace_back(notify->extra);
    PQfreemem(notify);
  }
  return payloads;
}

int PgConnection::socket() const {
  return PQsocket(conn_);
}

// ---- PgStatement ----

PgStatement::PgStatement(PgConnection& connection, std::string name, std::string sql, int params)
    : connection_(connection),
      name_(std::move(name)),
      sql_(std::move(sql)),
      param_count_(params),
      params_(static_cast<std::size_t>(params)) {}

PgStatement::~PgStatement() {
  if (result_ != nullptr) PQclear(result_);
}

void PgStatement::Bind(int index, std::optional<std::string> value) {
  if (index < 1 || index > param_count_) {
    throw sql::SqlError(sql::Failure::kOther,
                        "postgres: no parameter " + std::to_string(index) + " in " + sql_);
  }
  params_[static_cast<std::size_t>(index - 1)] = std::move(value);
}

void PgStatement::BindInt64(int index, std::int64_t value) {
  Bind(index, std::to_string(value));
}

void PgStatement::BindText(int index, std::string_view value) {
  Bind(index, std::string(value));
}

void PgStatement::BindNull(int index) {
  Bind(index, std::nullopt);
}

void PgStatement::BindTextList(int index, std::span<const std::string> values) {
  Bind(index, TextArrayLiteral(values));
}

void PgStatement::Send() {
  connection_.Send(*this, true);
  sent_ = true;
}

bool PgStatement::Step() {
  if (!sent_) Send();
  if (!done_) connection_.Wait();
  if (result_ == nullptr) {
    throw sql::SqlError(sql::Failure::kOther, "postgres: no result for " + name_);
  }
  ++row_;
  return row_ < PQntuples(result_);
}

void PgStatement::Defer() {
  connection_.Send(*this, false);
}

std::int64_t PgStatement::Changes() const {
  if (result_ == nullptr) return 0;
  const char* tuples = PQcmdTuples(result_);
  return tuples != nullptr && *tuples != '\0' ? std::atoll(tuples) : 0;
}

bool PgStatement::IsNull(int column) const {
  return PQgetisnull(result_, row_, column) != 0;
}

std::int64_t PgStatement::Int64(int column) const {
  const std::string_view text(PQgetvalue(result_, row_, column),
                              static_cast<std::size_t>(PQgetlength(result_, row_, column)));
  return ParseInt64(text, PQftype(result_, column));
}

std::string PgStatement::Text(int column) const {
  return std::string(PQgetvalue(result_, row_, column),
                     static_cast<std::size_t>(PQgetlength(result_, row_, column)));
}

void PgStatement::Reset() {
  if (result_ != nullptr) PQclear(result_);
  result_ = nullptr;
  sent_ = false;
  done_ = false;
  row_ = -1;
  ticket_ = 0;
  for (auto& param : params_)
    param.reset();
}

}  // namespace orb::store::postgres
