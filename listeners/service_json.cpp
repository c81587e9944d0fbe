#include "listeners/service_json.hpp"

namespace autodiscd {

json service_to_json(const service& svc) {
  json out = json::object();
  out["id"] = svc.id;
  out["listener"] = svc.listener;
  out["ad_identifiers"] = svc.ad_identifiers;
  if (svc.hosts) {
    out["hosts"] = json::object();
    for (const auto& [net, ip] : *svc.hosts) out["hosts"][net] = ip;
  } else {
    out["hosts"] = nullptr;
  }
  if (svc.ports) {
    out["ports"] = json::array();
    for (const auto& p : *svc.ports) out["ports"].push_back({{"port", p.port}, {"name", p.name}});
  } else {
    out["ports"] = nullptr;
  }
  out["tags"] = svc.tags;
  out["pid"] = svc.pid ? json(*svc.pid) : json(nullptr);
  out["hostname"] = svc.hostname ? json(*svc.hostname) : json(nullptr);
  out["ready"] = svc.ready;
  out["extra"] = json::object();
  for (const auto& [key, value] : svc.extra) out["extra"][key] = value;
  return out;
}

}  // namespace autodiscd
