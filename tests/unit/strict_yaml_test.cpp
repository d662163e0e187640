// Tests for the strict-YAML layer on its own, on a made-up schema (a pizza order) that has nothing
// to do with purgeq's: it must stand without the config schema.
#include "config/strict_yaml.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace purgeq::strict_yaml {
namespace {

struct Pizza {
  std::string size = "medium";
  std::vector<std::string> toppings;
  bool extra_cheese = false;
  long long slices = 8;
  double price = 0;
};

struct Result {
  Pizza pizza;
  std::vector<std::string> problems;
  std::vector<std::string> notes;
};

// A tiny loader in the style the layer is meant for: read what is there, report the rest.
Result load_pizza(const std::string& text) {
  Result result;
  Checker checker;
  const auto document = parse_document(checker, text, "order.yaml");
  if (document) {
    const Field top{*document, "", document->Mark()};
    if (expect_map(checker, top, false)) {
      const MapView view(checker, top, {"size", "toppings", "extra_cheese", "slices", "price"});
      if (auto f = view.get("size")) {
        if (auto size = read_string(checker, *f)) {
          const std::vector<std::string_view> sizes{"small", "medium", "large"};
          if (std::find(sizes.begin(), sizes.end(), *size) == sizes.end()) {
            checker.add(*f, unknown_value("size", *size, sizes));
          } else {
            result.pizza.size = *size;
          }
        }
      }
      if (auto f = view.get_present("toppings"); f && expect_list(checker, *f)) {
        for (const auto& item : items(*f)) {
          if (auto topping = read_string(checker, item)) {
            if (*topping == "pineapple") checker.note(item, "bold choice");
            result.pizza.toppings.push_back(*topping);
          }
        }
      }
      if (auto f = view.get("extra_cheese")) {
        result.pizza.extra_cheese = read_bool(checker, *f).value_or(false);
      }
      if (auto f = view.get("slices")) result.pizza.slices = read_int(checker, *f).value_or(0);
      if (auto f = view.get("price")) {
        result.pizza.price = read_number(checker, *f).value_or(0);
      } else {
        checker.add(end_mark(), "price", "required");
      }
    }
  }
  result.problems = checker.take();
  result.notes = checker.take_notes();
  return result;
}

TEST(ConfigStrictYaml, ReadsTypedValues) {
  const Result r = load_pizza(R"(
size: large
toppings: [basil, "olives"]
extra_cheese: yes
slices: 12
price: 9.5
)");
  EXPECT_EQ(r.problems, std::vector<std::string>{});
  EXPECT_EQ(r.pizza.size, "large");
  EXPECT_EQ(r.pizza.toppings, (std::vector<std::string>{"basil", "olives"}));
  EXPECT_TRUE(r.pizza.extra_cheese);
  EXPECT_EQ(r.pizza.slices, 12);
  EXPECT_DOUBLE_EQ(r.pizza.price, 9.5);
}

TEST(ConfigStrictYaml, EveryProblemWithItsPathInDocumentOrder) {
  // `price` is checked last but reported where it is; the absent key goes after everything.
  const Result r = load_pizza(R"(
price: cheap
sise: large
toppings: [basil, [a, b], ""]
extra_cheese: maybe
slices: 2.5
size: lrage
size: small
)");
  EXPECT_EQ(r.problems, (std::vector<std::string>{
                            R"(price: expected a number, got "cheap")",
                            R"(sise: unknown key (did you mean "size"?))",
                            "toppings[1]: expected a string, got a list",
                            "toppings[2]: must not be empty",
                            R"(extra_cheese: expected true or false, got "maybe")",
                            R"(slices: expected an integer, got "2.5")",
                            R"(size: unknown size "lrage" (did you mean "large"?))",
                            "size: duplicate key",
                        }));
}

TEST(ConfigStrictYaml, UnknownKeysAndValuesWithoutANearOne) {
  const Result r = load_pizza("price: 1\nanchovies: 3\nsize: enormous\n");
  EXPECT_EQ(r.problems,
            (std::vector<std::string>{
                "anchovies: unknown key (valid keys: size, toppings, extra_cheese, slices, price)",
                R"(size: unknown size "enormous" (use small, medium or large))"}));
}

TEST(ConfigStrictYaml, AbsentRequiredKeyGoesLast) {
  const Result r = load_pizza("slices: x\n");
  EXPECT_EQ(r.problems, (std::vector<std::string>{R"(slices: expected an integer, got "x")",
                                                  "price: required"}));
}

TEST(ConfigStrictYaml, NotesAreNotProblems) {
  const Result r = load_pizza("price: 7\ntoppings: [ham, pineapple]\n");
  EXPECT_EQ(r.problems, std::vector<std::string>{});
  EXPECT_EQ(r.notes, std::vector<std::string>{"toppings[1]: bold choice"});
}

TEST(ConfigStrictYaml, AnchorsAndAliasesReadAsTheirValues) {
  const Result r = load_pizza("size: &s small\ntoppings: [*s]\nprice: 3\n");
  EXPECT_EQ(r.problems, std::vector<std::string>{});
  EXPECT_EQ(r.pizza.toppings, std::vector<std::string>{"small"});
}

TEST(ConfigStrictYaml, SyntaxErrorsAndExtraDocuments) {
  const Result broken = load_pizza("price: 1\ntoppings: [\n");
  ASSERT_EQ(broken.problems.size(), 1u);
  EXPECT_EQ(broken.problems[0].rfind("order.yaml:3:1: ", 0), 0u) << broken.problems[0];
  EXPECT_EQ(load_pizza("price: 1\n---\nprice: 2\n").problems,
            std::vector<std::string>{"order.yaml: expected one YAML document, found more"});
  EXPECT_EQ(load_pizza("- price\n").problems,
            std::vector<std::string>{"expected a map, got a list"});
}

TEST(ConfigStrictYaml, SuggestAndQuote) {
  EXPECT_EQ(suggest("mian", {"main", "other"}), std::optional<std::string_view>("main"));
  EXPECT_EQ(suggest("give_up", {"initial", "give_up_after"}),
            std::optional<std::string_view>("give_up_after"));
  EXPECT_EQ(suggest("zzzz", {"main"}), std::nullopt);
  EXPECT_EQ(quote("a\"b\\c\nd\x01"), R"("a\"b\\c\nd\x01")");
  EXPECT_EQ(quote(std::string(130, 'x')), "\"" + std::string(120, 'x') + "\"...");
}

}  // namespace
}  // namespace purgeq::strict_yaml
