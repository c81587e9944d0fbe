#include "config/yaml_reader.hpp"

#include <charconv>
#include <cmath>

namespace autodiscd {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using namespace std::chrono;
  if (text == "0") return milliseconds(0);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr == text.data() || value < 0) return std::nullopt;
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  double ms = 0;
  if (unit == "us") ms = value / 1000.0;
  else if (unit == "ms") ms = value;
  else if (unit == "s") ms = value * 1000.0;
  else if (unit == "m") ms = value * 60'000.0;
  else if (unit == "h") ms = value * 3'600'000.0;
  else return std::nullopt;
  // Checked before the cast: a double beyond long long's range (or NaN, which from_chars
  // accepts as "nan") makes the conversion undefined.
  if (!std::isfinite(ms) || ms > static_cast<double>(max_duration.count())) return std::nullopt;
  return milliseconds(static_cast<long long>(ms));
}

yaml_reader::yaml_reader(YAML::Node map, std::string file, std::string key_path,
                         config_errors& errors)
    : map_(std::move(map)), file_(std::move(file)), key_path_(std::move(key_path)),
      errors_(errors) {
  if (map_.IsDefined() && !map_.IsNull() && !map_.IsMap()) {
    errors_.push_back({file_, key_path_, "expected a map"});
  }
}

std::string yaml_reader::path(std::string_view key) const {
  return key_path_.empty() ? std::string(key) : key_path_ + "." + std::string(key);
}

void yaml_reader::error(std::string_view key, std::string message) {
  errors_.push_back({file_, path(key), std::move(message)});
}

YAML::Node yaml_reader::child(std::string_view key) {
  known_.emplace(key);
  if (!map_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return map_[std::string(key)];
}

void yaml_reader::allow(std::string_view key) { known_.emplace(key); }

std::optional<std::string> yaml_reader::optional_string(std::string_view key) {
  auto node = child(key);
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) {
    error(key, "expected a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::string yaml_reader::string(std::string_view key, std::string fallback) {
  auto value = optional_string(key);
  return value ? *value : std::move(fallback);
}

bool yaml_reader::boolean(std::string_view key, bool fallback) {
  auto node = child(key);
  if (!node.IsDefined() || node.IsNull()) return fallback;
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  error(key, "expected true or false");
  return fallback;
}

long long yaml_reader::integer(std::string_view key, long long fallback, long long min,
                               long long max) {
  auto node = child(key);
  if (!node.IsDefined() || node.IsNull()) return fallback;
  long long value = 0;
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    error(key, "expected an integer");
    return fallback;
  }
  if (value < min || value > max) {
    error(key, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return fallback;
  }
  return value;
}

std::chrono::milliseconds yaml_reader::duration(std::string_view key,
                                                std::chrono::milliseconds fallback) {
  auto node = child(key);
  if (!node.IsDefined() || node.IsNull()) return fallback;
  auto value = node.IsScalar() ? parse_duration(node.Scalar()) : std::nullopt;
  if (!value) {
    error(key, "expected a duration like 5s or 250ms, at most 8760h (one year)");
    return fallback;
  }
  return *value;
}

std::vector<std::string> yaml_reader::string_list(std::string_view key) {
  std::vector<std::string> out;
  auto node = child(key);
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsSequence()) {
    error(key, "expected a list of strings");
    return out;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar()) {
      error(std::string(key) + "[" + std::to_string(i) + "]", "expected a string");
      continue;
    }
    out.push_back(node[i].Scalar());
  }
  return out;
}

void yaml_reader::finish() {
  if (!map_.IsMap()) return;
  for (const auto& entry : map_) {
    const auto key = entry.first.as<std::string>("");
    if (!known_.contains(key)) error(key, "unknown key");
  }
}

}  // namespace autodiscd
