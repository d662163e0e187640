// The cartesian product of a zone's cache-key headers, applied to one file item.
#include "intake/variants.h"

#include <algorithm>
#include <vector>

#include "config/variants.h"
#include "model/ascii.h"

namespace purgeq {
namespace {

bool names_header(const Item& item, std::string_view name) {
  return std::any_of(item.headers.begin(), item.headers.end(),
                     [&](const Header& header) { return ascii_iequals(header.first, name); });
}

// The zone's headers that vary for this item: those it does not name itself.
std::vector<const VariantHeader*> varying(const Zone& zone, const Item& item) {
  std::vector<const VariantHeader*> out;
  if (item.kind != Kind::file) return out;
  for (const auto& header : zone.variants) {
    if (!names_header(item, header.name)) out.push_back(&header);
  }
  return out;
}

// Choices for one header: its values, then "not sent" (index == values.size()) when allowed.
std::size_t options(const VariantHeader& header) {
  return header.values.size() + (header.may_be_absent ? 1 : 0);
}

}  // namespace

std::size_t variant_count(const Zone& zone, const Item& item) {
  std::size_t count = 1;
  // Bounded by config (kMaxVariantCombinations): no overflow.
  for (const auto* header : varying(zone, item)) count *= options(*header);
  return count;
}

std::size_t added_headers(const Zone& zone, const Item& item) {
  return varying(zone, item).size();
}

void expand_variants(const Zone& zone, const Item& item, const std::function<void(Item)>& emit) {
  const auto axes = varying(zone, item);
  // A header the zone varies on, given by the item itself, is spelled as the zone's variants
  // spell it ("Mobile" is "mobile"): otherwise `-H 'CF-Device-Type: Mobile'` beside the bare URL
  // would be a second item for the same cached copy.
  std::vector<Header> own = item.headers;
  bool respelled = false;
  if (item.kind == Kind::file) {
    for (auto& header : own) {
      const bool varied = std::any_of(
          zone.variants.begin(), zone.variants.end(),
          [&](const VariantHeader& variant) { return ascii_iequals(variant.name, header.first); });
      if (!varied) continue;
      if (auto canonical = canonical_variant_header(header.first, header.second)) {
        respelled = respelled || *canonical != header;
        header = std::move(*canonical);
      }
    }
  }
  if (axes.empty()) {
    emit(respelled ? Item{Kind::file, item.value, std::move(own)} : item);
    return;
  }
  // An odometer over the axes: no recursion, one index per header.
  std::vector<std::size_t> chosen(axes.size(), 0);
  for (;;) {
    Item variant{Kind::file, item.value, own};
    for (std::size_t i = 0; i < axes.size(); ++i) {
      if (chosen[i] < axes[i]->values.size()) {
        variant.headers.emplace_back(axes[i]->name, axes[i]->values[chosen[i]]);
      }
    }
    std::stable_sort(variant.headers.begin(), variant.headers.end(),
                     [](const Header& a, const Header& b) {
                       return ascii_lower(a.first) < ascii_lower(b.first);
                     });
    emit(std::move(variant));
    std::size_t axis = axes.size();
    while (axis > 0) {
      --axis;
      if (++chosen[axis] < options(*axes[axis])) break;
      chosen[axis] = 0;
      if (axis == 0) return;
    }
  }
}

}  // namespace purgeq
