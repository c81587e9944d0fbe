#pragma once
// One named spdlog logger per component ("listener.docker", "writer", ...).

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace autodiscd {

/// The logger for `component`, sharing the default logger's sinks and level.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

/// The completion handler for a long-lived co_spawned task: logs how it ended, unless it
/// ended normally or by cancellation. `component` names the logger, `name` the listener.
std::function<void(std::exception_ptr)> log_task_end(std::string component, std::string name);

/// At trace level only: one line "stage=<stage> key=<key> mono_us=<steady clock, µs>" on the
/// "stages" logger, so a benchmark can follow one container through the daemon (event read,
/// inspect sent, inspect parsed, resolved, file renamed) on the clock every process here shares
/// (CLOCK_MONOTONIC). Costs one level check when trace is off.
void trace_stage(std::string_view stage, std::string_view key);

/// Sets up logging: level, "text" or "json" format; text drops timestamps when
/// journald adds them (JOURNAL_STREAM set). Loggers made earlier follow.
void setup_logging(const std::string& level, const std::string& format);

/// The formatter setup_logging installs: "json" gives one JSON object per line (message
/// escaped, so quotes and control characters never break it); "text" drops timestamps
/// when `journal` (journald adds its own).
std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format, bool journal);

}  // namespace autodiscd
