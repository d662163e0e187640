// Logging: structured journald entries when stderr is connected to the journal, logfmt lines on
// stderr otherwise (a terminal, a test harness, a container's log collector).
#include "observe/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "observe/journal_fields.h"

namespace purgeq::log {
namespace {

std::atomic<LogLevel> g_level{LogLevel::info};

// syslog(3) priorities: debug 7, info 6, notice 5, warning 4, err 3.
int priority(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return 7;
    case LogLevel::info:
      return 6;
    case LogLevel::notice:
      return 5;
    case LogLevel::warning:
      return 4;
    case LogLevel::error:
      return 3;
  }
  return 6;
}

// systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected stderr to; the fd still
// being that stream (not redirected since) is how systemd.exec(5) says to detect the journal.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  const std::string_view text(env);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  const auto dev_text = text.substr(0, colon);
  const auto ino_text = text.substr(colon + 1);
  if (std::from_chars(dev_text.data(), dev_text.data() + dev_text.size(), dev).ec != std::errc{} ||
      std::from_chars(ino_text.data(), ino_text.data() + ino_text.size(), ino).ec != std::errc{}) {
    return false;
  }
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

// libsystemd drops entries silently when journald's socket is missing, so without it the events
// stay on stderr rather than vanish.
bool journal_enabled() {
  static const bool enabled =
      stderr_is_journal() && ::access("/run/systemd/journal/socket", W_OK) == 0;
  return enabled;
}

bool send_to_journal(int prio, std::string_view event, std::string_view fields) {
  const auto entries = journal_fields(prio, "purgeqd", event, fields);
  std::vector<iovec> iov;
  iov.reserve(entries.size());
  for (const auto& entry : entries) {
    // sd_journal_sendv only reads the buffers; the C API is not const-correct.
    iov.push_back({const_cast<char*>(entry.data()), entry.size()});  // NOLINT
  }
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

void write_line(int prio, std::string_view event, std::string_view fields) {
  std::string line = fmt::format("<{}>event={}", prio, event);
  if (!fields.empty()) {
    line += ' ';
    line += fields;
  }
  line += '\n';
  // One write() per line so concurrent writers (the store thread) never interleave mid-line.
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n <= 0) return;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void set_level(LogLevel level) {
  g_level.store(level);
}

bool enabled(LogLevel level) {
  return level >= g_level.load();
}

void write(LogLevel level, std::string_view event, std::string_view fields) {
  const int prio = priority(level);
  // A journal that refuses the entry (full, restarting) must not swallow it: stderr still reaches
  // the journal's stream, only without the fields.
  if (journal_enabled() && send_to_journal(prio, event, fields)) return;
  write_line(prio, event, fields);
}

std::string quote(std::string_view value) {
  bool plain = !value.empty();
  for (const char c : value) {
    if (c == ' ' || c == '"' || c == '\\' || c == '=' || static_cast<unsigned char>(c) < 0x20 ||
        c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace purgeq::log
