// The ECS listener against a fake task metadata server, reached through each discovery path.

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "listeners/ecs/ecs_listener.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_http_server.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace autodiscd::test;
using namespace std::chrono_literals;

namespace {

const std::string nginx_id = "docker://43481a6ce4842eec8fe72fc28500c6b52edcc0917f105b83379f88cac1ff3946";
const std::string redis_id = "docker://938f6d263c464aa5985dc67ab7f38a7e-3054012820";

std::string ecs_fixture(const std::string& name) { return read_file(fixture("ecs/" + name)); }

struct ecs_world {
  net::io_context io{1};
  fake_http_server server{io};
  sink_recorder sink;
  std::map<std::string, std::string> vars;
  std::unique_ptr<ecs_listener> listener;

  ~ecs_world() {
    if (listener) listener->stop();
    server.stop();
    io.restart();
    io.run_for(50ms);
  }
  void start(std::optional<std::string> url = std::nullopt) {
    ecs_settings s;
    s.url = std::move(url);
    s.poll_interval = 30ms;
    s.timeout = 300ms;
    auto env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = vars.find(n);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    listener = std::make_unique<ecs_listener>(io.get_executor(), s, env);
    listener->start(sink);
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    return run_io_until(io, done, limit);
  }
  std::size_t errors_of(std::string_view kind) const {
    return static_cast<std::size_t>(
        std::count_if(sink.errors.begin(), sink.errors.end(), [&](const auto& e) { return e.first == kind; }));
  }
};

}  // namespace

TEST_CASE("ecs listener: v4 through ECS_CONTAINER_METADATA_URI_V4, without taskWithTags", "[ecs][listener]") {
  ecs_world w;
  w.vars["ECS_CONTAINER_METADATA_URI"] = w.server.url() + "/v3/wrong";  // v4 wins
  w.vars["ECS_CONTAINER_METADATA_URI_V4"] = w.server.url() + "/v4/abc";
  w.server.set_response("/v4/abc/task", fake_response::ok(ecs_fixture("ecs_v4_task_fargate_redis.json")));
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 2; }));
  CHECK(w.sink.errors.empty());
  CHECK(w.sink.services.size() == 3);
  REQUIRE(w.sink.services.contains(redis_id));
  CHECK(w.sink.services.at(redis_id)->hosts == std::map<std::string, std::string>{{"awsvpc", "172.31.115.18"}});
  CHECK(w.listener->endpoint().version == ecs_metadata_version::v4);
  // taskWithTags answered 404 once; /task from then on.
  CHECK(w.server.count("/v4/abc/taskWithTags") == 1);
  CHECK(w.server.count("/v4/abc/task") >= 2);
  CHECK(w.server.count("/v3/wrong/task") == 0);
  CHECK(w.sink.deltas.size() == 1);  // unchanged polls report nothing
  // ...and, their body being byte-identical to the first, are not parsed again.
  CHECK(w.sink.counts["unchanged_polls"] == w.sink.synced - 1);
}

TEST_CASE("ecs listener: v4 taskWithTags adds the task's tags", "[ecs][listener]") {
  ecs_world w;
  w.vars["ECS_CONTAINER_METADATA_URI_V4"] = w.server.url() + "/v4/abc";
  auto doc = nlohmann::json::parse(ecs_fixture("ecs_v4_task_fargate_redis.json"));
  doc["TaskTags"] = {{"team", "storage"}};
  w.server.set_response("/v4/abc/taskWithTags", fake_response::ok(doc.dump()));
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 2; }));
  const auto& tags = w.sink.services.at(redis_id)->tags;
  CHECK(std::find(tags.begin(), tags.end(), "team:storage") != tags.end());
  CHECK(w.server.count("/v4/abc/task") == 0);
}

TEST_CASE("ecs listener: a 5xx from taskWithTags is a failed poll, not a fallback (found by listener_faults_test)",
          "[ecs][listener]") {
  // Before the fix a 500 or 503 from taskWithTags switched the listener to /task for good:
  // after the outage every service had lost the task's tags (and its files were rewritten).
  ecs_world w;
  w.vars["ECS_CONTAINER_METADATA_URI_V4"] = w.server.url() + "/v4/abc";
  auto doc = nlohmann::json::parse(ecs_fixture("ecs_v4_task_fargate_redis.json"));
  doc["TaskTags"] = {{"team", "storage"}};
  w.server.set_response("/v4/abc/taskWithTags", fake_response::ok(doc.dump()));
  w.server.set_response("/v4/abc/task", fake_response::ok(ecs_fixture("ecs_v4_task_fargate_redis.json")));
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  w.server.push_response("/v4/abc/taskWithTags", fake_response::status_only(503, "busy"));
  w.server.push_response("/v4/abc/taskWithTags", fake_response::status_only(500, "oops"));
  REQUIRE(w.run_until([&] { return w.errors_of("http_status") >= 2; }));
  const int synced = w.sink.synced;
  REQUIRE(w.run_until([&] { return w.sink.synced > synced + 1; }));
  CHECK(w.server.count("/v4/abc/task") == 0);
  const auto& tags = w.sink.services.at(redis_id)->tags;
  CHECK(std::find(tags.begin(), tags.end(), "team:storage") != tags.end());
  CHECK(w.sink.deltas.size() == 1);

  CHECK(tags_not_offered(404));
  CHECK(tags_not_offered(403));
  CHECK_FALSE(tags_not_offered(429));
  CHECK_FALSE(tags_not_offered(408));
  CHECK_FALSE(tags_not_offered(500));
  CHECK_FALSE(tags_not_offered(503));
}

TEST_CASE("ecs listener: v3 through ECS_CONTAINER_METADATA_URI", "[ecs][listener]") {
  ecs_world w;
  w.vars["ECS_CONTAINER_METADATA_URI"] = w.server.url() + "/v3/abc";
  w.server.set_response("/v3/abc/task", fake_response::ok(ecs_fixture("ecs_v2_task.json")));
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  CHECK(w.listener->endpoint().version == ecs_metadata_version::v3);
  REQUIRE(w.sink.services.size() == 1);
  CHECK(w.sink.services.begin()->first == nginx_id);
  CHECK(w.server.count("/v3/abc/taskWithTags") == 0);
}

TEST_CASE("ecs listener: v2 through the url override, RUNNING -> STOPPED, malformed JSON keeps services",
          "[ecs][listener]") {
  ecs_world w;
  w.vars["ECS_CONTAINER_METADATA_URI_V4"] = w.server.url() + "/v4/ignored";  // the url key wins
  w.server.set_response("/v2/metadata", fake_response::ok(ecs_fixture("ecs_v2_task.json")));
  w.start(w.server.url() + "/v2/metadata");
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  CHECK(w.listener->endpoint().version == ecs_metadata_version::v2);
  REQUIRE(w.sink.services.contains(nginx_id));
  CHECK(w.server.count("/v4/ignored/task") == 0);

  // Malformed JSON, a 500 and silence: errors, services kept.
  const auto body = ecs_fixture("ecs_v2_task.json");
  w.server.set_response("/v2/metadata", fake_response::ok(body.substr(0, body.size() / 2)));
  REQUIRE(w.run_until([&] { return w.errors_of("parse") >= 2; }));
  w.server.set_response("/v2/metadata", fake_response::status_only(500));
  REQUIRE(w.run_until([&] { return w.errors_of("http_status") >= 2; }));
  w.server.set_response("/v2/metadata", fake_response::with(fake_response::action::silent));
  REQUIRE(w.run_until([&] { return w.errors_of("timeout") >= 1; }));
  CHECK(w.sink.services.contains(nginx_id));
  CHECK(w.sink.deltas.size() == 1);

  // The container stops: its service goes.
  auto doc = nlohmann::json::parse(body);
  doc["Containers"][1]["KnownStatus"] = "STOPPED";
  w.server.set_response("/v2/metadata", fake_response::ok(doc.dump()));
  REQUIRE(w.run_until([&] { return w.sink.services.empty(); }));
  CHECK(w.sink.deltas.back().removed == std::vector<std::string>{nginx_id});
}

TEST_CASE("ecs listener: a task not RUNNING yet is not synced", "[ecs][listener]") {
  ecs_world w;
  auto doc = nlohmann::json::parse(ecs_fixture("ecs_v2_task.json"));
  doc["KnownStatus"] = "PENDING";
  w.server.set_response("/v2/metadata", fake_response::ok(doc.dump()));
  w.start(w.server.url() + "/v2/metadata");
  REQUIRE(w.run_until([&] { return w.errors_of("task_not_running") >= 2; }));
  CHECK(w.sink.synced == 0);
  CHECK(w.sink.deltas.empty());
  doc["KnownStatus"] = "RUNNING";
  w.server.set_response("/v2/metadata", fake_response::ok(doc.dump()));
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  CHECK(w.sink.services.size() == 1);
}

TEST_CASE("ecs settings", "[ecs][config]") {
  auto config_of = [](const std::string& yaml) {
    listener_config c;
    c.type = "ecs";
    c.name = "ecs";
    c.file = "autodiscd.yaml";
    c.key_path = "listeners[1]";
    c.node = YAML::Load(yaml);
    return c;
  };
  config_errors errors;
  auto s = read_ecs_settings(config_of("{type: ecs}"), errors);
  CHECK(errors.empty());
  CHECK_FALSE(s.url);
  CHECK(s.poll_interval == 5s);
  CHECK(s.timeout == 2s);
  CHECK_FALSE(s.wait_for_healthy);
  s = read_ecs_settings(config_of("{type: ecs, url: 'http://127.0.0.1:1/v2/metadata', wait_for_healthy: true}"), errors);
  CHECK(errors.empty());
  CHECK(s.url == "http://127.0.0.1:1/v2/metadata");
  CHECK(s.wait_for_healthy);
  read_ecs_settings(config_of("{type: ecs, url: 'unix:///x', timeout: 0s, pollinterval: 1s}"), errors);
  const auto text = to_string(errors);
  CHECK_THAT(text, Catch::Contains("listeners[1].url"));
  CHECK_THAT(text, Catch::Contains("timeout"));
  CHECK_THAT(text, Catch::Contains("pollinterval"));
}
