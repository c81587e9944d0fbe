#include "config/config_error.hpp"

namespace autodiscd {

std::string config_error::to_string() const {
  std::string out;
  if (!file.empty()) out += file + ": ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

std::string to_string(const config_errors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += '\n';
    out += e.to_string();
  }
  return out;
}

}  // namespace autodiscd
