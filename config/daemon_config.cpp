#include "config/daemon_config.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/yaml_json.hpp"
#include "config/yaml_reader.hpp"

namespace autodiscd {
namespace fs = std::filesystem;
namespace {

/// `path` made absolute against `base_dir`, normalized, without a trailing slash.
std::string absolute_from(const std::string& base_dir, const std::string& path) {
  if (path.empty()) return path;
  auto out = (fs::path(path).is_absolute() ? fs::path(path) : fs::path(base_dir) / path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

config_errors parse_daemon_config(const std::string& text, const std::string& file,
                                  const std::string& base_dir, daemon_config& out) {
  config_errors errors;
  out = daemon_config{};
  out.file = file;
  if (auto reason = unreadable_yaml_text(text)) {
    errors.push_back({file, "", *reason});
    return errors;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back({file, "", "invalid YAML at line " + std::to_string(e.mark.line + 1) +
                                    ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg});
    return errors;
  }
  if (root.IsNull() || !root.IsDefined()) root = YAML::Node(YAML::NodeType::Map);
  yaml_reader top(root, file, "", errors);
  if (!top.is_map()) return errors;

  // listeners
  auto listeners = top.child("listeners");
  if (!listeners.IsDefined() || listeners.IsNull() || !listeners.IsSequence() || listeners.size() == 0) {
    errors.push_back({file, "listeners", "expected a non-empty list of {type: static|docker|kubelet|ecs, ...}"});
  } else {
    std::set<std::string> names;
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      const auto key_path = "listeners[" + std::to_string(i) + "]";
      auto node = listeners[i];
      if (!node.IsMap()) {
        errors.push_back({file, key_path, "expected a map with a type"});
        continue;
      }
      listener_config lc;
      lc.file = file;
      lc.key_path = key_path;
      lc.node = YAML::Clone(node);
      lc.type = node["type"] && node["type"].IsScalar() ? node["type"].Scalar() : "";
      lc.name = node["name"] && node["name"].IsScalar() ? node["name"].Scalar() : lc.type;
      const auto* factory = find_listener_factory(lc.type);
      if (!factory) {
        std::string known;
        for (const auto& f : listener_factories()) known += (known.empty() ? "" : "|") + std::string(f.type);
        errors.push_back({file, key_path + ".type", "expected one of " + known + ", got '" + lc.type + "'"});
        continue;
      }
      if (!names.insert(lc.name).second) {
        errors.push_back({file, key_path + ".name",
                          "duplicate listener name '" + lc.name + "': give each listener of a type its own name"});
      }
      // Paths in a listener's settings are relative to the config file as well.
      for (const char* key : {"path", "ca_file", "client_cert", "client_key", "token_file", "cert_path"}) {
        if (lc.node[key] && lc.node[key].IsScalar()) {
          lc.node[key] = absolute_from(base_dir, lc.node[key].Scalar());
        }
      }
      factory->validate(lc, errors);
      YAML::Emitter emitter;
      emitter << lc.node;
      lc.canonical = emitter.c_str();
      out.listeners.push_back(std::move(lc));
    }
  }

  // templates
  {
    yaml_reader templates(top.child("templates"), file, "templates", errors);
    for (const auto& dir : templates.string_list("dirs")) {
      out.template_dirs.push_back(absolute_from(base_dir, dir));
    }
    templates.finish();
  }

  // output
  {
    yaml_reader output(top.child("output"), file, "output", errors);
    out.output_dir = absolute_from(base_dir, output.string("dir", ""));
    if (out.output_dir.empty()) errors.push_back({file, "output.dir", "missing: the folder to write configs into"});
    out.remove_output_on_exit = output.boolean("remove_on_exit", false);
    auto hook = output.child("on_change");
    if (hook.IsDefined() && !hook.IsNull()) {
      yaml_reader on_change(hook, file, "output.on_change", errors);
      out.on_change.command = on_change.string_list("command");
      if (out.on_change.command.empty()) on_change.error("command", "expected a non-empty list: program and arguments");
      out.on_change.debounce = on_change.duration("debounce", out.on_change.debounce);
      out.on_change.timeout = on_change.duration("timeout", out.on_change.timeout);
      on_change.finish();
    }
    output.finish();
  }

  // status
  {
    yaml_reader status(top.child("status"), file, "status", errors);
    out.status_listen = status.string("listen", out.status_listen);
    status.finish();
  }

  // log
  {
    yaml_reader log(top.child("log"), file, "log", errors);
    out.log_level = log.string("level", out.log_level);
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
    if (!levels.contains(out.log_level)) log.error("level", "expected trace|debug|info|warn|error|critical|off");
    out.log_format = log.string("format", out.log_format);
    if (out.log_format != "text" && out.log_format != "json") log.error("format", "expected text or json");
    log.finish();
  }
  out.startup_grace = top.duration("startup_grace", out.startup_grace);
  top.finish();
  return errors;
}

config_errors load_daemon_config(const std::string& path, daemon_config& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {{path, "", "cannot read the config file"}};
  std::ostringstream text;
  text << in.rdbuf();
  const auto base = fs::absolute(path).parent_path().string();
  return parse_daemon_config(text.str(), path, base, out);
}

}  // namespace autodiscd
