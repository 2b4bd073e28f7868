#pragma once

// The asynchronous HTTP/1.1 + WebSocket server that fleet-cmdr serves its whole API on
// (protocol.md §1 limits, §6 stream). Plain structs only: no Beast or Asio here (pimpl).
//
// Model: `threads` event loops, one io_context each, one thread each; every connection lives on
// one loop for its whole life, so connection code takes no lock. A handler is called on the
// connection's loop thread and answers through a Responder, now or later, from any thread: a
// long-poll holds the Responder (a few dozen bytes) and no thread waits.
//
// Per connection, requests are answered in order: the next request is parsed only after the
// current response was written (pipelined bytes wait in the read buffer). While a handler has not
// answered, one small read stays pending on the socket to notice the client going away
// (Responder::IsOpen turns false); if the client already pipelined its next request, that request
// is buffered instead and a disconnect is noticed only when the response is written.
//
// Transport-level errors carry the protocol.md §1 body, written here by hand:
//   body over BodyPolicy::limit          -> 413 payload_too_large, then close
//   request head over header_limit       -> 431 invalid_request, then close
//   malformed request                    -> 400 invalid_request, then close
//   request not complete in request_timeout -> 408 invalid_request, then close
//   handler threw                        -> 500 internal (logged), connection stays usable
// Idle keep-alive connections (no request in progress, no handler pending) close after
// idle_timeout. A request whose body streams to a file uses request_timeout as an inactivity
// timeout between body reads instead of a deadline for the whole request (large uploads); file
// responses likewise bound each write, not the whole download. `Expect: 100-continue` is answered.
// HEAD gets the head of what GET would send. TLS connections are closed without close_notify
// (every response is length-delimited, so nothing can be truncated unnoticed).
//
// Disk: the file side of streamed uploads and file responses (create, write, open, stat, read)
// runs on the file pool (HttpServerOptions::file_pool) through the FileIo seam, never on an event
// loop; the socket side stays asynchronous on the loop. A slow disk delays only the transfers that
// wait for it. A chunk of up to 256 KiB is read from the socket, then written on the pool, and so
// on (downloads: read on the pool, then written to the socket).
//
// Limits: at most max_connections connections (HTTP and WebSocket) at once. One more is accepted
// and answered `503 unavailable` with `Retry-After` and closed (over TLS it is closed at once: a
// handshake costs more than the refusal saves). When the process is out of descriptors (EMFILE), a
// descriptor kept in reserve lets the server take one waiting connection and refuse it likewise;
// otherwise accepting backs off for 100 ms (it never spins).

#include <chrono>
#include <cstddef>
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
#include "net/file_io.hpp"
#include "net/worker_pool.hpp"

namespace orb::net {

struct Header {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;                                      // "GET"
  std::string target;                                      // raw "/v1/jobs?limit=5"
  std::string path;                                        // percent-decoded path "/v1/jobs"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<Header> headers;
  std::string body;  // buffered body (the default)
  std::optional<std::filesystem::path>
      body_file;               // set when BodyPolicy streamed the body to a file
  std::string remote_address;  // "127.0.0.1"
  int version = 11;            // 10 or 11

  // Case-insensitive; the first header of that name, or nullptr.
  const std::string* FindHeader(std::string_view name) const;
  // The first query parameter named `key`.
  std::optional<std::string_view> Query(std::string_view key) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<Header> headers;  // extra headers (Retry-After, Location, ...)
  std::string content_type = "application/json";
  std::string body;
  // Serve this file instead of `body`. net answers Range: bytes=a-b | a- | -n with 206 and
  // Content-Range, an unsatisfiable range with 416, a file that does not exist with 404, one it
  // cannot open with 500.
  std::optional<std::filesystem::path> file;
  // With `file`: the size the handler knows it must have. A file of another size when opened is
  // never served (500 internal, logged).
  std::optional<std::uint64_t> file_size;
  // Serve this instead of `body` (and of `file`): bytes that become readable over time, answered
  // as `file` is (Range, HEAD). Each chunk is written once it is readable; the wait holds no
  // thread and has no deadline (the body's growth has its own). When the body stops growing
  // with a failure, the response is cut short (the head is out) and the failure logged.
  std::shared_ptr<GrowingBody> growing;
};

// Completes one request exactly once, from any thread. The first Send wins; later ones and Sends
// after the connection closed (or the server was destroyed) do nothing. Thread-safe.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Send(HttpResponse response) = 0;
  // True while the request still awaits its response and the client is still connected.
  virtual bool IsOpen() const = 0;
};

using HttpHandler =
    std::function<void(HttpRequest&& request, std::shared_ptr<Responder> responder)>;

// Decided after the request head arrived, before the body is read.
struct BodyPolicy {
  std::size_t limit = 1 << 20;
  // Stream the body into this file (created or truncated) instead of memory. When the body is over
  // `limit` or the transfer fails, the partial file is removed.
  std::optional<std::filesystem::path> stream_to_file;
  // Set by a BodyPolicyFn that cannot decide on the loop (it must ask a database first): net
  // calls it once and reads nothing of the body until `decide` is called (once, from any thread)
  // with the policy to apply; the request's timeout still runs. The rest of this policy is not
  // used, nor a decide_later of the decided one.
  std::function<void(std::function<void(BodyPolicy decided)> decide)> decide_later;
};
using BodyPolicyFn = std::function<BodyPolicy(const HttpRequest& head)>;

// One accepted WebSocket. Send and Close are thread-safe and never block.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  // Queues one text message. When more than HttpServerOptions::ws_queue_limit messages are queued
  // the session is closed with 1008 (policy violation) and the message dropped.
  virtual void Send(std::string text) = 0;
  // Starts the close handshake (1000 normal, 1001 going away, 1008 policy, ...).
  virtual void Close(int code, std::string reason) = 0;
  // Messages queued and not yet written: lets the caller coalesce before the limit.
  virtual std::size_t QueuedMessages() const = 0;
  virtual bool IsOpen() const = 0;
  virtual const std::string& remote_address() const = 0;
};

// All three are called on the session's loop thread; on_close exactly once per opened session.
struct WebSocketHandlers {
  std::function<void(std::shared_ptr<WebSocketSession> session, const HttpRequest& upgrade)>
      on_open;
  std::function<void(WebSocketSession& session, std::string message)> on_message;
  std::function<void(WebSocketSession& session)> on_close;
};

struct TlsFiles {
  std::filesystem::path cert_chain;   // PEM
  std::filesystem::path private_key;  // PEM
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port, see HttpServer::port()
  int threads = 1;
  std::size_t body_limit = 1 << 20;  // default BodyPolicy::limit
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds stop_timeout{5'000};  // Stop(): wait for in-flight requests this long
  std::size_t ws_queue_limit = 1024;
  std::size_t ws_message_limit = 1 << 20;  // bigger incoming messages close the session
  // WebSocket keep-alive: a session that received nothing (no message, no pong) for this long is
  // pinged, and closed when it stays silent as long again. 0: no pings.
  std::chrono::milliseconds ws_ping_interval{30'000};
  std::optional<TlsFiles> tls;
  std::string server_name = "fleet-cmdr";
  // Connections open at once, HTTP and WebSocket (see the top of this file).
  std::size_t max_connections = 50'000;
  // Where file bodies meet the disk: null pool, a pool of file_threads threads of the server's
  // own; null file_io, the real file system.
  std::shared_ptr<WorkerPool> file_pool;
  int file_threads = 2;
  std::shared_ptr<FileIo> file_io;
};

struct HttpServerStats {
  std::size_t connections = 0;  // open now, HTTP and WebSocket
  std::uint64_t refused = 0;    // refused at the connection limit (or out of descriptors)
};

// Cancels a RunAfter callback. Thread-safe.
class TimerHandle {
 public:
  virtual ~TimerHandle() = default;
  // After Cancel returns the callback will not start (it may be running right now, on a loop).
  virtual void Cancel() = 0;
};

// Thread-safety: Start, Stop and the destructor from one controlling thread; port, Post and
// RunAfter from any thread.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler, BodyPolicyFn body_policy = {},
             WebSocketHandlers ws_handlers = {},
             std::function<bool(std::string_view path)> is_websocket_path = {});
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads TLS files, binds, listens and starts the loops. Errors: kIo with the address in the
  // message when it is taken or invalid, kInvalidRequest for unusable TLS files.
  Status Start();
  std::uint16_t port() const;  // the bound port, after Start
  HttpServerStats stats() const;

  // Graceful: stops accepting, closes idle connections, lets in-flight requests answer (their
  // connections then close) for up to stop_timeout, then closes everything and joins the loops.
  // WebSocket sessions get a 1001 close. Idempotent.
  void Stop();

  // Runs `fn` on a loop thread (round robin). Dropped if the server is stopped.
  void Post(std::function<void()> fn);
  // Runs `fn` on a loop thread after `delay`, unless cancelled or the server stopped first.
  std::shared_ptr<TimerHandle> RunAfter(std::chrono::milliseconds delay, std::function<void()> fn);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The §1 error body: {"error":{"code":"<code>","message":"<message>","details":[]}} (message
// JSON-escaped), for the errors the transport answers itself (protocol.md: details always there).
std::string ErrorBody(std::string_view code, std::string_view message);

// SIGINT and SIGTERM for main(), caught from construction on: made first thing, before any
// thread or listener exists, a signal that comes while the program starts is kept for Wait
// (otherwise the default action would end the process with no orderly stop).
class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;
  // Blocks until one has arrived (at once if one already did); returns its number.
  int Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orb::net
