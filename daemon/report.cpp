#include "daemon/report.hpp"

#include <chrono>

#include <fmt/format.h>

#include "listeners/service_json.hpp"

namespace autodiscd {

json services_report(const app& a) {
  json out = json::array();
  for (const auto& [id, svc] : a.services()) out.push_back(service_to_json(*svc));
  return out;
}

json configs_report(const app& a, bool redact_env) {
  json configs = json::array();
  json rejected = json::array();
  for (const auto& [id, result] : a.resolutions()) {
    for (const auto& c : result.configs) {
      configs.push_back({{"service_id", c.service_id},
                         {"check", c.check_name},
                         {"template", c.template_source},
                         {"format", c.kind == template_kind::file_sd ? "file_sd" : "datadog"},
                         {"path", a.config().output_dir + "/" + c.relative_path},
                         {"content", redact_env ? redact_env_values(c.content, c.env_values) : c.content}});
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

namespace autodiscd {

std::string format_status_text(const json& status) {
  std::string out;
  const auto str = [](const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  out += fmt::format("autodiscd: {}\n", status.value("ready", false) ? "ready" : "NOT READY (first sync pending)");
  out += fmt::format("output folder: {}\n", str(status, "output_dir"));
  out += fmt::format("services: {}  configs: {}  rejected: {}  template errors: {}\n\n", str(status, "services"),
                     str(status, "configs"), str(status, "rejected"), str(status, "template_errors"));
  out += "Listeners\n=========\n";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& l : status.value("listeners", json::array())) {
    const bool synced = l.value("synced", false);
    const auto error = str(l, "last_error");
    const char* health = !synced ? "NOT SYNCED" : error.empty() ? "OK" : "ERROR";
    out += fmt::format("  {} ({}): {}\n", str(l, "name"), str(l, "type"), health);
    out += fmt::format("    services: {}\n", str(l, "services"));
    const auto last = l.find("last_sync");
    // The status JSON comes over the network: only an integer time in the past is subtracted
    // (a float beyond int64, or a time far in the past, would make the arithmetic undefined).
    const auto when = last != l.end() && last->is_number_integer() ? last->get<std::int64_t>() : -1;
    if (when >= 0 && when <= now) {
      out += fmt::format("    last sync: {}s ago\n", now - when);
    } else if (last != l.end() && last->is_number()) {
      out += fmt::format("    last sync: {} (unix time; not in the past on this clock)\n", last->dump());
    } else {
      out += "    last sync: never\n";
    }
    if (!error.empty()) out += fmt::format("    last error ({}): {}\n", str(l, "last_error_kind"), error);
  }
  const auto report = status.value("configs_report", json::object());
  out += "\nConfigs written\n===============\n";
  const auto configs = report.value("configs", json::array());
  if (configs.empty()) out += "  (none)\n";
  for (const auto& c : configs) {
    out += fmt::format("  {}  {}  <- {} ({})\n", str(c, "check"), str(c, "path"), str(c, "service_id"), str(c, "template"));
  }
  const auto rejected = report.value("rejected", json::array());
  out += "\nConfigs rejected\n================\n";
  if (rejected.empty()) out += "  (none)\n";
  for (const auto& r : rejected) {
    out += fmt::format("  {} for {} ({}): {}\n", str(r, "check"), str(r, "service_id"), str(r, "template"), str(r, "reason"));
  }
  const auto template_errors = report.value("template_errors", json::array());
  if (!template_errors.empty()) {
    out += "\nTemplate errors\n===============\n";
    for (const auto& e : template_errors) out += "  " + (e.is_string() ? e.get<std::string>() : e.dump()) + "\n";
  }
  return out;
}

}  // namespace autodiscd
