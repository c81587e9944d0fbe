#include "listeners/static/static_services.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/yaml_json.hpp"
#include "config/yaml_reader.hpp"

namespace autodiscd {
namespace {

/// "line N" of a node whose document began at line `first_line` (0-based) of the file.
std::string at_line(const YAML::Node& node, std::size_t first_line) {
  return "line " + std::to_string(first_line + static_cast<std::size_t>(node.Mark().line) + 1);
}

/// Reads entry `i` of the list (found at `first_line` + its own line) into `out`.
void read_service(const YAML::Node& node, std::size_t i, std::size_t first_line, const std::string& file,
                  const std::string& listener_name, config_errors& errors, service_map& out) {
  const auto line_of = [first_line](const YAML::Node& n) { return at_line(n, first_line); };
  // Appended, not `"[" + std::to_string(i) + ...`: GCC 12 at -O3 sees that operator+ inlined
  // and reports a false -Wrestrict inside libstdc++'s string insert.
  std::string where = "[";
  where.append(std::to_string(i)).append("] (").append(line_of(node)).append(")");
  yaml_reader r(node, file, where, errors);
  if (!node.IsMap()) return;
  service svc;
  svc.listener = listener_name;
  svc.id = r.string("id", "");
  if (svc.id.empty()) r.error("id", "missing: every service needs an id");
  r.allow("listener");
  svc.ad_identifiers = r.string_list("ad_identifiers");
  if (svc.ad_identifiers.empty()) r.error("ad_identifiers", "missing: a non-empty list of identifiers");
  if (auto hosts = r.child("hosts"); hosts.IsDefined() && !hosts.IsNull()) {
    svc.hosts.emplace();
    if (!hosts.IsMap()) r.error("hosts", "expected a map of network name to IP (" + line_of(hosts) + ")");
    else for (const auto& h : hosts) {
      if (!h.second.IsScalar()) r.error("hosts." + h.first.Scalar(), "expected an IP address (" + line_of(h.second) + ")");
      else (*svc.hosts)[h.first.Scalar()] = h.second.Scalar();
    }
  }
  if (auto ports = r.child("ports"); ports.IsDefined() && !ports.IsNull()) {
    svc.ports.emplace();
    if (!ports.IsSequence()) {
      r.error("ports", "expected a list of {port, name} or numbers (" + line_of(ports) + ")");
    } else {
      for (std::size_t p = 0; p < ports.size(); ++p) {
        const auto key = "ports[" + std::to_string(p) + "]";
        const auto entry = ports[p];
        service_port port;
        // Never assign one YAML::Node to another that already refers into the document:
        // yaml-cpp then rewrites the document itself. Initialise once instead.
        const YAML::Node number = [&] {
          if (!entry.IsMap()) return entry;
          yaml_reader pr(entry, file, r.path(key), errors);
          port.name = pr.string("name", "");
          auto value = pr.child("port");
          pr.finish();
          return value;
        }();
        int value = 0;
        try {
          value = number.IsScalar() ? number.as<int>() : 0;
        } catch (const YAML::Exception&) {
          value = 0;
        }
        if (value < 1 || value > 65535) {
          r.error(key, "expected a port number from 1 to 65535 (" + line_of(entry) + ")");
          continue;
        }
        port.port = value;
        svc.ports->push_back(port);
      }
      normalize_ports(*svc.ports);
    }
  }
  svc.tags = r.string_list("tags");
  if (auto pid = r.child("pid"); pid.IsDefined() && !pid.IsNull()) {
    svc.pid = r.integer("pid", 0, 0, 1LL << 40);
  }
  svc.hostname = r.optional_string("hostname");
  svc.ready = r.boolean("ready", true);
  if (auto extra = r.child("extra"); extra.IsDefined() && !extra.IsNull()) {
    if (!extra.IsMap()) r.error("extra", "expected a map of strings");
    else for (const auto& e : extra) {
      if (!e.second.IsScalar()) r.error("extra." + e.first.Scalar(), "expected a string (" + line_of(e.second) + ")");
      else svc.extra[e.first.Scalar()] = e.second.Scalar();
    }
  }
  r.finish();
  if (!svc.id.empty() && out.contains(svc.id)) {
    r.error("id", "duplicate service id " + svc.id);
    return;
  }
  if (!svc.id.empty()) put_service(out, std::move(svc));
}

/// One entry of a top-level block list: its text ("- ..." up to the next entry) and the line
/// it starts on (0-based).
struct list_entry {
  std::string_view text;
  std::size_t first_line = 0;
};

/// Cuts a file that is a plain block list at column 0 into its entries: every line that starts
/// with "-" and a blank starts one, and before the first only blank lines and comments may
/// come. nullopt for anything else (another shape, anchors or aliases that tie entries
/// together, directives, document markers): then the file is read whole.
std::optional<std::vector<list_entry>> split_block_list(std::string_view text) {
  if (text.find_first_of("&*") != std::string_view::npos) return std::nullopt;
  std::vector<list_entry> entries;
  std::vector<std::size_t> starts;  // byte offset of each entry
  std::size_t line = 0;
  for (std::size_t at = 0; at < text.size(); ++line) {
    const auto end = std::min(text.find('\n', at), text.size());
    const auto content = text.substr(at, end - at);
    const bool starts_entry = content.starts_with('-') &&
                              (content.size() == 1 || content[1] == ' ' || content[1] == '\t' || content[1] == '\r');
    if (starts_entry) {
      starts.push_back(at);
      entries.push_back({{}, line});
    } else if (entries.empty()) {
      const auto first = content.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && content[first] != '#') return std::nullopt;
    } else if (!content.empty() && content[0] != ' ' && content[0] != '\t' && content[0] != '#' && content[0] != '\r') {
      return std::nullopt;  // another node at column 0: not an entry of the list
    }
    at = end + 1;
  }
  if (entries.empty()) return std::nullopt;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto next = i + 1 < starts.size() ? starts[i + 1] : text.size();
    entries[i].text = text.substr(starts[i], next - starts[i]);
  }
  return entries;
}

/// Reads the entries one by one: a yaml-cpp tree costs about 20 KB per service, so a file of
/// 10,000 read whole peaks at 200 MB; entry by entry it is one entry's tree at a time. False
/// when an entry is not a YAML list of one on its own (the file is then read whole, which
/// gives the same services and the errors as they always were).
bool read_by_entry(const std::vector<list_entry>& entries, const std::string& file, const std::string& listener_name,
                   config_errors& errors, service_map& out) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    YAML::Node one;
    try {
      one = YAML::Load(std::string(entries[i].text));
    } catch (const YAML::Exception&) {
      return false;
    }
    if (!one.IsSequence() || one.size() != 1) return false;
    read_service(one[0], i, entries[i].first_line, file, listener_name, errors, out);
  }
  return true;
}

}  // namespace

config_errors parse_static_services(const std::string& text, const std::string& file,
                                    const std::string& listener_name, service_map& out) {
  config_errors errors;
  out.clear();
  // Service fields end up in JSON output (the `services` contract, configs): UTF-8 only.
  if (auto reason = unreadable_yaml_text(text)) {
    errors.push_back({file, "", *reason});
    return errors;
  }
  if (const auto entries = split_block_list(text)) {
    if (read_by_entry(*entries, file, listener_name, errors, out)) {
      if (!errors.empty()) out.clear();
      return errors;
    }
    errors.clear();
    out.clear();
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back({file, "", "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg});
    return errors;
  }
  if (!root.IsDefined() || root.IsNull()) return errors;  // empty file: no services
  if (!root.IsSequence()) {
    errors.push_back({file, "", "expected a list of services"});
    return errors;
  }
  for (std::size_t i = 0; i < root.size(); ++i) read_service(root[i], i, 0, file, listener_name, errors, out);
  if (!errors.empty()) out.clear();
  return errors;
}

}  // namespace autodiscd
