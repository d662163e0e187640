// Wiring of storage, dispatcher, API and listener on one io_context, plus signals and timers.
#include "service/daemon.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <memory>

#include "dispatch/dispatcher.h"
#include "intake/api.h"
#include "intake/listener.h"
#include "model/wall_clock.h"
#include "service/log.h"
#include "service/notify.h"
#include "store/store_worker.h"

namespace purgeq {
namespace {

namespace asio = boost::asio;

// How long SIGTERM waits for requests already sent before leaving them to the next start.
constexpr auto kShutdownDeadline = std::chrono::seconds(10);
constexpr auto kStatusInterval = std::chrono::seconds(2);
constexpr auto kPruneInterval = std::chrono::hours(1);
// Finished intents are kept this long for `GET /v1/intents/{id}` and `purgeq show`.
constexpr auto kRetention = std::chrono::hours(24 * 7);

class Daemon {
 public:
  Daemon(std::string config_path, std::shared_ptr<const Config> config, std::optional<int> fd)
      : config_path_(std::move(config_path)),
        config_(std::move(config)),
        store_(config_->storage.path, io_.get_executor()),
        dispatcher_(io_, store_, metrics_, config_),
        api_(store_, dispatcher_, metrics_, config_),
        listener_(io_, api_, config_->listen, fd),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        status_timer_(io_),
        watchdog_timer_(io_),
        prune_timer_(io_) {
    dispatcher_.on_progress = [this] { api_.progress(); };
  }

  int run() {
    start();
    io_.run();
    store_.stop();
    log::notice("stopped", "pending={}", dispatcher_.pending_count());
    return 0;
  }

 private:
  void start() {
    wait_signal();
    // Recovery runs on the store thread; we are ready once it is back and listening.
    store_.run([](Store& store) { return store.recover(); },
               std::function<void(std::exception_ptr, std::vector<StoredTarget>)>(
                   [this](const std::exception_ptr& error, std::vector<StoredTarget> pending) {
                     if (error) {
                       log::error("recovery_failed", "note={}",
                                  log::quote("storage could not be read; stopping"));
                       exit_code_ = 1;
                       io_.stop();
                       return;
                     }
                     log::notice("recovered", "pending={}", pending.size());
                     dispatcher_.add(std::move(pending));
                     listener_.start();
                     notify::ready();
                     log::notice("ready", "version={} accounts={} zones={} dry_run={}",
                                 PURGEQ_VERSION, config_->accounts.size(), config_->zones.size(),
                                 config_->dry_run);
                     status_tick();
                     watchdog_tick();
                     prune_tick();
                   }));
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_signal();
      } else {
        stop(signal);
      }
    });
  }

  void reload() {
    notify::reloading();
    log::notice("reloading", "config={}", log::quote(config_path_));
    try {
      auto fresh = std::make_shared<const Config>(load_config_file(config_path_));
      for (const auto& key : restart_only_changes(*config_, *fresh)) {
        log::warning("reload_needs_restart", "key={} note={}", key,
                     log::quote("kept the running value; restart purgeqd to apply it"));
      }
      // Keep what cannot change at run time, take the rest.
      auto merged = std::make_shared<Config>(*fresh);
      merged->listen = config_->listen;
      merged->storage = config_->storage;
      config_ = merged;
      log::set_level(config_->log.level);
      dispatcher_.reconfigure(config_);
      api_.reconfigure(config_);
      log::notice("reloaded", "accounts={} zones={} dry_run={}", config_->accounts.size(),
                  config_->zones.size(), config_->dry_run);
    } catch (const ConfigError& e) {
      for (const auto& problem : e.problems()) {
        log::error("reload_failed", "problem={} note={}", log::quote(problem),
                   log::quote("kept the running config"));
      }
    } catch (const std::exception& e) {
      log::error("reload_failed", "problem={} note={}", log::quote(e.what()),
                 log::quote("kept the running config"));
    }
    notify::ready();
    notify::status(dispatcher_.status_line());
  }

  void stop(int signal) {
    notify::stopping();
    log::notice("stopping", "signal={} requests_in_flight={}", signal,
                dispatcher_.requests_in_flight());
    signals_.cancel();
    status_timer_.cancel();
    prune_timer_.cancel();
    listener_.stop();
    api_.stop_intake();
    dispatcher_.shutdown(kShutdownDeadline, [this] {
      watchdog_timer_.cancel();
      io_.stop();
    });
  }

  void status_tick() {
    notify::status(dispatcher_.status_line());
    status_timer_.expires_after(kStatusInterval);
    status_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) status_tick();
    });
  }

  // Pinged from the loop itself: if the loop is stuck, the pings stop and systemd restarts us.
  void watchdog_tick() {
    const auto interval = notify::watchdog_interval();
    if (!interval) return;
    notify::watchdog();
    watchdog_timer_.expires_after(*interval);
    watchdog_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) watchdog_tick();
    });
  }

  void prune_tick() {
    const auto before =
        wall_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(kRetention).count();
    store_.run([before](Store& store) { return store.prune(before); },
               std::function<void(std::exception_ptr, std::int64_t)>(
                   [](const std::exception_ptr& error, std::int64_t deleted) {
                     if (error) {
                       log::warning("prune_failed", "note={}", log::quote("will try again"));
                     } else if (deleted > 0) {
                       log::info("pruned", "intents={}", deleted);
                     }
                   }));
    prune_timer_.expires_after(kPruneInterval);
    prune_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) prune_tick();
    });
  }

 public:
  int exit_code_ = 0;

 private:
  std::string config_path_;
  asio::io_context io_{1};
  std::shared_ptr<const Config> config_;
  Metrics metrics_;
  StoreWorker store_;
  Dispatcher dispatcher_;
  Api api_;
  Listener listener_;
  asio::signal_set signals_;
  asio::steady_timer status_timer_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer prune_timer_;
};

}  // namespace

std::vector<std::string> restart_only_changes(const Config& before, const Config& after) {
  std::vector<std::string> keys;
  if (before.listen.socket != after.listen.socket) keys.emplace_back("listen.socket");
  if (before.listen.mode != after.listen.mode) keys.emplace_back("listen.mode");
  if (before.listen.group != after.listen.group) keys.emplace_back("listen.group");
  if (before.storage.path != after.storage.path) keys.emplace_back("storage.path");
  return keys;
}

int run_daemon(const std::string& config_path, Config config) {
  std::signal(SIGPIPE, SIG_IGN);
  log::set_level(config.log.level);
  try {
    auto shared = std::make_shared<const Config>(std::move(config));
    const auto activated = notify::activated_socket();
    // Signals are blocked by signal_set only once it exists; until then SIGTERM kills us, which
    // is fine: nothing is acknowledged before start-up completes.
    Daemon daemon(config_path, shared, activated);
    const int code = daemon.run();
    return daemon.exit_code_ != 0 ? daemon.exit_code_ : code;
  } catch (const std::exception& e) {
    log::error("startup_failed", "error={}", log::quote(e.what()));
    return 1;
  }
}

}  // namespace purgeq
