#include "config/resolver.hpp"

#include <algorithm>
#include <set>

#include "config/yaml_json.hpp"

namespace autodiscd {

template_index::template_index(std::vector<check_template> templates)
    : templates_(std::move(templates)) {
  for (std::size_t i = 0; i < templates_.size(); ++i) {
    for (const auto& id : templates_[i].ad_identifiers) {
      auto& list = by_identifier_[id];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
  }
}

std::vector<const check_template*> template_index::matching(
    const std::vector<std::string>& identifiers) const {
  std::vector<std::size_t> found;
  for (const auto& id : identifiers) {
    if (auto it = by_identifier_.find(id); it != by_identifier_.end()) {
      found.insert(found.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::vector<const check_template*> out;
  out.reserve(found.size());
  for (auto i : found) out.push_back(&templates_[i]);
  return out;
}

std::string safe_file_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty()) return "_";
  if (out[0] == '.') out[0] = '_';
  return out;
}

namespace {

/// Merges the service tags into an instance's `tags` list: sorted, without duplicates.
void merge_tags(json& instance, const std::vector<std::string>& tags) {
  if (!instance.is_object()) return;
  std::set<std::string> merged(tags.begin(), tags.end());
  if (auto it = instance.find("tags"); it != instance.end() && !it->is_null()) {
    if (!it->is_array()) return;  // not a list: leave the user's value as it is
    for (const auto& tag : *it) merged.insert(tag.is_string() ? tag.get<std::string>() : tag.dump());
  }
  if (merged.empty()) return;
  instance["tags"] = json(std::vector<std::string>(merged.begin(), merged.end()));
}

json file_sd_group(json file_sd) {
  json group = json::object();
  // Prometheus wants strings: a whole-variable target may have been typed as a number.
  json targets = json::array();
  for (const auto& target : file_sd["targets"]) {
    targets.push_back(target.is_string() ? target.get<std::string>() : target.dump());
  }
  group["targets"] = std::move(targets);
  json labels = json::object();
  if (auto it = file_sd.find("labels"); it != file_sd.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      labels[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  group["labels"] = std::move(labels);
  return json::array({std::move(group)});
}

}  // namespace

std::string render_datadog(const json& init_config, const json& instances, const json& logs) {
  json doc = json::object();
  doc["init_config"] = init_config.is_null() ? json::object() : init_config;
  doc["instances"] = instances;
  if (!logs.is_null()) doc["logs"] = logs;
  return json_to_yaml(doc);
}

resolution resolve_service(const service& svc, const template_index& templates, const env_lookup& env) {
  resolution result;
  if (!svc.ready) return result;

  // Label templates replace file templates of the same check name.
  std::vector<const check_template*> chosen;
  std::set<std::string> label_checks;
  for (const auto& t : svc.label_templates.templates) {
    chosen.push_back(&t);
    label_checks.insert(t.name);
  }
  for (const auto& error : svc.label_templates.errors) {
    result.rejected.push_back({svc.id, "", "labels", error});
  }
  if (!svc.label_templates.disable_file_templates) {
    for (const auto* t : templates.matching(svc.ad_identifiers)) {
      if (!label_checks.contains(t->name)) chosen.push_back(t);
    }
  }

  std::map<std::string, int> per_check;  // how many files a folder already has for svc
  const auto safe_id = safe_file_name(svc.id);
  for (const auto* t : chosen) {
    auto reject = [&](std::string reason) {
      result.rejected.push_back({svc.id, t->name, t->source, std::move(reason)});
    };
    std::string content;
    std::vector<std::string> used;  // env values this template put in
    const env_lookup recording = [&env, &used](const std::string& name) {
      auto value = env(name);
      if (value && !value->empty() && std::find(used.begin(), used.end(), *value) == used.end()) used.push_back(*value);
      return value;
    };
    if (t->kind == template_kind::file_sd) {
      json file_sd = t->file_sd;
      if (auto error = substitute_variables(file_sd, svc, recording)) {
        reject(*error);
        continue;
      }
      try {
        content = file_sd_group(std::move(file_sd)).dump(2) + "\n";
      } catch (const json::type_error& e) {  // invalid UTF-8 from the template or the service
        reject(std::string("cannot write the file_sd group as JSON: ") + e.what());
        continue;
      }
    } else {
      json init_config = t->init_config;
      json instances = t->instances;
      json logs = t->logs;
      std::optional<std::string> error;
      for (json* tree : {&init_config, &instances, &logs}) {
        if (!error) error = substitute_variables(*tree, svc, recording);
      }
      if (error) {
        reject(*error);
        continue;
      }
      if (!t->ignore_autodiscovery_tags) {
        for (auto& instance : instances) merge_tags(instance, svc.tags);
      }
      content = render_datadog(init_config, instances, logs);
    }
    // Counted per output folder and format: two check names that map to the same safe
    // folder name still get distinct files.
    const auto folder = safe_file_name(t->name) + ".d/";
    const std::string ext = t->kind == template_kind::file_sd ? ".json" : ".yaml";
    const int n = per_check[folder + ext]++;
    // Appended, not `"_" + std::to_string(n)`: GCC 12 at -O3 sees that operator+ inlined and
    // reports a false -Wrestrict inside libstdc++'s string insert.
    std::string path;
    path.reserve(folder.size() + safe_id.size() + 12 + ext.size());  // 12: "_" and an int
    path.append(folder).append(safe_id);
    if (n != 0) path.append("_").append(std::to_string(n));
    path.append(ext);
    // The app keeps every config for as long as its service runs: no spare capacity (the
    // rendering grows the text by doubling).
    content.shrink_to_fit();
    result.configs.push_back({svc.id, t->name, t->source, t->kind, std::move(path), std::move(content), std::move(used)});
  }
  return result;
}

std::string redact_env_values(std::string content, const std::vector<std::string>& values) {
  auto replace_all = [&content](const std::string& what) {
    if (what.empty()) return;
    for (auto at = content.find(what); at != std::string::npos; at = content.find(what, at + 8)) {
      content.replace(at, what.size(), "********");
    }
  };
  for (const auto& v : values) {
    replace_all(v);
    auto escaped = json(v).dump(-1, ' ', false, json::error_handler_t::replace);
    replace_all(escaped.substr(1, escaped.size() - 2));
    std::string doubled;
    for (char ch : v) doubled += ch == '\'' ? std::string("''") : std::string(1, ch);
    replace_all(doubled);
  }
  return content;
}

}  // namespace autodiscd
