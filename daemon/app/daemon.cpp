// Wiring of storage, dispatcher, API and listener on one io_context, plus signals and timers.
#include "app/daemon.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <memory>

#include "api/api.h"
#include "app/store_setup.h"
#include "dispatch/dispatcher.h"
#include "hooks/hook_runner.h"
#include "http/port_listener.h"
#include "http/tcp_listener.h"
#include "http/unix_listener.h"
#include "io/asio_scheduler.h"
#include "io/http_client.h"
#include "model/wall_clock.h"
#include "observe/log.h"
#include "observe/notify.h"
#include "resolve/zone_resolver.h"
#include "store/open_store.h"
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
// Rows per step of the start-up recovery and of pruning: each step is its own commit.
constexpr std::int64_t kStepRows = 5000;

class Daemon {
 public:
  Daemon(std::string config_path, std::shared_ptr<const Config> config, std::optional<int> fd,
         const DaemonOptions& command_line)
      : config_path_(std::move(config_path)),
        base_(config),
        config_(std::move(config)),
        store_location_(store_location(config_->storage)),
        store_(open_store(store_location_), io_.get_executor()),
        // Opened after the writer, which creates and migrates the schema.
        reader_(open_store(store_location_, true), io_.get_executor(), false),
        dispatcher_(DeliveryEnv{clocks_, scheduler_, store_, http_}, metrics_, config_),
        hooks_(io_, store_, reader_, metrics_, config_, command_line.hookd_socket),
        api_(store_, reader_, dispatcher_, metrics_, config_),
        listener_(
            io_,
            [this](const HttpRequestMessage& request, const Peer& peer) {
              return api_.handle(request, peer);
            },
            config_->listen, fd, listener_limits(config_->intake)),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        status_timer_(io_),
        watchdog_timer_(io_),
        prune_timer_(io_) {
    // Another daemon's submissions wake this one's senders, and its settles this one's intent
    // waiters and hooks (a shared store only).
    queue_watch_ = watch_queue(store_location_, store_.host_id(), [this](QueueNews news) {
      asio::post(io_, [this, news] {
        if (news.queued) dispatcher_.queued_elsewhere();
        if (news.progressed && dispatcher_.on_progress) dispatcher_.on_progress();
      });
    });
    // Refusals the listeners answer themselves count with the submissions' refusals.
    listener_.on_refusal([this](ErrorCode code) { api_.count_refusal(code); });
    resolver_hooks();
    dispatcher_.on_progress = [this] {
      api_.progress();
      hooks_.poke();  // an intent may have become terminal
    };
    if (config_->tcp.enabled) {
      TcpListenerOptions options;
      options.address = config_->tcp.address;
      options.port = config_->tcp.port;
      options.max_connections = static_cast<std::size_t>(config_->tcp.max_connections);
      options.body_limit = listener_limits(config_->intake).body_limit;
      tcp_.emplace(
          io_,
          [this](const HttpRequestMessage& header, const std::string& remote) {
            return api_.screen_client(header, remote);
          },
          [this](const HttpRequestMessage& request, const std::string& remote) {
            return api_.handle_client(request, remote);
          },
          options);
      tcp_->on_refusal([this](ErrorCode code) { api_.count_refusal(code); });
      // TCP connections need descriptors beside the socket's.
      ensure_descriptor_limit(
          static_cast<std::size_t>(config_->intake.max_connections + config_->tcp.max_connections));
    }
    if (config_->metrics.enabled) {
      PortListenerOptions options;
      options.address = config_->metrics.address;
      options.port = config_->metrics.port;
      metrics_port_.emplace(
          io_,
          [this](const HttpRequestMessage& header, const std::string& remote) {
            return api_.screen_metrics(header, remote);
          },
          [this](const HttpRequestMessage& request, const std::string& remote) {
            return api_.handle_metrics(request, remote);
          },
          options);
    }
  }

  int run() {
    start();
    io_.run();
    reader_.stop();
    store_.stop();
    log::notice("stopped", "pending={}", store_.snapshot()->counts.total(TargetState::pending));
    return 0;
  }

 private:
  void start() {
    wait_signal();
    index_for_escalation();
    recover_step(0);
  }

  // Escalation's index of finished URLs costs every taken row; only a share asks for it. Queued
  // on the store thread ahead of any take the new config could lead to.
  void index_for_escalation() {
    const bool wanted =
        std::any_of(config_->zones.begin(), config_->zones.end(),
                    [](const Zone& z) { return z.escalate.enabled() && z.escalate.min_share > 0; });
    store_.run(
        [wanted](Store& store) {
          store.index_known_urls(wanted);
          return wanted;
        },
        std::function<void(std::exception_ptr, bool)>([](const std::exception_ptr& error, bool) {
          if (!error) return;
          log::error("storage_error", "op=index_known_urls error={}",
                     log::quote(log::describe(error)));
        }));
  }

  // Recovery runs on the store thread in steps: whatever was in flight is pending again. Then the
  // requests sent shortly before the stop tell the limiters where to start.
  void recover_step(std::int64_t so_far) {
    store_.run(
        [](Store& store) { return store.recover_step(kStepRows); },
        std::function<void(std::exception_ptr, std::int64_t)>([this, so_far](
                                                                  const std::exception_ptr& error,
                                                                  std::int64_t moved) {
          if (error) return recovery_failed(error, so_far);
          if (moved >= kStepRows) return recover_step(so_far + moved);
          const auto since =
              wall_ms() -
              std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::hours(1)).count();
          store_.run([since](Store& store) { return store.recent_sends(since); },
                     std::function<void(std::exception_ptr, std::vector<SendRecord>)>(
                         [this, so_far, moved](const std::exception_ptr& e,
                                               std::vector<SendRecord> sends) {
                           if (e) return recovery_failed(e, so_far + moved);
                           ready(so_far + moved, sends);
                         }));
        }));
  }

  void recovery_failed(const std::exception_ptr& error, std::int64_t so_far) {
    const std::string reason = log::describe(error);
    const bool disk_full = failed_with<StorageFullError>(error);
    if (disk_full && !stopping_) {
      // A full disk must not keep the daemon down: it serves status and intent queries (intake
      // answers disk_full) and finishes recovery once space returns. Delivery waits for it,
      // since rows still in flight from the last run must be pending again first.
      log::warning("recovery_deferred", "requeued_so_far={} error={} retry_in_s={}", so_far,
                   log::quote(reason), 1);
      if (!serving_) serve();
      recovery_timer_.expires_after(std::chrono::seconds(1));
      recovery_timer_.async_wait([this, so_far](boost::system::error_code ec) {
        if (!ec) recover_step(so_far);
      });
      return;
    }
    log::error("recovery_failed", "error={} note={}", log::quote(reason),
               log::quote("storage could not be read; stopping"));
    exit_code_ = 1;
    io_.stop();
  }

  void ready(std::int64_t requeued, const std::vector<SendRecord>& sends) {
    const auto snapshot = store_.snapshot();
    log::notice("recovered", "pending={} requeued_in_flight={}",
                snapshot->counts.total(TargetState::pending), requeued);
    // What earlier runs learnt of the zones, and the queues older builds keyed by zone id.
    std::vector<std::pair<std::string, std::string>> pinned;  // (id, name) from the config
    for (const auto& zone : base_->zones) {
      if (zone.source == ZoneSource::config) pinned.emplace_back(zone.id, zone.name);
    }
    store_.run(
        [pinned](Store& store) {
          auto records = store.zone_records();
          auto adopt = pinned;
          for (const auto& record : records) adopt.emplace_back(record.id, record.name);
          for (const auto& [id, name] : adopt) {
            while (store.adopt_zone_step(id, name, kStepRows) >= kStepRows) {
            }
          }
          return records;
        },
        std::function<void(std::exception_ptr, std::vector<ZoneRecord>)>(
            [this, sends](const std::exception_ptr& error, std::vector<ZoneRecord> records) {
              if (error) return recovery_failed(error, 0);
              zones_loaded(records, sends);
            }));
  }

  void zones_loaded(const std::vector<ZoneRecord>& records, const std::vector<SendRecord>& sends) {
    for (const auto& record : records) known_[record.name] = KnownZone{record, ZoneSource::stored};
    dispatcher_.start(sends);
    hooks_.start();
    apply_known();
    // At first start, a zone Cloudflare has not answered for yet may be one it never will (a
    // wrong name or token): one round of lookups says so before anything is accepted for it.
    // Unreachable is no reason not to start: intents are accepted and held.
    waiting_first_round_ = std::any_of(config_->zones.begin(), config_->zones.end(),
                                       [](const Zone& zone) { return !zone.resolved(); }) &&
                           !config_->dry_run;
    resolver_.reconfigure(config_, true);
    if (!waiting_first_round_ && !serving_) serve();
  }

  // The first round of lookups ended: a zone Cloudflare refused with nothing stored for it ends
  // the start (exit 2), as a config problem would.
  void first_round_done() {
    if (!waiting_first_round_ || stopping_) return;
    waiting_first_round_ = false;
    std::vector<std::string> problems;
    for (const auto& zone : config_->zones) {
      if (zone.resolved()) continue;
      const auto trouble = resolver_.status().zones.find(zone.name);
      if (trouble == resolver_.status().zones.end() || !trouble->second.refused) continue;
      const auto& account = config_->accounts.at(zone.account_index);
      problems.push_back(fmt::format(
          "zone {} (account {}, {}): {}; check the zone's name and that the account's token "
          "may read it (Zone:Read)",
          zone.name, account.name, account.token_source, trouble->second.error));
    }
    if (problems.empty()) {
      if (!serving_) serve();
      return;
    }
    for (const auto& problem : problems) {
      log::error("zone_unresolvable", "problem={} note={}", log::quote(problem),
                 log::quote("not starting: fix the config or the token"));
    }
    exit_code_ = 2;
    stopping_ = true;
    resolver_.stop();
    hooks_.stop();
    dispatcher_.shutdown(kShutdownDeadline, [this] { io_.stop(); });
  }

  void resolver_hooks() {
    ResolverHooks hooks;
    hooks.pace = [this](const std::string& account) {
      return dispatcher_.take_api_request(account);
    };
    hooks.resolved = [this](const ZoneRecord& record) { zone_resolved(record); };
    hooks.status_changed = [this](std::shared_ptr<const LookupStatus> status) {
      dispatcher_.set_lookups(std::move(status));
    };
    hooks.round_done = [this] { first_round_done(); };
    hooks.counted = [this](const std::string& outcome) { ++metrics_.zone_lookups[outcome]; };
    resolver_.set_hooks(std::move(hooks));
  }

  void zone_resolved(const ZoneRecord& record) {
    const auto before = known_.find(record.name);
    const bool news = before == known_.end() || before->second.record.id != record.id ||
                      before->second.record.plan != record.plan;
    known_[record.name] = KnownZone{record, ZoneSource::cloudflare};
    store_.run(
        [record](Store& store) {
          store.record_zone(record);
          return true;
        },
        std::function<void(std::exception_ptr, bool)>(
            [name = record.name](const std::exception_ptr& error, bool) {
              if (!error) return;
              // Still in effect; only a restart during an outage would miss it.
              log::warning("zone_record_failed", "zone={} error={}", log::quote(name),
                           log::quote(log::describe(error)));
            }));
    if (news) {
      log::notice("zone_resolved", "zone={} id={} plan={}", log::quote(record.name), record.id,
                  log::quote(record.plan));
    }
    apply_known();
  }

  // The config in effect: the file's, with what Cloudflare said of its zones.
  void apply_known() {
    auto fresh = std::make_shared<const Config>(with_known_zones(*base_, known_));
    for (const auto& account : fresh->accounts) {
      const auto old = std::find_if(config_->accounts.begin(), config_->accounts.end(),
                                    [&](const Account& a) { return a.name == account.name; });
      const bool changed = old == config_->accounts.end() || old->plan != account.plan ||
                           old->plan_source != account.plan_source ||
                           old->plan_note != account.plan_note;
      if (changed && account.plan_source != PlanSource::unresolved) {
        log::notice("account_plan", "account={} plan={} source={} note={}",
                    log::quote(account.name), to_string(account.plan),
                    to_string(account.plan_source), log::quote(account.plan_note));
      }
    }
    config_ = fresh;
    dispatcher_.reconfigure(config_);
    hooks_.reconfigure(config_);
    api_.reconfigure(config_);
  }

  void serve() {
    serving_ = true;
    listener_.start();
    if (tcp_) {
      tcp_->start();
      log::notice("tcp_listening", "address={} port={} clients={}", config_->tcp.address,
                  tcp_->port(), config_->api_clients.size());
      if (!asio::ip::make_address(config_->tcp.address).is_loopback()) {
        // Plain HTTP: client tokens cross the network in clear unless a TLS proxy is in front.
        log::warning("tcp_not_loopback", "address={} note={}", config_->tcp.address,
                     log::quote("the TCP listener speaks plain HTTP; put a TLS-terminating "
                                "proxy in front, on a private network"));
      }
    }
    if (metrics_port_) {
      metrics_port_->start();
      log::notice("metrics_listening", "address={} port={} token={}", config_->metrics.address,
                  metrics_port_->port(), config_->metrics.token.empty() ? "none" : "required");
      if (!asio::ip::make_address(config_->metrics.address).is_loopback() &&
          config_->metrics.token.empty()) {
        log::warning(
            "metrics_open", "address={} note={}", config_->metrics.address,
            log::quote("anyone who reaches this address can read the metrics (zone and "
                       "account names, queue depths); set a metrics token or firewall it"));
      }
    }
    notify::ready();
    log::notice("ready", "version={} accounts={} zones={} dry_run={}", PURGEQ_VERSION,
                config_->accounts.size(), config_->zones.size(), config_->dry_run);
    status_tick();
    watchdog_tick();
    prune_tick();
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
      auto fresh = std::make_shared<const Config>(load_config_for_start(config_path_));
      for (const auto& key : restart_only_changes(*config_, *fresh)) {
        log::warning("reload_needs_restart", "key={} note={}", key,
                     log::quote("kept the running value; restart purgeqd to apply it"));
      }
      // Keep what cannot change at run time, take the rest.
      auto merged = std::make_shared<Config>(*fresh);
      merged->listen = config_->listen;
      merged->storage = config_->storage;
      merged->tcp = config_->tcp;
      merged->metrics.enabled = config_->metrics.enabled;
      merged->metrics.address = config_->metrics.address;
      merged->metrics.port = config_->metrics.port;
      base_ = merged;
      log::set_level(base_->log.level);
      apply_known();
      index_for_escalation();
      // New zones are looked up, the others refreshed (a changed token, a plan upgraded).
      resolver_.reconfigure(config_, true);
      listener_.set_limits(listener_limits(config_->intake));
      if (tcp_) tcp_->set_body_limit(listener_limits(config_->intake).body_limit);
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
    stopping_ = true;
    notify::stopping();
    log::notice("stopping", "signal={} requests_in_flight={}", signal,
                dispatcher_.requests_in_flight());
    signals_.cancel();
    resolver_.stop();
    status_timer_.cancel();
    prune_timer_.cancel();
    recovery_timer_.cancel();
    // The loop stops only once the dispatcher and every connection are done: a session left
    // suspended when the loop stops would be destroyed with the io_context, after what it uses.
    listener_.stop();
    if (tcp_) tcp_->stop();
    if (metrics_port_) metrics_port_->stop();
    api_.stop_intake();  // long-polls answer now, submissions get 503
    hooks_.stop();       // running hooks are killed and run again at the next start
    stop_parts_left_ = 2 + (tcp_ ? 1 : 0) + (metrics_port_ ? 1 : 0);
    dispatcher_.shutdown(kShutdownDeadline, [this] { stop_part_done(); });
    listener_.drain(kShutdownDeadline, [this] { stop_part_done(); });
    if (tcp_) tcp_->drain(kShutdownDeadline, [this] { stop_part_done(); });
    if (metrics_port_) metrics_port_->drain(kShutdownDeadline, [this] { stop_part_done(); });
  }

  void stop_part_done() {
    if (--stop_parts_left_ > 0) return;
    watchdog_timer_.cancel();
    io_.stop();
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
    prune_step(
        wall_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(kRetention).count(), 0);
    prune_timer_.expires_after(kPruneInterval);
    prune_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) prune_tick();
    });
  }

  // In steps, each its own commit, so submissions are acknowledged between them.
  void prune_step(std::int64_t before, std::int64_t so_far) {
    store_.run([before](Store& store) { return store.prune_step(before, kStepRows); },
               std::function<void(std::exception_ptr, std::int64_t)>(
                   [this, before, so_far](const std::exception_ptr& error, std::int64_t deleted) {
                     if (error) {
                       log::warning("prune_failed", "note={}", log::quote("will try again"));
                     } else if (deleted >= kStepRows && !stopping_) {
                       prune_step(before, so_far + deleted);
                     } else if (so_far + deleted > 0) {
                       log::info("pruned", "intents={}", so_far + deleted);
                     }
                   }));
  }

 public:
  int exit_code_ = 0;

 private:
  std::string config_path_;
  asio::io_context io_{1};
  std::shared_ptr<const Config> base_;    // as the file says
  std::shared_ptr<const Config> config_;  // in effect: base_ with known_ applied
  KnownZones known_;                      // what Cloudflare said (this run or stored)
  Metrics metrics_;
  StoreLocation store_location_;  // read once: the password file is not read again
  StoreWorker store_;
  StoreWorker reader_;
  SystemClocks clocks_;
  AsioScheduler scheduler_{io_};
  HttpClient http_{io_};
  Dispatcher dispatcher_;
  HookRunner hooks_;
  Api api_;
  ZoneResolver resolver_{ResolverEnv{clocks_, scheduler_, http_}, {}};
  bool waiting_first_round_ = false;
  UnixListener listener_;
  std::optional<TcpListener> tcp_;               // only with tcp.listen
  std::optional<MetricsListener> metrics_port_;  // only with metrics.listen
  asio::signal_set signals_;
  asio::steady_timer status_timer_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer prune_timer_;
  asio::steady_timer recovery_timer_{io_};
  bool serving_ = false;
  bool stopping_ = false;
  int stop_parts_left_ = 0;
  // Last, so that it is stopped (its thread joined) before anything it posts to goes away.
  std::unique_ptr<QueueWatch> queue_watch_;
};

}  // namespace

std::vector<std::string> restart_only_changes(const Config& before, const Config& after) {
  std::vector<std::string> keys;
  if (before.listen.socket != after.listen.socket) keys.emplace_back("listen.socket");
  if (before.listen.mode != after.listen.mode) keys.emplace_back("listen.mode");
  if (before.listen.group != after.listen.group) keys.emplace_back("listen.group");
  if (before.storage.path != after.storage.path) keys.emplace_back("storage.path");
  if (before.storage.backend != after.storage.backend) keys.emplace_back("storage.backend");
  if (before.storage.dsn != after.storage.dsn) keys.emplace_back("storage.dsn");
  if (before.storage.password_file != after.storage.password_file) {
    keys.emplace_back("storage.password_file");
  }
  if (before.storage.password_credential != after.storage.password_credential) {
    keys.emplace_back("storage.password_credential");
  }
  if (before.tcp.enabled != after.tcp.enabled || before.tcp.address != after.tcp.address ||
      before.tcp.port != after.tcp.port) {
    keys.emplace_back("tcp.listen");
  }
  if (before.tcp.max_connections != after.tcp.max_connections) {
    keys.emplace_back("tcp.max_connections");
  }
  if (before.metrics.enabled != after.metrics.enabled ||
      before.metrics.address != after.metrics.address ||
      before.metrics.port != after.metrics.port) {
    keys.emplace_back("metrics.listen");
  }
  return keys;
}

int run_daemon(const std::string& config_path, Config config, const DaemonOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  log::set_level(config.log.level);
  try {
    auto shared = std::make_shared<const Config>(std::move(config));
    const auto activated = notify::activated_socket();
    // Signals are blocked by signal_set only once it exists; until then SIGTERM kills us, which
    // is fine: nothing is acknowledged before start-up completes.
    Daemon daemon(config_path, shared, activated, options);
    const int code = daemon.run();
    return daemon.exit_code_ != 0 ? daemon.exit_code_ : code;
  } catch (const std::exception& e) {
    log::error("startup_failed", "error={}", log::quote(e.what()));
    return 1;
  }
}

}  // namespace purgeq
