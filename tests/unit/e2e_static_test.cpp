// End to end: the real `autodiscd run` binary with the static listener and the real
// templates; edits to the services file and to a template show up in the output folder.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "support/support.hpp"

using autodiscd::test::read_file;
using autodiscd::test::temp_dir;
using autodiscd::test::write_file;
namespace fs = std::filesystem;

namespace {

/// Copies the real templates into a writable folder (the fixtures are read-only).
void copy_templates(const fs::path& to) { autodiscd::test::copy_fixture_dir("auto_conf", to); }

/// The daemon process; killed (and reaped) when the test ends, also on failure.
class daemon_process {
 public:
  daemon_process(const std::string& config, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      const char* binary = AUTODISCD_BINARY;
      ::execl(binary, binary, "run", "--config", config.c_str(), "--log-level", "debug", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
  }
  ~daemon_process() { stop(SIGKILL); }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  /// Sends `sig` and waits up to 5 s; returns the exit status (-1 when it had to be killed).
  int stop(int sig) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status_ = -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return status_ = status;
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// Polls `condition` until true or 10 s pass.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return condition();
}

std::string service_yaml(const std::string& id, const std::string& ip, const std::string& tag) {
  return "- id: \"" + id + "\"\n  ad_identifiers: [redis]\n  hosts: {bridge: " + ip +
         "}\n  ports: [{port: 6379, name: redis}]\n  tags: [\"" + tag + "\"]\n";
}

/// Writes `content` to a temp file and renames it over `path`.
void replace_file(const fs::path& path, const std::string& content) {
  const auto temp = path.parent_path() / ("." + path.filename().string() + ".new");
  write_file(temp, content);
  fs::rename(temp, path);
}

std::string host_of(const fs::path& file) {
  const auto text = read_file(file);
  if (text.empty()) return "";
  try {
    return YAML::Load(text)["instances"][0]["host"].as<std::string>("");
  } catch (const YAML::Exception&) {
    return "<unparsable>";
  }
}

}  // namespace

TEST_CASE("e2e: autodiscd run follows the services file and templates", "[e2e]") {
  temp_dir dir("autodiscd-e2e");
  const auto& d = dir.path();
  copy_templates(d / "templates");
  const auto out = d / "out";
  // A file that is not ours: the daemon must never touch it.
  fs::create_directories(out / "redisdb.d");
  write_file(out / "redisdb.d/operator.yaml", "instances: [{host: manual}]\n");
  write_file(d / "autodiscd.yaml",
             "listeners: [{type: static, path: services.yaml}]\n"
             "templates: {dirs: [templates]}\n"
             "output: {dir: out}\n"
             "status: {listen: off}\n");
  write_file(d / "services.yaml", service_yaml("docker://redis-1", "172.17.0.2", "env:a"));
  const auto log = (d / "daemon.log").string();
  const auto redis1 = out / "redisdb.d/docker___redis-1.yaml";
  const auto redis2 = out / "redisdb.d/docker___redis-2.yaml";
  const auto dns = out / "coredns.d/docker___redis-1.yaml";

  daemon_process daemon((d / "autodiscd.yaml").string(), log);
  std::string current_log = log;
  // On a failed wait, the daemon's log goes with the failed assertion.
  auto wait_for = [&](const std::function<bool()>& condition) {
    const bool ok = eventually(condition);
    if (!ok) UNSCOPED_INFO("daemon log:\n" << read_file(current_log));
    return ok;
  };

  // Appears.
  REQUIRE(wait_for([&] { return host_of(redis1) == "172.17.0.2"; }));
  auto doc = YAML::LoadFile(redis1.string());
  CHECK(doc["instances"][0]["port"].as<int>() == 6379);
  CHECK(doc["instances"][0]["tags"].as<std::vector<std::string>>() == std::vector<std::string>{"env:a"});

  // Services file rewritten in place: changes.
  write_file(d / "services.yaml", service_yaml("docker://redis-1", "172.17.0.9", "env:a"));
  CHECK(wait_for([&] { return host_of(redis1) == "172.17.0.9"; }));

  // Renamed into place: one service added.
  replace_file(d / "services.yaml", service_yaml("docker://redis-1", "172.17.0.9", "env:a") +
                                        service_yaml("docker://redis-2", "172.17.0.3", "env:b"));
  CHECK(wait_for([&] { return host_of(redis2) == "172.17.0.3"; }));

  // A malformed file keeps the last good services.
  write_file(d / "services.yaml", "- id: [\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(fs::exists(redis1));
  CHECK(fs::exists(redis2));

  // A template change re-resolves: editing it changes the file...
  const auto redis_template = d / "templates/redisdb.d/auto_conf.yaml";
  write_file(d / "services.yaml", service_yaml("docker://redis-1", "172.17.0.9", "env:a") +
                                      service_yaml("docker://redis-2", "172.17.0.3", "env:b"));
  auto text = read_file(redis_template);
  replace_file(redis_template, text + "    password: \"%%env_AUTODISCD_E2E_UNSET%%x\"\n");
  // ...here into a rejection (unset env var): the configs are removed, never half-written.
  CHECK(wait_for([&] { return !fs::exists(redis1) && !fs::exists(redis2); }));
  replace_file(redis_template, text + "    timeout: 5\n");
  CHECK(wait_for([&] {
    const auto t = read_file(redis1);
    return t.find("timeout: 5") != std::string::npos && host_of(redis1) == "172.17.0.9";
  }));
  CHECK(wait_for([&] { return fs::exists(redis2); }));

  // Adding a template writes its configs; removing it removes them.
  fs::create_directories(d / "templates/extra.d");
  write_file(d / "templates/extra.d/conf.yaml", "ad_identifiers: [redis]\ninstances: [{url: \"http://%%host%%\"}]\n");
  const auto extra1 = out / "extra.d/docker___redis-1.yaml";
  CHECK(wait_for([&] { return read_file(extra1).find("http://172.17.0.9") != std::string::npos; }));
  fs::remove(d / "templates/extra.d/conf.yaml");
  CHECK(wait_for([&] { return !fs::exists(extra1); }));

  // Disappears: a service removed from the file.
  write_file(d / "services.yaml", service_yaml("docker://redis-2", "172.17.0.3", "env:b"));
  CHECK(wait_for([&] { return !fs::exists(redis1); }));
  CHECK(fs::exists(redis2));
  CHECK_FALSE(fs::exists(dns));

  // No temp file is left in the output folder, and the foreign file is untouched.
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    CHECK_FALSE(e.path().filename().string().ends_with(".tmp"));
  }
  CHECK(read_file(out / "redisdb.d/operator.yaml") == "instances: [{host: manual}]\n");

  // SIGTERM: a clean exit.
  const int status = daemon.stop(SIGTERM);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  // A restart after the services file changed while it was down removes stale files only.
  write_file(d / "services.yaml", service_yaml("docker://redis-1", "172.17.0.4", "env:a"));
  current_log = log + ".2";
  daemon_process again((d / "autodiscd.yaml").string(), current_log);
  CHECK(wait_for([&] { return host_of(redis1) == "172.17.0.4" && !fs::exists(redis2); }));
  CHECK(read_file(out / "redisdb.d/operator.yaml") == "instances: [{host: manual}]\n");
  CHECK(again.stop(SIGTERM) != -1);
}
