// The Docker listener against a REAL dockerd (Debian's docker.io), started by
// tests/engine/dockerd-harness.sh in its own network namespace, shared by the test cases of
// this binary and torn down at exit. If the engine cannot start, the tests FAIL.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <signal.h>

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

const std::string harness = std::string(AUTODISCD_SOURCE_DIR) + "/tests/engine/dockerd-harness.sh";

/// One private dockerd for the whole binary: unix socket plus TLS on tcp://127.0.0.1:2376
/// inside its network namespace.
struct private_dockerd {
  private_dockerd() {
    char pattern[] = "/tmp/adtd-XXXXXX";  // short: unix socket paths are limited
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    base = pattern;
    netns = "adtd-" + std::to_string(::getpid());
    if (::geteuid() != 0) {
      error = "engine tests need root (network namespaces, dockerd)";
      return;
    }
    fs::create_directories(base + "/certs");
    try {
      certs = test::make_test_certs(base + "/certs", "docker", {"127.0.0.1", "localhost"});
    } catch (const std::exception& e) {
      error = std::string("cannot make test certificates: ") + e.what();
      return;
    }
    std::string out;
    const std::string args = " --tlsverify --tlscacert " + certs.ca_file + " --tlscert " + certs.server_cert_file +
                             " --tlskey " + certs.server_key_file + " -H tcp://127.0.0.1:2376";
    if (start(args) != 0) return;
    if (test::run_command(harness + " import " + base, out) != 0) {
      error = "cannot import the busybox image: " + out;
      return;
    }
    start_args = args;
    ok = true;
  }
  ~private_dockerd() {
    std::string out;
    test::run_command(harness + " teardown " + base + " " + netns, out);
  }

  int start(const std::string& args) {
    std::string out;
    int rc = test::run_command(harness + " start " + base + " " + netns + args, out);
    if (rc != 0) error = "dockerd did not start (rc " + std::to_string(rc) + "): " + out;
    return rc;
  }
  bool restart() {
    std::string out;
    test::run_command(harness + " stop " + base, out);
    return start(start_args) == 0;
  }

  std::string socket_url() const { return "unix://" + base + "/docker.sock"; }
  /// Runs the docker CLI on this engine; returns stdout+stderr, REQUIREs success unless told.
  std::string docker(const std::string& args, bool must_succeed = true) const {
    std::string out;
    int rc = test::run_command("docker -H " + socket_url() + " " + args + " 2>&1", out);
    if (must_succeed) {
      INFO("docker " << args << "\n" << out);
      REQUIRE(rc == 0);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  std::string base, netns, error, start_args;
  test::test_certs certs;
  bool ok = false;
};

private_dockerd& engine() {
  static private_dockerd d;
  INFO(d.error);
  if (!d.ok) FAIL("the private dockerd is not available: " << d.error);
  return d;
}

/// Removes the named containers at scope exit, even when the test fails.
struct container_guard {
  explicit container_guard(private_dockerd& d) : engine(d) {}
  ~container_guard() {
    for (const auto& n : names) engine.docker("rm -f " + n, false);
    for (const auto& n : networks) engine.docker("network rm " + n, false);
  }
  std::string run(const std::string& name, const std::string& flags, const std::string& cmd = "sleep 3600") {
    names.push_back(name);
    return engine.docker("run -d --init --name " + name + " " + flags + " localtest/busybox " + cmd);
  }
  private_dockerd& engine;
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

}  // namespace

TEST_CASE("autodiscd services on a real dockerd: labels, ports, networks, host network, check.id",
          "[engine][docker]") {
  auto& d = engine();
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

  daemon_world w("    host: " + d.socket_url() + "\n");
  auto services = services_json(w.config);
  INFO(services.dump(2));

  const auto* s1 = by_name(services, v1);
  REQUIRE(s1);
  CHECK(port_numbers(*s1) == std::vector<int>{6379});
  CHECK((*s1)["hosts"].contains("bridge"));
  CHECK((*s1)["ad_identifiers"][1] == "localtest/busybox");
  CHECK((*s1)["pid"].get<int>() > 0);

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
  CHECK(port_numbers(*sh) == std::vector<int>{9100});

  const auto* sc = by_name(services, cid);
  REQUIRE(sc);
  CHECK((*sc)["ad_identifiers"] == njson::array({"my-custom-check"}));

  // The label templates resolve: v1's redisdb with its bridge IP and port, v2's nginx.
  std::string out;
  REQUIRE(test::run_command(test::autodiscd_binary() + " configs --config " + w.config + " 2>/dev/null", out) == 0);
  CHECK(out.find("redisdb") != std::string::npos);
  CHECK(out.find((*s1)["hosts"]["bridge"].get<std::string>()) != std::string::npos);
  CHECK(out.find("nginx") != std::string::npos);
}

TEST_CASE("autodiscd run on a real dockerd: restart, rename, rm -f, dockerd restart -> exact files",
          "[engine][docker]") {
  auto& d = engine();
  container_guard g(d);
  // A slow first reconnect leaves a window to change containers after dockerd comes back.
  daemon_world w("    host: " + d.socket_url() + "\n    backoff_initial: 2s\n    backoff_max: 4s\n");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", w.config},
                             w.dir.str() + "/daemon.log");
  const auto n1 = unique("r1"), n2 = unique("r2"), n3 = unique("r3"), n5 = unique("r5");
  auto id1 = g.run(n1, "");
  auto id2 = g.run(n2, "");
  auto id3 = g.run(n3, "--restart=always");
  INFO(daemon.log());
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

  // dockerd restart: r1 (no restart policy) stays stopped and is then removed, r3 comes back,
  // r5 is started before the listener reconnects.
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

TEST_CASE("DOCKER_HOST=tcp:// with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH on a real dockerd", "[engine][docker]") {
  auto& d = engine();
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
