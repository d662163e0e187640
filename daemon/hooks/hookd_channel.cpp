#include "hooks/hookd_channel.h"

#include <boost/asio/error.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace purgeq::hookd {

namespace asio = boost::asio;

Channel::Channel(Socket socket) : socket_(std::move(socket)) {}

void Channel::start(OnFrame on_frame, OnEnd on_end) {
  on_frame_ = std::move(on_frame);
  on_end_ = std::move(on_end);
  read_header();
}

void Channel::read_header() {
  header_.assign(kHeaderSize, '\0');
  asio::async_read(socket_, asio::buffer(header_),
                   [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                     if (self->closed_ || self->close_when_sent_) return;
                     if (ec) {
                       return self->end(ec == asio::error::eof ? std::string() : ec.message(),
                                        false);
                     }
                     std::string error;
                     const auto header = parse_header(self->header_, error);
                     if (!header) return self->end(error, true);
                     self->read_payload(*header);
                   });
}

void Channel::read_payload(Header header) {
  payload_.assign(header.size, '\0');
  asio::async_read(socket_, asio::buffer(payload_),
                   [self = shared_from_this(), header](boost::system::error_code ec, std::size_t) {
                     if (self->closed_ || self->close_when_sent_) return;
                     if (ec == asio::error::eof) {
                       return self->end("the connection ended inside a frame", true);
                     }
                     if (ec) return self->end(ec.message(), false);
                     // The callback may close the channel (which drops the callback: call a
                     // copy), or send; read on only if it did not close.
                     const auto on_frame = self->on_frame_;
                     on_frame(header.type, std::move(self->payload_));
                     if (!self->closed_) self->read_header();
                   });
}

void Channel::end(const std::string& reason, bool broken) {
  auto on_end = std::move(on_end_);
  on_frame_ = nullptr;
  on_end_ = nullptr;
  if (on_end) on_end(reason, broken);
}

void Channel::send(FrameType type, std::string_view payload) {
  if (closed_ || close_when_sent_) return;
  queue_.push_back(frame(type, payload));
  if (!writing_) write_next();
}

void Channel::write_next() {
  if (closed_) return;
  if (queue_.empty()) {
    writing_ = false;
    if (close_when_sent_) close();
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(queue_.front()),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      if (self->closed_) return;
                      self->queue_.pop_front();
                      // A failed write means the peer is gone: the read side reports why.
                      if (ec) self->queue_.clear();
                      self->write_next();
                    });
}

void Channel::close_after_sends() {
  close_when_sent_ = true;
  if (!writing_) close();
}

void Channel::close() {
  if (closed_) return;
  closed_ = true;
  queue_.clear();
  on_frame_ = nullptr;
  on_end_ = nullptr;
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace purgeq::hookd
