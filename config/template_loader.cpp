#include "config/template_loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "config/yaml_json.hpp"

namespace autodiscd {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<std::string> read_file(const fs::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read file";
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::optional<check_template> template_from_json(const json& tree, const std::string& where,
                                                 const std::string& check_name,
                                                 bool require_ad_identifiers,
                                                 config_errors& errors) {
  const auto error_count = errors.size();
  auto fail = [&](std::string key, std::string message) {
    errors.push_back({where, std::move(key), std::move(message)});
  };
  if (!tree.is_object()) {
    if (require_ad_identifiers) return std::nullopt;  // not a template at all
    fail("", "expected a map");
    return std::nullopt;
  }
  check_template t;
  t.name = check_name;
  t.source = where;
  if (auto it = tree.find("ad_identifiers"); it != tree.end()) {
    if (!it->is_array()) {
      fail("ad_identifiers", "expected a list of strings");
    } else {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& id = (*it)[i];
        if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
          fail("ad_identifiers[" + std::to_string(i) + "]", "expected a non-empty string");
        } else {
          t.ad_identifiers.push_back(id.get<std::string>());
        }
      }
    }
  } else if (require_ad_identifiers) {
    return std::nullopt;  // a plain check config, not a template
  }
  if (auto it = tree.find("init_config"); it != tree.end()) {
    if (!it->is_null() && !it->is_object()) fail("init_config", "expected a map");
    t.init_config = *it;
  }
  if (auto it = tree.find("logs"); it != tree.end()) {
    if (!it->is_null() && !it->is_array()) fail("logs", "expected a list");
    t.logs = *it;
  }
  if (auto it = tree.find("ignore_autodiscovery_tags"); it != tree.end()) {
    if (!it->is_boolean()) fail("ignore_autodiscovery_tags", "expected true or false");
    else t.ignore_autodiscovery_tags = it->get<bool>();
  }
  const auto file_sd = tree.find("file_sd");
  const auto instances = tree.find("instances");
  if (file_sd != tree.end()) {
    t.kind = template_kind::file_sd;
    if (!file_sd->is_object()) {
      fail("file_sd", "expected a map with targets and labels");
    } else {
      const auto targets = file_sd->find("targets");
      if (targets == file_sd->end() || !targets->is_array() || targets->empty() ||
          !std::all_of(targets->begin(), targets->end(), [](const json& v) { return v.is_string(); })) {
        fail("file_sd.targets", "expected a non-empty list of strings");
      }
      if (auto labels = file_sd->find("labels"); labels != file_sd->end()) {
        if (!labels->is_object()) {
          fail("file_sd.labels", "expected a map of strings");
        } else {
          for (const auto& [key, value] : labels->items()) {
            if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
              fail("file_sd.labels." + key, "expected a string");
            }
          }
        }
      }
      for (const auto& [key, value] : file_sd->items()) {
        if (key != "targets" && key != "labels") fail("file_sd." + key, "unknown key");
      }
      t.file_sd = *file_sd;
    }
    if (instances != tree.end()) fail("instances", "a file_sd template has no instances");
  } else if (instances != tree.end()) {
    if (!instances->is_array()) {
      fail("instances", "expected a list");
    } else {
      for (std::size_t i = 0; i < instances->size(); ++i) {
        if (!(*instances)[i].is_object()) fail("instances[" + std::to_string(i) + "]", "expected a map");
      }
      t.instances = *instances;
    }
  } else if (t.logs.is_null()) {
    fail("instances", "missing: a template needs instances, logs or file_sd");
  }
  if (t.ad_identifiers.empty() && require_ad_identifiers && errors.size() == error_count) {
    fail("ad_identifiers", "expected at least one identifier");
  }
  if (errors.size() != error_count) return std::nullopt;
  return t;
}

std::optional<check_template> parse_template_text(const std::string& text,
                                                  const std::string& path,
                                                  const std::string& check_name,
                                                  config_errors& errors) {
  // The agent's YAML reader refuses such files, and JSON output (configs, file_sd) cannot
  // carry them.
  if (auto reason = unreadable_yaml_text(text)) {
    errors.push_back({path, "", *reason});
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back({path, "", "invalid YAML at line " + std::to_string(e.mark.line + 1) +
                                    ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg});
    return std::nullopt;
  }
  json tree;
  try {
    tree = yaml_to_json(root);
  } catch (const yaml_too_large& e) {
    errors.push_back({path, "", std::string("refused: ") + e.what()});
    return std::nullopt;
  }
  return template_from_json(tree, path, check_name, true, errors);
}

std::optional<std::pair<std::string, std::string>> nearest_existing_ancestor(const std::string& path) {
  fs::path child = fs::path(path).lexically_normal();
  if (child.has_filename() == false) child = child.parent_path();  // "a/b/" -> "a/b"
  for (int depth = 0; depth < 256 && !child.empty(); ++depth) {
    fs::path parent = child.parent_path();
    if (parent.empty()) parent = ".";
    std::error_code ec;
    if (fs::is_directory(parent, ec)) return std::make_pair(parent.string(), child.filename().string());
    if (parent == child || parent == ".") return std::nullopt;
    child = parent;
  }
  return std::nullopt;
}

template_set load_templates(const std::vector<std::string>& dirs) {
  template_set set;
  // check name -> files; defaults kept apart, used only when a check has no other file.
  struct check_files {
    std::vector<fs::path> files;
    std::vector<fs::path> defaults;
  };
  for (const auto& dir : dirs) {
    std::map<std::string, check_files> checks;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      set.errors.push_back({dir, "", "cannot read template folder: " + ec.message()});
      if (ec == std::errc::no_such_file_or_directory) {
        if (auto ancestor = nearest_existing_ancestor(dir)) set.awaited.push_back(std::move(*ancestor));
      }
      continue;
    }
    set.watched_dirs.push_back(dir);
    for (const auto& entry : it) {
      const auto name = entry.path().filename().string();
      if (entry.is_directory(ec) && ends_with(name, ".d")) {
        const auto check = name.substr(0, name.size() - 2);
        set.watched_dirs.push_back(entry.path().string());
        for (const auto& file : fs::directory_iterator(entry.path(), ec)) {
          const auto file_name = file.path().filename().string();
          if (file_name.starts_with(".") || !file.is_regular_file(ec)) continue;
          if (ends_with(file_name, ".yaml") || ends_with(file_name, ".yml")) {
            checks[check].files.push_back(file.path());
          } else if (ends_with(file_name, ".yaml.default")) {
            checks[check].defaults.push_back(file.path());
          }
        }
      } else if (entry.is_regular_file(ec) && !name.starts_with(".")) {
        if (ends_with(name, ".yaml")) {
          checks[name.substr(0, name.size() - 5)].files.push_back(entry.path());
        } else if (ends_with(name, ".yml")) {
          checks[name.substr(0, name.size() - 4)].files.push_back(entry.path());
        } else if (ends_with(name, ".yaml.default")) {
          checks[name.substr(0, name.size() - 13)].defaults.push_back(entry.path());
        }
      }
    }
    for (auto& [check, files] : checks) {
      auto& chosen = files.files.empty() ? files.defaults : files.files;
      for (const auto& path : chosen) {
        std::string read_error;
        auto text = read_file(path, read_error);
        if (!text) {
          set.errors.push_back({path.string(), "", read_error});
          continue;
        }
        if (auto t = parse_template_text(*text, path.string(), check, set.errors)) {
          set.templates.push_back(std::move(*t));
        }
      }
    }
  }
  std::sort(set.templates.begin(), set.templates.end(),
            [](const check_template& a, const check_template& b) { return a.source < b.source; });
  return set;
}

}  // namespace autodiscd
