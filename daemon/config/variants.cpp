// `zones[].variants`: which cache-key headers a zone varies on, each value checked against what
// Cloudflare puts in that header, so every variant purgeq sends names a key that can exist.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "config/variants_yaml.h"
#include "model/ascii.h"
#include "model/text.h"
#include "model/url.h"

namespace purgeq {
namespace {

using namespace strict_yaml;

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_alnum(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9');
}

// A value as the header carries it, or the reason it cannot be one. Each rule is what
// Cloudflare sets or what visitors send (reference §4.4): a value outside it would name a cache
// key no request can produce, and its purge would silently do nothing.
struct Checked {
  std::string value;
  std::string problem;  // empty when valid
};

Checked device_type(std::string_view text) {
  const std::string folded = ascii_lower(text);
  if (folded == "mobile" || folded == "tablet" || folded == "desktop") return {folded, {}};
  return {{},
          fmt::format("{} is not a device type: Cloudflare sets CF-Device-Type to mobile, tablet "
                      "or desktop",
                      quote(text))};
}

Checked country(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) c = ascii_upper(c);
  if ((upper.size() == 2 && is_alpha(upper[0]) && is_alpha(upper[1])) || upper == "T1") {
    return {upper, {}};
  }
  return {{},
          fmt::format("{} is not a country code: CF-IPCountry holds ISO 3166-1 alpha-2 codes "
                      "(\"US\", \"DE\"), \"XX\" for unknown or \"T1\" for Tor",
                      quote(text))};
}

// One language tag (RFC 5646's shape: a 1-8 letter primary subtag, then 1-8 alphanumeric
// subtags after '-'), as Cloudflare's examples give it ("zh-CN"). A whole header with weights
// ("en-US,en;q=0.9") is not a value the language in a cache key can take.
Checked language(std::string_view text) {
  bool ok = !text.empty() && text.size() <= 35;
  std::size_t start = 0;
  for (std::size_t index = 0; ok && start <= text.size(); ++index) {
    const std::size_t end = std::min(text.find('-', start), text.size());
    const std::string_view subtag = text.substr(start, end - start);
    ok = !subtag.empty() && subtag.size() <= 8 &&
         std::all_of(subtag.begin(), subtag.end(), index == 0 ? is_alpha : is_alnum);
    start = end + 1;
  }
  if (ok) return {std::string(text), {}};
  return {{},
          fmt::format("{} is not a language tag: give one tag per value, as \"en-US\" or \"de\"",
                      quote(text))};
}

// scheme://host[:port], as browsers send Origin: the same rule intake applies to an explicit
// Origin header (intake/item_rules.cpp), so a configured origin is one intake would accept.
Checked origin(std::string_view text) {
  const auto parsed = parse_url(text);
  const Url* url = std::get_if<Url>(&parsed);
  if (url == nullptr || !url->path.empty() || url->query) {
    return {{},
            fmt::format("{} is not an origin: use scheme://host[:port] with no path, as "
                        "\"https://www.example.com\"",
                        quote(text))};
  }
  if (url->port == url->default_port()) {
    return {{}, fmt::format("{} must omit the default port, as browsers do", quote(text))};
  }
  return {normalised_origin(*url), {}};
}

struct HeaderRule {
  std::string_view name;
  Checked (*check)(std::string_view);
  bool may_be_absent;
};

constexpr std::array<HeaderRule, 4> kRules{{
    {kVariantHeaderNames[0], device_type, false},
    {kVariantHeaderNames[1], country, false},
    {kVariantHeaderNames[2], language, true},
    {kVariantHeaderNames[3], origin, true},
}};

const HeaderRule* rule_for(std::string_view name) {
  for (const auto& rule : kRules) {
    if (ascii_iequals(rule.name, name)) return &rule;
  }
  return nullptr;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> canonical_variant_header(
    std::string_view name, std::string_view value) {
  const HeaderRule* rule = rule_for(name);
  if (rule == nullptr) return std::nullopt;
  auto checked = rule->check(value);
  if (!checked.problem.empty()) return std::nullopt;
  return std::pair{std::string(rule->name), std::move(checked.value)};
}

namespace {

std::string unknown_header(std::string_view name) {
  std::vector<std::string> folded;
  std::vector<std::string_view> names;
  for (const auto& rule : kRules) {
    folded.push_back(ascii_lower(rule.name));
    names.push_back(rule.name);
  }
  const std::vector<std::string_view> candidates(folded.begin(), folded.end());
  std::string text = fmt::format(
      "{} is not a header purgeq can vary cache keys on (use {}; other cache-key headers can be "
      "given per purge, e.g. purgeq url -H)",
      quote(name), list_words(names, " or "));
  if (const auto near = suggest(name, candidates)) {
    const auto index = static_cast<std::size_t>(
        std::find(candidates.begin(), candidates.end(), *near) - candidates.begin());
    text = fmt::format("{} is not a header purgeq can vary cache keys on (did you mean \"{}\"?)",
                       quote(name), kRules[index].name);
  }
  return text;
}

}  // namespace

std::size_t combination_count(const std::vector<VariantHeader>& headers) {
  std::size_t product = 1;
  for (const auto& header : headers) {
    const std::size_t options = header.values.size() + (header.may_be_absent ? 1 : 0);
    if (options != 0 && product > std::numeric_limits<std::size_t>::max() / options) {
      return std::numeric_limits<std::size_t>::max();
    }
    product *= options;
  }
  return product;
}

void load_zone_variants(Checker& checker, const Field& section, std::string_view zone_name,
                        std::vector<VariantHeader>& out) {
  if (!expect_map(checker, section, false)) return;
  if (section.node.size() == 0) {
    checker.add(section, "names no header; leave out `variants` for a cache key without headers");
    return;
  }
  bool complete = true;  // every header read: only then is the combination count meaningful
  for (const auto& entry : section.node) {
    const YAML::Node key = entry.first;
    if (!key.IsScalar()) {
      checker.add(key.Mark(), section.path,
                  fmt::format("keys must be header names, got {}", describe(key)));
      complete = false;
      continue;
    }
    const std::string& name = key.Scalar();
    const Field field{entry.second, join(section.path, name), key.Mark()};
    const HeaderRule* rule = rule_for(name);
    if (rule == nullptr) {
      checker.add(field, unknown_header(name));
      complete = false;
      continue;
    }
    if (std::any_of(out.begin(), out.end(),
                    [&](const VariantHeader& h) { return h.name == rule->name; })) {
      checker.add(field,
                  fmt::format("{} is given twice (header names are case-insensitive)", rule->name));
      complete = false;
      continue;
    }
    if (!expect_list(checker, field)) {
      complete = false;
      continue;
    }
    if (field.node.size() == 0) {
      checker.add(field, "lists no value; give the values the cache key varies on");
      complete = false;
      continue;
    }
    VariantHeader header{std::string(rule->name), {}, rule->may_be_absent};
    for (const auto& value_field : items(field)) {
      const auto text = read_string(checker, value_field);
      if (!text) {
        complete = false;
        continue;
      }
      Checked checked = rule->check(*text);
      if (!checked.problem.empty()) {
        checker.add(value_field, checked.problem);
        complete = false;
        continue;
      }
      if (std::find(header.values.begin(), header.values.end(), checked.value) !=
          header.values.end()) {
        checker.add(value_field, fmt::format("{} is listed twice", quote(checked.value)));
        complete = false;
        continue;
      }
      header.values.push_back(std::move(checked.value));
    }
    if (!header.values.empty()) out.push_back(std::move(header));
  }
  const std::size_t count = combination_count(out);
  if (complete && count > kMaxVariantCombinations) {
    std::string factors;
    for (const auto& header : out) {
      if (!factors.empty()) factors += " x ";
      factors += fmt::format("{} {}", header.name, header.values.size());
      if (header.may_be_absent) factors += "+1 (absent)";
    }
    checker.add(section, fmt::format("zone {} would purge every URL in {} cache-key variants ({}); "
                                     "at most {} are allowed",
                                     zone_name.empty() ? "(unnamed)" : zone_name, count, factors,
                                     kMaxVariantCombinations));
  }
}

}  // namespace purgeq
