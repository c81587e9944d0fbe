#pragma once
// Helpers shared by the libFuzzer targets: input splitting and cheap invariant checks.
// An invariant that fails prints what broke and aborts, so libFuzzer saves the input.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/check_template.hpp"
#include "config/resolver.hpp"
#include "config/writer.hpp"
#include "config/yaml_json.hpp"

namespace autodiscd::fuzz {

/// Aborts with `what` when `ok` is false.
inline void require(bool ok, const char* what, const std::string& detail = "") {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\n%s\n", what, detail.c_str());
  std::abort();
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits `text` at every `sep` (the pieces never contain it).
inline std::vector<std::string> split(std::string_view text, std::string_view sep) {
  std::vector<std::string> out;
  for (;;) {
    const auto at = text.find(sep);
    if (at == std::string_view::npos) {
      out.emplace_back(text);
      return out;
    }
    out.emplace_back(text.substr(0, at));
    text.remove_prefix(at + sep.size());
  }
}

/// `key<TAB>value` lines -> map (a line without a tab is a key with an empty value).
/// Keys get `prefix` unless they start with '!' (then taken literally, without the '!').
inline std::map<std::string, std::string> label_lines(std::string_view text, std::string_view prefix) {
  std::map<std::string, std::string> out;
  for (const auto& line : split(text, "\n")) {
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    std::string key = line.substr(0, tab);
    std::string value = tab == std::string::npos ? "" : line.substr(tab + 1);
    if (!key.empty() && key[0] == '!') key.erase(0, 1);
    else key = std::string(prefix) + key;
    out[key] = value;
  }
  return out;
}

/// A JSON dump that never throws (invalid UTF-8 replaced), for messages.
inline std::string show(const json& tree) { return tree.dump(-1, ' ', false, json::error_handler_t::replace); }

/// True when `tree` holds a number that YAML cannot carry exactly (unsigned above the signed
/// range, a float that is not finite): those are compared loosely.
inline bool has_unportable_number(const json& tree) {
  if (tree.is_structured()) {
    for (const auto& child : tree) {
      if (has_unportable_number(child)) return true;
    }
    return false;
  }
  if (tree.is_number_unsigned()) return tree.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX);
  if (tree.is_number_float()) return true;
  return false;
}

/// What autodiscd writes must read back as the tree it was made from: json_to_yaml then a
/// YAML reader (yaml_to_json) is the identity. Catches a value that changes type or
/// structure on the way to the agent (YAML injection).
inline void require_yaml_round_trip(const json& tree, const char* what) {
  const auto text = json_to_yaml(tree);
  YAML::Node back;
  try {
    back = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    require(false, what, std::string("written YAML does not parse: ") + e.what() + "\n" + text);
  }
  const auto again = yaml_to_json(back);
  if (has_unportable_number(tree)) return;
  require(again == tree, what, "tree:\n" + show(tree) + "\nwritten:\n" + text + "\nread back:\n" + show(again));
}

/// Every resolved config stays inside the output folder and its content reads back.
inline void require_valid_configs(const resolution& res) {
  for (const auto& c : res.configs) {
    require(config_writer::valid_relative_path(c.relative_path), "relative_path escapes or is invalid",
            c.relative_path);
    if (c.kind == template_kind::datadog) {
      YAML::Node doc;
      try {
        doc = YAML::Load(c.content);
      } catch (const YAML::Exception& e) {
        require(false, "written check config does not parse", std::string(e.what()) + "\n" + c.content);
      }
      require(doc.IsMap(), "written check config is not a map", c.content);
      const auto tree = yaml_to_json(doc);
      require(tree.contains("instances") || tree.contains("logs"), "written check config has no instances/logs",
              c.content);
    } else {
      json doc;
      try {
        doc = json::parse(c.content);
      } catch (const json::exception& e) {
        require(false, "written file_sd does not parse", std::string(e.what()) + "\n" + c.content);
      }
      require(doc.is_array() && doc.size() == 1, "file_sd is not one target group", c.content);
    }
  }
}

}  // namespace autodiscd::fuzz
