// A transport whose answers the test gives: every request is kept, in order, until the test
// answers it (answers arrive as scheduler tasks, never inside post()).
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "io/transport.h"
#include "world/manual_time.h"

namespace purgeq::sim {

class ScriptedTransport final : public Transport {
 public:
  struct Sent {
    HttpRequest request;
    Handler done;
    Clock::time_point at;
    bool answered = false;
    // The body's kind ("files", "tags", ...) and its items (a file object's url).
    [[nodiscard]] std::string kind() const;
    [[nodiscard]] std::vector<std::string> items() const;
  };

  ScriptedTransport(ManualScheduler& scheduler, ManualClocks& clocks)
      : scheduler_(scheduler), clocks_(clocks) {}

  void post(HttpRequest request, Handler done) override {
    sent_.push_back(Sent{std::move(request), std::move(done), clocks_.now()});
  }
  void cancel_all() override {
    for (std::size_t i = 0; i < sent_.size(); ++i) {
      if (!sent_[i].answered) answer(i, 0, "", "cancelled");
    }
  }

  // Answers request `index` (its handler runs as a scheduler task).
  void answer(std::size_t index, long status, std::string body, std::string transport_error = {}) {
    auto& sent = sent_.at(index);
    sent.answered = true;
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.transport_error = std::move(transport_error);
    scheduler_.post([done = sent.done, response] { done(response); });
  }
  void succeed(std::size_t index) {
    answer(index, 200, R"({"success":true,"errors":[],"messages":[],"result":{"id":"x"}})");
  }
  // Cloudflare's refusal of an item (HTTP 400, an error code of the 1xxx range).
  void refuse(std::size_t index, int code = 1100) {
    answer(index, 400,
           R"({"success":false,"errors":[{"code":)" + std::to_string(code) +
               R"(,"message":"refused"}],"messages":[],"result":null})");
  }
  // The requests not answered yet, by index.
  [[nodiscard]] std::vector<std::size_t> open() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < sent_.size(); ++i) {
      if (!sent_[i].answered) out.push_back(i);
    }
    return out;
  }
  [[nodiscard]] const std::vector<Sent>& sent() const { return sent_; }

 private:
  ManualScheduler& scheduler_;
  ManualClocks& clocks_;
  std::vector<Sent> sent_;
};

inline std::string ScriptedTransport::Sent::kind() const {
  const auto body = boost::json::parse(request.body).as_object();
  return body.empty() ? std::string() : std::string(body.begin()->key());
}

inline std::vector<std::string> ScriptedTransport::Sent::items() const {
  std::vector<std::string> out;
  const auto body = boost::json::parse(request.body).as_object();
  if (body.empty() || !body.begin()->value().is_array()) return out;
  for (const auto& item : body.begin()->value().as_array()) {
    if (item.is_string()) {
      out.emplace_back(item.as_string());
    } else if (item.is_object()) {
      out.emplace_back(item.at("url").as_string());
    }
  }
  return out;
}

}  // namespace purgeq::sim
