// Fuzzes template variable resolution end to end: a template file, a services file and
// labels give services; resolve_service must produce only configs that stay in the output
// folder and read back. Input sections are separated by "\n%%%%\n":
//   1: the check name (a template folder's name: may be hostile), 2: the template file,
//   3: a static services file (YAML list), 4: `key<TAB>value` label lines (Docker prefix)
//   applied to every service.
#include "fuzz_common.hpp"

#include "config/template_loader.hpp"
#include "listeners/ad_templates.hpp"
#include "listeners/static/static_services.hpp"

using namespace autodiscd;

namespace {

std::optional<std::string> fake_env(const std::string& name) {
  if (name == "SECRET_TOKEN") return std::string("s3cr3t: [x]\n- y");
  if (name == "PORT") return std::string("8080");
  if (name == "EMPTY") return std::string();
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split(fuzz::as_view(data, size), "\n%%%%\n");
  if (parts.size() < 3) return 0;
  config_errors errors;
  std::vector<check_template> templates;
  if (auto t = parse_template_text(parts[1], "/fuzz/templates/x.d/conf.yaml", parts[0], errors)) {
    templates.push_back(std::move(*t));
  }
  service_map services;
  if (!parse_static_services(parts[2], "/fuzz/services.yaml", "static", services).empty()) return 0;
  service_templates labels;
  if (parts.size() > 3) {
    labels = parse_ad_templates(fuzz::label_lines(parts[3], "com.datadoghq.ad."), "com.datadoghq.ad.", "container fuzz");
  }
  const template_index index(std::move(templates));
  const env_lookup env = fake_env;
  for (const auto& [id, snapshot] : services) {
    service svc = *snapshot;
    svc.label_templates = labels;
    const auto res = resolve_service(svc, index, env);
    fuzz::require_valid_configs(res);
    fuzz::require(resolve_service(svc, index, env) == res, "resolve_service not deterministic");
    if (!svc.ready) fuzz::require(res.configs.empty(), "a service that is not ready got configs");
  }
  return 0;
}
