#include "config/yaml_json.hpp"

#include <charconv>
#include <regex>

namespace autodiscd {
namespace {

bool is_null_word(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> bool_word(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::optional<long long> int_word(const std::string& s) {
  static const std::regex pattern("[-+]?[0-9]+");
  if (!std::regex_match(s, pattern)) return std::nullopt;
  long long value = 0;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> float_word(const std::string& s) {
  static const std::regex pattern(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (!std::regex_match(s, pattern)) return std::nullopt;
  return std::stod(s);
}

json plain_scalar(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (auto b = bool_word(s)) return *b;
  if (auto i = int_word(s)) return *i;
  if (auto f = float_word(s)) return *f;
  return s;
}

/// True when a plain (unquoted) emission of `s` would read back as the same string.
bool safe_plain(const std::string& s) {
  if (s.empty() || is_null_word(s) || bool_word(s) || int_word(s) || float_word(s)) return false;
  // YAML 1.1 readers (the Datadog Agent uses one) also type these.
  static const std::regex yaml11("y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|"
                                 "\\.inf|\\.Inf|\\.INF|-\\.inf|\\.nan|\\.NaN|0x[0-9a-fA-F]+|0o?[0-7]+");
  if (std::regex_match(s, yaml11)) return false;
  static const std::regex simple("[A-Za-z0-9_/][A-Za-z0-9_./@=+-]*");
  return std::regex_match(s, simple);
}

void emit(YAML::Emitter& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [key, child] : value.items()) {
        out << YAML::Key;
        if (safe_plain(key)) out << key;
        else out << YAML::DoubleQuoted << key;
        out << YAML::Value;
        emit(out, child);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& child : value) emit(out, child);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (safe_plain(s)) out << s;
      else out << YAML::DoubleQuoted << s;
      break;
    }
    case json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out << value.dump();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& entry : node) out[entry.first.Scalar()] = yaml_to_json(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& child : node) out.push_back(yaml_to_json(child));
      return out;
    }
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
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string text = out.c_str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

}  // namespace autodiscd
