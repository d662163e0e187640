// purgeq_loadgen: a load client for purgeqd's socket API that is never the bottleneck.
//
// Each client thread holds ONE keep-alive connection to the Unix socket, writes raw HTTP/1.1
// requests and parses the answers minimally (status line, Content-Length or chunked, body).
// Every mode prints one JSON line on stdout; diagnostics go to stderr.
//
//   purgeq_loadgen single --socket P --clients N --seconds S [--zone Z] [--host H]
//   purgeq_loadgen bulk   --socket P --clients N --requests R --items K [--zone Z] [--host H]
//   purgeq_loadgen fill   --socket P --items N --batch K --clients C [--hosts H1,H2,..]
//   purgeq_loadgen get    --socket P --path /v1/status --count N
//
// Exit status: 0 no errors, 1 some errors (the JSON line is still printed), 2 usage.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string mode;
  std::string socket;
  int clients = 1;
  double seconds = 10;
  long long requests = 1;
  long long items = 1;
  long long batch = 1000;
  long long count = 100;
  std::string path = "/v1/status";
  std::string zone;
  std::string host = "www.example.com";
  std::vector<std::string> hosts;
  std::string run_id;
  double timeout = 60;      // per-request socket timeout, seconds
  int max_retries = 600;    // fill: 503 answers tolerated per batch before giving up
  double retry_wait = 0.2;  // fill: seconds between retries of a refused batch
  bool progress = false;    // fill: progress lines on stderr
};

[[noreturn]] void usage(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "purgeq_loadgen: %s\n", problem.c_str());
  std::fprintf(
      stderr,
      "usage:\n"
      "  purgeq_loadgen single --socket P --clients N --seconds S [--zone Z] [--host H]\n"
      "  purgeq_loadgen bulk   --socket P --clients N --requests R --items K [--zone Z] [--host "
      "H]\n"
      "  purgeq_loadgen fill   --socket P --items N --batch K --clients C [--hosts H1,H2,...]\n"
      "                        [--max-retries N] [--retry-wait S] [--progress]\n"
      "  purgeq_loadgen get    --socket P --path /v1/status --count N\n"
      "common: [--run-id ID] (default: unique per run) [--timeout S] (per request, default 60)\n");
  std::exit(2);
}

long long parse_int(const std::string& flag, const std::string& text, long long min) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || *end != '\0') usage(flag + ": not an integer: " + text);
  if (value < min) usage(flag + ": must be at least " + std::to_string(min));
  return value;
}

double parse_double(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || *end != '\0' || !(value > 0)) {
    usage(flag + ": not a positive number: " + text);
  }
  return value;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto pos = text.find(sep, start);
    const auto part =
        text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (!part.empty()) parts.push_back(part);
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("");
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help") usage("");
  if (o.mode != "single" && o.mode != "bulk" && o.mode != "fill" && o.mode != "get") {
    usage("unknown mode: " + o.mode);
  }
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") usage("");
    if (flag == "--progress") {
      o.progress = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--socket") {
      o.socket = value;
    } else if (flag == "--clients") {
      o.clients = static_cast<int>(parse_int(flag, value, 1));
    } else if (flag == "--seconds") {
      o.seconds = parse_double(flag, value);
    } else if (flag == "--requests") {
      o.requests = parse_int(flag, value, 1);
    } else if (flag == "--items") {
      o.items = parse_int(flag, value, 1);
    } else if (flag == "--batch") {
      o.batch = parse_int(flag, value, 1);
    } else if (flag == "--count") {
      o.count = parse_int(flag, value, 1);
    } else if (flag == "--path") {
      o.path = value;
    } else if (flag == "--zone") {
      o.zone = value;
    } else if (flag == "--host") {
      o.host = value;
    } else if (flag == "--hosts") {
      o.hosts = split(value, ',');
    } else if (flag == "--run-id") {
      o.run_id = value;
    } else if (flag == "--timeout") {
      o.timeout = parse_double(flag, value);
    } else if (flag == "--max-retries") {
      o.max_retries = static_cast<int>(parse_int(flag, value, 0));
    } else if (flag == "--retry-wait") {
      o.retry_wait = parse_double(flag, value);
    } else {
      usage("unknown option: " + flag);
    }
  }
  if (o.socket.empty()) usage("--socket is required");
  if (o.socket.size() >= sizeof(sockaddr_un{}.sun_path)) usage("--socket: path too long");
  if (o.hosts.empty()) o.hosts.push_back(o.host);
  if (o.run_id.empty()) {
    // Unique per run, so URLs never merge into pending twins from an earlier run.
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ns));
    o.run_id = buf;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// One keep-alive HTTP/1.1 connection over a Unix stream socket

struct Response {
  int status = 0;
  std::string body;
  std::optional<double> retry_after;
};

class Connection {
 public:
  Connection(std::string path, double timeout) : path_(std::move(path)), timeout_(timeout) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
    pos_ = 0;
  }

  // Sends one request and reads its answer; throws std::runtime_error on any transport problem
  // (the connection is then closed and the next call reconnects).
  Response request(std::string_view method, std::string_view target, std::string_view body) {
    try {
      if (fd_ < 0) connect();
      std::string head;
      head.reserve(160);
      head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: localhost\r\n");
      if (method == "POST") {
        head.append("Content-Type: application/json\r\nContent-Length: ")
            .append(std::to_string(body.size()))
            .append("\r\n");
      }
      head.append("\r\n");
      send_all(head, body);
      return read_response();
    } catch (...) {
      close();
      throw;
    }
  }

 private:
  void connect() {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_);
    tv.tv_usec = static_cast<suseconds_t>((timeout_ - std::floor(timeout_)) * 1e6);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      close();
      throw std::runtime_error("connect " + path_ + ": " + std::strerror(err));
    }
  }

  void send_all(std::string_view head, std::string_view body) {
    iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(body.data()), body.size()}};
    int first = 0;
    const int count = body.empty() ? 1 : 2;
    while (first < count) {
      msghdr msg{};
      msg.msg_iov = iov + first;
      msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(count - first);
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      }
      auto left = static_cast<std::size_t>(n);
      while (first < count && left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      }
      if (first < count) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
  }

  // Appends what the socket has to the buffer; false on EOF.
  bool fill() {
    if (pos_ > 0 && pos_ == buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
    }
    char chunk[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("recv: timed out");
      throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
    }
  }

  std::string read_line() {
    for (;;) {
      const auto eol = buffer_.find("\r\n", pos_);
      if (eol != std::string::npos) {
        std::string line = buffer_.substr(pos_, eol - pos_);
        pos_ = eol + 2;
        return line;
      }
      if (buffer_.size() - pos_ > 64 * 1024) throw std::runtime_error("header line too long");
      if (!fill()) throw std::runtime_error("connection closed by purgeqd");
    }
  }

  std::string read_exact(std::size_t n) {
    while (buffer_.size() - pos_ < n) {
      if (!fill()) throw std::runtime_error("connection closed inside a body");
    }
    std::string out = buffer_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  }

  Response read_response() {
    Response r;
    const std::string status_line = read_line();
    // "HTTP/1.1 202 Accepted"
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) {
      throw std::runtime_error("bad status line: " + status_line.substr(0, 80));
    }
    r.status = std::atoi(status_line.c_str() + status_line.find(' ') + 1);
    std::optional<std::size_t> length;
    bool chunked = false;
    bool close_after = false;
    for (;;) {
      const std::string line = read_line();
      if (line.empty()) break;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string name = lower(line.substr(0, colon));
      const std::string value = trim(line.substr(colon + 1));
      if (name == "content-length") {
        length = static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10));
      } else if (name == "transfer-encoding") {
        chunked = lower(value).find("chunked") != std::string::npos;
      } else if (name == "connection") {
        close_after = lower(value).find("close") != std::string::npos;
      } else if (name == "retry-after") {
        r.retry_after = std::strtod(value.c_str(), nullptr);
      }
    }
    if (chunked) {
      for (;;) {
        const auto size = std::strtoull(read_line().c_str(), nullptr, 16);
        if (size == 0) {
          while (!read_line().empty()) {
          }
          break;
        }
        r.body += read_exact(size);
        read_line();
      }
    } else if (length) {
      r.body = read_exact(*length);
    } else {
      while (fill()) {
      }
      r.body = buffer_.substr(pos_);
      close_after = true;
    }
    if (close_after) close();
    return r;
  }

  std::string path_;
  double timeout_;
  int fd_ = -1;
  std::string buffer_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Results

std::atomic<bool> g_error_reported{false};

void report_error(const std::string& what) {
  if (!g_error_reported.exchange(true)) {
    std::fprintf(stderr, "purgeq_loadgen: first error: %s\n", what.c_str());
  }
}

struct Tally {
  std::vector<double> latencies_ms;  // one per completed request (any status)
  long long ok = 0;
  long long errors = 0;
  long long items = 0;    // items acknowledged (bulk, fill)
  long long retries = 0;  // fill: batches refused with 503 and sent again
};

Tally merge(std::vector<Tally>& tallies) {
  Tally all;
  for (auto& t : tallies) {
    all.latencies_ms.insert(all.latencies_ms.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    all.ok += t.ok;
    all.errors += t.errors;
    all.items += t.items;
    all.retries += t.retries;
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  return all;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string fmt_num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Latency members shared by every mode.
std::string latency_json(const Tally& t) {
  double mean = 0;
  for (const double v : t.latencies_ms) mean += v;
  if (!t.latencies_ms.empty()) mean /= static_cast<double>(t.latencies_ms.size());
  return "\"p50_ms\":" + fmt_num(percentile(t.latencies_ms, 0.50), 3) +
         ",\"p90_ms\":" + fmt_num(percentile(t.latencies_ms, 0.90), 3) +
         ",\"p99_ms\":" + fmt_num(percentile(t.latencies_ms, 0.99), 3) +
         ",\"max_ms\":" + fmt_num(t.latencies_ms.empty() ? 0 : t.latencies_ms.back(), 3) +
         ",\"mean_ms\":" + fmt_num(mean, 3);
}

// Runs `body(index, tally)` on `n` threads that start together; returns the wall time from the
// common start to the last thread's end.
template <typename Fn>
double run_threads(int n, std::vector<Tally>& tallies, Fn body) {
  tallies.assign(static_cast<std::size_t>(n), Tally{});
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(i, tallies[static_cast<std::size_t>(i)]);
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  return seconds_since(start);
}

// Sends one request on `conn`, timing it; counts 2xx as ok, anything else (or a transport error)
// as an error. Returns the response when one came.
std::optional<Response> timed_request(Connection& conn, Tally& tally, std::string_view method,
                                      std::string_view target, std::string_view body) {
  const auto start = Clock::now();
  try {
    Response r = conn.request(method, target, body);
    tally.latencies_ms.push_back(seconds_since(start) * 1000.0);
    if (r.status >= 200 && r.status < 300) {
      ++tally.ok;
    } else {
      ++tally.errors;
      report_error("HTTP " + std::to_string(r.status) + ": " + r.body);
    }
    return r;
  } catch (const std::exception& e) {
    ++tally.errors;
    report_error(e.what());
    // Do not spin when the daemon is gone: the next attempt reconnects after a short pause.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::nullopt;
  }
}

// {"files":["https://H/lg/RUN/C/S", ...],"zone":"Z"}
void append_url(std::string& out, const std::string& host, std::string_view kind,
                const std::string& run, long long a, long long b) {
  out += "\"https://";
  out += host;
  out += '/';
  out += kind;
  out += '/';
  out += run;
  out += '/';
  out += std::to_string(a);
  out += '/';
  out += std::to_string(b);
  out += '"';
}

std::string close_body(std::string body, const std::string& zone) {
  body += ']';
  if (!zone.empty()) body += ",\"zone\":" + json_string(zone);
  body += '}';
  return body;
}

// ---------------------------------------------------------------------------------------------
// Modes

int run_single(const Options& o) {
  std::vector<Tally> tallies;
  const auto duration = std::chrono::duration<double>(o.seconds);
  const double wall = run_threads(o.clients, tallies, [&](int client, Tally& tally) {
    Connection conn(o.socket, o.timeout);
    tally.latencies_ms.reserve(65536);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(duration);
    for (long long seq = 0; Clock::now() < deadline; ++seq) {
      std::string body = "{\"files\":[";
      append_url(body, o.host, "lg", o.run_id, client, seq);
      body = close_body(std::move(body), o.zone);
      timed_request(conn, tally, "POST", "/v1/purge", body);
    }
  });
  const Tally all = merge(tallies);
  std::printf(
      "{\"mode\":\"single\",\"clients\":%d,\"requests\":%lld,\"seconds\":%s,\"per_second\":%s,%s,"
      "\"errors\":%lld}\n",
      o.clients, all.ok, fmt_num(wall, 3).c_str(),
      fmt_num(static_cast<double>(all.ok) / wall, 1).c_str(), latency_json(all).c_str(),
      all.errors);
  return all.errors == 0 ? 0 : 1;
}

int run_bulk(const Options& o) {
  std::vector<Tally> tallies;
  const double wall = run_threads(o.clients, tallies, [&](int client, Tally& tally) {
    Connection conn(o.socket, o.timeout);
    for (long long r = 0; r < o.requests; ++r) {
      std::string body;
      body.reserve(static_cast<std::size_t>(o.items) * (o.host.size() + o.run_id.size() + 40));
      body = "{\"files\":[";
      for (long long k = 0; k < o.items; ++k) {
        if (k > 0) body += ',';
        append_url(body, o.host, "bulk", o.run_id, client, r * o.items + k);
      }
      body = close_body(std::move(body), o.zone);
      if (auto resp = timed_request(conn, tally, "POST", "/v1/purge", body);
          resp && resp->status / 100 == 2) {
        tally.items += o.items;
      }
    }
  });
  const Tally all = merge(tallies);
  std::printf(
      "{\"mode\":\"bulk\",\"clients\":%d,\"requests\":%lld,\"items_per_request\":%lld,"
      "\"items\":%lld,\"seconds\":%s,\"items_per_second\":%s,\"requests_per_second\":%s,%s,"
      "\"errors\":%lld}\n",
      o.clients, all.ok, o.items, all.items, fmt_num(wall, 3).c_str(),
      fmt_num(static_cast<double>(all.items) / wall, 1).c_str(),
      fmt_num(static_cast<double>(all.ok) / wall, 2).c_str(), latency_json(all).c_str(),
      all.errors);
  return all.errors == 0 ? 0 : 1;
}

int run_fill(const Options& o) {
  const long long batches = (o.items + o.batch - 1) / o.batch;
  std::atomic<long long> next{0};
  std::atomic<long long> stored{0};
  std::atomic<bool> failed{false};
  std::atomic<bool> done{false};
  const auto start = Clock::now();
  std::thread progress;
  if (o.progress) {
    progress = std::thread([&] {
      auto last = Clock::now();
      while (!done.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (Clock::now() - last >= std::chrono::seconds(10)) {
          last = Clock::now();
          const double t = seconds_since(start);
          std::fprintf(stderr, "fill: %lld/%lld items in %.0f s (%.0f items/s)\n", stored.load(),
                       o.items, t, static_cast<double>(stored.load()) / t);
        }
      }
    });
  }
  std::vector<Tally> tallies;
  const double wall = run_threads(o.clients, tallies, [&](int, Tally& tally) {
    Connection conn(o.socket, o.timeout);
    std::string body;
    for (;;) {
      if (failed.load()) return;
      const long long b = next.fetch_add(1);
      if (b >= batches) return;
      const long long first = b * o.batch;
      const long long last = std::min(o.items, first + o.batch);
      body.clear();
      body += "{\"files\":[";
      for (long long i = first; i < last; ++i) {
        if (i > first) body += ',';
        // Spread over the hosts (zones) one URL at a time: every batch spans all of them.
        append_url(body, o.hosts[static_cast<std::size_t>(i) % o.hosts.size()], "fill", o.run_id,
                   i / 1000, i);
      }
      body += "]}";
      for (int attempt = 0;; ++attempt) {
        const auto t0 = Clock::now();
        std::optional<Response> resp;
        std::string transport_error;
        try {
          resp = conn.request("POST", "/v1/purge", body);
        } catch (const std::exception& e) {
          transport_error = e.what();
        }
        if (resp) tally.latencies_ms.push_back(seconds_since(t0) * 1000.0);
        if (resp && resp->status / 100 == 2) {
          ++tally.ok;
          tally.items += last - first;
          stored += last - first;
          break;
        }
        const bool retryable = !resp || resp->status == 503;
        if (!retryable || attempt >= o.max_retries) {
          ++tally.errors;
          report_error(resp ? "HTTP " + std::to_string(resp->status) + ": " + resp->body
                            : transport_error);
          failed = true;
          return;
        }
        ++tally.retries;
        if (attempt == 0) {
          std::fprintf(stderr, "fill: batch refused (%s), retrying\n",
                       resp ? ("HTTP " + std::to_string(resp->status) + ": " + resp->body).c_str()
                            : transport_error.c_str());
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(o.retry_wait));
      }
    }
  });
  done = true;
  if (progress.joinable()) progress.join();
  const Tally all = merge(tallies);
  std::printf(
      "{\"mode\":\"fill\",\"items\":%lld,\"stored\":%lld,\"batch\":%lld,\"clients\":%d,"
      "\"requests\":%lld,\"retries\":%lld,\"seconds\":%s,\"items_per_second\":%s,%s,"
      "\"errors\":%lld}\n",
      o.items, all.items, o.batch, o.clients, all.ok, all.retries, fmt_num(wall, 3).c_str(),
      fmt_num(static_cast<double>(all.items) / wall, 1).c_str(), latency_json(all).c_str(),
      all.errors);
  return all.errors == 0 && all.items == o.items ? 0 : 1;
}

int run_get(const Options& o) {
  std::vector<Tally> tallies;
  std::size_t body_bytes = 0;
  const double wall = run_threads(1, tallies, [&](int, Tally& tally) {
    Connection conn(o.socket, o.timeout);
    tally.latencies_ms.reserve(static_cast<std::size_t>(o.count));
    for (long long i = 0; i < o.count; ++i) {
      if (auto resp = timed_request(conn, tally, "GET", o.path, {})) body_bytes = resp->body.size();
    }
  });
  const Tally all = merge(tallies);
  std::printf(
      "{\"mode\":\"get\",\"path\":%s,\"requests\":%lld,\"seconds\":%s,\"per_second\":%s,"
      "\"body_bytes\":%zu,%s,\"errors\":%lld}\n",
      json_string(o.path).c_str(), all.ok, fmt_num(wall, 3).c_str(),
      fmt_num(static_cast<double>(all.ok) / wall, 1).c_str(), body_bytes, latency_json(all).c_str(),
      all.errors);
  return all.errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Options o = parse_options(argc, argv);
  int rc = 2;
  if (o.mode == "single") rc = run_single(o);
  if (o.mode == "bulk") rc = run_bulk(o);
  if (o.mode == "fill") rc = run_fill(o);
  if (o.mode == "get") rc = run_get(o);
  std::fflush(stdout);
  return rc;
}
