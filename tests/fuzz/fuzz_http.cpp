// libFuzzer target: one client connection's bytes through the socket API's HTTP handling.
//
// What runs, per input, is what Listener::session (intake/listener.cpp) and the store-free part
// of Api::handle / Api::submit (intake/api.cpp) do:
//   1. Beast's request_parser<string_body> with the listener's limits (the body limit of
//      listener_limits(config.intake), as the daemon builds them, and the 64 KiB header limit), read with http::read from a stream that hands the bytes over in
//      chunks, so split headers and split chunked bodies happen; requests are read one after
//      another from the same buffer while they ask for keep-alive, as the session loop does.
//   2. For each complete request, Api::handle's routing: target split at '?', POST /v1/purge
//      (native flavor) and [/client/v4]/zones/{id}/purge_cache (cloudflare flavor, zone id from
//      the path, matched against the configured zone ids like Api::submit does).
//   3. For a submission: purgeq::parse_json_body of the body (checked against boost::json::parse),
//      purgeq::parse_intent with the flavor and path zone, then, when access_needs_identity(),
//      purgeq::check_access for a fixed peer identity (fixture.h has an access rule; the daemon
//      resolves identities through NSS on a thread of its own, which is not what is fuzzed here).
// Api::handle itself is not called: it needs two StoreWorkers (threads, SQLite), a DeliveryView,
// Metrics and an io_context, and every accepted intent would be committed to the database, so
// executions would depend on each other (see tests/fuzz/README.md). The routing lines mirrored
// from api.cpp below are marked; keep them in step with it.
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
#include <boost/json.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fixture.h"
#include "intake/access.h"
#include "intake/listener.h"

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

// Api::submit up to the store: flavor, path zone, JSON, intent rules, access rules.
void submit(const purgeq::HttpRequestMessage& request, bool cloudflare_flavor,
            std::string_view path_zone) {
  const purgeq::Config& config = purgeq_fuzz::fixture_config();
  std::optional<std::size_t> forced_zone;
  if (cloudflare_flavor) {
    for (std::size_t i = 0; i < config.zones.size(); ++i) {  // mirrors api.cpp
      if (config.zones[i].id == path_zone) forced_zone = i;
    }
    if (!forced_zone) return;  // 404 unknown_zone
  }
  const auto body = purgeq_fuzz::parse_body(request.body());
  if (!body) return;  // 400 invalid_json or duplicate_key
  const auto flavor =
      cloudflare_flavor ? purgeq::IntakeFlavor::cloudflare : purgeq::IntakeFlavor::native;
  const auto parsed = purgeq::parse_intent(*body, config, flavor, forced_zone);
  purgeq_fuzz::check_parsed(parsed, config, flavor, forced_zone);
  const auto* intent = std::get_if<purgeq::ParsedIntent>(&parsed);
  if (intent == nullptr) return;  // 400 or 413
  if (!purgeq::access_needs_identity(config, intent->items)) return;
  const purgeq::Peer peer{65534, 65534, 1};
  const purgeq::PeerIdentity identity{{"65534", "nobody"}, {"65534", "nogroup"}};
  if (const auto denied = purgeq::check_access(config, peer, identity, intent->items)) {
    PURGEQ_FUZZ_CHECK(denied->code == "access_denied");
  }
}

// Api::handle's routing, without the routes that only read or write the store.
void handle(const purgeq::HttpRequestMessage& request) {
  // mirrors api.cpp (Api::handle) from here
  const std::string_view target = request.target();
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const auto verb = request.method();
  if (path == "/v1/purge") {
    if (verb == http::verb::post) submit(request, false, {});
    return;
  }
  std::string_view cf = path;
  if (cf.starts_with("/client/v4")) cf.remove_prefix(std::string_view("/client/v4").size());
  if (cf.starts_with("/zones/") && cf.ends_with("/purge_cache")) {
    const auto zone = cf.substr(7, cf.size() - 7 - std::string_view("/purge_cache").size());
    if (verb == http::verb::post) submit(request, true, zone);
  }
  // to here
  // The not-found answer names the method and path.
  (void)std::string(request.method_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  InputStream stream(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                     data[0]);
  static const std::size_t body_limit =
      purgeq::listener_limits(purgeq_fuzz::fixture_config().intake).body_limit;
  boost::beast::flat_buffer buffer;
  // Listener::session: one parser per request, the same limits, keep-alive decides whether the
  // connection is read again.
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);  // listener.cpp
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
