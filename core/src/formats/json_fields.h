#pragma once
// Reading fields of JSON from outside (event lines, specs, ONNX metadata): the right type,
// integers in the range of their type (nlohmann's get<int> of 1e300 is undefined behaviour),
// errors that name the field. No torch here.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "repnas/block_spec.h"
#include "repnas/branch_kind.h"
#include "repnas/error.h"
#include "repnas/events.h"

namespace repnas {

using nlohmann::json;

/// nlohmann's message without its "[json.exception.type_error.302] " prefix, clipped.
inline std::string jsonMessage(const json::exception& e) {
  std::string text = e.what();
  if (text.rfind("[json.exception.", 0) == 0 && text.find("] ") != std::string::npos)
    text.erase(0, text.find("] ") + 2);
  return text.size() > 200 ? text.substr(0, 200) + "…" : text;
}

[[noreturn]] inline void badField(const std::string& key, const std::string& why) {
  throw Error("field '" + key + "': " + why);
}

inline const json& field(const json& j, const std::string& key) {
  if (!j.is_object()) throw Error("expected an object holding '" + key + "'");
  const auto it = j.find(key);
  if (it == j.end()) badField(key, "missing");
  return *it;
}

template <typename Int>
Int integerField(const json& j, const std::string& key, Int min = std::numeric_limits<Int>::min(),
                 Int max = std::numeric_limits<Int>::max()) {
  const json& v = field(j, key);
  if (!v.is_number_integer()) badField(key, std::string("expected an integer, got ") + v.type_name());
  const bool negative = !v.is_number_unsigned() && v.get<int64_t>() < 0;
  bool fits;
  if (negative) fits = std::is_signed_v<Int> && v.get<int64_t>() >= static_cast<int64_t>(min);
  else fits = v.get<uint64_t>() <= static_cast<uint64_t>(max) &&
              (min <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(min));
  if (!fits) badField(key, "out of range " + std::to_string(min) + ".." + std::to_string(max));
  return negative ? static_cast<Int>(v.get<int64_t>()) : static_cast<Int>(v.get<uint64_t>());
}

inline int countField(const json& j, const std::string& key) { return integerField<int>(j, key, 0); }

inline double numberField(const json& j, const std::string& key) {
  const json& v = field(j, key);
  if (!v.is_number()) badField(key, std::string("expected a number, got ") + v.type_name());
  return v.get<double>();
}

inline std::string stringField(const json& j, const std::string& key) {
  const json& v = field(j, key);
  if (!v.is_string()) badField(key, std::string("expected a string, got ") + v.type_name());
  return v.get<std::string>();
}

inline bool boolField(const json& j, const std::string& key) {
  const json& v = field(j, key);
  if (!v.is_boolean()) badField(key, std::string("expected true or false, got ") + v.type_name());
  return v.get<bool>();
}

/// A list of numbers (as doubles), at most `max_size` of them.
inline std::vector<double> numbersField(const json& j, const std::string& key, size_t max_size) {
  const json& v = field(j, key);
  if (!v.is_array()) badField(key, std::string("expected a list, got ") + v.type_name());
  if (v.size() > max_size) badField(key, "more than " + std::to_string(max_size) + " entries");
  std::vector<double> out;
  for (const auto& e : v) {
    if (!e.is_number()) badField(key, "expected numbers");
    out.push_back(e.get<double>());
  }
  return out;
}

/// A list of at most `max_size` entries.
inline const json& listField(const json& j, const std::string& key, size_t max_size) {
  const json& v = field(j, key);
  if (!v.is_array()) badField(key, std::string("expected a list, got ") + v.type_name());
  if (v.size() > max_size)
    badField(key, std::to_string(v.size()) + " entries, more than the " + std::to_string(max_size) +
                      " a network of at most " + std::to_string(kMaxNetworkLayers) + " layers has");
  return v;
}

/// Most per-(layer, branch) values a network has.
inline constexpr size_t kMaxLayerValues = static_cast<size_t>(kMaxNetworkLayers) * kNumBranchKinds;

/// A mask as 0/1 per (layer, branch), 6 per layer.
inline std::vector<BranchMask> maskField(const json& j, const std::string& key) {
  std::vector<int> bits;
  for (const auto& v : listField(j, key, kMaxLayerValues)) {
    if (!v.is_number_integer() || (v.get<int64_t>() != 0 && v.get<int64_t>() != 1))
      badField(key, "expected a list of 0 and 1");
    bits.push_back(v.get<int>());
  }
  if (bits.size() % kNumBranchKinds) badField(key, "needs 6 entries per layer, got " + std::to_string(bits.size()));
  return maskFromBits(bits);
}

}  // namespace repnas
