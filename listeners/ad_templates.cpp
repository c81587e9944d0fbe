#include "listeners/ad_templates.hpp"

#include <algorithm>
#include <set>

#include "config/template_loader.hpp"

namespace autodiscd {
namespace {

const std::string* find(const std::map<std::string, std::string>& entries, std::string_view prefix,
                        std::string_view key) {
  const auto it = entries.find(std::string(prefix) + std::string(key));
  return it == entries.end() ? nullptr : &it->second;
}

/// Templates are a few levels deep; a label nested deeper is refused before anything walks
/// it recursively (substitution, YAML output), so a hostile label cannot exhaust the stack.
constexpr int max_label_depth = 64;

/// Parses one entry as JSON; appends an error naming the key on failure.
std::optional<json> parse_json(const std::string& text, const std::string& key, std::string_view where,
                               std::vector<std::string>& errors) {
  bool too_deep = false;
  const json::parser_callback_t depth_limit = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > max_label_depth) too_deep = true;
    return !too_deep;  // once too deep, drop everything (parsing stays linear)
  };
  try {
    auto tree = json::parse(text, depth_limit);
    if (too_deep) {
      errors.push_back(std::string(where) + ": " + key + ": JSON nested deeper than " +
                       std::to_string(max_label_depth) + " levels");
      return std::nullopt;
    }
    return tree;
  } catch (const json::exception& e) {  // parse errors, and numbers out of range (1e999)
    errors.push_back(std::string(where) + ": " + key + ": invalid JSON: " + e.what());
    return std::nullopt;
  }
}

void add_template(const json& tree, const std::string& check, const std::string& source,
                  service_templates& out) {
  config_errors errors;
  if (auto t = template_from_json(tree, source, check, /*require_ad_identifiers=*/false, errors)) {
    out.templates.push_back(std::move(*t));
  }
  for (const auto& e : errors) out.errors.push_back(e.to_string());
}

void parse_v2(const std::string& text, const std::string& key, std::string_view where,
              service_templates& out) {
  auto checks = parse_json(text, key, where, out.errors);
  if (!checks) return;
  if (!checks->is_object()) {
    out.errors.push_back(std::string(where) + ": " + key + ": expected a JSON object of check name to config");
    return;
  }
  for (const auto& [check, body] : checks->items()) {
    if (!body.is_object()) {
      out.errors.push_back(std::string(where) + ": " + key + "." + check + ": expected a JSON object");
      continue;
    }
    json tree = body;
    if (!tree.contains("instances") && !tree.contains("logs")) tree["instances"] = json::array({json::object()});
    add_template(tree, check, std::string(where) + " " + key + "." + check, out);
  }
}

void parse_v1(const std::map<std::string, std::string>& entries, std::string_view prefix,
              std::string_view where, service_templates& out) {
  const auto* names_text = find(entries, prefix, "check_names");
  const auto* logs_text = find(entries, prefix, "logs");
  const auto key = [&](std::string_view k) { return std::string(prefix) + std::string(k); };
  std::optional<json> logs;
  if (logs_text) {
    logs = parse_json(*logs_text, key("logs"), where, out.errors);
    if (logs && !logs->is_array()) {
      out.errors.push_back(std::string(where) + ": " + key("logs") + ": expected a JSON list");
      logs.reset();
    }
  }
  if (!names_text) {
    if (logs) add_template({{"logs", *logs}}, "logs", std::string(where) + " " + key("logs"), out);
    return;
  }
  auto names = parse_json(*names_text, key("check_names"), where, out.errors);
  if (!names) return;
  if (!names->is_array() || !std::all_of(names->begin(), names->end(), [](const json& n) { return n.is_string(); })) {
    out.errors.push_back(std::string(where) + ": " + key("check_names") + ": expected a JSON list of strings");
    return;
  }
  if (names->empty()) {
    out.disable_file_templates = true;
    return;
  }
  const auto* init_text = find(entries, prefix, "init_configs");
  const auto* instances_text = find(entries, prefix, "instances");
  if (!instances_text) {
    out.errors.push_back(std::string(where) + ": " + key("instances") + ": missing (check_names is set)");
    return;
  }
  auto instances = parse_json(*instances_text, key("instances"), where, out.errors);
  std::optional<json> inits = init_text ? parse_json(*init_text, key("init_configs"), where, out.errors)
                                        : std::optional<json>(json::array());
  if (!instances || !inits) return;
  if (!instances->is_array() || instances->size() != names->size()) {
    out.errors.push_back(std::string(where) + ": " + key("instances") + ": expected a JSON list with one entry per check name (" +
                         std::to_string(names->size()) + ")");
    return;
  }
  if (!inits->is_array() || (!inits->empty() && inits->size() != names->size())) {
    out.errors.push_back(std::string(where) + ": " + key("init_configs") + ": expected a JSON list with one entry per check name (" +
                         std::to_string(names->size()) + ")");
    return;
  }
  for (std::size_t i = 0; i < names->size(); ++i) {
    const auto check = (*names)[i].get<std::string>();
    json tree = json::object();
    tree["init_config"] = inits->empty() ? json(nullptr) : (*inits)[i];
    const auto& entry = (*instances)[i];
    tree["instances"] = entry.is_array() ? entry : json::array({entry});
    if (i == 0 && logs) tree["logs"] = *logs;
    add_template(tree, check, std::string(where) + " " + key("instances") + "[" + std::to_string(i) + "]", out);
  }
}

}  // namespace

service_templates parse_ad_templates(const std::map<std::string, std::string>& entries,
                                     std::string_view prefix, std::string_view where) {
  service_templates out;
  if (const auto* checks = find(entries, prefix, "checks")) {
    parse_v2(*checks, std::string(prefix) + "checks", where, out);
    // The logs label applies with v2 too: to the first check, or as a logs-only config.
    if (const auto* logs_text = find(entries, prefix, "logs")) {
      const auto key = std::string(prefix) + "logs";
      auto logs = parse_json(*logs_text, key, where, out.errors);
      if (logs && !logs->is_array()) {
        out.errors.push_back(std::string(where) + ": " + key + ": expected a JSON list");
      } else if (logs && !out.templates.empty()) {
        out.templates.front().logs = *logs;
      } else if (logs) {
        add_template({{"logs", *logs}}, "logs", std::string(where) + " " + key, out);
      }
    }
  } else {
    parse_v1(entries, prefix, where, out);
  }
  if (const auto* ignore = find(entries, prefix, "ignore_autodiscovery_tags")) {
    // Read like Go's strconv.ParseBool, as the Datadog Agent does.
    static const std::set<std::string> truthy{"1", "t", "T", "true", "True", "TRUE"};
    static const std::set<std::string> falsy{"0", "f", "F", "false", "False", "FALSE"};
    if (truthy.contains(*ignore)) {
      for (auto& t : out.templates) t.ignore_autodiscovery_tags = true;
    } else if (!falsy.contains(*ignore)) {
      out.errors.push_back(std::string(where) + ": " + std::string(prefix) +
                           "ignore_autodiscovery_tags: expected true or false");
    }
  }
  // A malformed entry rejects this source's label templates only (never file templates).
  if (!out.errors.empty()) out.templates.clear();
  return out;
}

}  // namespace autodiscd
