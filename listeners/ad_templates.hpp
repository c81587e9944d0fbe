#pragma once
// Templates carried by container labels (Docker, ECS) and pod annotations (Kubelet),
// in Datadog's formats. Shared by every listener so they behave exactly alike.

#include <map>
#include <string>
#include <string_view>

#include "listeners/service.hpp"

namespace autodiscd {

/// Reads the templates under `prefix` in `entries`:
/// - v2: `<prefix>checks` = {"<check>": {"init_config", "instances", "logs",
///   "ignore_autodiscovery_tags"}}; when present, the v1 keys are ignored.
/// - v1: `<prefix>check_names`, `<prefix>init_configs`, `<prefix>instances` (JSON arrays of
///   equal length; an instances entry is an object or a list of objects), optional
///   `<prefix>logs` (attached to the first check, or a logs-only config named "logs").
/// `check_names: []` disables file templates. Errors name `where` (container or pod) and the
/// key; they reject this source's label templates only. Pure.
/// Docker/ECS: prefix "com.datadoghq.ad."; Kubelet: "ad.datadoghq.com/<container>.".
service_templates parse_ad_templates(const std::map<std::string, std::string>& entries,
                                     std::string_view prefix, std::string_view where);

}  // namespace autodiscd
