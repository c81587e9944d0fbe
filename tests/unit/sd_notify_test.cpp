// sd_notify against a datagram socket the test owns: READY, STATUS, WATCHDOG, RELOADING, STOPPING.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "daemon/sd_notify.hpp"
#include "daemon/status_server.hpp"
#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A bound AF_UNIX datagram socket (path, or abstract when it starts with '@').
class notify_socket {
 public:
  explicit notify_socket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  }
  ~notify_socket() { ::close(fd_); }
  /// The next datagram, "" after `timeout`.
  std::string receive(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    const auto n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  /// Receives until a datagram containing `needle`; every datagram seen is appended to `seen`.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout, std::vector<std::string>& seen) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = receive(100ms);
      if (m.empty()) continue;
      seen.push_back(m);
      if (m.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("sd_notify: nothing without NOTIFY_SOCKET, watchdog interval is half of WATCHDOG_USEC", "[sd_notify]") {
  sd_notifier off(env_of({}));
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.send("READY=1"));
  CHECK_FALSE(off.watchdog_interval());

  sd_notifier dog(env_of({{"WATCHDOG_USEC", "3000000"}}));
  REQUIRE(dog.watchdog_interval());
  CHECK(*dog.watchdog_interval() == 1500ms);
  sd_notifier other_pid(env_of({{"WATCHDOG_USEC", "3000000"}, {"WATCHDOG_PID", "1"}}));
  CHECK_FALSE(other_pid.watchdog_interval());
  sd_notifier mine(env_of({{"WATCHDOG_USEC", "3000000"}, {"WATCHDOG_PID", std::to_string(::getpid())}}));
  CHECK(mine.watchdog_interval());
  sd_notifier junk(env_of({{"WATCHDOG_USEC", "soon"}}));
  CHECK_FALSE(junk.watchdog_interval());
  CHECK(sd_status_line("a\nb") == "STATUS=a b");
}

TEST_CASE("sd_notify: datagrams reach a path socket and an abstract socket", "[sd_notify]") {
  test::temp_dir dir("autodiscd-notify");
  notify_socket path_socket(dir.str() + "/notify");
  sd_notifier n(env_of({{"NOTIFY_SOCKET", dir.str() + "/notify"}}));
  REQUIRE(n.enabled());
  CHECK(n.send("READY=1\nSTATUS=hello"));
  CHECK(path_socket.receive(1s) == "READY=1\nSTATUS=hello");

  const auto abstract = "@autodiscd-test-" + std::to_string(::getpid());
  notify_socket abstract_socket(abstract);
  sd_notifier a(env_of({{"NOTIFY_SOCKET", abstract}}));
  CHECK(a.send("WATCHDOG=1"));
  CHECK(abstract_socket.receive(1s) == "WATCHDOG=1");
}

TEST_CASE("sd_notify: the daemon says READY after writing, pings the watchdog, reloads and stops", "[sd_notify]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.0.9"));
  notify_socket sock(setup.dir.str() + "/notify");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log",
                             {{"NOTIFY_SOCKET", setup.dir.str() + "/notify"}, {"WATCHDOG_USEC", "200000"}});
  std::vector<std::string> seen;
  REQUIRE(sock.wait_for("READY=1", 30s, seen));
  INFO(daemon.log());
  // READY comes after the first sync and its configs are on disk.
  CHECK(fs::exists(setup.out + "/redisdb.d/static___redis-1.yaml"));
  CHECK(seen.back().find("STATUS=ready: listeners 1/1 synced, 1 services, 2 configs, 0 rejected") != std::string::npos);

  // WATCHDOG=1 every 100 ms (half of 200 ms).
  seen.clear();
  const auto started = std::chrono::steady_clock::now();
  int pings = 0;
  while (std::chrono::steady_clock::now() - started < 1s) {
    if (sock.receive(200ms) == "WATCHDOG=1") ++pings;
  }
  CHECK(pings >= 6);
  CHECK(pings <= 14);

  daemon.signal(SIGHUP);
  REQUIRE(sock.wait_for("RELOADING=1", 5s, seen));
  CHECK(seen.back().find("MONOTONIC_USEC=") != std::string::npos);
  REQUIRE(sock.wait_for("READY=1", 5s, seen));

  daemon.signal(SIGTERM);
  CHECK(sock.wait_for("STOPPING=1", 5s, seen));
  CHECK(daemon.wait(3s) == 0);
}

namespace {

/// The ops setup's static listener plus a Docker listener whose socket does not exist.
void write_config_with_docker(const test::ops_setup& setup, const std::string& docker_keys, const std::string& status,
                              const std::string& top) {
  test::write_file(setup.config, "listeners:\n  - type: static\n    path: services.yaml\n"
                                 "  - type: docker\n    host: unix://" + setup.dir.str() + "/no-docker.sock\n" +
                                     docker_keys +
                                     "templates:\n  dirs: [templates]\n"
                                     "output:\n  dir: out\n"
                                     "status:\n  listen: \"" + status + "\"\n" + top);
}

double metric_value(const std::string& metrics, const std::string& prefix) {
  const auto at = metrics.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stod(metrics.substr(at + prefix.size()));
}

}  // namespace

TEST_CASE("sd_notify: an unreachable listener does not hold the start: READY after startup_grace, its failure is logged once",
          "[sd_notify]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.0.9"));
  const auto listen = "127.0.0.1:" + std::to_string(test::free_port());
  write_config_with_docker(setup, "    backoff_initial: 5ms\n    backoff_max: 10ms\n", listen, "startup_grace: 400ms\n");
  notify_socket sock(setup.dir.str() + "/notify");
  const auto started = std::chrono::steady_clock::now();
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log",
                             {{"NOTIFY_SOCKET", setup.dir.str() + "/notify"}});
  std::vector<std::string> seen;
  REQUIRE(sock.wait_for("READY=1", 30s, seen));
  INFO(daemon.log());
  CHECK(std::chrono::steady_clock::now() - started >= 400ms);  // it did wait for the grace
  // The reachable listener's configs are on disk; the status line names the failing listener.
  CHECK(fs::exists(setup.out + "/redisdb.d/static___redis-1.yaml"));
  CHECK(seen.back().find("STATUS=starting: listeners 1/2 synced, 1 services, 2 configs, 0 rejected; docker: connect error") !=
        std::string::npos);
  CHECK(daemon.log().find("startup_grace=400ms is over and listener(s) docker have not synced") != std::string::npos);

  // Retried every few ms, counted every time, logged once (with its hint).
  std::string metrics;
  REQUIRE(test::eventually([&] {
    metrics = fetch_status(listen, "/metrics", 2s).body;
    return metric_value(metrics, "autodiscd_listener_errors_total{listener=\"docker\",type=\"docker\",kind=\"connect\"} ") >= 20;
  }, 20s));
  const auto log = daemon.log();
  std::size_t lines = 0;
  for (auto at = log.find("kind=connect"); at != std::string::npos; at = log.find("kind=connect", at + 1)) ++lines;
  CHECK(lines == 1);
  CHECK(log.find("hint: is the engine running?") != std::string::npos);
  const auto healthz = fetch_status(listen, "/readyz", 2s);
  CHECK(healthz.status == 503);

  daemon.signal(SIGTERM);
  CHECK(daemon.wait(3s) == 0);
}

TEST_CASE("sd_notify: an optional Docker that is absent is a quiet, synced state: READY without waiting for the grace",
          "[sd_notify]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.0.9"));
  const auto listen = "127.0.0.1:" + std::to_string(test::free_port());
  write_config_with_docker(setup, "    optional: true\n    backoff_initial: 5ms\n    backoff_max: 10ms\n", listen,
                           "startup_grace: 1h\n");
  notify_socket sock(setup.dir.str() + "/notify");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log",
                             {{"NOTIFY_SOCKET", setup.dir.str() + "/notify"}});
  std::vector<std::string> seen;
  REQUIRE(sock.wait_for("READY=1", 30s, seen));
  INFO(daemon.log());
  CHECK(seen.back().find("STATUS=ready: listeners 2/2 synced, 1 services, 2 configs, 0 rejected") != std::string::npos);
  CHECK(seen.back().find("docker:") == std::string::npos);
  CHECK(fetch_status(listen, "/healthz", 2s).status == 200);
  CHECK(fetch_status(listen, "/readyz", 2s).status == 200);
  // Checked again and again (reconnects counted), said once, never an error.
  REQUIRE(test::eventually([&] {
    return metric_value(fetch_status(listen, "/metrics", 2s).body,
                        "autodiscd_listener_reconnects_total{listener=\"docker\",type=\"docker\"} ") >= 20;
  }, 20s));
  const auto log = daemon.log();
  std::size_t lines = 0;
  for (auto at = log.find("is absent"); at != std::string::npos; at = log.find("is absent", at + 1)) ++lines;
  CHECK(lines == 1);
  CHECK(log.find("kind=") == std::string::npos);
  daemon.signal(SIGTERM);
  CHECK(daemon.wait(3s) == 0);
}
