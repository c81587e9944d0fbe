#include "support/ops_process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "support/support.hpp"

extern char** environ;

namespace autodiscd::test {

child_process::child_process(std::vector<std::string> argv, const std::string& log_file,
                             std::map<std::string, std::string> env, const std::vector<int>& blocked_signals)
    : log_file_(log_file) {
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (!env.contains(name)) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (!blocked_signals.empty()) {
    sigset_t mask;
    ::sigemptyset(&mask);
    for (int sig : blocked_signals) ::sigaddset(&mask, sig);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  }
  const int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

child_process::~child_process() {
  if (exit_code_ || pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

void child_process::signal(int sig) const {
  if (!exit_code_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exit_code_) {
    int status = 0;
    const auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

bool child_process::running() { return !wait(std::chrono::milliseconds(0)).has_value(); }

std::string child_process::log() const { return read_file(log_file_); }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string autodiscd_binary() { return AUTODISCD_BINARY; }

int run_command(const std::string& command, std::string& output) {
  output.clear();
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf{};
  while (auto n = std::fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ops_setup::ops_setup(const std::string& status_listen, const std::string& extra_config) {
  config = dir.str() + "/autodiscd.yaml";
  services = dir.str() + "/services.yaml";
  templates = dir.str() + "/templates";
  out = dir.str() + "/out";
  std::filesystem::create_directories(templates + "/redisdb.d");
  std::filesystem::create_directories(templates + "/node.d");
  std::filesystem::copy_file(fixture("auto_conf/redisdb.d/auto_conf.yaml"), templates + "/redisdb.d/auto_conf.yaml");
  write_file(templates + "/node.d/file_sd.yaml",
             "ad_identifiers: [node]\nfile_sd:\n  targets: [\"%%host%%:%%port_metrics%%\"]\n  labels: {job: node}\n");
  write_services("[]\n");
  write_config(status_listen, extra_config);
}

void ops_setup::write_config(const std::string& status_listen, const std::string& extra_config) {
  write_file(config, "listeners:\n  - type: static\n    path: services.yaml\n"
                     "templates:\n  dirs: [templates]\n"
                     "output:\n  dir: out\n"
                     "status:\n  listen: \"" + status_listen + "\"\n" + extra_config);
}

void ops_setup::write_services(const std::string& yaml) {
  const auto tmp = dir.str() + "/.services.yaml.tmp";
  write_file(tmp, yaml);
  std::filesystem::rename(tmp, services);
}

std::string ops_setup::service_yaml(const std::string& id, const std::string& ip) {
  return "- id: \"" + id + "\"\n  ad_identifiers: [redis, node]\n  hosts: {bridge: " + ip +
         "}\n  ports:\n    - {port: 6379, name: redis}\n    - {port: 9100, name: metrics}\n";
}

}  // namespace autodiscd::test
