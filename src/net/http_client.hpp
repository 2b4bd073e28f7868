#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.hpp"
#include "common/time.hpp"
#include "net/retry.hpp"

namespace orb::net {

// Where and how an HttpClient connects.
struct ClientOptions {
  std::string base_url{};  // "http://127.0.0.1:8080" or "https://host:8443[/prefix]"
  std::optional<std::string> bearer_token{};         // sent as "Authorization: Bearer ..."
  std::optional<std::filesystem::path> ca_file{};    // https: trusted CAs (default: the system's)
  std::chrono::milliseconds connect_timeout{5000};   // resolve + TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30000};  // a whole Send, connect included
  std::string user_agent = "orb-jobs";
  std::uint64_t body_limit = std::uint64_t{64} << 20;  // buffered response bodies; files unlimited
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query, appended to the base URL's path
  std::string body{};
  std::string content_type = "application/json";       // sent when there is a body
  HeaderList headers{};                                // extra headers, sent as given
  std::optional<std::chrono::milliseconds> timeout{};  // replaces request_timeout for this call
  std::optional<std::string> bearer_token{};           // replaces ClientOptions::bearer_token
  std::optional<std::filesystem::path> body_file{};    // streamed upload instead of `body`
  // A 2xx response body goes to this file instead of ClientResponse::body (other statuses keep
  // their body in memory, e.g. a JSON error). With response_file_offset > 0 the client asks for
  // "Range: bytes=<offset>-": a 206 is appended after the first `offset` bytes of the file, a 200
  // replaces the file.
  std::optional<std::filesystem::path> response_file{};
  std::uint64_t response_file_offset = 0;
};

struct ClientResponse {
  int status = 0;
  HeaderList headers{};
  std::string body{};            // empty when a 2xx body went to response_file
  std::uint64_t file_bytes = 0;  // size of response_file after a 2xx download

  // The first header of that name (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string> Header(std::string_view name) const;
};

// A blocking HTTP/1.1 client over one keep-alive connection (plain TCP or TLS), reconnecting
// transparently: a request that fails on a reused connection before any response byte arrived is
// sent once more on a fresh connection.
//
// Thread-safety: not thread-safe (one per thread); only Cancel(), Reset() and
// SleepUnlessCancelled() may be called from other threads. Deadlines: everything a Send waits for
// ends by its deadline (connect_timeout for the connection, request_timeout or
// ClientRequest::timeout for the whole call). Errors: a response with any status is a success (look
// at status). Otherwise
//   kNetwork, retryable   connect refused, reset, DNS, TLS handshake; the message names the URL
//   kTimeout, retryable   a deadline passed
//   kNetwork, not retryable   the server's certificate failed verification ("certificate ...")
//   kHttp, not retryable  response body over body_limit, malformed response, bad Content-Range
//   kIo                   body_file / response_file cannot be read or written
//   kInvalidRequest       base_url is not a usable http(s) URL or ca_file cannot be loaded
//   kCancelled            Cancel() was called
class HttpClient {
 public:
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Expected<ClientResponse> Send(const ClientRequest& request);

  // Thread-safe. Aborts the Send in flight promptly and makes every later Send (and
  // SleepUnlessCancelled) fail at once with kCancelled, until Reset().
  void Cancel();
  // Thread-safe. Undoes Cancel(): later Sends run again.
  void Reset();
  [[nodiscard]] bool cancelled() const;

  // Waits `duration`, returning early with false when Cancel() is called (true: slept it all).
  bool SleepUnlessCancelled(std::chrono::milliseconds duration);

  // After a Send that failed part-way through writing response_file: how many bytes of the file
  // are complete, to resume with response_file_offset. nullopt when no partial download exists.
  [[nodiscard]] std::optional<std::uint64_t> ResumeOffset() const;

  // How many TCP connections this client has opened (for tests and metrics).
  [[nodiscard]] int connections_opened() const;

  [[nodiscard]] const ClientOptions& options() const;

  // Points later Sends at another server (another replica of the same service): closes the
  // connection and keeps the rest (TLS trust, token, timeouts, Cancel state). Not thread-safe: only
  // between Sends, on the thread that sends. Errors: kInvalidRequest when `base_url` is not a usable
  // http(s) URL or its TLS context cannot be set up (later Sends then fail with that error).
  Status SetBaseUrl(std::string base_url);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Hooks of SendWithRetry; every one is optional.
struct RetryHooks {
  // Checked before each attempt and during waits; true stops retrying (result: kCancelled).
  std::function<bool()> should_stop{};
  std::function<double()> random{};      // [0, 1) for jitter; default orb::RandomUnit
  std::function<WallTime()> wall_now{};  // for HTTP-date Retry-After; default system_clock
  // Waits between attempts; returns false when interrupted. Default: the client's
  // SleepUnlessCancelled, in slices so that should_stop is seen within 50 ms.
  std::function<bool(std::chrono::milliseconds)> sleep{};
  // Told about each retry before its wait: the attempt that failed (1-based), the wait, and what
  // went wrong ("503", or the error's description). For logging.
  std::function<void(int, std::chrono::milliseconds, const std::string&)> on_retry{};
};

// Sends `request`, retrying network errors and timeouts marked retryable and the statuses of
// IsRetryableStatus, with the delays of NextDelay (Retry-After honoured). A response_file download
// that broke off is resumed with a Range request. Returns the last response (any status) or the
// last error once the policy gives up; kCancelled when should_stop or Cancel() ended it.
// Thread-safety: as HttpClient::Send.
Expected<ClientResponse> SendWithRetry(HttpClient& client, const ClientRequest& request,
                                       const RetryPolicy& policy, const RetryHooks& hooks = {});

}  // namespace orb::net
