#pragma once
// Conversions between YAML documents and the JSON trees templates are held in.

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config/check_template.hpp"

namespace autodiscd {

/// Converts a YAML node into JSON. Plain scalars are typed as the Datadog Agent's YAML 1.1
/// reader types them (null, true/false and yes/no/on/off, integers incl. 0x/0b/octal/`_`,
/// floats); quoted scalars and `!!str` stay strings. Throws yaml_too_large when the tree is
/// nested deeper than yaml_max_depth or has more than yaml_max_nodes nodes counting every
/// alias use: an anchor used inside itself (a cycle) or aliases of aliases ("billion laughs")
/// would otherwise exhaust the stack or the memory.
json yaml_to_json(const YAML::Node& node);

inline constexpr std::size_t yaml_max_depth = 512;
inline constexpr std::size_t yaml_max_nodes = 100'000;

struct yaml_too_large : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The offset of the first byte of `text` that is not well-formed UTF-8 (overlong forms,
/// surrogates and code points above U+10FFFF included), or nullopt when all of it is. Files
/// whose values end up in JSON output (services, configs, file_sd) must be UTF-8.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);

/// Why `text` cannot be read as a YAML document: a NUL byte (YAML forbids it, and yaml-cpp
/// turns what follows into bytes that are not UTF-8) or bytes that are not UTF-8; the reason
/// names the line and byte. nullopt when the text can be parsed.
std::optional<std::string> unreadable_yaml_text(std::string_view text);

/// Emits a JSON tree as block YAML. Strings that a YAML reader would type as something
/// else (or that hold YAML syntax) are double-quoted, so no value can change the structure.
std::string json_to_yaml(const json& value);

}  // namespace autodiscd
