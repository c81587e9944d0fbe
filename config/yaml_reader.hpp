#pragma once
// Typed reading of one YAML map with key paths in every error, and unknown-key detection.
// Used by the daemon config and by every listener's settings.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config_error.hpp"

namespace autodiscd {

/// The longest duration any setting takes: one year. Longer ones are refused, which also keeps
/// every timer's deadline (now + duration, in nanoseconds) far from overflowing.
inline constexpr std::chrono::milliseconds max_duration{365LL * 24 * 3600 * 1000};

/// Parses "5s", "250ms", "2m", "1h", "1500us" (and "0"). nullopt when malformed, not finite
/// or longer than max_duration.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Reads keys of one map; each getter records the key as known and appends an error
/// (file, key path, reason) when the value has the wrong type. Call finish() at the end
/// to report keys nobody read (typos).
class yaml_reader {
 public:
  yaml_reader(YAML::Node map, std::string file, std::string key_path, config_errors& errors);

  std::string string(std::string_view key, std::string fallback);
  std::optional<std::string> optional_string(std::string_view key);
  bool boolean(std::string_view key, bool fallback);
  long long integer(std::string_view key, long long fallback, long long min, long long max);
  std::chrono::milliseconds duration(std::string_view key, std::chrono::milliseconds fallback);
  std::vector<std::string> string_list(std::string_view key);
  /// The raw child (undefined when absent); marks the key as known.
  YAML::Node child(std::string_view key);
  /// Marks a key as known without reading it.
  void allow(std::string_view key);

  /// Key path of a child key, e.g. "listeners[0].url".
  std::string path(std::string_view key) const;
  void error(std::string_view key, std::string message);
  /// Reports unknown keys.
  void finish();

  bool is_map() const { return map_.IsMap(); }

 private:
  YAML::Node map_;
  std::string file_;
  std::string key_path_;
  config_errors& errors_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace autodiscd
