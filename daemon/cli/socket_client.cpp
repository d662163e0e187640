// HTTP/1.1 over purgeqd's Unix socket with Boost.Beast. The operations are asynchronous only so
// that one deadline covers connect, write and read (a blocking Asio read ignores SO_RCVTIMEO);
// the caller still sees a plain blocking function.
#include "cli/socket_client.h"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

namespace purgeq::cli {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using UnixStream = beast::basic_stream<net::local::stream_protocol>;

bool is_errno(const boost::system::error_code& ec, int value) {
  return ec.category() == boost::system::system_category() && ec.value() == value;
}

}  // namespace

HttpAnswer http_request(const std::string& socket_path, Method method, std::string_view target,
                        std::string_view body, std::chrono::seconds timeout) {
  HttpAnswer answer;
  net::local::stream_protocol::endpoint endpoint;
  try {
    endpoint = net::local::stream_protocol::endpoint(socket_path);
  } catch (const boost::system::system_error& e) {  // path longer than sun_path
    answer.failure = Failure::connect;
    answer.error = e.code();
    return answer;
  }

  net::io_context ioc;
  UnixStream stream(ioc);
  stream.expires_after(timeout);

  http::request<http::string_body> request{
      method == Method::post ? http::verb::post : http::verb::get,
      beast::string_view(target.data(), target.size()), 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "purgeq/" PURGEQ_VERSION);
  request.set(http::field::accept, "application/json");
  if (method == Method::post) {
    request.set(http::field::content_type, "application/json");
    request.body().assign(body.data(), body.size());
  }
  request.keep_alive(false);  // one request per connection: nothing to reuse it for
  request.prepare_payload();

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  boost::system::error_code write_error;

  auto on_read = [&](const boost::system::error_code& ec, std::size_t) {
    if (ec) {
      // A failed write explains a missing answer better than the read that followed it.
      answer.failure = write_error ? Failure::send : Failure::receive;
      answer.error = write_error ? write_error : ec;
      return;
    }
    answer.status = parser.get().result_int();
    for (const auto& field : parser.get()) {
      const auto name = field.name();
      if (name == http::field::connection || name == http::field::keep_alive ||
          name == http::field::content_length || name == http::field::transfer_encoding) {
        continue;
      }
      answer.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    answer.body = std::move(parser.get().body());
  };
  auto on_write = [&](const boost::system::error_code& ec, std::size_t) {
    // Still read after a failed write: purgeqd may answer (413) before taking the whole body.
    write_error = ec;
    http::async_read(stream, buffer, parser, on_read);
  };
  stream.async_connect(endpoint, [&](const boost::system::error_code& ec) {
    if (ec) {
      answer.failure = Failure::connect;
      answer.error = ec;
      return;
    }
    http::async_write(stream, request, on_write);
  });
  ioc.run();
  return answer;
}

std::string describe_failure(const std::string& socket_path, const HttpAnswer& answer,
                             std::chrono::seconds timeout) {
  const auto& ec = answer.error;
  const bool timed_out = ec == beast::error::timeout;
  switch (answer.failure) {
    case Failure::none:
      return {};
    case Failure::connect: {
      if (timed_out) {
        return fmt::format("cannot reach purgeqd at {}: no connection within {}s", socket_path,
                           timeout.count());
      }
      std::string hint;
      if (is_errno(ec, ENOENT) || is_errno(ec, ECONNREFUSED) || is_errno(ec, ENOTDIR)) {
        hint = " (is the daemon running? set --socket or PURGEQ_SOCKET)";
      } else if (is_errno(ec, EACCES) || is_errno(ec, EPERM)) {
        hint = " (is your user in the socket's group? see listen.group in purgeqd's config)";
      }
      return fmt::format("cannot reach purgeqd at {}: {}{}", socket_path, ec.message(), hint);
    }
    case Failure::send:
      return fmt::format("lost the connection to purgeqd at {} while sending: {}", socket_path,
                         ec.message());
    case Failure::receive:
      if (timed_out) {
        return fmt::format("no answer from purgeqd at {} within {}s", socket_path, timeout.count());
      }
      if (ec == http::error::body_limit) {
        return fmt::format("purgeqd's answer is larger than {} MiB", kMaxAnswerBytes >> 20);
      }
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == net::error::eof || ec == net::error::connection_reset) {
        return fmt::format(
            "purgeqd at {} closed the connection before answering (is it restarting?)",
            socket_path);
      }
      return fmt::format("unreadable answer from purgeqd at {}: {}", socket_path, ec.message());
  }
  return ec.message();
}

}  // namespace purgeq::cli
