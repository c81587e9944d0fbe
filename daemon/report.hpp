#pragma once
// JSON reports of the app's state, shared by the CLI and the status server.

#include "config/check_template.hpp"
#include "daemon/app.hpp"

namespace autodiscd {

/// The `services` JSON array, sorted by id.
json services_report(const app& a);

/// {"configs": [{service_id, check, template, path, format, content}], "rejected": [...],
///  "template_errors": [...]} (what `autodiscd configs` prints). `redact_env`: each content
/// with the values %%env_X%% put in masked (the status server; the CLI runs locally).
json configs_report(const app& a, bool redact_env = false);

/// Listeners with health and counters, totals, output folder (for `status --json`).
json status_report(const app& a);

/// The `/status` JSON (status_report plus "configs_report") as text for a person, like
/// the Datadog Agent's status/configcheck: listeners with health, last sync and error,
/// services per listener, configs written and rejected with reasons, the output folder.
std::string format_status_text(const json& status);

}  // namespace autodiscd
