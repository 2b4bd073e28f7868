#include "common/log.hpp"

#include <chrono>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/sanitize.hpp"
#include "common/time.hpp"

namespace orb {
namespace {

// {"ts":"2026-11-22T10:00:00.123Z","level":"info","logger":"agent","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ts = FormatTimestamp(std::chrono::time_point_cast<WallTime::duration>(msg.time));
    const auto level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"ts":"{}","level":"{}","logger":"{}","msg":"{}"}})", ts,
                   std::string_view(level.data(), level.size()),
                   JsonEscape(std::string_view(msg.logger_name.data(), msg.logger_name.size())),
                   JsonEscape(std::string_view(msg.payload.data(), msg.payload.size())));
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> TextFormatter() {
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%n] %v",
                                                     spdlog::pattern_time_type::utc);
}

// Every line goes through Sanitize (common/sanitize.hpp) before the real formatter sees it: the
// one place that keeps tokens, passwords and URL query strings out of every log, whatever the call
// site passed.
class SanitizingFormatter final : public spdlog::formatter {
 public:
  explicit SanitizingFormatter(std::unique_ptr<spdlog::formatter> inner)
      : inner_(std::move(inner)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string clean = Sanitize(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(clean.data(), clean.size());
    inner_->format(copy, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<SanitizingFormatter>(inner_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

struct LogState {
  std::mutex mutex;
  spdlog::sink_ptr sink;
  spdlog::level::level_enum level = spdlog::level::info;
};

LogState& State() {
  static LogState state;
  return state;
}

spdlog::sink_ptr DefaultSink(LogState& state) {
  if (!state.sink) {
    state.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    state.sink->set_formatter(std::make_unique<SanitizingFormatter>(TextFormatter()));
  }
  return state.sink;
}

}  // namespace

std::optional<LogFormat> LogFormatFromString(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

void SetupLogging(LogFormat format, std::string_view level) {
  auto& state = State();
  const std::lock_guard lock(state.mutex);
  state.sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      format == LogFormat::kJson ? spdlog::color_mode::never : spdlog::color_mode::automatic);
  std::unique_ptr<spdlog::formatter> formatter = TextFormatter();
  if (format == LogFormat::kJson) formatter = std::make_unique<JsonFormatter>();
  state.sink->set_formatter(std::make_unique<SanitizingFormatter>(std::move(formatter)));
  state.level = spdlog::level::from_str(std::string(level));
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks().assign(1, state.sink);
    logger->set_level(state.level);
  });
}

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
  auto& state = State();
  const std::lock_guard lock(state.mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, DefaultSink(state));
  logger->set_level(state.level);
  logger->flush_on(spdlog::level::warn);
  spdlog::register_logger(logger);
  return logger;
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

}  // namespace orb
