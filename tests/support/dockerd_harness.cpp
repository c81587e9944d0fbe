#include "support/dockerd_harness.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <stdexcept>

#include "support/ops_process.hpp"

namespace autodiscd::test {

namespace {
const std::string script = std::string(AUTODISCD_SOURCE_DIR) + "/tests/engine/dockerd-harness.sh";
}

dockerd_harness::dockerd_harness(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  base_ = pattern;
  netns_ = prefix + "-" + std::to_string(::getpid());
}

dockerd_harness::~dockerd_harness() { harness("teardown " + base_ + " " + netns_); }

std::string dockerd_harness::harness(const std::string& verb_and_args) const {
  std::string out;
  const int rc = run_command(script + " " + verb_and_args, out);
  if (rc == 0) return "";
  return "dockerd-harness.sh " + verb_and_args + ": exit " + std::to_string(rc) + ": " + (out.empty() ? "(no output)" : out);
}

std::string dockerd_harness::start(const std::string& extra_args) {
  start_args_ = extra_args;
  return restart();
}

std::string dockerd_harness::restart() { return harness("start " + base_ + " " + netns_ + " " + start_args_); }

std::string dockerd_harness::kill() { return harness("kill " + base_); }

std::string dockerd_harness::stop() { return harness("stop " + base_); }

std::string dockerd_harness::import_busybox() { return harness("import " + base_); }

int dockerd_harness::docker(const std::string& args, std::string& output) const {
  const int rc = run_command("docker -H " + socket_url() + " " + args, output);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  return rc;
}

}  // namespace autodiscd::test
