#pragma once
// The `services` JSON: a contract that the CLI, the status server and external checks use.

#include "config/check_template.hpp"
#include "listeners/service.hpp"

namespace autodiscd {

/// {"id", "listener", "ad_identifiers", "hosts", "ports": [{"port","name"}], "tags",
///  "pid", "hostname", "ready", "extra"}; null where the listener does not support a field.
json service_to_json(const service& svc);

}  // namespace autodiscd
