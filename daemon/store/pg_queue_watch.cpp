#include "store/pg_queue_watch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "observe/log.h"
#include "store/pg_connection.h"

namespace purgeq {
namespace {

constexpr auto kReconnectEvery = std::chrono::seconds(1);

}  // namespace

PgQueueWatch::PgQueueWatch(PgConnection connection, std::int64_t own_host,
                           std::function<void(QueueNews)> on_news)
    : connection_(std::move(connection)),
      own_host_(std::to_string(own_host)),
      on_news_(std::move(on_news)) {
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe for the queue watch");
  }
  thread_ = std::thread([this] { loop(); });
}

PgQueueWatch::~PgQueueWatch() {
  stopping_ = true;
  const char byte = 0;
  // The pipe is non-blocking and only ever holds this one byte: a failed write means it is full.
  [[maybe_unused]] const auto written = ::write(stop_pipe_[1], &byte, 1);
  if (thread_.joinable()) thread_.join();
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void PgQueueWatch::loop() {
  PGconn* conn = nullptr;
  // Said once per outage: the store's own errors already tell about the server going away; this
  // says that other daemons' submissions wake this one only at its claim rounds meanwhile.
  bool lost = false;
  const auto wait_for_stop = [this](std::chrono::milliseconds timeout) {
    pollfd stop{stop_pipe_[0], POLLIN, 0};
    (void)::poll(&stop, 1, static_cast<int>(timeout.count()));
  };
  while (!stopping_) {
    if (conn == nullptr) {
      try {
        conn = pg_connect(connection_, /*read_only=*/false);
        PGresult* listen = PQexec(
            conn, fmt::format("LISTEN {}; LISTEN {}", kPgQueueChannel, kPgProgressChannel).c_str());
        const bool listening = PQresultStatus(listen) == PGRES_COMMAND_OK;
        PQclear(listen);
        if (!listening) throw std::runtime_error("LISTEN failed");
        if (std::exchange(lost, false))
          log::notice("queue_watch_back", "channel={}", kPgQueueChannel);
        // Whatever happened while the watch was away went unnoticed.
        on_news_(QueueNews{true, true});
      } catch (const std::exception& e) {
        if (!std::exchange(lost, true)) {
          log::warning("queue_watch_lost", "error={} note={}", log::quote(e.what()),
                       log::quote("other daemons' submissions are seen at the next claim round "
                                  "(within a second) until it is back"));
        }
        if (conn != nullptr) PQfinish(conn);
        conn = nullptr;
        wait_for_stop(kReconnectEvery);
        continue;
      }
    }
    pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {PQsocket(conn), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if ((fds[0].revents & POLLIN) != 0) break;
    QueueNews news;
    if (PQconsumeInput(conn) == 0) {
      lost = true;
      log::warning("queue_watch_lost", "error={}", log::quote(PQerrorMessage(conn)));
      PQfinish(conn);
      conn = nullptr;
      continue;
    }
    while (PGnotify* notify = PQnotifies(conn)) {
      if (own_host_ != notify->extra) {
        (kPgProgressChannel == notify->relname ? news.progressed : news.queued) = true;
      }
      PQfreemem(notify);
    }
    if (news.queued || news.progressed) on_news_(news);
  }
  if (conn != nullptr) PQfinish(conn);
}

}  // namespace purgeq
