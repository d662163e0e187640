// One connection between purgeqd and purgeq-hookd, as frames (hookd_wire.h): reads every frame
// as it comes, in order, and queues writes so that at most one is under way. Both ends use it.
#pragma once

#include <boost/asio/local/stream_protocol.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "hooks/hookd_wire.h"

namespace purgeq::hookd {

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;
  using OnFrame = std::function<void(FrameType, std::string)>;
  // Why reading ended: empty for the peer's orderly close, else the reason ("Connection reset by
  // peer", "unknown frame type 0x67"...); `broken`: the peer broke the framing.
  using OnEnd = std::function<void(const std::string& reason, bool broken)>;

  explicit Channel(Socket socket);

  // Starts reading: `on_frame` for each frame, then `on_end` once. Neither is called after
  // close(). Both are dropped once reading ends, which frees whatever they hold.
  void start(OnFrame on_frame, OnEnd on_end);
  void send(FrameType type, std::string_view payload);
  // Closes the socket once every queued frame is written (or writing failed); reads no more.
  void close_after_sends();
  // Closes now: queued frames are dropped, callbacks are not called any more.
  void close();
  [[nodiscard]] bool is_open() const { return !closed_; }
  Socket& socket() { return socket_; }

 private:
  void read_header();
  void read_payload(Header header);
  void end(const std::string& reason, bool broken);
  void write_next();

  Socket socket_;
  OnFrame on_frame_;
  OnEnd on_end_;
  std::string header_;
  std::string payload_;
  std::deque<std::string> queue_;  // whole frames; the front one is being written
  bool writing_ = false;
  bool close_when_sent_ = false;
  bool closed_ = false;
};

}  // namespace purgeq::hookd
