#pragma once
// Template variables (%%host%%, %%port_0%%, %%env_X%%, ...) with Datadog semantics.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/check_template.hpp"
#include "listeners/service.hpp"

namespace autodiscd {

/// Looks up the daemon's environment; tests pass their own.
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment (getenv).
env_lookup process_environment();

/// The value of one variable, or why it has none.
struct variable_value {
  std::optional<std::string> value;
  std::string error;  ///< set when value is empty
};

/// Resolves `name` (without the %% marks, e.g. "port_0") for `svc`.
variable_value resolve_variable(std::string_view name, const service& svc, const env_lookup& env);

/// Substitutes every %%var%% in the string values of `tree` (never in keys, never in
/// raw text). A string that is exactly one variable becomes an int or bool when the
/// value parses as one. Returns the first error; `tree` is then partly substituted.
std::optional<std::string> substitute_variables(json& tree, const service& svc, const env_lookup& env);

}  // namespace autodiscd
