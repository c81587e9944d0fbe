// A real Prometheus (Debian's package) scrapes our /metrics and reads our file_sd output;
// promtool checks the metrics page. These are the real consumers of two of our outputs.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "daemon/status_server.hpp"
#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool have(const std::string& program) {
  std::string out;
  return test::run_command("command -v " + program, out) == 0;
}

/// The daemon with one service whose file_sd target is 10.0.3.1:9100.
struct daemon_under_test {
  daemon_under_test() : port(test::free_port()), listen("127.0.0.1:" + std::to_string(port)), setup(listen) {
    setup.write_services(test::ops_setup::service_yaml("static://node-1", "10.0.3.1"));
    daemon = std::make_unique<test::child_process>(
        std::vector<std::string>{test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
    REQUIRE(test::eventually([&] { return fetch_status(listen, "/readyz", 1s).status == 200; }, 10s));
  }
  ~daemon_under_test() {
    daemon->signal(SIGTERM);
    daemon->wait(5s);
  }
  unsigned short port;
  std::string listen;
  test::ops_setup setup;
  std::unique_ptr<test::child_process> daemon;
};

}  // namespace

TEST_CASE("promtool check metrics accepts our /metrics", "[engine][prometheus]") {
  if (!have("promtool")) FAIL("promtool is not installed: apt-get install prometheus (tests/setup-deps.sh test)");
  daemon_under_test d;
  auto metrics = fetch_status(d.listen, "/metrics", 2s);
  REQUIRE(metrics.status == 200);
  const auto file = d.setup.dir.str() + "/metrics.txt";
  test::write_file(file, metrics.body);
  std::string out;
  const int code = test::run_command("promtool check metrics < " + file, out);
  INFO(out << "\n---\n" << metrics.body);
  CHECK(code == 0);
  CHECK(out.empty());
}

TEST_CASE("a real Prometheus scrapes /metrics and follows our file_sd output", "[engine][prometheus]") {
  if (!have("prometheus")) FAIL("prometheus is not installed: apt-get install prometheus (tests/setup-deps.sh test)");
  daemon_under_test d;
  const auto prom_port = test::free_port();
  const auto prom = "127.0.0.1:" + std::to_string(prom_port);
  const auto prom_config = d.setup.dir.str() + "/prometheus.yml";
  test::write_file(prom_config,
                   "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                   "scrape_configs:\n"
                   "  - job_name: autodiscd\n"
                   "    static_configs: [{targets: [\"" + d.listen + "\"]}]\n"
                   "  - job_name: discovered\n"
                   "    file_sd_configs: [{files: [\"" + d.setup.out + "/node.d/*.json\"], refresh_interval: 1s}]\n");
  test::child_process prometheus({"prometheus", "--config.file=" + prom_config,
                                  "--storage.tsdb.path=" + d.setup.dir.str() + "/tsdb",
                                  "--web.listen-address=" + prom},
                                 d.setup.dir.str() + "/prometheus.log");
  INFO(prometheus.log());

  auto targets = [&] {
    auto r = fetch_status(prom, "/api/v1/targets", 2s);
    if (r.status != 200) return nlohmann::json::array();
    return nlohmann::json::parse(r.body)["data"]["activeTargets"];
  };
  auto find_target = [&](const std::string& address) -> nlohmann::json {
    for (const auto& t : targets()) {
      if (t["discoveredLabels"]["__address__"] == address) return t;
    }
    return nullptr;
  };

  // Our /metrics: scraped and up.
  CHECK(test::eventually([&] {
    auto t = find_target(d.listen);
    return !t.is_null() && t["health"] == "up";
  }, 20s));
  // And its samples are in the TSDB.
  CHECK(test::eventually([&] {
    auto r = fetch_status(prom, "/api/v1/query?query=autodiscd_ready", 2s);
    if (r.status != 200) return false;
    auto result = nlohmann::json::parse(r.body)["data"]["result"];
    return !result.empty() && result[0]["value"][1] == "1";
  }, 20s));

  // Our file_sd output: the service's target appears, with the template's labels...
  nlohmann::json discovered;
  CHECK(test::eventually([&] {
    discovered = find_target("10.0.3.1:9100");
    return !discovered.is_null();
  }, 20s));
  if (!discovered.is_null()) CHECK(discovered["discoveredLabels"]["job"] == "node");
  // ... and vanishes when the service goes.
  d.setup.write_services("[]\n");
  CHECK(test::eventually([&] { return find_target("10.0.3.1:9100").is_null(); }, 20s));
  CHECK_FALSE(find_target(d.listen).is_null());

  prometheus.signal(SIGTERM);
  CHECK(prometheus.wait(10s).has_value());
}
