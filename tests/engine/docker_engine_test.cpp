// The Docker listener against two REAL engines: dockerd (Debian's docker.io, started by
// tests/engine/dockerd-harness.sh) and Podman's Docker-compatible API (Debian's podman,
// tests/engine/podman-harness.sh), each in its own network namespace, shared by the test cases
// of this binary and torn down at exit. The scenarios are written once and run on both; where
// Podman cannot do a step, the step is skipped with a WARN saying why.
// If an engine cannot start, its tests FAIL; only a machine without podman and without the CI
// variable skips the Podman tests (loudly).
#include <catch2/catch.hpp>

#include <unistd.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/ops_process.hpp"
#include "support/support.hpp"
#include "support/test_certs.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using njson = nlohmann::json;

namespace {

/// What differs between the engines the scenarios run on.
struct engine_kind {
  std::string name;             ///< in messages and test names
  std::string harness;          ///< script with the verbs start/stop/import/teardown
  std::string socket_file;      ///< the Docker API socket, under the engine's folder
  std::string prefix;           ///< folder /tmp/<prefix>-XXXXXX, netns <prefix>-<pid> (short: socket paths)
  std::string binary;           ///< what must be installed
  bool optional = false;        ///< not installed and CI unset -> skip loudly (else: fail)
  bool tls = false;             ///< also serves TLS on tcp://127.0.0.1:2376 in its netns
  std::string default_network;  ///< the network of a plain `run`
  std::string image;            ///< the long image name the engine gives localtest/busybox
  bool expose_on_host_network = true;  ///< keeps `--expose` with `--network host`
  bool runs_health_checks = true;      ///< else the harness's `healthcheck` verb runs one
};

const std::string engine_dir = std::string(AUTODISCD_SOURCE_DIR) + "/tests/engine/";

const engine_kind dockerd_kind{"dockerd", engine_dir + "dockerd-harness.sh", "docker.sock", "adtd", "dockerd",
                               false, true, "bridge", "localtest/busybox", true, true};
// Podman 4.3: imported images get a registry; `--network host` drops `--expose` (inspect has
// no ExposedPorts at all); `system service` has no TLS; health checks need systemd timers.
const engine_kind podman_kind{"podman", engine_dir + "podman-harness.sh", "podman.sock", "adtp", "podman",
                              true, false, "podman", "docker.io/localtest/busybox", false, false};

/// One private engine for the whole binary, started on first use.
struct private_engine {
  explicit private_engine(const engine_kind& k) : kind(k) {
    std::string pattern_text = "/tmp/" + kind.prefix + "-XXXXXX";
    std::vector<char> pattern(pattern_text.begin(), pattern_text.end());
    pattern.push_back('\0');
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    base = pattern.data();
    netns = kind.prefix + "-" + std::to_string(::getpid());
    std::string out;
    const char* ci = std::getenv("CI");
    if (kind.optional && (!ci || !*ci) && test::run_command("command -v " + kind.binary, out) != 0) {
      skipped = kind.binary + " is not installed (apt-get install " + kind.binary +
                "; tests/setup-deps.sh test installs it) and CI is not set";
      return;
    }
    if (::geteuid() != 0) {
      error = "engine tests need root (network namespaces, " + kind.binary + ")";
      return;
    }
    std::string args;
    if (kind.tls) {
      fs::create_directories(base + "/certs");
      try {
        certs = test::make_test_certs(base + "/certs", "docker", {"127.0.0.1", "localhost"});
      } catch (const std::exception& e) {
        error = std::string("cannot make test certificates: ") + e.what();
        return;
      }
      args = " --tlsverify --tlscacert " + certs.ca_file + " --tlscert " + certs.server_cert_file + " --tlskey " +
             certs.server_key_file + " -H tcp://127.0.0.1:2376";
    }
    if (start(args) != 0) return;
    if (test::run_command(kind.harness + " import " + base, out) != 0) {
      error = "cannot import the busybox image: " + out;
      return;
    }
    start_args = args;
    ok = true;
  }
  ~private_engine() {
    std::string out;
    test::run_command(kind.harness + " teardown " + base + " " + netns, out);
  }

  int start(const std::string& args) {
    std::string out;
    int rc = test::run_command(kind.harness + " start " + base + " " + netns + args, out);
    if (rc != 0) error = kind.name + " did not start (rc " + std::to_string(rc) + "): " + out;
    return rc;
  }
  bool restart() {
    std::string out;
    test::run_command(kind.harness + " stop " + base, out);
    return start(start_args) == 0;
  }

  /// Makes the engine run a container's health check now, when it does not schedule them;
  /// the check's own outcome (healthy or not) is the engine's business.
  void run_health_check(const std::string& name) const {
    if (kind.runs_health_checks) return;
    std::string out;
    test::run_command(kind.harness + " healthcheck " + base + " " + netns + " " + name, out);
    UNSCOPED_INFO(kind.name << " healthcheck run " << name << ": " << out);
  }

  std::string socket_url() const { return "unix://" + base + "/" + kind.socket_file; }
  /// Runs the docker CLI on this engine; returns stdout+stderr, REQUIREs success unless told.
  std::string docker(const std::string& args, bool must_succeed = true) const {
    std::string out;
    int rc = test::run_command("docker -H " + socket_url() + " " + args + " 2>&1", out);
    if (must_succeed) {
      INFO(kind.name << ": docker " << args << "\n" << out);
      REQUIRE(rc == 0);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  const engine_kind kind;
  std::string base, netns, error, skipped, start_args;
  test::test_certs certs;
  bool ok = false;
};

/// The engine, or nullptr when its tests are skipped (said loudly; ctest reports "Skipped" on
/// the marker ENGINE_TESTS_SKIPPED); FAILs when it did not start.
private_engine* usable(private_engine& e) {
  if (!e.skipped.empty()) {
    WARN("SKIPPED: the " << e.kind.name << " engine tests do not run: " << e.skipped);
    std::fprintf(stderr, "*** ENGINE_TESTS_SKIPPED: %s: %s\n", e.kind.name.c_str(), e.skipped.c_str());
    return nullptr;
  }
  INFO(e.error);
  if (!e.ok) FAIL("the private " << e.kind.name << " is not available: " << e.error);
  return &e;
}

private_engine* dockerd_engine() {
  static private_engine e(dockerd_kind);
  return usable(e);
}

private_engine* podman_engine() {
  static private_engine e(podman_kind);
  return usable(e);
}

/// A step the engine cannot do: said in the test output, never silently left out. When it is
/// the whole test case, ctest reports the test as skipped (the marker ENGINE_TESTS_SKIPPED).
void skip_step(const engine_kind& kind, const std::string& step, const std::string& why, bool whole_test = false) {
  WARN("SKIPPED step on " << kind.name << ": " << step << " (" << why << ")");
  std::fprintf(stderr, "*** %s on %s: %s (%s)\n", whole_test ? "ENGINE_TESTS_SKIPPED" : "SKIPPED step",
               kind.name.c_str(), step.c_str(), why.c_str());
}

/// Removes the named containers at scope exit, even when the test fails.
struct container_guard {
  explicit container_guard(private_engine& d) : engine(d) {}
  ~container_guard() {
    for (const auto& n : names) engine.docker("rm -f " + n, false);
    for (const auto& n : networks) engine.docker("network rm " + n, false);
  }
  std::string run(const std::string& name, const std::string& flags, const std::string& cmd = "sleep 3600") {
    names.push_back(name);
    return engine.docker("run -d --init --name " + name + " " + flags + " localtest/busybox " + cmd);
  }
  private_engine& engine;
  std::vector<std::string> names;
  std::vector<std::string> networks;
};

std::string unique(const std::string& what) { return what + "-" + std::to_string(::getpid()); }

/// A world for the daemon: config, templates (busybox.d: one instance with %%host%%), out/.
struct daemon_world {
  explicit daemon_world(const std::string& docker_keys) {
    fs::create_directories(dir.path() / "templates" / "busybox.d");
    fs::create_directories(dir.path() / "out");
    test::write_file(dir.path() / "templates" / "busybox.d" / "conf.yaml",
                     "ad_identifiers: [busybox]\ninit_config: {}\ninstances:\n  - host: \"%%host%%\"\n");
    config = (dir.path() / "autodiscd.yaml").string();
    test::write_file(config, "listeners:\n  - type: docker\n" + docker_keys +
                                 "templates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: off\n"
                                 "log:\n  level: info\n");
  }
  /// Container ids named by the files in out/busybox.d (through their container_id tag).
  std::set<std::string> ids_in_output() const {
    std::set<std::string> ids;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir.path() / "out" / "busybox.d", ec)) {
      auto name = e.path().filename().string();
      if (name.front() == '.') continue;  // a writer's temp file
      auto text = test::read_file(e.path());
      auto at = text.find("container_id:");
      if (at == std::string::npos) {
        ids.insert("?" + name);
        continue;
      }
      ids.insert(text.substr(at + 13, 64));
    }
    return ids;
  }
  test::temp_dir dir{"autodiscd-docker-engine"};
  std::string config;
};

njson services_json(const std::string& config, const std::string& prefix = "") {
  std::string out;
  int rc = test::run_command(prefix + test::autodiscd_binary() + " services --config " + config + " 2>/dev/null", out);
  INFO(out);
  REQUIRE(rc == 0);
  // The JSON array starts on its own line (log lines may come first on the same stream).
  std::size_t start = 0;
  if (out.rfind("[", 0) != 0) {
    start = out.find("\n[");
    start = start == std::string::npos ? 0 : start + 1;
  }
  auto j = njson::parse(out.substr(start), nullptr, false);
  REQUIRE(j.is_array());
  return j;
}

const njson* by_name(const njson& services, const std::string& name) {
  for (const auto& s : services) {
    for (const auto& t : s["tags"]) {
      if (t == "container_name:" + name) return &s;
    }
  }
  return nullptr;
}

std::vector<int> port_numbers(const njson& svc) {
  std::vector<int> ports;
  for (const auto& p : svc["ports"]) ports.push_back(p["port"].get<int>());
  return ports;
}

// --- the scenarios, for any engine ---------------------------------------------------------------

void services_scenario(private_engine& d) {
  container_guard g(d);
  const auto neta = unique("neta"), netb = unique("netb");
  d.docker("network create " + neta);
  g.networks.push_back(neta);
  d.docker("network create " + netb);
  g.networks.push_back(netb);

  const auto v1 = unique("v1"), v2 = unique("v2"), two = unique("twonets"), host = unique("hostnet"),
             cid = unique("checkid");
  g.run(v1, "--expose 6379 -l 'com.datadoghq.ad.check_names=[\"redisdb\"]' -l 'com.datadoghq.ad.init_configs=[{}]' "
            "-l 'com.datadoghq.ad.instances=[{\"host\":\"%%host%%\",\"port\":\"%%port%%\"}]'");
  g.run(v2, "-p 18080:80 -l 'com.datadoghq.ad.checks={\"nginx\":{\"instances\":[{\"url\":\"http://%%host%%:%%port%%\"}]}}'");
  g.run(two, "--network " + neta);
  d.docker("network connect " + netb + " " + two);
  g.run(host, "--network host --expose 9100");
  g.run(cid, "-l com.datadoghq.ad.check.id=my-custom-check");

  // wait_for_healthy: none of these has a health check (Podman reports an empty State.Health
  // on each), so all are ready.
  daemon_world w("    host: " + d.socket_url() + "\n    wait_for_healthy: true\n");
  auto services = services_json(w.config);
  INFO(services.dump(2));

  const auto* s1 = by_name(services, v1);
  REQUIRE(s1);
  CHECK(port_numbers(*s1) == std::vector<int>{6379});
  CHECK((*s1)["hosts"].contains(d.kind.default_network));
  CHECK((*s1)["ad_identifiers"][1] == d.kind.image);
  CHECK((*s1)["pid"].get<int>() > 0);
  CHECK((*s1)["ready"] == true);

  const auto* s2 = by_name(services, v2);
  REQUIRE(s2);
  CHECK(port_numbers(*s2) == std::vector<int>{80});

  const auto* st = by_name(services, two);
  REQUIRE(st);
  CHECK((*st)["hosts"].size() == 2);
  CHECK((*st)["hosts"].contains(neta));
  CHECK((*st)["hosts"].contains(netb));

  const auto* sh = by_name(services, host);
  REQUIRE(sh);
  REQUIRE((*sh)["hosts"].size() == 1);
  CHECK((*sh)["hosts"].contains("hostname"));
  if (d.kind.expose_on_host_network) {
    CHECK(port_numbers(*sh) == std::vector<int>{9100});
  } else {
    CHECK(port_numbers(*sh).empty());
    skip_step(d.kind, "--expose 9100 on a host-network container -> port 9100",
              "the engine drops --expose with --network host: inspect has no ExposedPorts");
  }

  const auto* sc = by_name(services, cid);
  REQUIRE(sc);
  CHECK((*sc)["ad_identifiers"] == njson::array({"my-custom-check"}));

  // The label templates resolve: v1's redisdb with its bridge IP and port, v2's nginx.
  std::string out;
  REQUIRE(test::run_command(test::autodiscd_binary() + " configs --config " + w.config + " 2>/dev/null", out) == 0);
  CHECK(out.find("redisdb") != std::string::npos);
  CHECK(out.find((*s1)["hosts"][d.kind.default_network].get<std::string>()) != std::string::npos);
  CHECK(out.find("nginx") != std::string::npos);
}

void run_scenario(private_engine& d) {
  container_guard g(d);
  // A slow first reconnect leaves a window to change containers after dockerd comes back.
  daemon_world w("    host: " + d.socket_url() + "\n    backoff_initial: 2s\n    backoff_max: 4s\n"
                  "    wait_for_healthy: true\n");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", w.config},
                             w.dir.str() + "/daemon.log");
  const auto n1 = unique("r1"), n2 = unique("r2"), n3 = unique("r3"), n5 = unique("r5");
  auto id1 = g.run(n1, "");
  auto id2 = g.run(n2, "");
  auto id3 = g.run(n3, "--restart=always");
  INFO(daemon.log());
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id1, id2, id3}; }, 10s));

  // wait_for_healthy: a container with a health check gets its config once healthy (the
  // health_status event), not before; the others (no health check) are ready at once.
  const auto nh = unique("health");
  auto idh = g.run(nh, "--health-cmd 'test -e /tmp/ok' --health-interval 1s --health-retries 100");
  d.run_health_check(nh);  // fails: no /tmp/ok
  std::this_thread::sleep_for(1500ms);
  CHECK(d.docker("inspect -f '{{.State.Health.Status}}' " + nh) != "healthy");
  CHECK(w.ids_in_output() == std::set<std::string>{id1, id2, id3});
  d.docker("exec " + nh + " touch /tmp/ok");
  d.run_health_check(nh);
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id1, id2, id3, idh}; }, 10s));
  d.docker("rm -f " + nh);
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id1, id2, id3}; }, 10s));

  d.docker("restart -t 1 " + n1);
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id1, id2, id3}; }, 10s));

  d.docker("rename " + n2 + " " + n2 + "b");
  g.names.push_back(n2 + "b");
  REQUIRE(test::eventually(
      [&] {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(w.dir.path() / "out" / "busybox.d", ec)) {
          if (test::read_file(e.path()).find("container_name:" + n2 + "b") != std::string::npos) return true;
        }
        return false;
      },
      10s));

  d.docker("rm -f " + n2 + "b");
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id1, id3}; }, 10s));

  // Engine restart: on dockerd r1 (no restart policy) stays stopped, r3 comes back; Podman's
  // containers outlive its service. Then r1 is removed and r5 started before the listener
  // reconnects.
  REQUIRE(d.restart());
  d.docker("rm -f " + n1);
  auto id5 = g.run(n5, "");
  REQUIRE(test::eventually([&] { return w.ids_in_output() == std::set<std::string>{id3, id5}; }, 20s));
  // And it stays exact (no late stale write).
  std::this_thread::sleep_for(500ms);
  CHECK(w.ids_in_output() == std::set<std::string>{id3, id5});
  CHECK(daemon.running());
  daemon.signal(SIGTERM);
  CHECK(daemon.wait(10s) == 0);
}

void tls_scenario(private_engine& d) {
  container_guard g(d);
  const auto name = unique("tls");
  g.run(name, "");
  test::temp_dir certs("autodiscd-docker-certs");
  fs::copy_file(d.certs.ca_file, certs.path() / "ca.pem");
  fs::copy_file(d.certs.client_cert_file, certs.path() / "cert.pem");
  fs::copy_file(d.certs.client_key_file, certs.path() / "key.pem");
  daemon_world w("");  // no host key: the environment decides
  // The TLS port lives in dockerd's network namespace.
  const std::string in_netns = "nsenter --net=/run/netns/" + d.netns + " env DOCKER_HOST=tcp://127.0.0.1:2376 "
                               "DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=";
  auto services = services_json(w.config, in_netns + certs.str() + " ");
  CHECK(by_name(services, name));

  // A CA that did not sign the server's certificate: a tls error, non-zero exit.
  test::temp_dir other("autodiscd-docker-othercerts");
  auto wrong = test::make_test_certs(other.path(), "other");
  fs::copy_file(wrong.ca_file, other.path() / "ca.pem");
  fs::copy_file(d.certs.client_cert_file, other.path() / "cert.pem");
  fs::copy_file(d.certs.client_key_file, other.path() / "key.pem");
  std::string out;
  int rc = test::run_command(in_netns + other.str() + " " + test::autodiscd_binary() + " services --timeout 3s --config " +
                                 w.config + " 2>&1",
                             out);
  INFO(out);
  CHECK(rc != 0);
  CHECK(out.find("tls") != std::string::npos);
  CHECK(out.find("certificate verify failed") != std::string::npos);
}

}  // namespace

// --- each scenario on each engine --------------------------------------------------------------

// One test case per engine: "<what> on a real dockerd: <details>", "... podman: ...".
#define AUTODISCD_ON_BOTH_ENGINES(what, details, scenario)              \
  TEST_CASE(what " on a real dockerd: " details, "[engine][docker]") { \
    if (auto* e = dockerd_engine()) scenario(*e);                      \
  }                                                                    \
  TEST_CASE(what " on a real podman: " details, "[engine][podman]") {  \
    if (auto* e = podman_engine()) scenario(*e);                       \
  }

AUTODISCD_ON_BOTH_ENGINES("autodiscd services", "labels, ports, networks, host network, check.id", services_scenario)
AUTODISCD_ON_BOTH_ENGINES("autodiscd run", "health, restart, rename, rm -f, engine restart -> exact files", run_scenario)

TEST_CASE("DOCKER_HOST=tcp:// with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on a real dockerd", "[engine][docker]") {
  if (auto* e = dockerd_engine()) tls_scenario(*e);
}

TEST_CASE("DOCKER_HOST=tcp:// with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on a real podman", "[engine][podman]") {
  skip_step(podman_kind, "the TLS scenario", "Podman 4.3's `system service` serves no TLS (unix and plain tcp only)",
            true);
}
