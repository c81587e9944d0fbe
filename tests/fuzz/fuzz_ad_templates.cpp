// Fuzzes label (Docker/ECS) and annotation (Kubelet) templates: parse_ad_templates.
// Input: optional first line "k8s" (annotation prefix) or "docker"; then `key<TAB>value` lines,
// keys relative to the prefix ("check_names", "instances", "checks", ...), or literal with '!'.
#include "fuzz_common.hpp"

#include "listeners/ad_templates.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_view(data, size);
  std::string_view prefix = "com.datadoghq.ad.";
  if (text.starts_with("k8s\n")) {
    prefix = "ad.datadoghq.com/redis.";
    text.remove_prefix(4);
  } else if (text.starts_with("docker\n")) {
    text.remove_prefix(7);
  }
  const auto entries = fuzz::label_lines(text, prefix);
  const auto out = parse_ad_templates(entries, prefix, "container fuzz");
  for (const auto& t : out.templates) {
    fuzz::require(t.instances.is_array(), "label template instances is not a list", fuzz::show(t.instances));
    const auto name = safe_file_name(t.name);
    fuzz::require(config_writer::valid_relative_path(name + ".d/x.yaml"), "check name is not a safe folder",
                  t.name + " -> " + name);
    fuzz::require_yaml_round_trip(t.instances, "label instances round trip");
    fuzz::require_yaml_round_trip(t.init_config, "label init_config round trip");
    fuzz::require_yaml_round_trip(t.logs, "label logs round trip");
  }
  // Deterministic: the same labels give the same templates.
  fuzz::require(parse_ad_templates(entries, prefix, "container fuzz") == out, "parse_ad_templates not deterministic");
  return 0;
}
