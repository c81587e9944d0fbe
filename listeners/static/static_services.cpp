#include "listeners/static/static_services.hpp"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "config/yaml_json.hpp"
#include "config/yaml_reader.hpp"

namespace autodiscd {
namespace {

std::string at_line(const YAML::Node& node) {
  return "line " + std::to_string(node.Mark().line + 1);
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
  for (std::size_t i = 0; i < root.size(); ++i) {
    const auto node = root[i];
    // Appended, not `"[" + std::to_string(i) + ...`: GCC 12 at -O3 sees that operator+ inlined
    // and reports a false -Wrestrict inside libstdc++'s string insert.
    std::string where = "[";
    where.append(std::to_string(i)).append("] (").append(at_line(node)).append(")");
    yaml_reader r(node, file, where, errors);
    if (!node.IsMap()) continue;
    service svc;
    svc.listener = listener_name;
    svc.id = r.string("id", "");
    if (svc.id.empty()) r.error("id", "missing: every service needs an id");
    r.allow("listener");
    svc.ad_identifiers = r.string_list("ad_identifiers");
    if (svc.ad_identifiers.empty()) r.error("ad_identifiers", "missing: a non-empty list of identifiers");
    if (auto hosts = r.child("hosts"); hosts.IsDefined() && !hosts.IsNull()) {
      svc.hosts.emplace();
      if (!hosts.IsMap()) r.error("hosts", "expected a map of network name to IP (" + at_line(hosts) + ")");
      else for (const auto& h : hosts) {
        if (!h.second.IsScalar()) r.error("hosts." + h.first.Scalar(), "expected an IP address (" + at_line(h.second) + ")");
        else (*svc.hosts)[h.first.Scalar()] = h.second.Scalar();
      }
    }
    if (auto ports = r.child("ports"); ports.IsDefined() && !ports.IsNull()) {
      svc.ports.emplace();
      if (!ports.IsSequence()) {
        r.error("ports", "expected a list of {port, name} or numbers (" + at_line(ports) + ")");
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
            r.error(key, "expected a port number from 1 to 65535 (" + at_line(entry) + ")");
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
        if (!e.second.IsScalar()) r.error("extra." + e.first.Scalar(), "expected a string (" + at_line(e.second) + ")");
        else svc.extra[e.first.Scalar()] = e.second.Scalar();
      }
    }
    r.finish();
    if (!svc.id.empty() && out.contains(svc.id)) {
      r.error("id", "duplicate service id " + svc.id);
      continue;
    }
    if (!svc.id.empty()) put_service(out, std::move(svc));
  }
  if (!errors.empty()) out.clear();
  return errors;
}

}  // namespace autodiscd
