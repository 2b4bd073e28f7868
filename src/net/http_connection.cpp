// An HTTP/1.1 connection of the HTTP server (see detail/server_core.hpp): reading requests with
// their deadlines, bodies in memory or streamed to a file, answers in order, file answers in
// chunks, 100-continue, keep-alive and lingering close, and the upgrade to a WebSocket.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.hpp"
#include "net/byte_range.hpp"
#include "net/detail/body_buffer.hpp"
#include "net/detail/server_core.hpp"

namespace orb::net::server_detail {
namespace {

// File bodies move through the socket in chunks of this size (uploads: read from the socket, then
// written on the file pool; downloads: read on the file pool, then written to the socket).
constexpr std::size_t kFileChunk = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// HTTP connections

constexpr std::size_t kWatchBytes = 1024;
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

template <class Stream>
class HttpConnection final : public HttpConnectionBase,
                             public std::enable_shared_from_this<HttpConnection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, SslStream>;

 public:
  HttpConnection(Stream&& stream, Loop& loop, std::weak_ptr<Loop> weak_loop,
                 std::shared_ptr<Config> config)
      : stream_(std::move(stream)),
        loop_(loop),
        weak_loop_(std::move(weak_loop)),
        config_(std::move(config)),
        timer_(loop.ctx) {}

  ~HttpConnection() override {
    if (state_ != State::kClosed) Unregister();
  }

  // The connection was counted in Config::live when it was accepted.
  void Start() {
    loop_.endpoints.insert(this);
    error_code ec;
    const tcp::endpoint remote = Socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
    Socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      state_ = State::kReading;
      SetDeadline(config_->options.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code error) {
                                if (self->state_ == State::kClosed) return;
                                if (error) return self->Close();
                                self->ReadNext();
                              });
    } else {
      ReadNext();
    }
  }

  void Deliver(std::uint64_t seq, HttpResponse&& response) override {
    if (state_ == State::kClosed || seq != seq_) return;
    if (state_ == State::kHandling) {
      pending_response_ = std::move(response);
    } else if (state_ == State::kWaiting) {
      WriteResponse(std::move(response));
    }
  }

  void Shutdown(bool force) override {
    if (state_ == State::kClosed) return;
    stopping_ = true;
    if (force || state_ == State::kIdle) Close();
  }

 private:
  enum class State {
    kIdle,       // between requests: waiting for the first byte of the next one
    kReading,    // reading a request head or body (request_timeout)
    kHandling,   // inside the handler call
    kWaiting,    // the handler has not answered yet (long-poll): no deadline
    kWriting,    // writing the response
    kLingering,  // error answered: discarding input until the peer closes
    kClosed,
  };

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }

  // -- deadlines: one timer, re-armed only when the deadline moves earlier.

  void SetDeadline(std::chrono::milliseconds timeout) {
    deadline_ = SteadyClock::now() + timeout;
    if (!timer_armed_ || deadline_ < timer_.expiry()) ArmTimer();
  }
  void ClearDeadline() { deadline_ = SteadyClock::time_point::max(); }

  void ArmTimer() {
    timer_armed_ = true;
    timer_.expires_at(deadline_);
    timer_.async_wait([self = this->shared_from_this()](error_code ec) { self->OnTimer(ec); });
  }

  void OnTimer(error_code ec) {
    if (ec == asio::error::operation_aborted || state_ == State::kClosed) return;
    timer_armed_ = false;
    if (deadline_ == SteadyClock::time_point::max()) return;
    if (SteadyClock::now() < deadline_) return ArmTimer();
    OnTimeout();
  }

  void OnTimeout() {
    switch (state_) {
      case State::kReading:
        if (!timed_out_ && config_->options.request_timeout.count() > 0) {
          // Abort the read; its handler answers 400 invalid_request.
          timed_out_ = true;
          error_code ignored;
          Socket().cancel(ignored);
          SetDeadline(kLingerTime);
          return;
        }
        return Close();
      case State::kHandling:
      case State::kWaiting: return;  // a pending handler is not idle
      default: return Close();
    }
  }

  // -- reading

  void ReadNext() {
    if (stopping_ || config_->stopping.load(std::memory_order_acquire)) return Close();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return ReadHead();
    SetDeadline(config_->options.idle_timeout);
    next_on_bytes_ = true;
    if (!watch_pending_) StartWatch();
  }

  // One small read: the first bytes of the next request, or (while a handler has not answered)
  // the only way to notice that the client went away.
  void StartWatch() {
    watch_pending_ = true;
    stream_.async_read_some(
        buffer_.prepare(kWatchBytes),
        [self = this->shared_from_this()](error_code ec, std::size_t n) { self->OnWatch(ec, n); });
  }

  void OnWatch(error_code ec, std::size_t n) {
    watch_pending_ = false;
    if (state_ == State::kClosed) return;
    if (ec) return Close();  // the client went away (or the idle deadline closed it)
    buffer_.commit(n);
    if (next_on_bytes_) {
      next_on_bytes_ = false;
      ReadHead();
    }
  }

  void ReadHead() {
    state_ = State::kReading;
    timed_out_ = false;
    SetDeadline(config_->options.request_timeout);
    head_parser_.emplace();
    head_parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(config_->options.header_limit, UINT32_MAX)));
    head_parser_->body_limit(boost::none);  // checked against the route's BodyPolicy below
    http::async_read_header(
        stream_, buffer_, *head_parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnHead(ec); });
  }

  void OnHead(error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    auto& message = head_parser_->get();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    if (!BuildRequest(message)) {
      return SendError(400, "invalid_request", "the request target is not a valid URL path");
    }
    const std::string_view range = message[http::field::range];
    range_.assign(range.data(), range.size());
    head_request_ = message.method() == http::verb::head;

    if (websocket::is_upgrade(message) && config_->is_websocket_path &&
        config_->is_websocket_path(request_.path)) {
      return Upgrade();
    }

    BodyPolicy policy{config_->options.body_limit, std::nullopt, {}};
    if (config_->body_policy) {
      bool threw = true;
      Guarded("BodyPolicyFn", [&] {
        policy = config_->body_policy(request_);
        threw = false;
      });
      if (threw) return SendError(500, "internal", "internal error");
    }
    if (policy.decide_later) return DecideBodyPolicyLater(std::move(policy.decide_later));
    ApplyBodyPolicy(std::move(policy));
  }

  // The BodyPolicyFn asks elsewhere (BodyPolicy::decide_later): the body waits for its answer.
  void DecideBodyPolicyLater(
      std::function<void(std::function<void(BodyPolicy decided)> decide)> decide_later) {
    bool threw = true;
    Guarded("BodyPolicy::decide_later", [&] {
      decide_later(BackOnLoop<BodyPolicy>([this](BodyPolicy decided) {
        if (!head_parser_) return;
        decided.decide_later = nullptr;
        ApplyBodyPolicy(std::move(decided));
      }));
      threw = false;
    });
    if (threw) SendError(500, "internal", "internal error");
  }

  void ApplyBodyPolicy(BodyPolicy policy) {
    const auto length = head_parser_->content_length();
    if (length && *length > policy.limit) {
      return SendError(413, "payload_too_large",
                       "request body is larger than " + std::to_string(policy.limit) + " bytes");
    }
    if (head_parser_->is_done()) {  // no body: the common case
      head_parser_.reset();
      return Dispatch();
    }
    if (policy.stream_to_file) {
      upload_parser_.emplace(std::move(*head_parser_));
      head_parser_.reset();
      upload_parser_->body_limit(policy.limit);
      auto upload = std::make_shared<Upload>(*policy.stream_to_file, config_->file_pool);
      upload_ = upload;
      // The file is created on the file pool; the body is read once it is there.
      return OnFilePool(
          [upload, io = config_->file_io] {
            auto created = io->Create(upload->path);
            if (!created) {
              upload->status = Fail(std::move(created.error()));
              return;
            }
            upload->file = std::move(*created);
          },
          [this] {
            if (!upload_->status) return FailUpload();
            StartBody();
          });
    }
    string_parser_.emplace(std::move(*head_parser_));
    head_parser_.reset();
    string_parser_->body_limit(policy.limit);
    StartBody();
  }

  // Answers `Expect: 100-continue`, then reads the body.
  void StartBody() {
    const std::string* expect = request_.FindHeader("expect");
    if (expect != nullptr && EqualsIgnoreCase(*expect, "100-continue") && version_ >= 11) {
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code error, std::size_t) {
                          if (self->state_ == State::kClosed) return;
                          if (error) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (upload_parser_) {
      detail::MakeRoomForBody(buffer_, upload_parser_->content_length());
      return ReadUploadChunk();
    }
    detail::MakeRoomForBody(buffer_, string_parser_->content_length());
    http::async_read(stream_, buffer_, *string_parser_,
                     [self = this->shared_from_this()](error_code ec, std::size_t) {
                       if (self->state_ == State::kClosed) return;
                       if (ec) return self->OnReadError(ec);
                       detail::ReleaseBodyRoom(self->buffer_);
                       self->Dispatch();
                     });
  }

  // -- streamed uploads: socket reads on the loop fill a chunk, the file pool writes it

  // The upload's file and chunk, shared with the file pool's tasks. The file is removed when the
  // last owner lets go, unless the request reached its handler (`keep`): then it is the handler's.
  struct Upload {
    Upload(std::filesystem::path upload_path, std::shared_ptr<WorkerPool> file_pool)
        : path(std::move(upload_path)), pool(std::move(file_pool)) {}
    ~Upload() {
      if (keep) return;
      // Closed and unlinked on the pool, after the last write (which held this object): unlinking
      // a large file may take a while.
      pool->Post([file = std::shared_ptr<WritableFile>(std::move(file)), path = path] {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
      });
    }
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    const std::filesystem::path path;
    const std::shared_ptr<WorkerPool> pool;
    std::unique_ptr<WritableFile> file;
    std::unique_ptr<char[]> chunk = std::make_unique<char[]>(kFileChunk);
    std::size_t filled = 0;
    Status status;  // of the last file operation
    bool keep = false;
  };

  void ReadUploadChunk() {
    // Streamed uploads may be large: request_timeout bounds each read and the write that follows.
    SetDeadline(config_->options.request_timeout);
    auto& body = upload_parser_->get().body();
    body.data = upload_->chunk.get() + upload_->filled;
    body.size = kFileChunk - upload_->filled;
    http::async_read_some(
        stream_, buffer_, *upload_parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->OnUploadRead(ec); });
  }

  void OnUploadRead(error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec == http::error::need_buffer) ec = {};  // the chunk is full
    if (ec) return OnReadError(ec);
    upload_->filled = kFileChunk - upload_parser_->get().body().size;
    if (upload_->filled < kFileChunk && !upload_parser_->is_done()) return ReadUploadChunk();
    OnFilePool(
        [upload = upload_] {
          if (upload->filled > 0)
            upload->status = upload->file->Append(upload->chunk.get(), upload->filled);
        },
        [this] { OnUploadWritten(); });
  }

  void OnUploadWritten() {
    if (!upload_->status) return FailUpload();
    upload_->filled = 0;
    if (!upload_parser_->is_done()) return ReadUploadChunk();
    OnFilePool([upload = upload_] { upload->status = upload->file->Close(); },
               [this] {
                 if (!upload_->status) return FailUpload();
                 detail::ReleaseBodyRoom(buffer_);
                 Dispatch();
               });
  }

  // The disk failed the upload: 500, then close (the client may still be sending).
  void FailUpload() {
    Log().error("cannot store a request body: {}", upload_->status.error().message);
    upload_parser_.reset();
    RemoveUpload();
    SendError(500, "internal", "cannot store the request body");
  }

  // A callback for another thread: called once with an answer, it runs `done(answer)` on this
  // connection's loop unless the connection closed meanwhile, and owns the connection until then.
  template <class Answer, class Done>
  std::function<void(Answer)> BackOnLoop(Done&& done) {
    return [self = this->shared_from_this(), loop = weak_loop_.lock(),
            done = std::forward<Done>(done)](Answer answer) mutable {
      asio::post(loop->ctx, [self = std::move(self), done = std::move(done),
                             answer = std::move(answer)]() mutable {
        if (self->state_ != State::kClosed) done(std::move(answer));
      });
    };
  }

  // Runs `work` on the file pool, then `done` on this connection's loop unless the connection
  // closed meanwhile. The task owns the connection until it is back on the loop, so that the
  // connection is always destroyed on its loop (or with it).
  template <class Work, class Done>
  void OnFilePool(Work&& work, Done&& done) {
    config_->file_pool->Post([self = this->shared_from_this(), loop = weak_loop_.lock(),
                              work = std::forward<Work>(work),
                              done = std::forward<Done>(done)]() mutable {
      if (!self->closed_.load(std::memory_order_acquire)) work();
      asio::post(loop->ctx, [self = std::move(self), done = std::move(done)]() mutable {
        if (self->state_ != State::kClosed) done();
      });
    });
  }

  void OnReadError(error_code ec) {
    head_parser_.reset();
    string_parser_.reset();
    upload_parser_.reset();
    RemoveUpload();
    // The API's error table (docs/protocol.md §1) has invalid_request as a 400: a request head
    // too large or a request not complete in time is one, not a 431 or a 408.
    if (timed_out_) {
      return SendError(400, "invalid_request", "the request did not arrive in time");
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "payload_too_large", "request body is too large");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return SendError(400, "invalid_request", "request headers are too large");
    }
    const bool protocol_error = ec.category() == error_code(http::error::bad_method).category();
    if (!protocol_error || ec == http::error::end_of_stream || ec == http::error::partial_message) {
      // Network errors, or a peer that closed before a complete request: nobody to answer.
      return Close();
    }
    return SendError(400, "invalid_request", "malformed HTTP request: " + ec.message());
  }

  bool BuildRequest(const http::request<http::empty_body>& message) {
    request_ = HttpRequest{};
    request_.method.assign(message.method_string().data(), message.method_string().size());
    request_.target.assign(message.target().data(), message.target().size());
    request_.version = static_cast<int>(message.version());
    request_.remote_address = remote_;
    request_.headers.reserve(16);
    for (const auto& field : message) {
      request_.headers.push_back(
          Header{std::string(field.name_string()), std::string(field.value())});
    }
    const auto url = boost::urls::parse_origin_form(
        boost::core::string_view(request_.target.data(), request_.target.size()));
    if (!url) return false;
    request_.path = url->path();
    if (url->has_query()) {
      for (const auto& param : url->params(boost::urls::encoding_opts(true))) {
        request_.query.emplace_back(param.key, param.value);
      }
    }
    return true;
  }

  // -- handling

  void Dispatch() {
    ClearDeadline();
    if (string_parser_) {
      request_.body = std::move(string_parser_->get().body());
      string_parser_.reset();
    }
    if (upload_) {
      upload_parser_.reset();
      upload_->keep = true;
      request_.body_file = upload_->path;
      upload_.reset();
    }
    state_ = State::kHandling;
    ++seq_;
    if (!responder_ || responder_.use_count() != 1) {
      responder_ = std::make_shared<ResponderImpl>(
          weak_loop_, std::weak_ptr<HttpConnectionBase>(this->shared_from_this()));
    }
    responder_->Reset(seq_);
    const std::shared_ptr<ResponderImpl> responder = responder_;
    try {
      config_->handler(std::move(request_), responder);
    } catch (const std::exception& e) {
      Log().error("handler for {} threw: {}", request_.target, e.what());
      responder->Send(ErrorResponse(500, "internal", "internal error"));
    } catch (...) {
      Log().error("handler for {} threw a non-standard exception", request_.target);
      responder->Send(ErrorResponse(500, "internal", "internal error"));
    }
    if (state_ != State::kHandling) return;  // closed meanwhile
    if (pending_response_) {
      HttpResponse response = std::move(*pending_response_);
      pending_response_.reset();
      return WriteResponse(std::move(response));
    }
    state_ = State::kWaiting;
    next_on_bytes_ = false;
    if (buffer_.size() == 0 && !watch_pending_) StartWatch();
  }

  static HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
    HttpResponse response;
    response.status = status;
    response.body = ErrorBody(code, message);
    return response;
  }

  // -- writing

  template <class Message>
  void SetCommonHeaders(Message& message, const HttpResponse& response, bool close) {
    message.version(version_);
    message.result(response.status >= 100 && response.status <= 999
                       ? static_cast<unsigned>(response.status)
                       : 500U);
    message.set(http::field::server, config_->options.server_name);
    std::string scratch;
    for (const Header& header : response.headers) {
      message.insert(header.name, SafeHeaderValue(header.value, scratch));
    }
    message.keep_alive(!close);
  }

  bool CloseAfterResponse() const {
    return !keep_alive_ || stopping_ || config_->stopping.load(std::memory_order_acquire);
  }

  void WriteResponse(HttpResponse&& response) {
    state_ = State::kWriting;
    const bool close = CloseAfterResponse();
    SetDeadline(config_->options.request_timeout);
    if (response.file || response.growing) return WriteFile(std::move(response), close);
    auto& message = string_response_.emplace();
    SetCommonHeaders(message, response, close);
    if (!response.body.empty()) {
      std::string scratch;
      message.set(http::field::content_type, SafeHeaderValue(response.content_type, scratch));
    }
    message.body() = std::move(response.body);
    message.prepare_payload();
    if (head_request_) {
      // HEAD: the head announces the length of the body it does not send.
      auto& head = head_response_.emplace(static_cast<http::response_header<>&&>(message));
      string_response_.reset();
      http::async_write_header(stream_, head_serializer_.emplace(head),
                               [self = this->shared_from_this(), close](
                                   error_code ec, std::size_t) { self->OnWritten(ec, close); });
      return;
    }
    http::async_write(stream_, message,
                      [self = this->shared_from_this(), close](error_code ec, std::size_t) {
                        self->OnWritten(ec, close);
                      });
  }

  // -- file responses: opened and read on the file pool, written to the socket on the loop

  // Shared with the file pool's tasks, which touch only `file`, `status`, `chunk` and `got`.
  struct FileReply {
    std::shared_ptr<ReadableFile> file;
    std::shared_ptr<GrowingBody> growing;  // the same object as `file`, when it grows
    Status status;                         // of the last file operation
    std::unique_ptr<char[]> chunk;
    std::size_t got = 0;  // bytes the last read put into `chunk`
    std::uint64_t offset = 0;
    std::uint64_t remain = 0;
    bool readable = false;  // a growing body said the next chunk is readable
    http::response<http::empty_body> head;
    std::optional<http::serializer<false, http::empty_body>> serializer;
  };

  void WriteFile(HttpResponse&& response, bool close) {
    auto reply = std::make_shared<FileReply>();
    file_reply_ = reply;
    if (response.growing) {
      reply->growing = std::move(response.growing);
      reply->file = reply->growing;
      response.file_size.reset();
      return OnFileOpened(std::move(response), close);
    }
    std::filesystem::path path = *response.file;  // before `response` moves into `done`
    OnFilePool(
        [reply, io = config_->file_io, path = std::move(path)] {
          auto opened = io->OpenForReading(path);
          if (!opened) {
            reply->status = Fail(std::move(opened.error()));
            return;
          }
          reply->file = std::move(*opened);
        },
        [this, response = std::move(response), close]() mutable {
          OnFileOpened(std::move(response), close);
        });
  }

  void OnFileOpened(HttpResponse&& response, bool close) {
    FileReply& reply = *file_reply_;
    if (!reply.status) {
      const Error error = reply.status.error();
      file_reply_.reset();
      if (error.code == Errc::kNotFound) {
        return WriteResponse(ErrorResponse(404, "not_found", "file not found"));
      }
      Log().error("cannot serve a file: {}", error.message);
      return WriteResponse(ErrorResponse(500, "internal", "cannot read the file"));
    }
    const std::uint64_t size = reply.file->size();
    if (response.file_size && *response.file_size != size) {
      // Damaged or changed since the handler looked: never serve bytes it did not mean to.
      Log().error("{} has {} bytes, not the {} expected: not served", response.file->string(), size,
                  *response.file_size);
      file_reply_.reset();
      return WriteResponse(
          ErrorResponse(500, "internal", "the file does not have its recorded size"));
    }
    ByteRange range;
    if (!range_.empty() && response.status == 200) range = ParseByteRange(range_, size);
    if (range.kind == ByteRange::Kind::kUnsatisfiable) {
      file_reply_.reset();
      HttpResponse unsatisfiable = ErrorResponse(416, "invalid_request", "range not satisfiable");
      unsatisfiable.headers.push_back({"Content-Range", "bytes */" + std::to_string(size)});
      return WriteResponse(std::move(unsatisfiable));
    }
    reply.offset = 0;
    reply.remain = size;
    if (range.kind == ByteRange::Kind::kPartial) {
      response.status = 206;
      reply.offset = range.first;
      reply.remain = range.length;
    }
    auto& head = reply.head;
    SetCommonHeaders(head, response, close);
    std::string scratch;
    head.set(http::field::content_type, SafeHeaderValue(response.content_type, scratch));
    head.set(http::field::accept_ranges, "bytes");
    if (range.kind == ByteRange::Kind::kPartial) {
      head.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                               std::to_string(range.first + range.length - 1) +
                                               "/" + std::to_string(size));
    }
    head.content_length(reply.remain);  // the body follows the head as raw bytes
    http::async_write_header(stream_, reply.serializer.emplace(head),
                             [self = this->shared_from_this(), close](error_code ec, std::size_t) {
                               if (self->state_ == State::kClosed) return;
                               if (ec || self->head_request_ || self->file_reply_->remain == 0) {
                                 return self->OnWritten(ec, close);
                               }
                               self->SendFileChunk(close);
                             });
  }

  // Large downloads: request_timeout bounds each chunk (its read and its write), not the whole
  // transfer. A growing body's chunk is read once it is readable; that wait has no deadline.
  void SendFileChunk(bool close) {
    auto& reply = *file_reply_;
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(reply.remain, kFileChunk));
    if (reply.growing && !reply.readable) {
      ClearDeadline();
      reply.growing->WhenReadable(reply.offset + want,
                                  BackOnLoop<Status>([this, close](Status ready) {
                                    auto& waited = *file_reply_;
                                    if (!ready) {
                                      waited.status = std::move(ready);
                                      return OnFileChunkRead(close);
                                    }
                                    waited.readable = true;
                                    SendFileChunk(close);
                                  }));
      return;
    }
    reply.readable = false;
    SetDeadline(config_->options.request_timeout);
    if (!reply.chunk) reply.chunk = std::make_unique<char[]>(kFileChunk);
    OnFilePool(
        [reply = file_reply_, want] {
          auto read = reply->file->ReadAt(reply->offset, reply->chunk.get(), want);
          if (!read) {
            reply->status = Fail(std::move(read.error()));
            return;
          }
          reply->got = *read;
        },
        [this, close] { OnFileChunkRead(close); });
  }

  void OnFileChunkRead(bool close) {
    auto& reply = *file_reply_;
    if (!reply.status || reply.got == 0) {
      // The head is out: all that is left is to cut the response short.
      Log().error("a file response stopped short: {}", reply.status
                                                           ? "the file shrank while it was sent"
                                                           : reply.status.error().message);
      return Close();
    }
    asio::async_write(stream_, asio::buffer(reply.chunk.get(), reply.got),
                      [self = this->shared_from_this(), close](error_code ec, std::size_t n) {
                        if (self->state_ == State::kClosed) return;
                        auto& sent = *self->file_reply_;
                        sent.offset += n;
                        sent.remain -= n;
                        if (ec || sent.remain == 0) return self->OnWritten(ec, close);
                        self->SendFileChunk(close);
                      });
  }

  void OnWritten(error_code ec, bool close) {
    file_reply_.reset();
    head_serializer_.reset();
    head_response_.reset();
    string_response_.reset();
    if (state_ == State::kClosed) return;
    if (ec || close) return Close();
    ReadNext();
  }

  // Answers a transport-level error and closes the connection.
  void SendError(int status, std::string_view code, std::string message) {
    keep_alive_ = false;
    state_ = State::kWriting;
    SetDeadline(kLingerTime + config_->options.request_timeout);
    auto& response = string_response_.emplace();
    HttpResponse plain = ErrorResponse(status, code, message);
    SetCommonHeaders(response, plain, true);
    response.set(http::field::content_type, "application/json");
    response.body() = std::move(plain.body);
    response.prepare_payload();
    http::async_write(stream_, response,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        self->string_response_.reset();
                        if (self->state_ == State::kClosed) return;
                        if (ec) return self->Close();
                        self->Linger();
                      });
  }

  // After an error answer the client may still be sending (a rejected upload): read and drop
  // its bytes for a moment so that closing does not reset the connection before it reads the
  // answer.
  void Linger() {
    if (state_ != State::kLingering) {
      state_ = State::kLingering;
      error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_send, ignored);
      SetDeadline(kLingerTime);
    }
    if (watch_pending_) return;  // its completion closes
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = this->shared_from_this()](error_code ec, std::size_t) {
                              if (self->state_ == State::kClosed) return;
                              if (ec) return self->Close();
                              self->Linger();
                            });
  }

  // -- upgrade to WebSocket

  void Upgrade() {
    http::request<http::empty_body> message = head_parser_->release();
    head_parser_.reset();
    ClearDeadline();
    Unregister();
    state_ = State::kClosed;
    timer_.cancel();
    StartWebSocket<Stream>(std::move(stream_), loop_, weak_loop_, config_, std::move(request_),
                           std::move(message));
  }

  // -- closing

  void Unregister() {
    loop_.endpoints.erase(this);
    config_->live.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Drops the connection's hold on the upload; its last owner removes the file (Upload).
  void RemoveUpload() { upload_.reset(); }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    closed_.store(true, std::memory_order_release);
    if (responder_) responder_->MarkClosed();
    upload_parser_.reset();
    RemoveUpload();
    Unregister();
    error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
    timer_.cancel();
  }

  Stream stream_;
  Loop& loop_;
  std::weak_ptr<Loop> weak_loop_;
  std::shared_ptr<Config> config_;
  asio::steady_timer timer_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  bool timer_armed_ = false;

  State state_ = State::kIdle;
  beast::flat_buffer buffer_;
  bool watch_pending_ = false;
  bool next_on_bytes_ = false;
  bool timed_out_ = false;
  bool stopping_ = false;
  bool keep_alive_ = true;
  bool head_request_ = false;
  unsigned version_ = 11;
  std::string remote_;
  std::string range_;

  std::optional<http::request_parser<http::empty_body>> head_parser_;
  std::optional<http::request_parser<http::string_body>> string_parser_;
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  std::shared_ptr<Upload> upload_;
  // Set with state_ = kClosed; read by file pool tasks, which skip their disk work then.
  std::atomic<bool> closed_{false};
  HttpRequest request_;

  std::uint64_t seq_ = 0;
  std::shared_ptr<ResponderImpl> responder_;
  std::optional<HttpResponse> pending_response_;
  std::optional<http::response<http::string_body>> string_response_;
  std::optional<http::response<http::empty_body>> head_response_;
  std::optional<http::serializer<false, http::empty_body>> head_serializer_;
  // A file answer carries a 256 KiB chunk: on the heap, only while it is being written, so that
  // an idle connection stays small.
  std::shared_ptr<FileReply> file_reply_;
};

}  // namespace

void StartHttpConnection(tcp::socket socket, const std::shared_ptr<Loop>& loop,
                         const std::shared_ptr<Config>& config) {
  if (config->tls) {
    auto connection = std::make_shared<HttpConnection<SslStream>>(
        SslStream(std::move(socket), *config->tls), *loop, loop, config);
    connection->Start();
  } else {
    auto connection =
        std::make_shared<HttpConnection<tcp::socket>>(std::move(socket), *loop, loop, config);
    connection->Start();
  }
}

}  // namespace orb::net::server_detail
