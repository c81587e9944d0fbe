#pragma once
// The check template model: what a template file, a container label or a pod
// annotation defines, before template variables are resolved.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace autodiscd {

using json = nlohmann::ordered_json;

/// The two kinds of output a template renders.
enum class template_kind {
  datadog,  ///< Datadog Agent check config: init_config, instances, logs
  file_sd,  ///< Prometheus file_sd target group: targets, labels
};

/// One check template. Values are JSON trees (parsed from YAML or from label JSON);
/// template variables are substituted in string values only.
struct check_template {
  std::string name;    ///< check name: the `<check>.d` folder, the file stem, or the label's key
  std::string source;  ///< where it came from: a file path, or "label:<key>" / "annotation:<key>"
  std::vector<std::string> ad_identifiers;
  template_kind kind = template_kind::datadog;
  json init_config;           ///< null when absent
  json instances = json::array();
  json logs;                  ///< null when absent
  bool ignore_autodiscovery_tags = false;
  json file_sd;               ///< {"targets": [...], "labels": {...}} for file_sd templates

  friend bool operator==(const check_template&, const check_template&) = default;
};

}  // namespace autodiscd
