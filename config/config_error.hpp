#pragma once

#include <string>
#include <vector>

namespace autodiscd {

/// One validation error: which file, which key path, what was wrong.
struct config_error {
  std::string file;      ///< the file the error is in (may be empty for built-in input)
  std::string key_path;  ///< e.g. "listeners[0].poll_interval"; "" for the whole file
  std::string message;   ///< what was expected
  /// "file: key: message" (parts that are empty are left out).
  std::string to_string() const;
};

using config_errors = std::vector<config_error>;

/// Joins every error on its own line.
std::string to_string(const config_errors& errors);

}  // namespace autodiscd
