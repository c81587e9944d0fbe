#pragma once
// The command line: run, check-config, services, configs, --version, --help.

namespace autodiscd {

/// Exit code for a config error (EX_CONFIG), so systemd does not restart in a loop.
inline constexpr int exit_config_error = 78;
/// Exit code for a command-line usage error (EX_USAGE).
inline constexpr int exit_usage = 64;

/// Parses the arguments and runs the command. Returns the process exit code.
int run_cli(int argc, char** argv);

}  // namespace autodiscd
