// Fuzzes a template file: parse_template_text, then what would be written from it.
// Input: the file's text.
#include "fuzz_common.hpp"

#include "config/template_loader.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::as_view(data, size));
  config_errors errors;
  auto t = parse_template_text(text, "/fuzz/templates/redisdb.d/auto_conf.yaml", "redisdb", errors);
  if (!t) return 0;
  fuzz::require(errors.empty(), "a template was returned with errors", to_string(errors));
  fuzz::require(!t->ad_identifiers.empty(), "a template without ad_identifiers");
  fuzz::require(t->instances.is_array(), "instances is not a list", fuzz::show(t->instances));
  if (t->kind == template_kind::datadog) {
    fuzz::require_yaml_round_trip(t->instances, "instances round trip");
    fuzz::require_yaml_round_trip(t->init_config, "init_config round trip");
    fuzz::require_yaml_round_trip(t->logs, "logs round trip");
    const auto rendered = render_datadog(t->init_config, t->instances, t->logs);
    try {
      (void)YAML::Load(rendered);
    } catch (const YAML::Exception& e) {
      fuzz::require(false, "rendered config does not parse", rendered);
    }
  }
  return 0;
}
