// Runs completion hooks (docs/delivery.md, "Completion hooks"): claims due runs from the store,
// runs each as a command (hook_process.h) or an HTTP POST, and records the outcome, retrying with
// exponential backoff up to the hook's attempts. The store holds every run, so a run survives a
// crash and runs at least once; this class holds only what is moving (at most max_concurrent per
// hook) and one timer for the next due retry. Nothing runs while nothing is due: it is woken by
// poke() (an intent may have become terminal) or by that timer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "config/config.h"
#include "io/http_client.h"
#include "hooks/hook_process.h"
#include "observe/metrics.h"
#include "store/store_worker.h"

namespace purgeq {

// Items per page read from the store for a hook's stdin or body.
inline constexpr std::int64_t kHookItemsPage = 1000;
// Items an HTTP hook's body carries at most; beyond, `items_truncated` is true.
inline constexpr std::int64_t kHookHttpMaxItems = 10'000;

class HookRunner {
 public:
  // `store` is the writer (claims and outcomes), `reader` reads the items. `hookd_socket`: run
  // command hooks through purgeq-hookd listening there (as the hooks' own user); empty: spawn
  // them in this process, as its user (development, tests).
  HookRunner(boost::asio::io_context& io, StoreWorker& store, StoreWorker& reader, Metrics& metrics,
             std::shared_ptr<const Config> config, std::string hookd_socket = {});
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  // After the store's recovery: runs left running by a crash are due again, then due runs start.
  void start();
  // Something may have become terminal, or capacity was freed: claim what is due.
  void poke();
  void reconfigure(std::shared_ptr<const Config> config);
  // Kills running commands and cancels requests without recording them: their runs stay
  // running in the store and are due again at the next start.
  void stop();
  [[nodiscard]] std::size_t running() const { return active_.size(); }

 private:
  struct Active;
  void recover_step();
  void check_programs() const;
  void claim();
  void arm_timer(std::optional<std::int64_t> next_due_ms);
  void launch(HookRun run, const Hook& hook);
  void run_command(std::uint64_t key, const Hook& hook);
  void run_http(std::uint64_t key, const Hook& hook);
  void collect_http_items(std::uint64_t key, const Hook& hook, std::shared_ptr<std::string> items,
                          std::int64_t after, std::int64_t count);
  void finished(std::uint64_t key, bool ok, const std::string& error);
  [[nodiscard]] std::string zone_names(const HookRun& run) const;
  [[nodiscard]] std::string item_line(const HookItem& item) const;

  boost::asio::io_context& io_;
  StoreWorker& store_;
  StoreWorker& reader_;
  Metrics& metrics_;
  std::shared_ptr<const Config> config_;
  std::string hookd_socket_;
  HttpClient http_;
  boost::asio::steady_timer timer_;
  std::map<std::uint64_t, std::unique_ptr<Active>> active_;
  std::map<std::string, int, std::less<>> running_by_hook_;
  std::uint64_t next_key_ = 1;
  bool started_ = false;
  bool stopping_ = false;
  bool claiming_ = false;
  bool again_ = false;  // poked while a claim was under way
  std::mt19937_64 rng_;
};

}  // namespace purgeq
