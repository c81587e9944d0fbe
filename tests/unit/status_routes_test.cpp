// The status server's routes (pure) and the metrics page, on a real app with the static listener.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <sstream>

#include <boost/asio/io_context.hpp>

#include "daemon/app.hpp"
#include "daemon/metrics.hpp"
#include "daemon/report.hpp"
#include "daemon/status_routes.hpp"
#include "support/ops_process.hpp"
#include "support/running_app.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

using test::running_app;

json body_json(const status_response& r) { return json::parse(r.body); }

}  // namespace

TEST_CASE("status.listen addresses", "[status_routes]") {
  std::string error;
  auto a = parse_listen_address("127.0.0.1:5009", error);
  REQUIRE(a);
  CHECK(a->type == listen_address::kind::tcp);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 5009);
  a = parse_listen_address("[::1]:80", error);
  REQUIRE(a);
  CHECK(a->host == "::1");
  a = parse_listen_address("localhost:0", error);
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  a = parse_listen_address("unix:/run/autodiscd.sock", error);
  REQUIRE(a);
  CHECK(a->type == listen_address::kind::unix_socket);
  CHECK(a->path == "/run/autodiscd.sock");
  a = parse_listen_address("off", error);
  REQUIRE(a);
  CHECK(a->type == listen_address::kind::off);
  for (const char* bad : {"", "5009", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x", "example.com:80",
                          "unix:relative.sock", ":5009"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_listen_address(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("status routes: health, readiness, services, configs, status", "[status_routes]") {
  running_app r(test::ops_setup::service_yaml("static://redis-1", "10.0.0.5"));
  const auto& a = *r.the_app;

  auto res = handle_status_request(a, "GET", "/healthz");
  CHECK(res.status == 200);
  CHECK(body_json(res)["status"] == "ok");
  res = handle_status_request(a, "GET", "/readyz");
  CHECK(res.status == 200);

  res = handle_status_request(a, "GET", "/services");
  REQUIRE(res.status == 200);
  CHECK(body_json(res) == services_report(a));
  CHECK(body_json(res)[0]["id"] == "static://redis-1");
  CHECK(body_json(res)[0]["hosts"]["bridge"] == "10.0.0.5");

  res = handle_status_request(a, "GET", "/configs?verbose=1");
  REQUIRE(res.status == 200);
  const auto configs = body_json(res)["configs"];
  REQUIRE(configs.size() == 2);
  // The content, as `autodiscd configs` prints it (values from %%env_X%% masked: below).
  CHECK(configs[0]["content"] == configs_report(a)["configs"][0]["content"]);
  CHECK_FALSE(configs[0]["content"].get<std::string>().empty());

  res = handle_status_request(a, "GET", "/status");
  REQUIRE(res.status == 200);
  CHECK(body_json(res)["ready"] == true);
  CHECK(body_json(res)["configs_report"]["configs"].size() == 2);
  const auto text = format_status_text(body_json(res));
  CHECK(text.find("autodiscd: ready") != std::string::npos);
  CHECK(text.find("static (static): OK") != std::string::npos);
  CHECK(text.find("redisdb") != std::string::npos);
  CHECK(text.find(r.setup.out) != std::string::npos);

  res = handle_status_request(a, "HEAD", "/healthz");
  CHECK(res.status == 200);
}

TEST_CASE("status text: a last sync time that is not an integer in the past is shown, never subtracted", "[status_routes]") {
  // The report comes over the network; these values made `now - last_sync` undefined before.
  for (const char* last : {"1e300", "-9223372036854775808", "18446744073709551615", "99999999999999"}) {
    INFO(last);
    const auto status = nlohmann::json::parse(std::string(R"({"ready": true, "listeners": [{"name": "d", "type": "docker",
        "synced": true, "services": 1, "last_sync": )") + last + "}]}");
    const auto text = format_status_text(status);
    CHECK(text.find("not in the past on this clock") != std::string::npos);
  }
  const auto ok = nlohmann::json::parse(R"({"listeners": [{"name": "d", "synced": true, "last_sync": 0}]})");
  CHECK(format_status_text(ok).find("s ago") != std::string::npos);
}

TEST_CASE("status routes: bad requests get 4xx", "[status_routes]") {
  running_app r("[]\n");
  const auto& a = *r.the_app;
  auto res = handle_status_request(a, "GET", "/nope");
  CHECK(res.status == 404);
  CHECK(body_json(res).contains("error"));
  res = handle_status_request(a, "POST", "/healthz");
  CHECK(res.status == 405);
  CHECK(res.allow == "GET, HEAD");
  res = handle_status_request(a, "DELETE", "/services");
  CHECK(res.status == 405);
  res = handle_status_request(a, "GET", "/");
  CHECK(res.status == 404);
}

TEST_CASE("status routes: healthz fails when a listener keeps failing, readyz waits for the first sync", "[status_routes]") {
  running_app r("[]\n");
  auto& a = *r.the_app;
  // A malformed services file: the listener reports an error and keeps its services.
  r.setup.write_services("- id: [not, a, string\n");
  for (int i = 0; i < 100 && a.listener_states()[0].last_error.empty(); ++i) (r.io.restart(), r.io.run_for(10ms));
  REQUIRE_FALSE(a.listener_states()[0].last_error.empty());
  // Still healthy within the grace period, unhealthy after it.
  CHECK(handle_status_request(a, "GET", "/healthz").status == 200);
  auto res = handle_status_request(a, "GET", "/healthz", std::chrono::steady_clock::now() + unhealthy_after + 1s);
  CHECK(res.status == 503);
  CHECK(body_json(res)["listeners"][0]["listener"] == "static");
  CHECK(body_json(res)["listeners"][0]["error"].get<std::string>().find("services.yaml") != std::string::npos);

  // An app whose listener never synced (its file cannot be read yet).
  test::ops_setup other;
  std::filesystem::remove(other.services);
  daemon_config config;
  REQUIRE(load_daemon_config(other.config, config).empty());
  net::io_context io(1);
  app waiting(io, config, false);
  REQUIRE_FALSE(waiting.start().has_value());
  io.run_for(50ms);
  CHECK(handle_status_request(waiting, "GET", "/readyz").status == 503);
  CHECK(handle_status_request(waiting, "GET", "/healthz").status == 503);
  CHECK(body_json(handle_status_request(waiting, "GET", "/readyz"))["waiting_for"][0] == "static");
  waiting.stop();
}

TEST_CASE("metrics: text format with every family, histogram cumulative", "[status_routes][metrics]") {
  running_app r(test::ops_setup::service_yaml("static://redis-1", "10.0.0.5"));
  auto& a = *r.the_app;
  a.record_hook_run("failed");
  a.record_hook_run("timeout");
  a.record_reload(true);
  const auto res = handle_status_request(a, "GET", "/metrics");
  REQUIRE(res.status == 200);
  CHECK(res.content_type.starts_with("text/plain; version=0.0.4"));
  const auto& m = res.body;
  for (const char* line : {
           "autodiscd_services{listener=\"static\",type=\"static\"} 1\n",
           "autodiscd_listener_polls_total{listener=\"static\",type=\"static\"} 1\n",
           "autodiscd_listener_events_received_total{listener=\"static\",type=\"static\"} 0\n",
           "autodiscd_configs{state=\"resolved\"} 2\n",
           "autodiscd_files_total{result=\"written\"} 2\n",
           "autodiscd_write_batches_total 1\n",
           "# TYPE autodiscd_write_seconds_total counter\n",
           "autodiscd_change_hook_runs_total{result=\"failed\"} 1\n",
           "autodiscd_change_hook_runs_total{result=\"timeout\"} 1\n",
           "autodiscd_reloads_total{result=\"ok\"} 1\n",
           "autodiscd_ready 1\n",
           "autodiscd_discovery_to_disk_seconds_count 1\n",
           "autodiscd_discovery_to_disk_seconds_bucket{le=\"+Inf\"} 1\n",
           "# TYPE autodiscd_discovery_to_disk_seconds histogram\n",
           "# TYPE autodiscd_build_info gauge\n",
       }) {
    INFO(line);
    CHECK(m.find(line) != std::string::npos);
  }
  // The one batch written took some time, and that time is what the metric says.
  const std::string write_seconds = "\nautodiscd_write_seconds_total ";
  const auto at = m.find(write_seconds);
  REQUIRE(at != std::string::npos);
  const double seconds = std::stod(m.substr(at + write_seconds.size()));
  CHECK(seconds > 0);
  CHECK(seconds == std::chrono::duration<double>(a.totals().write_time).count());
  // Every family has HELP and TYPE, every sample's family was declared.
  std::set<std::string> declared;
  std::istringstream in(m);
  for (std::string l; std::getline(in, l);) {
    if (l.starts_with("# TYPE ")) declared.insert(l.substr(7, l.find(' ', 7) - 7));
    if (l.starts_with("#") || l.empty()) continue;
    auto name = l.substr(0, l.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix) && !declared.contains(name)) name = name.substr(0, name.size() - std::string(suffix).size());
    }
    INFO(l);
    CHECK(declared.contains(name));
  }
}

TEST_CASE("metrics: histogram buckets and label escaping", "[metrics]") {
  latency_histogram h;
  h.observe(500us);
  h.observe(20ms);
  h.observe(3s);
  h.observe(60s);
  CHECK(h.count() == 4);
  CHECK(h.cumulative(0) == 1);  // <= 1 ms
  CHECK(h.cumulative(4) == 2);  // <= 25 ms
  CHECK(h.cumulative(latency_histogram::bounds.size() - 1) == 3);  // <= 10 s
  CHECK(h.sum_seconds() == Approx(63.0205));
  CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}
