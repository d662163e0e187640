// Tests for purgeq's argument parsing, the POST body it builds and its exit-code table.
#include "cli/cli_args.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_commands.h"
#include "cli/cli_output.h"
#include "cli/item_stream.h"

namespace purgeq::cli {
namespace {

namespace json = boost::json;

// Parses `args` (without the program name) with an injected stdin and $PURGEQ_SOCKET.
ParseResult parse(std::initializer_list<std::string> args, const std::string& stdin_text = {},
                  std::optional<std::string> socket_env = std::nullopt) {
  std::vector<std::string> storage{"purgeq"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& arg : storage) argv.push_back(arg.c_str());
  // Stdin is read while executing, after parse_args: it must outlive the request.
  static std::deque<std::istringstream> stdins;
  auto& in = stdins.emplace_back(stdin_text);
  ParseContext context;
  context.stdin_stream = &in;
  context.socket_env = std::move(socket_env);
  return parse_args(static_cast<int>(argv.size()), argv.data(), context);
}

// Every item a request submits, stdin's lines included, as sent.
std::vector<std::string> items_of(const CliRequest& request) {
  ItemStream stream(request);
  std::vector<std::string> items;
  while (auto item = stream.next()) items.push_back(std::move(*item));
  EXPECT_EQ(stream.error(), "");
  return items;
}

// Parses and expects success.
CliRequest request_of(std::initializer_list<std::string> args, const std::string& stdin_text = {},
                      std::optional<std::string> socket_env = std::nullopt) {
  auto result = parse(args, stdin_text, std::move(socket_env));
  EXPECT_TRUE(result.request.has_value()) << result.err;
  return result.request.value_or(CliRequest{});
}

// Parses and expects a usage error whose message contains `needle`.
void expect_usage_error(std::initializer_list<std::string> args, std::string_view needle) {
  const auto result = parse(args);
  EXPECT_FALSE(result.request.has_value());
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_TRUE(result.err.starts_with("purgeq: ")) << result.err;
  EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
}

TEST(CliArgs, EveryCommandParses) {
  struct Case {
    std::initializer_list<std::string> args;
    Command command;
  };
  const Case cases[] = {
      {{"url", "https://a.example/x"}, Command::url},
      {{"tag", "t1"}, Command::tag},
      {{"host", "a.example"}, Command::host},
      {{"prefix", "a.example/blog/"}, Command::prefix},
      {{"--zone", "a.example", "everything"}, Command::everything},
      {{"status"}, Command::status},
      {{"show", "abc"}, Command::show},
      {{"wait", "abc"}, Command::wait},
      {{"failed"}, Command::failed},
      {{"retry-failed"}, Command::retry_failed},
  };
  for (const auto& c : cases) {
    const auto request = request_of(c.args);
    EXPECT_EQ(request.command, c.command) << to_string(c.command);
    EXPECT_EQ(to_string(request.command), to_string(c.command));
  }
  const auto show = request_of({"show", "01HV"});
  EXPECT_EQ(show.id, "01HV");
  EXPECT_FALSE(show.wait);
  const auto wait = request_of({"wait", "01HV"});
  EXPECT_EQ(wait.id, "01HV");
  EXPECT_TRUE(wait.wait);
  EXPECT_FALSE(wait.timeout.has_value());
  const auto tags = request_of({"tag", "a", "b", "c"});
  EXPECT_EQ(tags.items, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(request_of({"everything"}).items.empty());
}

TEST(CliArgs, GlobalOptionsBeforeOrAfterCommand) {
  for (const auto& request :
       {request_of({"--socket", "/s", "--zone", "z", "--json", "--wait", "url", "https://a/x"}),
        request_of({"url", "https://a/x", "--socket", "/s", "--zone", "z", "--json", "--wait"}),
        request_of({"--json", "url", "--zone", "z", "https://a/x", "--wait", "--socket", "/s"})}) {
    EXPECT_EQ(request.command, Command::url);
    EXPECT_EQ(request.items, std::vector<std::string>{"https://a/x"});
    EXPECT_EQ(request.socket, "/s");
    EXPECT_EQ(request.zone, "z");
    EXPECT_TRUE(request.json);
    EXPECT_TRUE(request.wait);
    EXPECT_FALSE(request.timeout.has_value());
  }
  const auto wait = request_of({"wait", "ID", "--timeout", "30", "--json"});
  EXPECT_TRUE(wait.json);
  EXPECT_EQ(wait.timeout, std::chrono::seconds(30));
  EXPECT_TRUE(request_of({"--json", "wait", "ID", "--timeout", "30"}).json);
}

TEST(CliArgs, UsageErrors) {
  expect_usage_error({}, "missing command");
  expect_usage_error({"bogus"}, "unknown command \"bogus\"");
  expect_usage_error({"status", "--bogus"}, "unexpected argument \"--bogus\"");
  expect_usage_error({"status", "extra"}, "unexpected argument \"extra\"");
  expect_usage_error({"url"}, "url: give at least one URL");
  expect_usage_error({"tag"}, "tag: give at least one TAG");
  expect_usage_error({"show"}, "show: give the intent's ID");
  expect_usage_error({"wait"}, "wait: give the intent's ID");
  expect_usage_error({"show", "a", "b"}, "unexpected argument \"b\"");
  // A zone given as an item: the fix is --zone, and the message says so.
  expect_usage_error({"everything", "example.com"},
                     "everything takes no items; to purge everything cached for zone "
                     "example.com, name it with --zone: purgeq --zone example.com everything");
  expect_usage_error({"everything", "--bogus"}, "unexpected argument \"--bogus\"");
  expect_usage_error({"--zone", "z", "status"}, "--zone applies to url");
  expect_usage_error({"--zone", "", "tag", "t"}, "--zone: empty zone");
  expect_usage_error({"--socket", "", "status"}, "--socket: empty path");
  expect_usage_error({"--zone", "a", "--zone", "b", "tag", "t"}, "--zone");
  expect_usage_error({"status", "--timeout", "5"}, "--timeout");
}

TEST(CliArgs, HelpAndVersionExitZero) {
  const auto help = parse({"--help"});
  EXPECT_FALSE(help.request.has_value());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("retry-failed"), std::string::npos);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
  const auto sub_help = parse({"url", "--help"});
  EXPECT_EQ(sub_help.exit_code, 0);
  EXPECT_NE(sub_help.out.find("URL"), std::string::npos);
  const auto version = parse({"--version"});
  EXPECT_FALSE(version.request.has_value());
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "purgeq " PURGEQ_VERSION "\n");
}

TEST(CliArgs, HeadersApplyToUrl) {
  const auto request = request_of({"url", "https://a/x", "-H", "CF-Device-Type: mobile",
                                   "https://a/y", "--header", "Accept-Language:  de  "});
  EXPECT_EQ(request.items, (std::vector<std::string>{"https://a/x", "https://a/y"}));
  EXPECT_EQ(request.headers,
            (std::vector<Header>{{"CF-Device-Type", "mobile"}, {"Accept-Language", "de"}}));
  // -H before the command works too, and never takes the next argument as a second value.
  const auto before = request_of({"-H", "Origin: https://b", "url", "https://a/x"});
  EXPECT_EQ(before.headers, (std::vector<Header>{{"Origin", "https://b"}}));
  EXPECT_EQ(before.items, std::vector<std::string>{"https://a/x"});
}

TEST(CliArgs, HeaderValidation) {
  struct Case {
    std::string text;
    bool valid;
  };
  const Case cases[] = {
      {"CF-Device-Type: mobile", true},
      {"X:y", true},
      {"Accept-Language: en-US,en;q=0.9", true},
      {"Origin: https://a.example:8443", true},  // only the first colon separates
      {"X-Tab:\tvalue", true},
      {"no colon", false},
      {": value", false},
      {"Bad Name: v", false},
      {"X(y): v", false},
      {"X-Empty:", false},
      {"X-Blank:   ", false},
      {"X-CRLF: a\r\nInjected: b", false},
  };
  for (const auto& c : cases) {
    std::string error;
    const auto header = parse_header(c.text, error);
    EXPECT_EQ(header.has_value(), c.valid) << c.text << ": " << error;
    if (!c.valid) {
      EXPECT_NE(error.find(c.text.substr(0, 3)), std::string::npos) << error;
    }
  }
  std::string error;
  EXPECT_EQ(parse_header("Origin: https://a.example:8443", error),
            (Header{"Origin", "https://a.example:8443"}));

  expect_usage_error({"url", "https://a/x", "-H", "nocolon"}, "expected 'Name: value'");
  expect_usage_error({"url", "https://a/x", "-H", "Bad Name: v"}, "not a valid HTTP header name");
  expect_usage_error({"url", "https://a/x", "-H", "X-A: 1", "-H", "x-a: 2"}, "given twice");
  expect_usage_error({"url", "https://a/x", "-H"}, "--header");
}

TEST(CliArgs, HeadersOnlyWithUrl) {
  expect_usage_error({"tag", "t", "-H", "X: y"}, "-H applies only to url");
  expect_usage_error({"-H", "X: y", "host", "a.example"}, "not to host");
  expect_usage_error({"-H", "X: y", "status"}, "-H applies only to url");
  expect_usage_error({"everything", "-H", "X: y"}, "-H applies only to url");
}

TEST(CliArgs, ItemsFromStdin) {
  const std::string piped =
      "https://a/1\r\n"
      "\n"
      "   \r\n"
      "  https://a/2  \n"
      "https://a/3\t\r\n"
      "https://a/4";  // no final newline
  const auto request = request_of({"url", "-"}, piped);
  EXPECT_TRUE(request.items.empty()) << "stdin is read while submitting, not while parsing";
  EXPECT_EQ(items_of(request),
            (std::vector<std::string>{"https://a/1", "https://a/2", "https://a/3", "https://a/4"}));

  // `-` stands where it is among explicit items.
  const auto mixed = request_of({"tag", "first", "-", "last"}, "t1\nt2\n");
  EXPECT_EQ(items_of(mixed), (std::vector<std::string>{"first", "t1", "t2", "last"}));
  EXPECT_EQ(items_of(request_of({"tag", "-", "last"}, "t1\n")),
            (std::vector<std::string>{"t1", "last"}));

  // Thousands of lines, as deploy scripts send them.
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "https://a/p/" + std::to_string(i) + "\n";
  const auto big = items_of(request_of({"url", "-"}, many));
  ASSERT_EQ(big.size(), 5000u);
  EXPECT_EQ(big.back(), "https://a/p/4999");

  // Blank stdin is found out while submitting (CliSocket.BlankStdinQueuesNothing).
  EXPECT_TRUE(items_of(request_of({"url", "-"}, "\n \r\n\n")).empty());
  EXPECT_NE(parse({"url", "-", "-"}, "x\n").err.find("given twice"), std::string::npos);

  // Without an injected stdin, `-` is refused rather than silently empty.
  std::vector<const char*> argv{"purgeq", "url", "-"};
  const auto no_stdin = parse_args(3, argv.data(), ParseContext{});
  EXPECT_EQ(no_stdin.exit_code, kExitUsage);
}

TEST(CliArgs, InternationalItemsAreSentEncoded) {
  // Browsers send these bytes, and Cloudflare's cache key holds them so.
  EXPECT_EQ(items_of(request_of({"url", "https://Bücher.example/Straße?q=ä"})),
            std::vector<std::string>{"https://xn--bcher-kva.example/Stra%C3%9Fe?q=%C3%A4"});
  EXPECT_EQ(items_of(request_of({"host", "bücher.example"})),
            std::vector<std::string>{"xn--bcher-kva.example"});
  EXPECT_EQ(items_of(request_of({"prefix", "bücher.example/über/"})),
            std::vector<std::string>{"xn--bcher-kva.example/%C3%BCber/"});
  // Tags are opaque: never rewritten.
  EXPECT_EQ(items_of(request_of({"tag", "größe"})), std::vector<std::string>{"größe"});
  // ASCII stays byte for byte, '%' and all.
  EXPECT_EQ(items_of(request_of({"url", "https://A.example/a%2fb?x=%E2"})),
            std::vector<std::string>{"https://A.example/a%2fb?x=%E2"});

  // A host IDNA cannot encode is refused here, naming the item and its stdin line.
  const auto bad =
      request_of({"url", "-"}, "https://a.example/\n\nhttps://a\xe2\x98\x83_\x01.example/\n");
  ItemStream stream(bad);
  EXPECT_EQ(stream.next(), "https://a.example/");
  EXPECT_EQ(stream.next(), std::nullopt);
  EXPECT_TRUE(stream.error().starts_with("stdin line 3: host ")) << stream.error();
  EXPECT_NE(stream.error().find("cannot be IDNA-encoded: "), std::string::npos) << stream.error();
}

TEST(CliArgs, WaitForms) {
  const auto unlimited = request_of({"--wait", "url", "https://a/x"});
  EXPECT_TRUE(unlimited.wait);
  EXPECT_FALSE(unlimited.timeout.has_value());

  const auto bounded = request_of({"--wait=30", "tag", "t"});
  EXPECT_TRUE(bounded.wait);
  EXPECT_EQ(bounded.timeout, std::chrono::seconds(30));
  EXPECT_EQ(request_of({"--wait=0", "tag", "t"}).timeout, std::chrono::seconds(0));
  EXPECT_EQ(request_of({"tag", "t", "--wait=5m"}).timeout, std::chrono::seconds(300));

  // A bare --wait never takes the next argument as its value.
  const auto bare = request_of({"url", "--wait", "https://a/x", "https://a/y"});
  EXPECT_TRUE(bare.wait);
  EXPECT_FALSE(bare.timeout.has_value());
  EXPECT_EQ(bare.items.size(), 2u);

  EXPECT_FALSE(request_of({"tag", "t"}).wait);

  const auto wait = request_of({"wait", "ID", "--timeout", "90s"});
  EXPECT_TRUE(wait.wait);
  EXPECT_EQ(wait.timeout, std::chrono::seconds(90));
  EXPECT_EQ(request_of({"wait", "ID", "--timeout", "1h"}).timeout, std::chrono::seconds(3600));

  expect_usage_error({"--wait=abc", "tag", "t"}, "--wait=\"abc\"");
  expect_usage_error({"--wait=-1", "tag", "t"}, "whole seconds");
  // What it does accept, so "1.5" can be rewritten at once.
  expect_usage_error({"--wait=1.5", "tag", "t"},
                     "--wait=\"1.5\": expected a duration in whole seconds, minutes or hours: 90, "
                     "90s, 5m or 1h (or --wait alone to wait without limit)");
  expect_usage_error({"--wait=99999999999999999999", "tag", "t"}, "whole seconds");
  expect_usage_error({"wait", "ID", "--timeout", "2.5m"}, "90, 90s, 5m or 1h");
  expect_usage_error({"wait", "ID", "--timeout", "soon"}, "--timeout \"soon\"");
  expect_usage_error({"--wait", "status"}, "--wait applies to url");
  expect_usage_error({"--wait=5", "wait", "ID"}, "wait ID --timeout S");
}

TEST(CliArgs, SocketPrecedence) {
  EXPECT_EQ(request_of({"status"}).socket, kDefaultSocket);
  EXPECT_EQ(request_of({"status"}, {}, std::string("/env.sock")).socket, "/env.sock");
  EXPECT_EQ(request_of({"status"}, {}, std::string("")).socket, kDefaultSocket);
  EXPECT_EQ(request_of({"--socket", "/opt.sock", "status"}, {}, std::string("/env.sock")).socket,
            "/opt.sock");
  EXPECT_EQ(request_of({"status", "--socket", "/opt.sock"}).socket, "/opt.sock");
}

TEST(CliArgs, WaitWithSpaceTakesOnlySeconds) {
  EXPECT_EQ(request_of({"--wait", "3", "url", "https://a/x"}).timeout, std::chrono::seconds(3));
  EXPECT_EQ(request_of({"url", "https://a/x", "--wait", "5m"}).timeout, std::chrono::seconds(300));
  const auto between = request_of({"url", "--wait", "30", "https://a/x", "https://a/y"});
  EXPECT_EQ(between.timeout, std::chrono::seconds(30));
  EXPECT_EQ(between.items, (std::vector<std::string>{"https://a/x", "https://a/y"}));
  // The next argument is not a number of seconds: a bare --wait, the argument stays what it is.
  const auto tag = request_of({"--wait", "tag", "x"});
  EXPECT_EQ(tag.command, Command::tag);
  EXPECT_TRUE(tag.wait);
  EXPECT_FALSE(tag.timeout.has_value());
  EXPECT_EQ(tag.items, std::vector<std::string>{"x"});
  const auto url = request_of({"url", "--wait", "https://a/x"});
  EXPECT_FALSE(url.timeout.has_value());
  EXPECT_EQ(url.items, std::vector<std::string>{"https://a/x"});
  // A numeric item right after --wait is taken as the bound: `--wait=S` or another order avoids it.
  expect_usage_error({"tag", "--wait", "404"}, "tag: give at least one TAG");
  EXPECT_EQ(request_of({"tag", "404", "--wait"}).items, std::vector<std::string>{"404"});
}

TEST(CliArgs, OptionGivenBeforeAndAfterTheCommandIsAnError) {
  expect_usage_error({"--zone", "a", "tag", "t", "--zone", "b"}, "--zone given twice");
  expect_usage_error({"--wait=3", "tag", "t", "--wait"}, "--wait given twice");
  expect_usage_error({"--socket", "/a", "status", "--socket", "/b"}, "--socket given twice");
  // Repeatable -H collects from both sides, in order.
  EXPECT_EQ(request_of({"-H", "A: 1", "url", "https://a/x", "-H", "B: 2"}).headers,
            (std::vector<Header>{{"A", "1"}, {"B", "2"}}));
  EXPECT_TRUE(request_of({"--json", "status", "--json"}).json);
}

TEST(CliArgs, EverySubcommandHelpListsItsOptions) {
  struct Case {
    std::string command;
    std::vector<std::string> present;
    std::vector<std::string> absent;
  };
  const Case cases[] = {
      {"url",
       {"-H,--header", "--zone", "--wait", "--socket", "--json", "Examples:", "purgeq url https://",
        "Exit codes", "./run/purgeq.sock"},
       {"--timeout", "Run 'purgeq COMMAND --help'"}},
      {"tag",
       {"--zone", "--wait", "--socket", "--json", "purgeq --wait 120 tag"},
       {"--header", "--yes"}},
      {"host", {"--zone", "--wait", "--socket", "purgeq host images"}, {"--header"}},
      {"prefix", {"--zone", "--wait", "purgeq prefix www"}, {"--header"}},
      {"everything",
       {"--zone", "--wait", "-y,--yes", "purgeq --zone example.com everything", "[y/N]"},
       {"stdin"}},
      {"status",
       {"--socket", "--json", "purgeq status"},
       {"--zone", "--wait", "--header", "stdin"}},
      {"show", {"--socket", "--json", "purgeq show 0"}, {"--zone", "--wait", "--header", "stdin"}},
      {"wait", {"--timeout", "--socket", "reconnects"}, {"--zone", "--wait", "stdin"}},
      {"failed", {"--socket", "purgeq failed"}, {"--zone", "--wait", "stdin"}},
      {"retry-failed", {"--socket", "purgeq retry-failed"}, {"--zone", "--wait", "stdin"}},
  };
  for (const auto& c : cases) {
    std::vector<const char*> argv{"purgeq", c.command.c_str(), "--help"};
    const auto help = parse_args(3, argv.data(), ParseContext{});
    EXPECT_EQ(help.exit_code, 0) << c.command;
    for (const auto& text : c.present) {
      EXPECT_NE(help.out.find(text), std::string::npos) << c.command << " lacks " << text << "\n"
                                                        << help.out;
    }
    for (const auto& text : c.absent) {
      EXPECT_EQ(help.out.find(text), std::string::npos) << c.command << " has " << text << "\n"
                                                        << help.out;
    }
  }
  const auto main_help = parse({"--help"});
  EXPECT_NE(main_help.out.find("Run 'purgeq COMMAND --help'"), std::string::npos);
  EXPECT_NE(main_help.out.find("./run/purgeq.sock"), std::string::npos);
}

TEST(CliArgs, SocketDiscovery) {
  const auto only = [](std::string present) {
    return [present](const std::string& path) { return path == present; };
  };
  const auto none = [](const std::string&) { return false; };
  const std::string system(kDefaultSocket);
  const std::string dev(kDevSocket);
  EXPECT_EQ(choose_socket(std::nullopt, std::nullopt, only(system)).path, system);
  EXPECT_EQ(choose_socket(std::nullopt, std::nullopt, only(dev)).path, dev);
  EXPECT_TRUE(choose_socket(std::nullopt, std::nullopt, only(dev)).tried.empty());
  const auto missing = choose_socket(std::nullopt, std::nullopt, none);
  EXPECT_EQ(missing.path, system);
  EXPECT_EQ(missing.tried, (std::vector<std::string>{system, dev}));
  // Given paths are used as given, existing or not, and never probed.
  EXPECT_EQ(choose_socket("/opt.sock", "/env.sock", only(dev)).path, "/opt.sock");
  EXPECT_EQ(choose_socket(std::nullopt, "/env.sock", only(dev)).path, "/env.sock");
  EXPECT_TRUE(choose_socket(std::nullopt, "/env.sock", none).tried.empty());
  EXPECT_EQ(choose_socket(std::nullopt, "", only(dev)).path, dev);
  EXPECT_EQ(choose_socket(std::nullopt, std::nullopt, nullptr).path, system);
  EXPECT_TRUE(choose_socket(std::nullopt, std::nullopt, nullptr).tried.empty());

  std::vector<const char*> argv{"purgeq", "status"};
  ParseContext context;
  context.socket_exists = only(dev);
  EXPECT_EQ(parse_args(2, argv.data(), context).request->socket, dev);
  context.socket_exists = none;
  EXPECT_EQ(parse_args(2, argv.data(), context).request->socket_tried.size(), 2u);
}

TEST(CliArgs, ProgressOnlyForWaitsOnATerminal) {
  const auto with_terminal = [](std::vector<const char*> argv, bool terminal) {
    argv.insert(argv.begin(), "purgeq");
    ParseContext context;
    context.stderr_is_terminal = terminal;
    return parse_args(static_cast<int>(argv.size()), argv.data(), context).request->progress;
  };
  EXPECT_TRUE(with_terminal({"--wait", "tag", "x"}, true));
  EXPECT_TRUE(with_terminal({"wait", "ID"}, true));
  EXPECT_FALSE(with_terminal({"--wait", "tag", "x"}, false));
  EXPECT_FALSE(with_terminal({"tag", "x"}, true));
  EXPECT_FALSE(with_terminal({"show", "ID"}, true));
}

TEST(CliArgs, EverythingAsksOnlyOnATerminalWithoutYes) {
  const auto confirm = [](std::vector<const char*> argv, bool in_tty, bool err_tty) {
    argv.insert(argv.begin(), "purgeq");
    ParseContext context;
    context.stdin_is_terminal = in_tty;
    context.stderr_is_terminal = err_tty;
    const auto result = parse_args(static_cast<int>(argv.size()), argv.data(), context);
    EXPECT_TRUE(result.request.has_value()) << result.err;
    return result.request.has_value() && result.request->confirm;
  };
  EXPECT_TRUE(confirm({"--zone", "a.example", "everything"}, true, true));
  EXPECT_FALSE(confirm({"--zone", "a.example", "everything", "--yes"}, true, true));
  EXPECT_FALSE(confirm({"-y", "--zone", "a.example", "everything"}, true, true));
  EXPECT_FALSE(confirm({"everything", "-y"}, true, true));
  // Scripts and CI keep today's behaviour: no terminal, no question.
  EXPECT_FALSE(confirm({"everything"}, false, true));
  EXPECT_FALSE(confirm({"everything"}, true, false));
  EXPECT_FALSE(confirm({"tag", "t"}, true, true));
  expect_usage_error({"--yes", "tag", "t"}, "--yes applies only to everything, not to tag");
  expect_usage_error({"url", "https://a.example/", "-y"}, "--yes applies only to everything");
}

TEST(CliArgs, ConfirmEverythingTakesOnlyYes) {
  const auto answer = [&](const std::string& typed, std::string* prompt = nullptr) {
    std::istringstream in(typed);
    std::ostringstream err;
    const bool yes = confirm_everything("a.example", in, err);
    if (prompt != nullptr) *prompt = err.str();
    return yes;
  };
  std::string prompt;
  EXPECT_TRUE(answer("y\n", &prompt));
  EXPECT_EQ(prompt, "Purge EVERYTHING cached for zone a.example? [y/N] ");
  EXPECT_TRUE(answer("YES\n"));
  EXPECT_TRUE(answer(" y \r\n"));
  EXPECT_FALSE(answer("\n"));
  EXPECT_FALSE(answer("n\n"));
  EXPECT_FALSE(answer("yep\n"));
  EXPECT_FALSE(answer(""));  // end of input
}

TEST(CliArgs, ZoneIsTrimmedAndOnlyForSubmit) {
  EXPECT_EQ(request_of({"--zone", " example.com ", "tag", "t"}).zone, "example.com");
  EXPECT_EQ(request_of({"tag", "t"}).zone, "");
  expect_usage_error({"--zone", "z", "failed"}, "not to failed");
}

// The POST body, compared as parsed JSON so member order doesn't matter.
void expect_body(std::initializer_list<std::string> args, std::string_view expected,
                 const std::string& stdin_text = {}) {
  const auto request = request_of(args, stdin_text);
  std::string error;
  const auto body = whole_purge_body(request, error);
  ASSERT_TRUE(body.has_value()) << error;
  EXPECT_EQ(json::parse(*body), json::parse(expected)) << *body;
}

TEST(CliArgsBody, BuiltExactly) {
  expect_body({"url", "https://a/x", "https://a/y"}, R"({"files":["https://a/x","https://a/y"]})");
  expect_body({"url", "https://a/x", "https://a/y", "-H", "CF-Device-Type: mobile", "-H",
               "CF-IPCountry: DE"},
              R"({"files":[
                  {"url":"https://a/x","headers":{"CF-Device-Type":"mobile","CF-IPCountry":"DE"}},
                  {"url":"https://a/y","headers":{"CF-Device-Type":"mobile","CF-IPCountry":"DE"}}]})");
  expect_body({"--zone", "example.com", "tag", "a", "B"},
              R"({"tags":["a","B"],"zone":"example.com"})");
  expect_body({"host", "a.example", "b.example"}, R"({"hosts":["a.example","b.example"]})");
  expect_body({"prefix", "a.example/blog/"}, R"({"prefixes":["a.example/blog/"]})");
  expect_body({"--zone", "023e105f4ecef8ad9ca31a8372d0c353", "everything"},
              R"({"purge_everything":true,"zone":"023e105f4ecef8ad9ca31a8372d0c353"})");
  expect_body({"everything"}, R"({"purge_everything":true})");
  expect_body({"url", "-", "--zone", "z"}, R"({"files":["https://a/1","https://a/2"],"zone":"z"})",
              "https://a/1\r\n\r\nhttps://a/2\r\n");
  // Items are passed through as given: validating them is purgeqd's job (it names the rule).
  expect_body({"url", "notaurl"}, R"({"files":["notaurl"]})");
}

TEST(CliArgsBody, IntentTargetEncodesTheId) {
  EXPECT_EQ(intent_target("019aa3c2f1e8", std::nullopt), "/v1/intents/019aa3c2f1e8");
  EXPECT_EQ(intent_target("019aa3c2f1e8", 30), "/v1/intents/019aa3c2f1e8?wait=30");
  EXPECT_EQ(intent_target("a b/../?x", 0), "/v1/intents/a%20b%2F..%2F%3Fx?wait=0");
}

TEST(CliArgsExitCodes, HttpAnswers) {
  const auto error_body = json::parse(
      R"({"error":{"code":"invalid_url","message":"files[2]: \"ftp://x\" is not an absolute http(s) URL","item":"ftp://x"}})");
  struct Case {
    unsigned status;
    int exit_code;
  };
  const Case cases[] = {{200, 0}, {202, 0}, {400, 2}, {403, 2}, {404, 2}, {405, 2},
                        {413, 2}, {500, 3}, {502, 3}, {503, 3}, {302, 3}, {101, 3}};
  for (const auto& c : cases) {
    const auto verdict = answer_verdict(c.status, error_body);
    EXPECT_EQ(verdict.exit_code, c.exit_code) << c.status;
    EXPECT_EQ(verdict.error.empty(), c.exit_code == 0) << c.status;
  }
  EXPECT_EQ(answer_verdict(400, error_body).error,
            "rejected: files[2]: \"ftp://x\" is not an absolute http(s) URL");
  // The item is added when the message doesn't already name it.
  EXPECT_EQ(answer_verdict(403, json::parse(R"({"error":{"code":"access_denied",
                                  "message":"uid 33 may not purge tag on example.com",
                                  "item":"release-1"}})"))
                .error,
            "refused: uid 33 may not purge tag on example.com: \"release-1\"");
  EXPECT_EQ(answer_verdict(404, json::parse(R"({"error":{"code":"unknown_intent",
                                  "message":"no intent with id \"x\"","item":"x"}})"))
                .error,
            "no intent with id \"x\"");
  // Bodies that aren't the error shape (or aren't JSON) still get a sentence.
  EXPECT_NE(answer_verdict(413, nullptr).error.find("HTTP 413"), std::string::npos);
  EXPECT_NE(answer_verdict(400, nullptr).error.find("HTTP 400"), std::string::npos);
  EXPECT_EQ(answer_verdict(503, json::parse(R"({"error":{"code":"shutting_down",
                                  "message":"purgeqd is shutting down"}})"))
                .error,
            "purgeqd cannot take requests now: purgeqd is shutting down; try again");
}

TEST(CliArgsExitCodes, IntentStates) {
  const auto intent = [](std::string_view status) {
    return json::value{
        {"id", "i1"},
        {"status", status},
        {"items", {{"total", 3}, {"queued", 1}, {"in_flight", 1}, {"done", 1}, {"failed", 0}}}};
  };
  struct Case {
    std::string_view status;
    bool timed_out;
    int exit_code;
  };
  const Case cases[] = {
      {"done", false, 0},   {"done", true, 0},      {"partial", false, 1}, {"partial", true, 1},
      {"failed", false, 1}, {"failed", true, 1},    {"queued", false, 0},  {"in_flight", false, 0},
      {"queued", true, 4},  {"in_flight", true, 4},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(intent_verdict(intent(c.status), c.timed_out).exit_code, c.exit_code)
        << c.status << " timed_out=" << c.timed_out;
  }
  EXPECT_EQ(intent_verdict(intent("in_flight"), true).error,
            "timed out waiting for intent i1: still in_flight (1 purged, 0 failed, 2 pending)");
  EXPECT_TRUE(is_terminal("done"));
  EXPECT_TRUE(is_terminal("failed"));
  EXPECT_TRUE(is_terminal("partial"));
  EXPECT_FALSE(is_terminal("queued"));
  EXPECT_FALSE(is_terminal("in_flight"));
  EXPECT_FALSE(is_terminal(""));
}

TEST(CliArgs, PriorityPicksTheLaneOfSubmissions) {
  EXPECT_EQ(request_of({"--priority", "high", "url", "https://a/x"}).priority, "high");
  EXPECT_EQ(request_of({"tag", "t", "--priority=bulk"}).priority, "bulk");
  EXPECT_EQ(request_of({"tag", "t", "--priority", "normal"}).priority, "normal");
  EXPECT_EQ(request_of({"tag", "t"}).priority, "") << "the daemon's default";
  // Its value is never read as the command or an item.
  const auto wait = request_of({"--wait", "--priority", "bulk", "tag", "t"});
  EXPECT_EQ(wait.items, std::vector<std::string>{"t"});
  EXPECT_EQ(wait.priority, "bulk");
  expect_usage_error({"--priority", "urgent", "tag", "t"},
                     "--priority=\"urgent\": expected high, normal or bulk");
  expect_usage_error({"--priority", "high", "status"}, "--priority applies to url");
  expect_usage_error({"--priority", "high", "tag", "t", "--priority", "bulk"}, "--priority");
  EXPECT_NE(parse({"url", "--help"}).out.find("--priority"), std::string::npos);
}

}  // namespace
}  // namespace purgeq::cli
