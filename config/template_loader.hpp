#pragma once
// Loading check templates from template folders (Datadog auto_conf layout).

#include <optional>
#include <string>
#include <vector>

#include "config/check_template.hpp"
#include "config/config_error.hpp"

namespace autodiscd {

/// Parses one template file's text. Returns nullopt when the file is not a template
/// (no `ad_identifiers`) or when it has errors (appended to `errors`). Pure.
std::optional<check_template> parse_template_text(const std::string& text,
                                                  const std::string& path,
                                                  const std::string& check_name,
                                                  config_errors& errors);

/// Builds a check template from an already parsed tree (shared with label and annotation
/// templates). `where` names the source in errors. Pure.
std::optional<check_template> template_from_json(const json& tree, const std::string& where,
                                                 const std::string& check_name,
                                                 bool require_ad_identifiers,
                                                 config_errors& errors);

/// Templates found in folders, with the errors of the files that were skipped.
struct template_set {
  std::vector<check_template> templates;
  config_errors errors;
  /// Every file and folder read (to watch for changes).
  std::vector<std::string> watched_dirs;
  /// For each template folder that does not exist: its nearest existing ancestor and the
  /// name in it that leads to the folder, so the folder is picked up when it appears.
  std::vector<std::pair<std::string, std::string>> awaited;
};

/// The nearest existing ancestor of `path` (which does not exist) and the name in it on the
/// way to `path`; nullopt when no ancestor exists (a relative path's is ".").
std::optional<std::pair<std::string, std::string>> nearest_existing_ancestor(const std::string& path);

/// Reads `<dir>/<check>.d/*.yaml|*.yml` and `<dir>/<check>.yaml` from each folder;
/// `*.yaml.default` only when the check has no other file. Bad files are reported and
/// skipped; the others still load. Sorted by source path for stable output.
template_set load_templates(const std::vector<std::string>& dirs);

}  // namespace autodiscd
