#include "config/secrets.h"

#include <fmt/format.h>
#include <string.h>  // explicit_bzero

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>

#include "config/config.h"
#include "config/strict_yaml.h"
#include "model/text.h"

namespace purgeq {
namespace {

void trim(std::string& text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto last = text.find_last_not_of(kSpace);
  if (last == std::string::npos) {
    text.clear();
    return;
  }
  text.erase(last + 1);
  text.erase(0, text.find_first_not_of(kSpace));
}

// A token goes into an HTTP header: anything but visible ASCII would corrupt the request.
bool is_token_text(std::string_view token) {
  return !token.empty() &&
         std::all_of(token.begin(), token.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
}

constexpr std::size_t kMaxTokenFile = std::size_t{64} * 1024;

// The token_env values take_token_env() removed from the environment, by variable name.
std::mutex kept_mutex;
std::map<std::string, std::string, std::less<>> kept_env;

std::optional<std::string> kept_env_token(const std::string& name) {
  const std::lock_guard lock(kept_mutex);
  const auto it = kept_env.find(name);
  if (it == kept_env.end()) return std::nullopt;
  return it->second;
}

void take_env(const std::string& token_source) {
  constexpr std::string_view kPrefix = "token_env ";
  if (token_source.rfind(kPrefix, 0) != 0) return;
  const std::string name = token_source.substr(kPrefix.size());
  char* text = std::getenv(name.c_str());
  if (text == nullptr) return;
  {
    const std::lock_guard lock(kept_mutex);
    kept_env[name] = text;
  }
  // `text` points into the block the kernel copied at exec (or into setenv's copy): wipe it in
  // place, or /proc/PID/environ still shows the token after unsetenv.
  ::explicit_bzero(text, std::strlen(text));
  ::unsetenv(name.c_str());
}

}  // namespace

void take_token_env(const Config& config) {
  for (const auto& account : config.accounts) take_env(account.token_source);
  for (const auto& client : config.api_clients) take_env(client.token_source);
  take_env(config.metrics.token_source);
}

std::optional<std::string> read_small_file(const std::string& path, std::string& out,
                                           std::size_t limit) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::strerror(errno);
  out.clear();
  char buffer[4096];
  std::optional<std::string> error;
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file);
    out.append(buffer, n);
    if (out.size() > limit) {
      error = fmt::format("larger than {} bytes", limit);
      break;
    }
    if (n < sizeof buffer) {
      if (std::ferror(file)) error = std::strerror(errno);
      break;
    }
  }
  std::fclose(file);
  return error;
}

TokenLookup resolve_token(TokenOrigin origin, const std::string& value) {
  TokenLookup result;
  const auto fail = [&](std::string problem) {
    result.problem = std::move(problem);
    return result;
  };
  std::string token;
  std::string where;  // how the token's origin is named in messages
  if (origin == TokenOrigin::env) {
    const char* text = std::getenv(value.c_str());
    if (text != nullptr) {
      token = text;
    } else if (auto kept = kept_env_token(value)) {
      token = std::move(*kept);
    } else {
      result.runtime_only = fmt::format("environment variable {} (not set here)", value);
      return fail(fmt::format("environment variable {} is not set", value));
    }
    trim(token);
    if (token.empty()) return fail(fmt::format("environment variable {} is empty", value));
    where = fmt::format("environment variable {}", value);
  } else {
    std::string path = value;
    if (origin == TokenOrigin::credential) {
      if (value.find('/') != std::string::npos || value == "." || value == "..") {
        return fail(fmt::format(
            "{} is a path; give the credential's name (LoadCredential=NAME:...)", quote(value)));
      }
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        result.runtime_only = fmt::format(
            "systemd credential {} (CREDENTIALS_DIRECTORY is not set here)", quote(value));
        return fail("CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)");
      }
      path = fmt::format("{}/{}", dir, value);
    }
    if (auto error = read_small_file(path, token, kMaxTokenFile)) {
      return fail(fmt::format("cannot read {}: {}", quote(path), *error));
    }
    trim(token);
    if (token.empty()) return fail(fmt::format("{} is empty", quote(path)));
    where = quote(path);
  }
  if (!is_token_text(token)) {
    const bool non_ascii = std::any_of(
        token.begin(), token.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; });
    return fail(fmt::format("{} does not hold one token (it has {})", where,
                            non_ascii ? "non-ASCII characters" : "spaces or control characters"));
  }
  result.token = std::move(token);
  return result;
}

}  // namespace purgeq
