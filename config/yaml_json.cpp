#include "config/yaml_json.hpp"

#include <algorithm>

#include <charconv>
#include <limits>
#include <string_view>

namespace autodiscd {
namespace {

// The Datadog Agent reads check configs with a YAML 1.1 reader (go-yaml v2), which types
// plain scalars more eagerly than YAML 1.2: `yes`/`no`/`on`/`off`/`y`/`n` are booleans and
// integers may carry `_`, `0x`, `0b` or a leading-0 octal. Plain scalars in templates are
// typed the way the Agent would type them, and strings are quoted whenever any YAML
// reader could take them for something else. Hand-written checks: these run per scalar.

bool is_null_word(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_word(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

/// YAML 1.1 booleans that YAML 1.2 readers keep as strings.
std::optional<bool> yaml11_bool_word(std::string_view s) {
  if (s == "y" || s == "Y" || s == "yes" || s == "Yes" || s == "YES" || s == "on" || s == "On" ||
      s == "ON") {
    return true;
  }
  if (s == "n" || s == "N" || s == "no" || s == "No" || s == "NO" || s == "off" || s == "Off" ||
      s == "OFF") {
    return false;
  }
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = base == 16   ? (is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                    : base == 8  ? (c >= '0' && c <= '7')
                    : base == 2  ? (c == '0' || c == '1')
                                 : is_digit(c);
    if (!ok) return false;
  }
  return true;
}

/// Integers: `[-+]?[0-9]+`, and the YAML 1.1 forms `0x1F`, `0b101`, `017`, `1_000`.
std::optional<long long> int_word(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string digits;
  digits.reserve(s.size());
  bool negative = false;
  std::size_t i = 0;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i >= s.size() || !is_digit(s[i])) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] != '_') digits += s[i];
  }
  int base = 10;
  std::string_view body = digits;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    base = 2;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && body[1] == 'o') {
    base = 8;
    body.remove_prefix(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    body.remove_prefix(1);
  }
  if (!all_digits(body, base)) return std::nullopt;
  unsigned long long magnitude = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), magnitude, base);
  if (ec != std::errc() || ptr != body.data() + body.size()) return std::nullopt;
  constexpr auto max = static_cast<unsigned long long>(std::numeric_limits<long long>::max());
  if (magnitude > max + (negative ? 1ULL : 0ULL)) return std::nullopt;
  if (negative) return magnitude == max + 1ULL ? std::numeric_limits<long long>::min()
                                               : -static_cast<long long>(magnitude);
  return static_cast<long long>(magnitude);
}

/// Floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
bool float_shape(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

std::optional<double> float_word(const std::string& s) {
  if (!float_shape(s)) return std::nullopt;
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    return std::nullopt;  // out of range
  }
}

json plain_scalar(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (auto b = bool_word(s)) return *b;
  if (auto b = yaml11_bool_word(s)) return *b;
  if (auto i = int_word(s)) return *i;
  if (auto f = float_word(s)) return *f;
  return s;
}

bool plain_first_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '/';
}

bool plain_char(char c) {
  return plain_first_char(c) || is_digit(c) || c == '.' || c == '@' || c == '=' || c == '+' ||
         c == '-';
}

/// Digits separated by two or more dots ("172.17.0.2", "1.2.3"): a string in every YAML
/// reader, so IP addresses and versions stay unquoted.
bool dotted_numbers(std::string_view s) {
  int dots = 0;
  bool digit_before = false;
  for (char c : s) {
    if (c == '.') {
      if (!digit_before) return false;
      ++dots;
      digit_before = false;
    } else if (is_digit(c)) {
      digit_before = true;
    } else {
      return false;
    }
  }
  return dots >= 2 && digit_before;
}

/// True when a plain (unquoted) emission of `s` reads back as the same string in every
/// YAML reader: it starts with a letter, `_` or `/` (so it is no number, in any YAML
/// version), holds no YAML syntax, and is no null/bool word of YAML 1.1 or 1.2; or it is
/// dotted numbers like an IPv4 address.
bool safe_plain(std::string_view s) {
  if (s.empty()) return false;
  if (!plain_first_char(s[0])) return dotted_numbers(s);
  for (char c : s) {
    if (!plain_char(c)) return false;
  }
  return !is_null_word(s) && !bool_word(s) && !yaml11_bool_word(s);
}

/// A double-quoted scalar: every byte that could end, fold or break it is escaped,
/// including the YAML 1.1 line breaks NEL, LS and PS.
void write_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) {
      out += "\\u0085";  // not \N: yaml-cpp decodes that to a bare 0x85 byte
      i += 1;
    } else if (c == 0xe2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) == 0xa8 || static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void write_string(std::string& out, std::string_view s) {
  if (safe_plain(s)) out += s;
  else write_quoted(out, s);
}

bool is_block(const json& value) { return (value.is_object() || value.is_array()) && !value.empty(); }

void write_scalar(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      out += "{}";  // only ever called for empty containers
      break;
    case json::value_t::array:
      out += "[]";
      break;
    case json::value_t::string:
      write_string(out, value.get_ref<const std::string&>());
      break;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out += value.dump();
      break;
    default:
      out += '~';
      break;
  }
}

void new_line(std::string& out, int indent) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent), ' ');
}

/// Writes a non-empty map or list whose first line starts at the current position and
/// whose other lines are indented by `indent`. Block style, like yaml-cpp with indent 2.
void write_block(std::string& out, const json& value, int indent) {
  bool first = true;
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      if (!first) new_line(out, indent);
      first = false;
      // An implicit key is at most 1024 characters (YAML 1.2, 7.4.2; yaml-cpp and the agent's
      // reader refuse longer ones): a longer key is written explicitly, "? key" then ": value"
      // (found by fuzz_template_file).
      std::string key_text;
      write_string(key_text, key);
      if (key_text.size() > 1024) {
        out += "? ";
        out += key_text;
        new_line(out, indent);
      } else {
        out += key_text;
      }
      out += ':';
      if (is_block(child)) {
        new_line(out, indent + 2);
        write_block(out, child, indent + 2);
      } else {
        out += ' ';
        write_scalar(out, child);
      }
    }
  } else {
    for (const auto& child : value) {
      if (!first) new_line(out, indent);
      first = false;
      out += "- ";
      if (is_block(child)) write_block(out, child, indent + 2);
      else write_scalar(out, child);
    }
  }
}

}  // namespace

std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;  // no overlong forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    i += length;
  }
  return std::nullopt;
}

namespace {

json yaml_to_json(const YAML::Node& node, std::size_t depth, std::size_t& nodes) {
  if (depth > yaml_max_depth) {
    throw yaml_too_large("nested deeper than " + std::to_string(yaml_max_depth) +
                         " levels (an anchor used inside itself?)");
  }
  if (++nodes > yaml_max_nodes) {
    throw yaml_too_large("more than " + std::to_string(yaml_max_nodes) + " values once aliases are expanded");
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) out[entry.first.Scalar()] = yaml_to_json(entry.second, depth + 1, nodes);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& child : node) out.push_back(yaml_to_json(child, depth + 1, nodes));
      return out;
    }
    default:
      return autodiscd::yaml_to_json(node);
  }
}

}  // namespace

json yaml_to_json(const YAML::Node& node) {
  if (node.IsMap() || node.IsSequence()) {
    std::size_t nodes = 0;
    return yaml_to_json(node, 0, nodes);
  }
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and plain ones "?"; explicit tags are kept.
      if (node.Tag() == "?") return plain_scalar(node.Scalar());
      if (node.Tag() == "tag:yaml.org,2002:int" || node.Tag() == "tag:yaml.org,2002:float" ||
          node.Tag() == "tag:yaml.org,2002:bool" || node.Tag() == "tag:yaml.org,2002:null") {
        return plain_scalar(node.Scalar());
      }
      return node.Scalar();
    default:
      return nullptr;
  }
}

std::string json_to_yaml(const json& value) {
  // Hand-written: yaml-cpp's emitter re-checks every plain scalar with its own regular
  // expressions, which cost most of the time; our strings are already classified.
  std::string text;
  if (is_block(value)) write_block(text, value, 0);
  else write_scalar(text, value);
  text += '\n';
  return text;
}

std::optional<std::string> unreadable_yaml_text(std::string_view text) {
  const auto nul = text.find('\0');
  const auto bad = invalid_utf8_at(text);
  if (nul == std::string_view::npos && !bad) return std::nullopt;
  const auto at = std::min(nul, bad.value_or(std::string_view::npos));
  const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1;
  return std::string(at == nul ? "a NUL byte" : "not valid UTF-8") + " at line " + std::to_string(line) +
         " (byte " + std::to_string(at) + ")";
}

}  // namespace autodiscd
