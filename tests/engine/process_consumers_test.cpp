// The process listener with its real neighbours, each test inside a network namespace of its
// own with the real autodiscd binary in it:
// - a real consumer end to end: prometheus-redis-exporter (Debian's package) against a real
//   redis-server, discovered as a process, its file_sd target written from a template, and a
//   real Prometheus (Debian's package) reading that folder and scraping the target up;
// - a host-network container on a real dockerd while the docker listener runs in the same
//   daemon: one service for it, the container's (the process listener leaves container cgroups
//   to the container listeners), and a process:// one too with include_containers: true.
// Needs root, the packages of tests/setup-deps.sh test and a dockerd that starts: without them,
// skipped loudly (ctest: "Skipped"), except in CI (CI set), where they fail.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "support/dockerd_harness.hpp"
#include "support/network_namespace.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;
using test::shell_quote;

namespace {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci;
}

/// Whether a test can run; else says loudly why not (ctest reports "Skipped" on
/// ENGINE_TESTS_SKIPPED), or FAILs in CI, where tests/setup-deps.sh installed everything.
bool can_run(const std::string& tag, const std::string& why_not) {
  if (why_not.empty()) return true;
  if (in_ci()) FAIL(tag << " cannot run in CI: " << why_not);
  WARN("SKIPPED: " << tag << " does not run: " << why_not);
  std::fprintf(stderr, "*** ENGINE_TESTS_SKIPPED: %s: %s\n", tag.c_str(), why_not.c_str());
  return false;
}

/// Why a test needing root and `programs` cannot run here ("" when it can).
std::string missing_requirements(const std::vector<std::string>& programs) {
  if (::geteuid() != 0) return "needs root (ip netns add)";
  const auto missing = test::missing_programs(programs);
  return missing.empty() ? "" : "not installed: " + missing + " (tests/setup-deps.sh test)";
}

/// A folder for the daemon's world (config, templates/, out/) next to the namespace it runs in.
struct world {
  world() {
    fs::create_directories(dir.path() / "templates");
    fs::create_directories(dir.path() / "out");
    config = dir.str() + "/autodiscd.yaml";
    out = dir.str() + "/out";
  }
  void write_config(const std::string& listeners) const {
    test::write_file(config, "listeners:\n" + listeners +
                                 "templates: {dirs: [templates]}\noutput: {dir: out}\nstatus: {listen: \"off\"}\n"
                                 "log: {level: debug}\n");
  }

  test::temp_dir dir{"autodiscd-process-consumers"};
  std::string config, out;
};

/// `autodiscd services` in the network namespace `netns`: the JSON array, or null when it failed
/// (`output` and `log` keep what it printed, for messages).
json services_in(const std::string& netns, const world& w, std::string& output, std::string& log) {
  const auto err = w.dir.str() + "/services.err";
  // In braces: the inner redirection sends the log to its file (run_command adds 2>&1).
  const int code = test::run_command("{ ip netns exec " + netns + " " + shell_quote(test::autodiscd_binary()) +
                                         " services --log-level debug --config " + w.config + " --timeout 20s 2>" +
                                         err + "; }",
                                     output);
  log = test::read_file(err);
  if (code != 0) return nullptr;
  return json::parse(output, nullptr, false);
}

/// The services that list `port` among their ports.
std::vector<json> with_port(const json& services, int port) {
  std::vector<json> found;
  for (const auto& s : services) {
    for (const auto& p : s.value("ports", json::array())) {
      if (p.value("port", 0) == port) found.push_back(s);
    }
  }
  return found;
}

/// Prometheus's HTTP API at 127.0.0.1:9090 in the namespace, through curl there; null when it
/// does not answer (yet) with JSON.
json prometheus_api(const test::network_namespace& ns, const std::string& path, const std::string& query = "") {
  std::string out;
  std::string command = "curl -sf --max-time 2 -G http://127.0.0.1:9090" + path;
  if (!query.empty()) command += " --data-urlencode " + shell_quote("query=" + query);
  if (test::run_command(ns.shell(command), out) != 0) return nullptr;
  return json::parse(out, nullptr, false);
}

/// The value of an instant query's single sample ("" when there is not exactly one).
std::string single_value(const test::network_namespace& ns, const std::string& query) {
  const auto r = prometheus_api(ns, "/api/v1/query", query);
  if (r.is_discarded() || !r.is_object() || r.value("status", "") != "success") return "";
  const auto& result = r["data"]["result"];
  if (result.size() != 1) return "";
  return result[0]["value"][1].get<std::string>();
}

/// Prometheus's active target at `address`, or null.
json active_target(const test::network_namespace& ns, const std::string& address) {
  const auto r = prometheus_api(ns, "/api/v1/targets");
  if (r.is_discarded() || !r.is_object()) return nullptr;
  for (const auto& t : r["data"]["activeTargets"]) {
    if (t["discoveredLabels"].value("__address__", "") == address) return t;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("process listener: prometheus-redis-exporter discovered as a process, its file_sd target scraped up by a "
          "real Prometheus, removed when it stops",
          "[engine][process][prometheus]") {
  if (!can_run("[process][prometheus]",
               missing_requirements({"ip", "curl", "redis-server", "prometheus-redis-exporter", "prometheus"}))) {
    return;
  }
  world w;
  test::network_namespace ns;
  // The exporter's process name is its file name cut to 15 characters (comm): a rule on its
  // executable gives it the identifier the template asks for.
  w.write_config(R"(  - type: process
    interval: 200ms
    rules:
      - match: {exe: '/prometheus-redis-exporter$'}
        ad_identifiers: [redis_exporter]
)");
  fs::create_directories(w.dir.path() / "templates" / "redis_exporter.d");
  test::write_file(w.dir.path() / "templates" / "redis_exporter.d" / "file_sd.yaml",
                   "ad_identifiers: [redis_exporter]\nfile_sd:\n  targets: [\"%%host%%:%%port%%\"]\n"
                   "  labels: {job: redis_exporter, pid: \"%%pid%%\"}\n");
  const auto prom_config = w.dir.str() + "/prometheus.yml";
  test::write_file(prom_config, "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                "scrape_configs:\n"
                                "  - job_name: discovered\n"
                                "    file_sd_configs:\n"
                                "      - {files: [\"" + w.out + "/redis_exporter.d/*.json\"], refresh_interval: 1s}\n");

  const auto log = [&](const std::string& name) { return w.dir.str() + "/" + name + ".log"; };
  test::child_process redis(ns.in({"redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                   "no", "--dir", w.dir.str(), "--daemonize", "no"}),
                            log("redis"));
  test::child_process exporter(ns.in({"prometheus-redis-exporter", "-web.listen-address", "127.0.0.1:9121",
                                       "-redis.addr", "redis://127.0.0.1:6379"}),
                                log("exporter"));
  test::child_process daemon(ns.in({test::autodiscd_binary(), "run", "--config", w.config}), log("daemon"));
  test::child_process prometheus(ns.in({"prometheus", "--config.file=" + prom_config,
                                        "--storage.tsdb.path=" + w.dir.str() + "/tsdb",
                                        "--web.listen-address=127.0.0.1:9090"}),
                                 log("prometheus"));

  // The exporter's service, from the real binary in the namespace: its name as the kernel
  // keeps it, the rule's identifier, its one port.
  std::string output, services_log;
  json exporter_service;
  const bool discovered = test::eventually(
      [&] {
        const auto services = services_in(ns.name(), w, output, services_log);
        if (!services.is_array()) return false;
        for (const auto& s : services) {
          if (s.value("id", "") == "process://" + std::to_string(exporter.pid())) exporter_service = s;
        }
        return exporter_service.is_object();
      },
      20s);
  {
    INFO(output << "\n--- log\n" << services_log << "\n--- exporter\n" << exporter.log());
    REQUIRE(discovered);
  }
  INFO("exporter service: " << exporter_service.dump());
  CHECK(exporter_service["ad_identifiers"] ==
        json::array({"process://" + std::to_string(exporter.pid()), "prometheus-redi", "redis_exporter"}));
  CHECK(exporter_service["ports"] == json::array({{{"port", 9121}, {"name", "9121/tcp"}}}));
  CHECK(exporter_service["hosts"] == json({{"host", "127.0.0.1"}}));

  // The daemon writes the target group from the template...
  const auto target_file = w.out + "/redis_exporter.d/process___" + std::to_string(exporter.pid()) + ".json";
  {
    const bool written = test::eventually([&] { return fs::exists(target_file); }, 20s);
    INFO("--- daemon log\n" << daemon.log());
    REQUIRE(written);
  }
  const auto group = json::parse(test::read_file(target_file), nullptr, false);
  CHECK(group == json::array({{{"targets", {"127.0.0.1:9121"}},
                               {"labels", {{"job", "redis_exporter"}, {"pid", std::to_string(exporter.pid())}}}}}));
  // ...for the exporter only (redis-server is a service too, with no template here).
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(w.out)) {
    if (e.is_regular_file() && !e.path().filename().string().starts_with(".")) files.push_back(e.path().string());
  }
  CHECK(files == std::vector<std::string>{target_file});

  // Prometheus reads it and scrapes the exporter, which reaches the real redis. Its discovery
  // batches updates every 5 s.
  const bool up = test::eventually([&] { return single_value(ns, "up{instance=\"127.0.0.1:9121\"}") == "1"; }, 60s);
  const auto target = active_target(ns, "127.0.0.1:9121");
  INFO("target: " << target.dump() << "\n--- prometheus log\n" << prometheus.log() << "\n--- exporter log\n"
                  << exporter.log());
  CHECK(up);
  REQUIRE(target.is_object());
  CHECK(target["health"] == "up");
  CHECK(target["labels"]["job"] == "redis_exporter");
  CHECK(target["labels"]["pid"] == std::to_string(exporter.pid()));
  CHECK(test::eventually([&] { return single_value(ns, "redis_up{instance=\"127.0.0.1:9121\"}") == "1"; }, 30s));

  // The exporter stops: its target file goes, and Prometheus drops the target.
  exporter.signal(SIGTERM);
  CHECK(exporter.wait(10s).has_value());
  CHECK(test::eventually([&] { return !fs::exists(target_file); }, 10s));
  CHECK(test::eventually([&] { return active_target(ns, "127.0.0.1:9121").is_null(); }, 30s));
  CHECK(daemon.running());

  daemon.signal(SIGTERM);
  CHECK(daemon.wait(10s) == 0);
  prometheus.signal(SIGTERM);
  CHECK(prometheus.wait(20s).has_value());
}

TEST_CASE("process listener with the docker listener on a real dockerd: a host-network container is one service, "
          "the container's, and a process too with include_containers",
          "[engine][process][docker]") {
  if (!can_run("[process][docker]", missing_requirements({"ip", "dockerd", "docker", "busybox"}))) return;
  // dockerd in a network namespace of its own: a --network host container shares it, and so
  // does the daemon under test (a sock_diag dump sees its own namespace only).
  test::dockerd_harness d("adtx");
  const auto start_error = d.start();
  if (!can_run("[process][docker]", start_error.empty() ? "" : "dockerd did not start here: " + start_error)) return;
  {
    const auto error = d.import_busybox();
    INFO(error);
    REQUIRE(error.empty());
  }
  world w;
  const int port = 18181;
  const auto name = "hostnet-" + std::to_string(::getpid());
  std::string id;
  {
    const int rc = d.docker("run -d --init --name " + name + " --network host --expose " + std::to_string(port) +
                                " localtest/busybox httpd -f -p " + std::to_string(port) + " -h /tmp",
                            id);
    INFO(id);
    REQUIRE(rc == 0);
  }
  std::string init_pid;
  REQUIRE(d.docker("inspect -f '{{.State.Pid}}' " + name, init_pid) == 0);
  // httpd listens in dockerd's namespace, as the container's init's child.
  REQUIRE(test::eventually(
      [&] {
        std::string out;
        test::run_command("ip netns exec " + d.netns() + " ss -Hltn", out);
        return out.find(":" + std::to_string(port) + " ") != std::string::npos;
      },
      20s));
  const auto httpd_pids = test::children_of(std::stoi(init_pid));
  REQUIRE(httpd_pids.size() == 1);
  const int httpd_pid = httpd_pids.front();

  const std::string docker_listener = "  - type: docker\n    host: " + d.socket_url() + "\n";
  const std::string process_listener = "  - type: process\n    interval: 200ms\n";
  std::string output, log;

  // Both listeners, containers left to the docker listener: one service on the port, the
  // container's, and no process:// service for httpd.
  w.write_config(docker_listener + process_listener);
  auto services = services_in(d.netns(), w, output, log);
  {
    INFO(output << "\n--- log\n" << log);
    REQUIRE(services.is_array());
    CHECK(log.find("listener=process") != std::string::npos);  // both listeners ran
    CHECK(log.find("listener=docker synced") != std::string::npos);
    const auto on_port = with_port(services, port);
    REQUIRE(on_port.size() == 1);
    CHECK(on_port[0]["id"] == "docker://" + id);
    CHECK(on_port[0]["listener"] == "docker");
    for (const auto& s : services) CHECK(s["id"] != "process://" + std::to_string(httpd_pid));
  }

  // The negative: with include_containers the process listener reports httpd as well, so the
  // test above did see its socket.
  w.write_config(docker_listener + process_listener + "    include_containers: true\n");
  services = services_in(d.netns(), w, output, log);
  {
    INFO(output << "\n--- log\n" << log);
    REQUIRE(services.is_array());
    const auto on_port = with_port(services, port);
    REQUIRE(on_port.size() == 2);
    std::set<std::string> ids;
    for (const auto& s : on_port) ids.insert(s["id"].get<std::string>());
    CHECK(ids == std::set<std::string>{"docker://" + id, "process://" + std::to_string(httpd_pid)});
    for (const auto& s : on_port) {
      if (s["listener"] == "process") CHECK(s["tags"] == json::array({"process_name:httpd"}));
    }
  }
  std::string removed;
  d.docker("rm -f " + name, removed);
}
