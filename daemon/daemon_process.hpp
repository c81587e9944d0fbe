#pragma once
// `autodiscd run`: the app plus everything an operator expects around it: the status
// server, sd_notify and the watchdog, SIGHUP reload, SIGTERM/SIGINT, the change hook.

#include <optional>
#include <string>

#include "config/daemon_config.hpp"

namespace autodiscd {

/// Runs the daemon until SIGTERM or SIGINT; returns the process exit code (0 after a
/// signal, 1 when it cannot start, 78 for a bad status.listen). `config` was loaded
/// from `config.file`, which SIGHUP reads again; `log_level` (--log-level) overrides
/// log.level, also across reloads.
int run_daemon_process(daemon_config config, std::optional<std::string> log_level);

/// Blocks SIGTERM, SIGINT and SIGHUP until run_daemon_process has its handlers in place
/// (it unblocks them then), so a stop sent while the config loads is a clean stop, not
/// death by signal. Call it first thing in `autodiscd run`.
void hold_stop_signals();

/// One line for systemd's STATUS=: listeners synced, services, configs, rejected.
class app;
std::string status_summary(const app& a);

}  // namespace autodiscd
