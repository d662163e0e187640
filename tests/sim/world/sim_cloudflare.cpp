#include "world/sim_cloudflare.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

namespace purgeq::sim {
namespace {

using std::chrono::milliseconds;

// Cloudflare documents no body limit; proxies commonly refuse over 1 MB (planner's BatchCaps).
constexpr std::size_t kBodyLimit = 1000 * 1000;
constexpr std::size_t kMaxOps = 100;
constexpr int kGlobalRequests = 1200;
constexpr auto kGlobalWindow = std::chrono::minutes(5);

std::string envelope_error(int code, const std::string& message) {
  return boost::json::serialize(boost::json::object{
      {"success", false},
      {"errors", boost::json::array{boost::json::object{{"code", code}, {"message", message}}}},
      {"messages", boost::json::array{}},
      {"result", nullptr}});
}

constexpr std::string_view kOk =
    R"({"success":true,"errors":[],"messages":[],"result":{"id":"sim"}})";

}  // namespace

void SimCloudflare::Bucket::refill(Clock::time_point now) {
  if (now > last) {
    tokens = std::min(capacity, tokens + std::chrono::duration<double>(now - last).count() * rate);
  }
  last = now;
}

SimCloudflare::SimCloudflare(ManualScheduler& scheduler, ManualClocks& clocks, std::uint64_t seed)
    : scheduler_(scheduler), clocks_(clocks), rng_(seed) {}

void SimCloudflare::set_account(const std::string& token, Plan plan) {
  const auto now = clocks_.now();
  const auto limits = limits_for_plan(plan);
  const auto inserted = accounts_.try_emplace(token);
  auto& account = inserted.first->second;
  const bool fresh = inserted.second;
  const auto set = [&](Bucket& bucket, double rate, double capacity) {
    bucket.refill(now);
    bucket.rate = rate;
    bucket.capacity = capacity;
    bucket.tokens = fresh ? capacity : std::min(bucket.tokens, capacity);
    bucket.last = now;
  };
  set(account.flex, limits.requests_per_second, limits.burst);
  set(account.urls, limits.urls_per_second,
      std::max(limits.urls_per_second, static_cast<double>(limits.max_urls_per_request)));
  account.plan = plan;
  account.limits = limits;
}

void SimCloudflare::set_zone(const std::string& zone_id, const std::string& token) {
  zones_[zone_id] = token;
}

std::optional<Clock::time_point> SimCloudflare::last_request(const std::string& token) const {
  for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
    if (it->token == token) return it->at;
  }
  return std::nullopt;
}

void SimCloudflare::violation(std::string what) {
  violations_.push_back(fmt::format("t+{}ms: {}",
                                    std::chrono::duration_cast<milliseconds>(
                                        clocks_.now() - clocks_.start())
                                        .count(),
                                    what));
}

void SimCloudflare::post(HttpRequest request, Handler done) {
  SimRequest record;
  record.at = clocks_.now();
  Clock::duration delay = milliseconds(30 + std::uniform_int_distribution<>(0, 270)(rng_));
  auto response = answer(request, delay, record);
  record.status = response.status;
  record.transport_error = response.transport_error;
  if (on_trace) {
    on_trace(fmt::format("request {}: zone ..{} {} {} items {}: {}{}", requests_.size(),
                         record.zone_id.substr(record.zone_id.size() - 4), record.token,
                         record.items, record.kind,
                         response.transport_error.empty() ? std::to_string(response.status)
                                                          : response.transport_error,
                         record.purged ? " (purged)" : ""));
  }
  requests_.push_back(std::move(record));
  deliver(delay, std::move(done), std::move(response));
}

void SimCloudflare::deliver(Clock::duration delay, Handler done, HttpResponse response) {
  const auto id = next_answer_++;
  handlers_.emplace(id, std::move(done));
  answers_[id] = scheduler_.at(clocks_.now() + delay, [this, id, response,
                                                        request = requests_.size() - 1] {
    answers_.erase(id);
    if (on_trace) on_trace(fmt::format("request {} answered", request));
    auto node = handlers_.extract(id);
    if (node) node.mapped()(response);
  });
}

void SimCloudflare::cancel_all() {
  for (const auto& [id, timer] : answers_) scheduler_.cancel(timer);
  answers_.clear();
  auto handlers = std::move(handlers_);
  handlers_.clear();
  for (auto& [id, done] : handlers) {
    HttpResponse cancelled;
    cancelled.transport_error = "cancelled";
    scheduler_.post([done = std::move(done), cancelled] { done(cancelled); });
  }
}

void SimCloudflare::crash() {
  for (const auto& [id, timer] : answers_) scheduler_.cancel(timer);
  answers_.clear();
  handlers_.clear();
}

HttpResponse SimCloudflare::answer(const HttpRequest& request, Clock::duration& delay,
                                   SimRequest& record) {
  const auto now = clocks_.now();
  HttpResponse response;
  const auto refuse = [&](long status, int code, const std::string& message) {
    response.status = status;
    response.body = envelope_error(code, message);
    return response;
  };
  // /zones/{id}/purge_cache
  const auto zones_at = request.url.find("/zones/");
  const auto purge_at = request.url.find("/purge_cache");
  if (zones_at == std::string::npos || purge_at == std::string::npos) {
    violation("request to " + request.url);
    return refuse(404, 7000, "No route for that URI");
  }
  record.zone_id = request.url.substr(zones_at + 7, purge_at - zones_at - 7);
  for (const auto& header : request.headers) {
    if (header.rfind("Authorization: Bearer ", 0) == 0) record.token = header.substr(22);
  }
  if (faults_.outage) {
    response.transport_error = "Couldn't connect to server";
    delay = milliseconds(1);
    return response;
  }
  if (chance(faults_.resets_before)) {
    response.transport_error = "Connection reset by peer (before the purge)";
    return response;
  }
  // The contract: one kind, within the caps and the body limit.
  Kind kind = Kind::file;
  std::vector<Item> items;
  try {
    const auto body = boost::json::parse(request.body).as_object();
    if (body.size() != 1) throw std::runtime_error("a body with " + std::to_string(body.size()) +
                                                   " members (one kind per request)");
    const auto& [key, value] = *body.begin();
    record.kind = std::string(key);
    const auto parsed = kind_from_string(key);
    if (!parsed) throw std::runtime_error("unknown member " + std::string(key));
    kind = *parsed;
    if (kind == Kind::everything) {
      if (!value.is_bool() || !value.as_bool()) throw std::runtime_error("purge_everything != true");
    } else {
      const auto& array = value.as_array();
      if (array.empty()) throw std::runtime_error("an empty " + std::string(key));
      for (const auto& entry : array) {
        if (kind == Kind::file && entry.is_object()) {
          Item item{Kind::file, std::string(entry.at("url").as_string()), {}};
          for (const auto& [name, header] : entry.at("headers").as_object()) {
            item.headers.emplace_back(std::string(name), std::string(header.as_string()));
          }
          items.push_back(std::move(item));
        } else {
          items.push_back(Item{kind, std::string(entry.as_string()), {}});
        }
      }
    }
  } catch (const std::exception& e) {
    violation(fmt::format("malformed request body ({}): {}", e.what(), request.body.substr(0, 200)));
    return refuse(400, 1012, "Request must contain one of purge_everything, files, tags, hosts "
                             "or prefixes");
  }
  record.items = items.size();
  record.named = items;
  if (request.body.size() > kBodyLimit) {
    violation(fmt::format("a {}-byte body", request.body.size()));
  }
  const auto zone = zones_.find(record.zone_id);
  if (zone == zones_.end()) return refuse(404, 7003, "Could not route to /zones/" + record.zone_id);
  const auto account_it = accounts_.find(zone->second);
  if (account_it == accounts_.end() || record.token != zone->second) {
    return refuse(403, 10000, "Authentication error");
  }
  auto& account = account_it->second;
  const std::size_t cap = kind == Kind::file
                              ? static_cast<std::size_t>(account.limits.max_urls_per_request)
                              : kMaxOps;
  if (items.size() > cap) {
    violation(fmt::format("{} {} in one request, over the cap of {}", items.size(), record.kind,
                          cap));
  }
  if (faults_.broken_tokens.contains(record.token)) {
    return refuse(401, 10000, "Authentication error");
  }
  if (chance(faults_.injected_429)) {
    refuse(429, 1134, "Unable to purge, rate limit reached (injected)");
    if (chance(0.5)) response.retry_after = std::chrono::seconds(1 + rng_() % 30);
    return response;
  }
  // The buckets: every limit must pass; only then is anything consumed.
  while (!account.window.empty() && now - account.window.front() >= kGlobalWindow) {
    account.window.pop_front();
  }
  auto& bucket = kind == Kind::file ? account.urls : account.flex;
  const double cost = kind == Kind::file ? static_cast<double>(items.size()) : 1.0;
  bucket.refill(now);
  const bool global_full = static_cast<int>(account.window.size()) >= kGlobalRequests;
  if (bucket.tokens + 1e-6 < cost || global_full) {
    violation(fmt::format("429 from the {} bucket ({:.2f} tokens for a cost of {}) on plan {}",
                          global_full ? "global" : (kind == Kind::file ? "URL" : "flex"),
                          bucket.tokens, cost, to_string(account.plan)));
    refuse(429, 1134, "Unable to purge, rate limit reached");
    response.retry_after = std::chrono::seconds(
        static_cast<long>(std::ceil((cost - bucket.tokens) / std::max(bucket.rate, 1e-9))) + 1);
    return response;
  }
  bucket.tokens -= cost;
  account.window.push_back(now);
  if (chance(faults_.server_errors)) {
    response.status = chance(0.5) ? 502 : 503;
    response.body = "<html>Bad gateway</html>";
    return response;
  }
  for (const auto& item : items) {
    if (faults_.poison.contains(std::string(to_string(kind)) + ":" + item.key())) {
      return refuse(400, 1015, fmt::format("Unable to purge {}", item.value));
    }
  }
  // It takes effect now.
  record.purged = true;
  purges_.push_back(SimPurge{now, requests_.size(), record.zone_id, kind, std::move(items)});
  if (chance(faults_.resets_after)) {
    response.transport_error = "Connection reset by peer (after the purge)";
    return response;
  }
  if (chance(faults_.lost_answers)) {
    response.transport_error =
        fmt::format("Operation timed out after {} milliseconds", request.timeout.count());
    delay = request.timeout;
    return response;
  }
  if (chance(faults_.slow_answers)) {
    delay = milliseconds(std::min<std::int64_t>(std::uniform_int_distribution<>(2000, 20000)(rng_),
                                                request.timeout.count()));
  }
  response.status = 200;
  response.body = std::string(kOk);
  return response;
}

}  // namespace purgeq::sim
