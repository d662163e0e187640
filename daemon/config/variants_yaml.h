// Reading `zones[].variants` from YAML. Only config.cpp includes this (it carries yaml-cpp).
#pragma once

#include <string_view>
#include <vector>

#include "config/strict_yaml.h"
#include "config/variants.h"

namespace purgeq {

// Validates `section` (a map of header name to a list of values) into `out`, reporting every
// problem to `checker` with its key path: unknown or repeated headers, invalid or repeated
// values, and more than kMaxVariantCombinations variants (naming `zone_name` and the count).
void load_zone_variants(strict_yaml::Checker& checker, const strict_yaml::Field& section,
                        std::string_view zone_name, std::vector<VariantHeader>& out);

}  // namespace purgeq
