#pragma once
// One named spdlog logger per component ("listener.docker", "writer", ...).

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace autodiscd {

/// The logger for `component`, sharing the default logger's sinks and level.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

/// Sets up logging: level, "text" or "json" format; text drops timestamps when
/// journald adds them (JOURNAL_STREAM set). Loggers made earlier follow.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace autodiscd
