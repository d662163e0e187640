// libFuzzer target: one client connection's bytes through the socket API's HTTP handling.
//
// What runs, per input, is the daemon's own code up to the store:
//   1. Beast's request_parser<string_body> with the bounds every session sets (limit_request,
//      http/http_server.h: the body limit of listener_limits(config.intake), 64 KiB of header),
//      read with http::read from a stream that hands the bytes over in chunks, so split headers
//      and split chunked bodies happen; requests are read one after another from the same buffer
//      while they ask for keep-alive, as the session loop does.
//   2. For each complete request, the router's table (route_of, api/routes.h).
//   3. For a submission (POST /v1/purge, Cloudflare's purge path) or /v1/expand: the path zone
//      (zone_with_id, as SubmitRoute::submit looks it up), read_intent (the function the daemon
//      runs on a body), then, when access_needs_identity(), check_access for a fixed peer
//      identity (fixture.h has an access rule; the daemon resolves identities through NSS on a
//      thread of its own, which is not what is fuzzed here).
// The routes' coroutines themselves are not called: they need two StoreWorkers (threads, SQLite),
// a DeliveryView, Metrics and an io_context, and every accepted intent would be committed to the
// database, so executions would depend on each other (see tests/fuzz/README.md).
//
// Input layout: byte 0 is the read chunk size (0: everything at once; n: n bytes per read), the
// rest is what the client wrote on the connection.
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/routes.h"
#include "fixture.h"
#include "http/unix_listener.h"
#include "intake/access.h"
#include "intake/routing.h"

namespace {

namespace http = boost::beast::http;

// A SyncReadStream over the fuzz input: at most `chunk` bytes per read_some, then end of file.
class InputStream {
 public:
  InputStream(std::string_view data, std::size_t chunk) : data_(data), chunk_(chunk) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    if (data_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t offer = chunk_ == 0 ? data_.size() : std::min(chunk_, data_.size());
    const std::size_t n =
        boost::asio::buffer_copy(buffers, boost::asio::const_buffer(data_.data(), offer));
    data_.remove_prefix(n);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  std::size_t chunk_;
};

// SubmitRoute::submit up to the store: path zone, body, access rules.
void submit(const purgeq::HttpRequestMessage& request, purgeq::IntakeFlavor flavor,
            std::string_view path_zone) {
  const purgeq::Config& config = purgeq_fuzz::fixture_config();
  std::optional<std::size_t> forced_zone;
  if (flavor == purgeq::IntakeFlavor::cloudflare) {
    forced_zone = purgeq::zone_with_id(config, path_zone);
    if (!forced_zone) {
      const auto refused = purgeq::unknown_path_zone_error(path_zone);
      PURGEQ_FUZZ_CHECK(purgeq::error_info(refused.code).http_status == 404);
      return;
    }
  }
  const auto parsed = purgeq::read_intent(request.body(), config, flavor, forced_zone);
  purgeq_fuzz::check_parsed(parsed, config, flavor, forced_zone);
  const auto* intent = std::get_if<purgeq::ParsedIntent>(&parsed);
  if (intent == nullptr) return;  // 400 or 413
  if (!purgeq::access_needs_identity(config, intent->items)) return;
  const purgeq::Peer peer{65534, 65534, 1};
  const purgeq::PeerIdentity identity{{"65534", "nobody"}, {"65534", "nogroup"}};
  if (const auto denied = purgeq::check_access(config, peer, identity, intent->items)) {
    PURGEQ_FUZZ_CHECK(denied->code == purgeq::ErrorCode::access_denied);
  }
}

// The router, without the routes that only read or write the store.
void handle(const purgeq::HttpRequestMessage& request) {
  const purgeq::Route route = purgeq::route_of(request.method_string(), request.target());
  if (!route.method_allowed) return;  // 405
  switch (route.endpoint) {
    case purgeq::Endpoint::purge:
    case purgeq::Endpoint::expand:
      submit(request, purgeq::IntakeFlavor::native, {});
      return;
    case purgeq::Endpoint::cloudflare_purge:
      submit(request, purgeq::IntakeFlavor::cloudflare, route.param);
      return;
    default:
      return;  // read the store, or 404
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  InputStream stream(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), data[0]);
  static const std::size_t body_limit =
      purgeq::listener_limits(purgeq_fuzz::fixture_config().intake).body_limit;
  boost::beast::flat_buffer buffer;
  // The session loop: one parser per request, the same bounds, keep-alive decides whether the
  // connection is read again.
  for (;;) {
    http::request_parser<http::string_body> parser;
    purgeq::limit_request(parser, body_limit);
    boost::system::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) break;  // 413 on body_limit, 400 on a malformed request, or the client went away
    PURGEQ_FUZZ_CHECK(parser.is_done());
    const purgeq::HttpRequestMessage request = parser.release();
    handle(request);
    if (!request.keep_alive()) break;
  }
  return 0;
}
