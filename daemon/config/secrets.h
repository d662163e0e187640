// API tokens: read from a file, an environment variable or a systemd credential, trimmed and
// checked, without the token ever appearing in a message.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace purgeq {

enum class TokenOrigin { file, env, credential };

struct TokenLookup {
  std::string token;    // empty when it could not be had
  std::string problem;  // why not; never contains the token
  // Set when the secret's home exists only where the daemon runs: an environment variable that is
  // not set here, or systemd credentials outside systemd. Says where the token will come from.
  std::string runtime_only;
};

// `value` is the file's path, the variable's name or the credential's name. A variable taken
// by take_token_env() is read from what it kept.
TokenLookup resolve_token(TokenOrigin origin, const std::string& value);

struct Config;

// For every token_env of the config's accounts and API clients: keeps the value for later
// resolve_token() calls (a reload), wipes it from the environment block that /proc/PID/environ
// shows (unsetenv alone leaves it there), and unsets the variable. purgeqd calls it once at
// start, while it has one thread (setenv and unsetenv are not safe beside other threads' getenv).
void take_token_env(const Config& config);

// Reads at most `limit` bytes of a file into `out`; the problem is strerror's text or the limit.
std::optional<std::string> read_small_file(const std::string& path, std::string& out,
                                           std::size_t limit);

}  // namespace purgeq
