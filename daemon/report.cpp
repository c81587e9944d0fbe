#include "daemon/report.hpp"

#include <chrono>

#include "listeners/service_json.hpp"

namespace autodiscd {

json services_report(const app& a) {
  json out = json::array();
  for (const auto& [id, svc] : a.services()) out.push_back(service_to_json(svc));
  return out;
}

json configs_report(const app& a) {
  json configs = json::array();
  json rejected = json::array();
  for (const auto& [id, result] : a.resolutions()) {
    for (const auto& c : result.configs) {
      configs.push_back({{"service_id", c.service_id},
                         {"check", c.check_name},
                         {"template", c.template_source},
                         {"format", c.kind == template_kind::file_sd ? "file_sd" : "datadog"},
                         {"path", a.config().output_dir + "/" + c.relative_path},
                         {"content", c.content}});
    }
    for (const auto& r : result.rejected) {
      rejected.push_back({{"service_id", r.service_id},
                          {"check", r.check_name},
                          {"template", r.template_source},
                          {"reason", r.reason}});
    }
  }
  json template_errors = json::array();
  for (const auto& e : a.template_errors()) template_errors.push_back(e.to_string());
  return {{"configs", configs}, {"rejected", rejected}, {"template_errors", template_errors}};
}

json status_report(const app& a) {
  json listeners = json::array();
  for (const auto& s : a.listener_states()) {
    json l = {{"name", s.name}, {"type", s.type}, {"synced", s.synced}, {"services", s.services}};
    l["last_sync"] = s.last_sync ? json(std::chrono::duration_cast<std::chrono::seconds>(
                                             s.last_sync->time_since_epoch()).count())
                                 : json(nullptr);
    l["last_error_kind"] = s.last_error_kind;
    l["last_error"] = s.last_error;
    l["counters"] = json::object();
    for (const auto& [k, v] : s.counters) l["counters"][k] = v;
    l["errors"] = json::object();
    for (const auto& [k, v] : s.errors_by_kind) l["errors"][k] = v;
    listeners.push_back(std::move(l));
  }
  const auto& t = a.totals();
  std::size_t configs = 0;
  std::size_t rejected = 0;
  for (const auto& [id, r] : a.resolutions()) {
    configs += r.configs.size();
    rejected += r.rejected.size();
  }
  return {{"ready", a.ready()},
          {"output_dir", a.config().output_dir},
          {"listeners", listeners},
          {"services", a.services().size()},
          {"configs", configs},
          {"rejected", rejected},
          {"files", {{"written", t.writes.written}, {"unchanged", t.writes.unchanged},
                     {"removed", t.writes.removed}, {"failed", t.writes.failed}}},
          {"template_errors", a.template_errors().size()}};
}

}  // namespace autodiscd
