#include "listeners/process/process_config.hpp"

#include "config/yaml_reader.hpp"

namespace autodiscd::process {
namespace {

/// A `match` regex: nullopt when absent; an error naming its key path when it does not compile.
std::optional<std::regex> read_regex(yaml_reader& r, std::string_view key) {
  auto text = r.optional_string(key);
  if (!text) return std::nullopt;
  try {
    return std::regex(*text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    r.error(key, "not a valid regular expression (ECMAScript): " + std::string(e.what()));
    return std::nullopt;
  }
}

process_rule read_rule(const YAML::Node& node, const std::string& file, const std::string& path,
                       config_errors& errors) {
  process_rule rule;
  if (!node.IsMap()) {
    errors.push_back({file, path, "expected a map with match and ad_identifiers"});
    return rule;
  }
  yaml_reader r(node, file, path, errors);
  const auto match = r.child("match");
  if (!match.IsDefined() || match.IsNull()) {
    r.error("match", "missing: a map of name, exe, cmdline and/or port regexes");
  } else if (!match.IsMap() || match.size() == 0) {
    r.error("match", "expected a map with at least one of name, exe, cmdline, port");
  } else {
    yaml_reader m(match, file, r.path("match"), errors);
    rule.name = read_regex(m, "name");
    rule.exe = read_regex(m, "exe");
    rule.cmdline = read_regex(m, "cmdline");
    rule.port = read_regex(m, "port");
    m.finish();
  }
  rule.ad_identifiers = r.string_list("ad_identifiers");
  if (rule.ad_identifiers.empty()) r.error("ad_identifiers", "missing: a non-empty list of identifiers");
  for (const auto& id : rule.ad_identifiers) {
    if (id.empty()) r.error("ad_identifiers", "an identifier cannot be empty");
  }
  r.finish();
  return rule;
}

}  // namespace

process_settings read_process_settings(const listener_config& config, config_errors& errors) {
  process_settings s;
  s.name = config.name.empty() ? "process" : config.name;
  yaml_reader r(config.node, config.file, config.key_path, errors);
  r.allow("type");
  r.allow("name");
  s.interval = r.duration("interval", s.interval);
  if (s.interval.count() <= 0) r.error("interval", "must be greater than 0");
  s.min_age = r.duration("min_age", s.min_age);
  s.removal_grace = r.duration("removal_grace", s.removal_grace);
  s.udp = r.boolean("udp", false);
  s.include_containers = r.boolean("include_containers", false);
  if (auto rules = r.child("rules"); rules.IsDefined() && !rules.IsNull()) {
    if (!rules.IsSequence()) {
      r.error("rules", "expected a list of {match, ad_identifiers}");
    } else {
      for (std::size_t i = 0; i < rules.size(); ++i) {
        s.rules.push_back(read_rule(rules[i], config.file, r.path("rules[" + std::to_string(i) + "]"), errors));
      }
    }
  }
  r.finish();
  return s;
}

}  // namespace autodiscd::process
