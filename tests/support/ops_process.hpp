#pragma once
// Running the real autodiscd binary (and other programs) from tests: start with extra
// environment, signal, wait with a deadline, read its stderr; killed on destruction.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace autodiscd::test {

class child_process {
 public:
  /// Starts `argv` with the current environment plus `env`; stdout and stderr go to
  /// `log_file` (appended). `blocked_signals` are blocked in the child from its start
  /// (as some supervisors leave them). Throws when it cannot start.
  child_process(std::vector<std::string> argv, const std::string& log_file,
                std::map<std::string, std::string> env = {}, const std::vector<int>& blocked_signals = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  /// Waits for the exit; the exit code (128+signal when killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  const std::string& log_file() const { return log_file_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_file_;
};

/// Polls `condition` every 20 ms until true or `timeout`; returns the last result.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

/// A TCP port free on 127.0.0.1 right now.
unsigned short free_port();

/// Path of the autodiscd binary under test.
std::string autodiscd_binary();

/// Runs a shell command, returns its exit code and stdout+stderr.
int run_command(const std::string& command, std::string& output);

/// A daemon's world in a fresh folder: services.yaml for a static listener, templates/
/// (the real redisdb auto_conf plus a Prometheus file_sd template "node"), out/, and
/// autodiscd.yaml.
struct ops_setup {
  explicit ops_setup(const std::string& status_listen = "off", const std::string& extra_config = "");
  /// Rewrites autodiscd.yaml (status.listen and extra top-level YAML appended).
  void write_config(const std::string& status_listen, const std::string& extra_config = "");
  /// Replaces services.yaml atomically (temp file + rename).
  void write_services(const std::string& yaml);
  /// A service `id` with identifier `redis` (and `node`), ip and port 6379 / 9100.
  static std::string service_yaml(const std::string& id, const std::string& ip);

  temp_dir dir{"autodiscd-ops"};
  std::string config;
  std::string services;
  std::string templates;
  std::string out;
};

}  // namespace autodiscd::test
