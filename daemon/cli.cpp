#include "daemon/cli.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/daemon_config.hpp"
#include "config/template_loader.hpp"
#include "config/yaml_reader.hpp"
#include "daemon/app.hpp"
#include "daemon/daemon_process.hpp"
#include "daemon/report.hpp"
#include "daemon/status_server.hpp"
#include "daemon/version.hpp"
#include "listeners/log.hpp"

namespace autodiscd {
namespace {

constexpr const char* usage_text = R"(autodiscd: discovers running services and writes monitoring check configs

Usage:
  autodiscd run          [--config F] [--log-level L]   run the daemon
  autodiscd check-config [--config F]                   validate the config and every template
  autodiscd services     [--config F] [--timeout D]     print discovered services (JSON) and exit
  autodiscd configs      [--config F] [--timeout D]     print resolved and rejected configs (JSON) and exit
  autodiscd status       [--config F] [--json]          ask the running daemon (status.listen) how it is
  autodiscd reload       [--config F] --pid P           check the config, then tell daemon P to apply it (SIGHUP)
  autodiscd --version | --help

Options:
  --config F      config file (default /etc/autodiscd/autodiscd.yaml)
  --timeout D     how long services/configs wait for every listener's first sync (default 10s)
  --log-level L   trace|debug|info|warn|error|critical|off (overrides log.level)
  --json          status: print the raw JSON
  --pid P         reload: the daemon's process id (systemd: $MAINPID)

Exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 config error; status: 3 not ready yet.
)";

struct options {
  std::string command;
  std::string config = "/etc/autodiscd/autodiscd.yaml";
  std::chrono::milliseconds timeout{10'000};
  std::optional<std::string> log_level;
  bool json = false;
  pid_t pid = 0;
};

std::optional<options> parse_args(int argc, char** argv, std::string& error) {
  options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        error = a + " needs a value";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      o.command = "help";
    } else if (a == "--version") {
      o.command = "version";
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--config" || a == "-c") {
      auto v = value();
      if (!v) return std::nullopt;
      o.config = *v;
    } else if (a == "--timeout") {
      auto v = value();
      if (!v) return std::nullopt;
      auto d = parse_duration(*v);
      if (!d) {
        error = "--timeout: expected a duration like 10s (at most 8760h), got " + *v;
        return std::nullopt;
      }
      o.timeout = *d;
    } else if (a == "--pid") {
      auto v = value();
      if (!v) return std::nullopt;
      int pid = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), pid);
      if (ec != std::errc() || end != v->data() + v->size() || pid <= 1) {
        error = "--pid: expected the daemon's process id (a number above 1), got '" + *v + "'";
        return std::nullopt;
      }
      o.pid = pid;
    } else if (a == "--log-level") {
      auto v = value();
      if (!v) return std::nullopt;
      o.log_level = *v;
    } else if (!a.starts_with("-") && o.command.empty()) {
      o.command = a;
    } else {
      error = "unknown argument " + a;
      return std::nullopt;
    }
  }
  if (o.command.empty()) {
    error = "no command given";
    return std::nullopt;
  }
  return o;
}

/// Loads the config, printing every error; nullopt on failure.
std::optional<daemon_config> load_config(const options& o) {
  daemon_config config;
  auto errors = load_daemon_config(o.config, config);
  if (!errors.empty()) {
    std::cerr << "config error" << (errors.size() > 1 ? "s" : "") << ":\n" << to_string(errors) << "\n";
    return std::nullopt;
  }
  if (o.log_level) config.log_level = *o.log_level;
  return config;
}

/// load_config, plus what only the daemon checks at start (the status address).
std::optional<daemon_config> load_runnable_config(const options& o) {
  auto config = load_config(o);
  if (!config) return std::nullopt;
  std::string listen_error;
  if (!parse_listen_address(config->status_listen, listen_error)) {
    std::cerr << "config error:\n" << o.config << ": status.listen: " << listen_error << "\n";
    return std::nullopt;
  }
  return config;
}

int check_config(const options& o) {
  auto config = load_runnable_config(o);
  if (!config) return exit_config_error;
  auto templates = load_templates(config->template_dirs);
  std::cout << "config " << o.config << ": ok (" << config->listeners.size() << " listeners)\n";
  std::cout << "templates: " << templates.templates.size() << " loaded from " << config->template_dirs.size()
            << " folders\n";
  if (!templates.errors.empty()) {
    std::cerr << "template errors:\n" << to_string(templates.errors) << "\n";
    return 1;
  }
  return 0;
}

/// `systemctl reload` (ExecReload): a config that would be rejected fails the reload here, with
/// its errors, instead of only in the daemon's log; a good one is applied by SIGHUP. Needs
/// nothing but this binary (a minimal system has no /bin/kill).
int reload_command(const options& o) {
  if (o.pid == 0) {
    std::cerr << "autodiscd reload: --pid is required (systemd: ExecReload=... --pid $MAINPID)\n";
    return exit_usage;
  }
  auto config = load_runnable_config(o);
  if (!config) return exit_config_error;
  // A bad template does not stop a reload (the daemon keeps the good ones); say so here too.
  auto templates = load_templates(config->template_dirs);
  if (!templates.errors.empty()) std::cerr << "template errors (skipped):\n" << to_string(templates.errors) << "\n";
  if (::kill(o.pid, SIGHUP) != 0) {
    std::cerr << "autodiscd reload: cannot signal process " << o.pid << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cout << "config " << o.config << ": ok; process " << o.pid << " reloads it\n";
  return 0;
}

/// Runs the listeners until each finished its first sync, then prints a report.
int snapshot(const options& o) {
  auto config = load_config(o);
  if (!config) return exit_config_error;
  setup_logging(o.log_level.value_or("warn"), "text");
  net::io_context io(1);
  app a(io, *config, /*write_output=*/false);
  a.on_ready = [&io] { io.stop(); };
  if (auto error = a.start()) {
    std::cerr << "error: " << *error << "\n";
    return 1;
  }
  if (!a.ready()) io.run_for(o.timeout);
  int code = 0;
  for (const auto& s : a.listener_states()) {
    if (!s.synced) {
      std::cerr << "listener " << s.name << " (" << s.type << ") did not sync within "
                << o.timeout.count() << "ms"
                << (s.last_error.empty() ? std::string() : ": " + s.last_error) << "\n";
      code = 1;
    }
  }
  const auto report = o.command == "services" ? services_report(a) : configs_report(a);
  std::cout << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  a.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(200));
  return code;
}

int run_daemon(const options& o) {
  hold_stop_signals();
  auto config = load_config(o);
  if (!config) return exit_config_error;
  return run_daemon_process(std::move(*config), o.log_level);
}

/// Asks the running daemon through its status server.
int status_command(const options& o) {
  auto config = load_config(o);
  if (!config) return exit_config_error;
  const auto timeout = std::min(o.timeout, std::chrono::milliseconds(5'000));
  auto answer = fetch_status(config->status_listen, "/status", timeout);
  if (answer.status == 0) {
    std::cerr << "autodiscd status: cannot reach the daemon at " << config->status_listen << ": " << answer.error
              << "\n";
    return 1;
  }
  if (answer.status != 200) {
    std::cerr << "autodiscd status: HTTP " << answer.status << ": " << answer.body << "\n";
    return 1;
  }
  auto report = json::parse(answer.body, nullptr, false);
  if (report.is_discarded()) {
    std::cerr << "autodiscd status: the daemon answered something that is not JSON\n";
    return 1;
  }
  try {
    if (o.json) std::cout << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    else std::cout << format_status_text(report);
    return report.value("ready", false) ? 0 : 3;
  } catch (const json::exception& e) {  // JSON, but not shaped like a status report
    std::cerr << "autodiscd status: the answer at " << config->status_listen << " is not a status report: " << e.what()
              << "\n";
    return 1;
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  std::string error;
  auto o = parse_args(argc, argv, error);
  if (!o) {
    std::cerr << "autodiscd: " << error << "\n\n" << usage_text;
    return exit_usage;
  }
  try {
    if (o->command == "help") {
      std::cout << usage_text;
      return 0;
    }
    if (o->command == "version") {
      std::cout << "autodiscd " << version << "\n";
      return 0;
    }
    if (o->command == "run") return run_daemon(*o);
    if (o->command == "status") return status_command(*o);
    if (o->command == "check-config") return check_config(*o);
    if (o->command == "reload") return reload_command(*o);
    if (o->command == "services" || o->command == "configs") return snapshot(*o);
  } catch (const std::exception& e) {
    std::cerr << "autodiscd: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "autodiscd: unknown command " << o->command << "\n\n" << usage_text;
  return exit_usage;
}

}  // namespace autodiscd
