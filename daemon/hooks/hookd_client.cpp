#include "hooks/hookd_client.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "hooks/hookd_channel.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;
using hookd::FrameType;
using local = asio::local::stream_protocol;

class Remote final : public HookProcess, public std::enable_shared_from_this<Remote> {
 public:
  Remote(asio::io_context& io, std::string socket_path, ProcessSpec spec, StdinFeed feed,
         std::function<void(ProcessResult)> done)
      : io_(io),
        socket_path_(std::move(socket_path)),
        spec_(std::move(spec)),
        feed_(std::move(feed)),
        done_(std::move(done)),
        deadline_(io) {}

  void launch();
  void kill_all() override;

 private:
  void on_frame(FrameType type, std::string payload);
  void send_stdin();
  void finish(ProcessResult result);
  void fail(const std::string& why) { finish(ProcessResult{false, why, {}, false}); }

  asio::io_context& io_;
  std::string socket_path_;
  ProcessSpec spec_;
  StdinFeed feed_;
  std::function<void(ProcessResult)> done_;
  asio::steady_timer deadline_;
  std::shared_ptr<hookd::Channel> channel_;
  std::string piece_;     // what is left of the feed's current chunk
  bool wanted_ = false;   // the helper asked for stdin and has not had it yet
  bool feeding_ = false;  // the feed was asked for a chunk and has not answered
  bool stdin_ended_ = false;
  bool finished_ = false;
};

void Remote::launch() {
  channel_ = std::make_shared<hookd::Channel>(local::socket(io_));
  // A helper that never answers (hung, or stopped by SIGSTOP) must not hold the run for ever.
  deadline_.expires_after(spec_.timeout + spec_.kill_grace + kHookdAnswerMargin);
  deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->finished_) return;
    self->fail(fmt::format("purgeq-hookd ({}) did not answer within the hook's timeout",
                           self->socket_path_));
  });
  channel_->socket().async_connect(
      local::endpoint(socket_path_), [self = shared_from_this()](boost::system::error_code ec) {
        if (self->finished_) return;
        if (ec) {
          return self->fail(
              fmt::format("cannot reach purgeq-hookd at {}: {}", self->socket_path_, ec.message()));
        }
        self->channel_->start(
            [self](FrameType type, std::string payload) {
              if (!self->finished_) self->on_frame(type, std::move(payload));
            },
            [self](const std::string& reason, bool broken) {
              if (self->finished_) return;
              if (broken) return self->fail("purgeq-hookd broke the protocol: " + reason);
              self->fail(fmt::format("purgeq-hookd ended the connection before the hook's result{}",
                                     reason.empty() ? "" : ": " + reason));
            });
        self->channel_->send(FrameType::spec, hookd::encode_spec(self->spec_));
      });
}

void Remote::on_frame(FrameType type, std::string payload) {
  switch (type) {
    case FrameType::want_stdin:
      if (stdin_ended_ || wanted_) {
        return fail("purgeq-hookd broke the protocol: asked for stdin it was not due");
      }
      wanted_ = true;
      return send_stdin();
    case FrameType::result: {
      std::string error;
      auto result = hookd::decode_result(payload, error);
      if (!result) return fail("purgeq-hookd broke the protocol: " + error);
      return finish(std::move(*result));
    }
    case FrameType::spec:
    case FrameType::stdin_piece:
    case FrameType::stdin_end:
      break;
  }
  fail(fmt::format("purgeq-hookd broke the protocol: sent a {} frame", hookd::type_name(type)));
}

// One frame per pull: the rest of the feed's chunk, or the feed's next chunk, or the end.
void Remote::send_stdin() {
  if (!wanted_ || feeding_ || finished_) return;
  if (!piece_.empty()) {
    const auto size = std::min(piece_.size(), hookd::kMaxStdinPiece);
    channel_->send(FrameType::stdin_piece, std::string_view(piece_).substr(0, size));
    piece_.erase(0, size);
    wanted_ = false;
    return;
  }
  if (!feed_) {
    stdin_ended_ = true;
    wanted_ = false;
    channel_->send(FrameType::stdin_end, {});
    return;
  }
  feeding_ = true;
  feed_([self = shared_from_this()](std::optional<std::string> chunk) {
    self->feeding_ = false;
    if (self->finished_) return;
    if (!chunk) {
      self->feed_ = nullptr;
    } else {
      self->piece_ = std::move(*chunk);
    }
    self->send_stdin();
  });
}

void Remote::finish(ProcessResult result) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  if (channel_) channel_->close();
  feed_ = nullptr;
  piece_.clear();
  if (!done_) return;
  asio::post(io_, [done = std::move(done_), result = std::move(result)]() mutable {
    done(std::move(result));
  });
  done_ = nullptr;
}

void Remote::kill_all() {
  if (finished_) return;
  done_ = nullptr;
  finish({});
}

}  // namespace

std::shared_ptr<HookProcess> start_hook_via_hookd(asio::io_context& io,
                                                  const std::string& socket_path, ProcessSpec spec,
                                                  StdinFeed feed,
                                                  std::function<void(ProcessResult)> done) {
  auto remote =
      std::make_shared<Remote>(io, socket_path, std::move(spec), std::move(feed), std::move(done));
  remote->launch();
  return remote;
}

}  // namespace purgeq
