// HttpClient: libcurl's multi-socket interface driven by one Asio io_context (curl's
// docs/examples/multi-event.c pattern): curl tells us which sockets to watch and when to wake it,
// Asio waits, and every call back into curl happens from an Asio handler, never from inside curl.
#include "io/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "model/ascii.h"

#ifndef PURGEQ_VERSION
#define PURGEQ_VERSION "dev"
#endif

namespace purgeq {
namespace {

// Responses above this are not Cloudflare API answers; stop reading rather than buffer them.
constexpr std::size_t kMaxResponseBody = 1024 * 1024;
// Connections per host; Cloudflare's rate limits make more pointless, and curl queues the rest.
constexpr long kMaxHostConnections = 8;
constexpr std::chrono::milliseconds kMaxConnectTimeout{10000};
constexpr const char* kUserAgent = "purgeq/" PURGEQ_VERSION;

std::once_flag g_curl_init_once;
CURLcode g_curl_init_result = CURLE_OK;

// curl_global_init is not thread-safe and must precede the first multi handle.
void ensure_curl_global_init() {
  std::call_once(g_curl_init_once,
                 [] { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init_result != CURLE_OK) {
    throw std::runtime_error(std::string("curl_global_init failed: ") +
                             curl_easy_strerror(g_curl_init_result));
  }
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

// Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Cloudflare sends seconds; a
// date is ignored (nullopt) rather than trusting a clock comparison with the remote host.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace

struct HttpClient::Impl {
  // One socket curl asked us to watch. Pending async_waits hold a shared_ptr to it, so a wait that
  // completes after curl said CURL_POLL_REMOVE (or after the client died) finds `closed` set and
  // does nothing; a later socket that reuses the fd number gets a fresh object.
  struct Socket {
    Socket(boost::asio::io_context& io, curl_socket_t s) : fd(s), descriptor(io) {}
    curl_socket_t fd;
    boost::asio::posix::stream_descriptor descriptor;  // released, never closed: curl owns the fd
    int wanted = 0;        // CURL_POLL_IN / CURL_POLL_OUT bits curl currently asks for
    bool reading = false;  // an async_wait(wait_read) is pending
    bool writing = false;  // an async_wait(wait_write) is pending
    bool closed = false;   // curl forgot the socket; pending waits must not call curl
  };

  // One request. Heap-allocated so the addresses handed to curl (error buffer, body, this) are
  // stable.
  struct Transfer {
    Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    ~Transfer() {
      // Callers remove the handle from the multi first; cleanup of an attached handle would run
      // curl callbacks from a destructor.
      if (easy != nullptr) curl_easy_cleanup(easy);
      curl_slist_free_all(headers);
    }

    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpRequest request;  // owns the body curl sends from (CURLOPT_POSTFIELDS does not copy)
    HttpResponse response;
    Handler done;
    bool too_large = false;  // the write callback refused a body above kMaxResponseBody
    std::array<char, CURL_ERROR_SIZE> error{};
  };

  explicit Impl(boost::asio::io_context& context) : io(context), timer(context) {
    ensure_curl_global_init();
    multi = curl_multi_init();
    if (multi == nullptr) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::socket_callback);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::timer_callback);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, kMaxHostConnections);
    // HTTP/1.1 only (see post()), so there is nothing to pipeline or multiplex.
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    // From here on curl's callbacks are no-ops and queued handlers see a dead token.
    destroying = true;
    alive.reset();
    timer.cancel();
    // Stop watching before curl closes the fds, so no epoll registration outlives its socket.
    for (auto& [fd, socket] : sockets) close_socket(*socket);
    sockets.clear();
    for (auto& [easy, transfer] : transfers) curl_multi_remove_handle(multi, easy);
    transfers.clear();  // drops the handlers uncalled, as the header promises
    curl_multi_cleanup(multi);
  }

  void post(HttpRequest request, Handler done) {
    ++in_flight;
    auto transfer = std::make_unique<Transfer>();
    transfer->request = std::move(request);
    transfer->done = std::move(done);
    if (const char* failure = prepare(*transfer); failure != nullptr) {
      fail_soon(std::move(transfer), failure);
      return;
    }
    CURL* easy = transfer->easy;
    // Safe here: post() runs from user code, which never runs inside a curl callback because
    // completions are posted. curl answers by asking for a 0 ms timer, which starts the transfer.
    if (const CURLMcode rc = curl_multi_add_handle(multi, easy); rc != CURLM_OK) {
      fail_soon(std::move(transfer), curl_multi_strerror(rc));
      return;
    }
    transfers.emplace(easy, std::move(transfer));
  }

  void cancel_all() {
    // Detach the map first: removing handles runs curl's socket and timer callbacks, which must
    // not see half-removed transfers.
    auto doomed = std::move(transfers);
    transfers.clear();
    for (auto& [easy, transfer] : doomed) {
      curl_multi_remove_handle(multi, easy);
      HttpResponse response;
      response.transport_error = "cancelled";
      complete(std::move(transfer->done), std::move(response));
    }
  }

  // Configures the easy handle; returns a static reason on failure (never request data, which
  // may carry the Authorization header).
  const char* prepare(Transfer& t) {
    t.easy = curl_easy_init();
    if (t.easy == nullptr) return "curl_easy_init failed";

    bool has_content_type = false;
    for (const std::string& header : t.request.headers) {
      // A CR or LF would let one header smuggle another into the request.
      if (header.find_first_of("\r\n") != std::string::npos) return "invalid request header";
      if (ascii_istarts_with(header, "content-type:")) has_content_type = true;
      if (!append_header(t, header.c_str())) return "out of memory";
    }
    const bool post = t.request.method == HttpRequest::Method::post;
    if (post && !has_content_type && !append_header(t, "Content-Type: application/json")) {
      return "out of memory";
    }
    // An empty Expect stops curl from waiting for "100 Continue" before sending larger bodies.
    if (!append_header(t, "Expect:")) return "out of memory";

    const auto total_ms = std::max<std::int64_t>(1, t.request.timeout.count());
    const auto connect_ms = std::min<std::int64_t>(total_ms, kMaxConnectTimeout.count());

    CURLcode rc = CURLE_OK;
    // curl's setopt is variadic and unchecked in C++: every value below has the exact type curl
    // reads (long, curl_off_t, char*, function pointer).
    const auto set = [&](CURLoption option, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(t.easy, option, value);
    };
    set(CURLOPT_URL, t.request.url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_FOLLOWLOCATION, 0L);
    // 7.88's HTTP/2 has known crash bugs; a few keep-alive HTTP/1.1 connections are enough.
    set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_NOSIGNAL, 1L);  // signals would hit the daemon's other threads and handlers
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms));
    set(CURLOPT_USERAGENT, kUserAgent);
    set(CURLOPT_HTTPHEADER, t.headers);
    if (!post) {
      set(CURLOPT_HTTPGET, 1L);
    } else {
      set(CURLOPT_POST, 1L);
      set(CURLOPT_POSTFIELDS, t.request.body.data());
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.request.body.size()));
    }
    set(CURLOPT_ERRORBUFFER, t.error.data());
    set(CURLOPT_WRITEFUNCTION, &Impl::write_callback);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
    set(CURLOPT_HEADERFUNCTION, &Impl::header_callback);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
    return rc == CURLE_OK ? nullptr : curl_easy_strerror(rc);
  }

  static bool append_header(Transfer& t, const char* line) {
    curl_slist* grown = curl_slist_append(t.headers, line);
    if (grown == nullptr) return false;  // the old list is still intact and owned by t
    t.headers = grown;
    return true;
  }

  void fail_soon(std::unique_ptr<Transfer> transfer, const char* reason) {
    HttpResponse response;
    response.transport_error = reason;
    complete(std::move(transfer->done), std::move(response));
  }

  // Delivers a result later from the io_context, so the handler never runs inside post(),
  // cancel_all() or a curl call, and is dropped if the client is destroyed first.
  void complete(Handler done, HttpResponse response) {
    boost::asio::post(io, [this, token = std::weak_ptr<bool>(alive), done = std::move(done),
                           response = std::move(response)]() mutable {
      if (token.expired()) return;
      --in_flight;
      // Move out first: the handler may destroy the client, and nothing below touches it.
      Handler handler = std::move(done);
      handler(std::move(response));
    });
  }

  // --- curl callbacks: record what curl wants; never call back into curl from here. ---

  // Exceptions (only bad_alloc is possible) must not unwind through curl's C frames; -1 makes
  // curl fail the transfers instead.
  static int socket_callback(CURL* /*easy*/, curl_socket_t s, int what, void* userp,
                             void* socketp) {
    try {
      static_cast<Impl*>(userp)->on_socket(s, what, socketp);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  static int timer_callback(CURLM* /*multi*/, long timeout_ms, void* userp) {
    try {
      static_cast<Impl*>(userp)->on_timer(timeout_ms);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  void on_socket(curl_socket_t s, int what, void* socketp) {
    if (destroying) return;
    if (what == CURL_POLL_REMOVE) {
      forget_socket(s);
      return;
    }
    std::shared_ptr<Socket> socket;
    const auto it = sockets.find(s);
    if (it != sockets.end() && it->second.get() == socketp) {
      socket = it->second;
    } else {
      // New to curl (socketp is null). An entry under the same fd number is a socket curl
      // already forgot: release it before assigning, or its later deregistration would remove
      // the new socket from epoll.
      if (it != sockets.end()) {
        close_socket(*it->second);
        sockets.erase(it);
      }
      socket = std::make_shared<Socket>(io, s);
      boost::system::error_code ec;
      socket->descriptor.assign(s, ec);
      // On failure the descriptor stays closed and nothing is watched; the transfer then ends
      // by its own CURLOPT_TIMEOUT_MS instead of hanging.
      sockets.emplace(s, socket);
      curl_multi_assign(multi, s, socket.get());  // allowed inside the socket callback
    }
    socket->wanted = what & (CURL_POLL_IN | CURL_POLL_OUT);
    arm(socket);
  }

  void on_timer(long timeout_ms) {
    if (destroying) return;
    // Each request supersedes the previous one; older wakeups already queued see a stale
    // generation and do nothing.
    const std::uint64_t generation = ++timer_generation;
    timer.cancel();
    if (timeout_ms < 0) return;  // -1: curl needs no timer
    const auto wake = [this, generation, token = std::weak_ptr<bool>(alive)] {
      if (token.expired() || generation != timer_generation) return;
      socket_action(CURL_SOCKET_TIMEOUT, 0);
    };
    if (timeout_ms == 0) {
      // "Now" must still not mean "from inside this callback".
      boost::asio::post(io, wake);
    } else {
      timer.expires_after(std::chrono::milliseconds(timeout_ms));
      timer.async_wait([wake](const boost::system::error_code& ec) {
        if (ec != boost::asio::error::operation_aborted) wake();
      });
    }
  }

  static std::size_t write_callback(char* data, std::size_t size, std::size_t count, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t bytes = size * count;
    if (t->response.body.size() + bytes > kMaxResponseBody) {
      t->too_large = true;
      return 0;  // any short count makes curl abort with CURLE_WRITE_ERROR
    }
    try {
      t->response.body.append(data, bytes);
    } catch (...) {
      return 0;  // out of memory: fail this transfer, never unwind through curl
    }
    return bytes;
  }

  static std::size_t header_callback(char* data, std::size_t size, std::size_t count, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t bytes = size * count;
    const std::string_view line(data, bytes);
    constexpr std::string_view kRetryAfter = "retry-after:";
    if (ascii_istarts_with(line, "HTTP/")) {
      // A new status line starts a new response (e.g. after 1xx); forget the previous headers.
      t->response.retry_after.reset();
    } else if (ascii_istarts_with(line, kRetryAfter)) {
      t->response.retry_after = parse_retry_after(line.substr(kRetryAfter.size()));
    }
    return bytes;
  }

  // --- Asio side ---

  // Starts the waits curl wants that are not already pending. Called from the socket callback
  // (async_wait only registers interest, it never calls curl) and after every socket_action.
  void arm(const std::shared_ptr<Socket>& socket) {
    if (socket->closed || !socket->descriptor.is_open()) return;
    if ((socket->wanted & CURL_POLL_IN) != 0 && !socket->reading) {
      socket->reading = true;
      socket->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_read,
          [this, socket](const boost::system::error_code& ec) { on_ready(socket, ec, true); });
    }
    if ((socket->wanted & CURL_POLL_OUT) != 0 && !socket->writing) {
      socket->writing = true;
      socket->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_write,
          [this, socket](const boost::system::error_code& ec) { on_ready(socket, ec, false); });
    }
  }

  void on_ready(const std::shared_ptr<Socket>& socket, const boost::system::error_code& ec,
                bool read) {
    (read ? socket->reading : socket->writing) = false;
    // `closed` is checked before touching `this`: the client's destructor closes every socket,
    // so a wait finishing after it (with any error code) stops here.
    if (socket->closed || ec == boost::asio::error::operation_aborted) return;
    // A wait left over from before curl narrowed its interest (say INOUT to IN) is not news.
    if ((socket->wanted & (read ? CURL_POLL_IN : CURL_POLL_OUT)) == 0) return;
    int events = read ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    if (ec) events = CURL_CSELECT_ERR;
    socket_action(socket->fd, events);
    // curl re-announces a socket only when its wishes change, so keep watching what it still
    // wants; socket_action may have closed this socket meanwhile, which arm() respects.
    arm(socket);
  }

  void socket_action(curl_socket_t s, int events) {
    int running = 0;
    // CURLM_BAD_SOCKET for a socket curl already closed is harmless; everything else is
    // reported per transfer through curl_multi_info_read.
    curl_multi_socket_action(multi, s, events, &running);
    finish_done_transfers();
  }

  void finish_done_transfers() {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      // Copy out: removing the handle invalidates `message`.
      CURL* easy = message->easy_handle;
      const CURLcode result = message->data.result;
      const auto it = transfers.find(easy);
      if (it == transfers.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      transfers.erase(it);
      curl_multi_remove_handle(multi, easy);  // we are back from curl: removal is allowed
      complete(std::move(transfer->done), to_response(*transfer, result));
    }
  }

  static HttpResponse to_response(Transfer& t, CURLcode result) {
    HttpResponse response;
    if (result == CURLE_OK) {
      response = std::move(t.response);
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &response.status);
      return response;
    }
    if (t.too_large) {
      response.transport_error =
          "response too large: over " + std::to_string(kMaxResponseBody) + " bytes";
      return response;
    }
    // curl's generic reason plus its specific detail, e.g. "Timeout was reached: Operation timed
    // out after 300 milliseconds with 0 bytes received". Neither ever contains request headers.
    response.transport_error = curl_easy_strerror(result);
    if (const std::string_view detail(t.error.data()); !detail.empty()) {
      response.transport_error += ": ";
      response.transport_error += trim(detail);
    }
    return response;
  }

  void forget_socket(curl_socket_t s) {
    const auto it = sockets.find(s);
    if (it == sockets.end()) return;
    close_socket(*it->second);
    sockets.erase(it);
  }

  // Cancels pending waits (they complete with operation_aborted and see `closed`) and hands the
  // fd back to curl. Errors are ignored: curl may already have closed the fd (EBADF).
  static void close_socket(Socket& socket) {
    socket.closed = true;
    boost::system::error_code ignored;
    socket.descriptor.cancel(ignored);
    socket.descriptor.release();
  }

  boost::asio::io_context& io;
  CURLM* multi = nullptr;
  boost::asio::steady_timer timer;                                     // curl's single timeout
  std::uint64_t timer_generation = 0;                                  // bumped by every on_timer()
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets;  // what curl watches now
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers;      // added to `multi`
  std::size_t in_flight = 0;  // posted and whose handler has not run yet
  bool destroying = false;    // set by ~Impl: curl callbacks must ignore what follows
  // Queued handlers hold a weak_ptr; expired means the client is gone.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

HttpClient::HttpClient(boost::asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

HttpClient::~HttpClient() = default;

void HttpClient::post(HttpRequest request, Handler done) {
  impl_->post(std::move(request), std::move(done));
}

std::size_t HttpClient::in_flight() const {
  return impl_->in_flight;
}

void HttpClient::cancel_all() {
  impl_->cancel_all();
}

}  // namespace purgeq
