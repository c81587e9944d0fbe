#include "support/network_namespace.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <catch2/catch.hpp>

#include "support/ops_process.hpp"

namespace autodiscd::test {

namespace fs = std::filesystem;

network_namespace::network_namespace()
    : name_("adproc-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++)) {
  std::string out;
  INFO(out);
  REQUIRE(run_command("ip netns add " + name_, out) == 0);
  created_ = true;
  REQUIRE(run_command("ip netns exec " + name_ + " ip link set lo up", out) == 0);
}

network_namespace::~network_namespace() {
  if (!created_) return;
  std::string out;
  run_command("ip netns pids " + name_ + " | xargs -r kill -9", out);
  run_command("ip netns del " + name_, out);
}

std::vector<std::string> network_namespace::in(std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
  return argv;
}

bool have_program(const std::string& program) {
  std::string out;
  return run_command("command -v " + program, out) == 0;
}

std::string missing_programs(const std::vector<std::string>& programs) {
  std::string missing;
  for (const auto& p : programs) {
    if (!have_program(p)) missing += (missing.empty() ? "" : ", ") + p;
  }
  return missing;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::vector<int> children_of(int pid) {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto stat = read_file(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %*c %d", &ppid) == 1 && ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace autodiscd::test
