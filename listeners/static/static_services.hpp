#pragma once
// The static listener's file format: a YAML list of services (keys of the `services` JSON).

#include <string>

#include "config/config_error.hpp"
#include "listeners/service_diff.hpp"

namespace autodiscd {

/// Parses a services file. `id` and `ad_identifiers` are required; a port is
/// `{port, name}` or a plain number; a key left out means "not supported" (hosts, ports,
/// pid, hostname). Every error names the file, line and key. Pure.
config_errors parse_static_services(const std::string& text, const std::string& file,
                                    const std::string& listener_name, service_map& out);

}  // namespace autodiscd
