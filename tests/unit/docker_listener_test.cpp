// The Docker listener against the fake engine: sync, events, removal, reconnect, timeouts.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <yaml-cpp/yaml.h>

#include "config/daemon_config.hpp"
#include "daemon/app.hpp"
#include "listeners/docker/docker_listener.hpp"
#include "listeners/log.hpp"
#include "support/fake_engine.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

std::string cid(int n) {
  auto s = std::to_string(n);
  return std::string(64 - s.size(), 'c') + s;
}

docker::docker_settings settings_for(const test::fake_engine& engine) {
  docker::docker_settings s;
  std::string error;
  s.endpoint = *parse_http_endpoint(engine.url(), error);
  s.timeout = 2s;
  s.backoff_initial = 20ms;
  s.backoff_max = 200ms;
  return s;
}

struct fixture {
  net::io_context io{1};
  test::fake_engine engine{io.get_executor()};
  test::sink_recorder sink;
  std::unique_ptr<docker_listener> listener;

  void start(docker::docker_settings s) {
    listener = std::make_unique<docker_listener>(io.get_executor(), std::move(s));
    listener->start(sink);
  }
  void start() { start(settings_for(engine)); }
  bool until(const std::function<bool()>& f, std::chrono::milliseconds limit = 5s) {
    return test::run_io_until(io, f, limit);
  }
  bool has(int n) const { return sink.services.count("docker://" + cid(n)) > 0; }
  ~fixture() {
    if (listener) listener->stop();
    listener.reset();
    io.restart();
    io.run_for(20ms);
  }
};

}  // namespace

TEST_CASE("initial sync lists and inspects running containers, then reports synced", "[docker][fake]") {
  fixture f;
  for (int i = 0; i < 10; ++i) f.engine.put_container(test::fake_engine::container(cid(i), "c" + std::to_string(i), "redis:7"));
  auto stopped = test::fake_engine::container(cid(99), "stopped", "redis:7");
  stopped["State"]["Running"] = false;
  f.engine.put_container(stopped);
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.sink.services.size() == 10);
  CHECK_FALSE(f.has(99));
  const auto& s = *f.sink.services.at("docker://" + cid(3));
  CHECK(s.ad_identifiers == std::vector<std::string>{"docker://" + cid(3), "redis"});
  CHECK(s.hosts->at("bridge") == "172.17.0.2");
  CHECK(f.sink.counts["resyncs"] == 1);
  // Version negotiated from /_ping, events subscribed with `since` and a container filter.
  bool versioned_events = false;
  for (const auto& t : f.engine.targets) {
    if (t.rfind("/v1.41/events?", 0) == 0 && t.find("since=") != std::string::npos &&
        t.find("filters=") != std::string::npos) {
      versioned_events = true;
    }
  }
  CHECK(versioned_events);
  // A few parallel connections, not one per container: ping+list+inspects on <= 4, plus events.
  CHECK(f.engine.connections <= 5);
}

TEST_CASE("events: start adds, die removes after inspect, only that container is inspected", "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  const int one_inspects = f.engine.hits["/containers/" + cid(1) + "/json"];

  f.engine.put_container(test::fake_engine::container(cid(2), "two", "nginx:1.25"));
  f.engine.emit_container_event("start", cid(2));
  REQUIRE(f.until([&] { return f.has(2); }));
  CHECK(f.engine.hits["/containers/json"] == 1);  // never re-listed for an event
  CHECK(f.engine.hits["/containers/" + cid(1) + "/json"] == one_inspects);

  // A die event while inspect still says running: kept (inspect is the truth).
  f.engine.emit_container_event("die", cid(2));
  REQUIRE(f.until([&] { return f.engine.hits["/containers/" + cid(2) + "/json"] >= 2; }));
  f.until([] { return false; }, 50ms);
  CHECK(f.has(2));

  // Stopped for real: removed.
  auto two = test::fake_engine::container(cid(2), "two", "nginx:1.25");
  two["State"]["Running"] = false;
  f.engine.put_container(two);
  f.engine.emit_container_event("stop", cid(2));
  REQUIRE(f.until([&] { return !f.has(2); }));

  // Destroyed (404 on inspect): removed.
  f.engine.remove_container(cid(1));
  f.engine.emit_container_event("destroy", cid(1));
  REQUIRE(f.until([&] { return !f.has(1); }));
  CHECK(f.sink.services.empty());
  CHECK(f.sink.errors.empty());
  CHECK(f.sink.counts["events"] == 4);
}

TEST_CASE("event lines split at every byte boundary are all understood", "[docker][fake][events]") {
  fixture f;
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  nlohmann::json ev = {{"Type", "container"}, {"Action", "start"}, {"Actor", {{"ID", cid(7)}}}};
  const auto line_size = ev.dump().size() + 1;
  for (std::size_t split = 1; split < line_size; ++split) {
    f.engine.put_container(test::fake_engine::container(cid(7), "seven", "redis:7"));
    f.engine.emit(ev, split);
    REQUIRE(f.until([&] { return f.has(7); }));
    f.engine.remove_container(cid(7));
    f.engine.emit_container_event("destroy", cid(7));
    REQUIRE(f.until([&] { return !f.has(7); }));
  }
  CHECK(f.sink.counts["events"] == static_cast<int>(2 * (line_size - 1)));
  CHECK(f.sink.errors.empty());
}

TEST_CASE("a cut stream reconnects and re-lists: vanished pruned, new added, changed updated", "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.engine.put_container(test::fake_engine::container(cid(2), "two", "redis:7"));
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  REQUIRE(f.sink.services.size() == 2);

  // While "down": one removed, one added, one changed. No events for any of it.
  f.engine.remove_container(cid(1));
  f.engine.put_container(test::fake_engine::container(cid(3), "three", "redis:7"));
  f.engine.put_container(test::fake_engine::container(cid(2), "two", "redis:7", {}, "172.17.0.9"));
  f.engine.cut_streams();
  REQUIRE(f.until([&] { return f.sink.synced == 2; }));
  CHECK(f.sink.has_error("closed"));
  CHECK(f.sink.counts["reconnects"] == 1);
  CHECK_FALSE(f.has(1));
  CHECK(f.has(3));
  CHECK(f.sink.services.at("docker://" + cid(2))->hosts->at("bridge") == "172.17.0.9");
  // The last delta holds only the differences.
  std::size_t added = 0, changed = 0, removed = 0;
  for (std::size_t i = f.sink.deltas.size() - 3; i < f.sink.deltas.size(); ++i) {
    added += f.sink.deltas[i].added.size();
    changed += f.sink.deltas[i].changed.size();
    removed += f.sink.deltas[i].removed.size();
  }
  CHECK(added == 1);
  CHECK(changed == 1);
  CHECK(removed == 1);
}

TEST_CASE("removal grace period: a quick restart keeps the service, a real stop removes it later",
          "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  auto s = settings_for(f.engine);
  s.removal_grace = 300ms;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  const auto deltas = f.sink.deltas.size();

  auto stopped = test::fake_engine::container(cid(1), "one", "redis:7");
  stopped["State"]["Running"] = false;
  f.engine.put_container(stopped);
  f.engine.emit_container_event("die", cid(1));
  REQUIRE(f.until([&] { return f.engine.hits["/containers/" + cid(1) + "/json"] >= 2; }));
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.engine.emit_container_event("start", cid(1));
  f.until([] { return false; }, 500ms);
  CHECK(f.has(1));
  CHECK(f.sink.deltas.size() == deltas);  // nothing removed and re-added

  f.engine.put_container(stopped);
  f.engine.emit_container_event("stop", cid(1));
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(f.until([&] { return !f.has(1); }));
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
}

TEST_CASE("a silent engine: ping times out, reported, retried with backoff", "[docker][fake]") {
  fixture f;
  f.engine.silent = true;
  auto s = settings_for(f.engine);
  s.timeout = 100ms;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.errors.size() >= 2; }));
  CHECK(f.sink.errors[0].first == "timeout");
  CHECK(f.sink.synced == 0);
  // Then the engine answers: the listener syncs without a restart.
  f.engine.silent = false;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.has(1));
}

TEST_CASE("an oversize inspect fails the sync with body_limit and is retried", "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.engine.inspect_padding = 200000;
  auto s = settings_for(f.engine);
  s.body_limit = 100000;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.has_error("body_limit"); }));
  CHECK(f.sink.synced == 0);
  f.engine.inspect_padding = 0;
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.has(1));
}

TEST_CASE("sha256 images resolve once per image id through image inspect", "[docker][fake]") {
  fixture f;
  const std::string image_id = "sha256:" + std::string(64, 'a');
  f.engine.put_image(image_id, {{"Id", image_id}, {"RepoTags", {"team/app:2", "team/app:1"}}});
  for (int i = 0; i < 3; ++i) f.engine.put_container(test::fake_engine::container(cid(i), "c" + std::to_string(i), image_id));
  auto s = settings_for(f.engine);
  s.inspect_concurrency = 1;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.sink.services.at("docker://" + cid(0))->ad_identifiers ==
        std::vector<std::string>{"docker://" + cid(0), "team/app", "app"});
  CHECK(f.engine.hits["/images/" + image_id + "/json"] == 1);
}

TEST_CASE("pause containers and excluded names are not services", "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "pod-pause", "registry.k8s.io/pause:3.9"));
  f.engine.put_container(test::fake_engine::container(cid(2), "skip-me", "redis:7"));
  f.engine.put_container(test::fake_engine::container(cid(3), "keep", "redis:7"));
  auto s = settings_for(f.engine);
  s.exclude = {"name:^skip"};
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.sink.services.size() == 1);
  CHECK(f.has(3));
}

TEST_CASE("stop() ends all work: no sink call afterwards", "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  f.listener->stop();
  auto calls = f.sink.deltas.size() + f.sink.errors.size();
  f.engine.emit_container_event("destroy", cid(1));
  f.engine.cut_streams();
  f.until([] { return false; }, 100ms);
  CHECK(f.sink.deltas.size() + f.sink.errors.size() == calls);
}

// Faults (issue 9): a stream cut in the middle of an event line, inspects slower than the timeout.

TEST_CASE("a stream cut in the middle of an event line: half line dropped, re-list finds the gap's changes",
          "[docker][fake][fault]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.engine.put_container(test::fake_engine::container(cid(2), "two", "redis:7"));
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));

  // 1 is destroyed and 3 started; the stream dies in the middle of 1's destroy line.
  f.engine.remove_container(cid(1));
  f.engine.put_container(test::fake_engine::container(cid(3), "three", "redis:7"));
  const std::string line = nlohmann::json{{"Type", "container"}, {"Action", "destroy"}, {"Actor", {{"ID", cid(1)}}}}
                               .dump() + "\n";
  f.engine.emit_raw(line.substr(0, line.size() / 2));
  f.until([] { return false; }, 50ms);
  f.engine.cut_streams();
  // In the gap, with no stream to tell: 4 starts, 2 gets another address.
  f.engine.put_container(test::fake_engine::container(cid(4), "four", "redis:7"));
  f.engine.put_container(test::fake_engine::container(cid(2), "two", "redis:7", {}, "172.17.0.9"));
  REQUIRE(f.until([&] { return f.sink.synced == 2 && f.engine.open_streams() == 1; }));
  CHECK_FALSE(f.has(1));
  CHECK(f.has(3));
  CHECK(f.has(4));
  CHECK(f.sink.services.at("docker://" + cid(2))->hosts->at("bridge") == "172.17.0.9");
  CHECK(f.sink.services.size() == 3);
  CHECK(f.sink.counts["events"] == 0);  // the half line was no event
  CHECK_FALSE(f.sink.has_error("protocol"));

  // The half line did not stick to the new stream: its first line is understood.
  f.engine.put_container(test::fake_engine::container(cid(5), "five", "redis:7"));
  f.engine.emit_container_event("start", cid(5));
  REQUIRE(f.until([&] { return f.has(5); }));
  CHECK(f.sink.counts["events"] == 1);
}

TEST_CASE("an event's inspect slower than the timeout: after the retries a re-list still finds the container",
          "[docker][fake][fault]") {
  fixture f;
  auto s = settings_for(f.engine);
  s.timeout = 200ms;  // margins for ASan on a loaded box
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));

  f.engine.inspect_delay = 500ms;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  f.engine.emit_container_event("start", cid(1));
  REQUIRE(f.until([&] { return f.sink.has_error("timeout"); }));
  CHECK_FALSE(f.has(1));
  // The engine answers in time again; no further event names the container.
  f.engine.inspect_delay = 0ms;
  REQUIRE(f.until([&] { return f.has(1); }, 3s));
  CHECK(f.sink.synced >= 2);
}

TEST_CASE("inspects past the timeout fail the sync, slow but in time, with changes interleaved, converge to the truth",
          "[docker][fake][fault]") {
  fixture f;
  for (int i = 1; i <= 6; ++i) f.engine.put_container(test::fake_engine::container(cid(i), "c" + std::to_string(i), "redis:7"));
  auto s = settings_for(f.engine);
  s.timeout = 300ms;  // margins for ASan on a loaded box
  s.inspect_concurrency = 2;
  f.engine.inspect_delay = 700ms;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.has_error("timeout"); }));
  CHECK(f.sink.synced == 0);
  CHECK(f.sink.services.empty());

  // Slow but in time (3 rounds of 2 inspects: a sync takes about 240 ms); the engine changes
  // while the listener re-lists and inspects, and says so on the stream.
  f.engine.inspect_delay = 80ms;
  REQUIRE(f.until([&] { return f.engine.hits["/containers/json"] >= 2 && f.engine.open_streams() == 1; }));
  f.engine.remove_container(cid(2));
  f.engine.emit_container_event("destroy", cid(2));
  f.engine.put_container(test::fake_engine::container(cid(7), "c7", "redis:7"));
  f.engine.emit_container_event("start", cid(7));
  f.engine.put_container(test::fake_engine::container(cid(3), "c3", "redis:7", {}, "172.17.0.9"));
  f.engine.emit_container_event("restart", cid(3));
  auto stopped = test::fake_engine::container(cid(4), "c4", "redis:7");
  stopped["State"]["Running"] = false;
  f.engine.put_container(stopped);
  f.engine.emit_container_event("die", cid(4));

  auto truth = [&] {
    return f.sink.services.size() == 5 && f.has(1) && f.has(3) && f.has(5) && f.has(6) && f.has(7) &&
           f.sink.services.at("docker://" + cid(3))->hosts->at("bridge") == "172.17.0.9";
  };
  REQUIRE(f.until([&] { return f.sink.synced >= 1 && truth(); }, 5s));
  // No late answer brings back an old state.
  f.until([] { return false; }, 500ms);
  CHECK(truth());
}

TEST_CASE("a burst of events is inspected on at most inspect_concurrency connections, none lost", "[docker][fake][events]") {
  fixture f;
  f.start();
  REQUIRE(f.until([&] { return f.sink.synced == 1 && f.engine.open_streams() == 1; }));
  f.engine.inspect_delay = 20ms;  // the inspects overlap: without a cap each opens a connection
  for (int i = 0; i < 40; ++i) {
    f.engine.put_container(test::fake_engine::container(cid(i), "c" + std::to_string(i), "redis:7"));
    f.engine.emit_container_event("start", cid(i));
  }
  // Named again while queued or in flight: inspected again, never twice at once.
  for (int i = 0; i < 40; i += 5) f.engine.emit_container_event("start", cid(i));
  REQUIRE(f.until([&] { return f.sink.services.size() == 40; }, 10s));
  // 4 kept-alive API connections (ping, list, inspects) and the event stream.
  CHECK(f.engine.connections <= 5);
  // And a removal queued behind the burst still lands.
  f.engine.remove_container(cid(7));
  f.engine.emit_container_event("destroy", cid(7));
  REQUIRE(f.until([&] { return !f.has(7); }));
  CHECK(f.sink.services.size() == 39);
}

TEST_CASE("docker listener config validation through the registry", "[docker][config]") {
  const auto* factory = find_listener_factory("docker");
  REQUIRE(factory);
  listener_config c;
  c.type = "docker";
  c.name = "docker";
  c.file = "x.yaml";
  c.key_path = "listeners[0]";
  c.node = YAML::Load("{type: docker, host: 'unix:///run/docker.sock', removal_grace: 1s}");
  config_errors errors;
  factory->validate(c, errors);
  CHECK(errors.empty());
  c.node = YAML::Load("{type: docker, host: 'gopher://x', removal_grace: soon}");
  factory->validate(c, errors);
  CHECK(errors.size() == 2);
}

TEST_CASE("optional: an absent socket is synced with no containers, never an error, the engine is picked up when it appears",
          "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  const std::string socket = f.engine.socket_path();
  const std::string hidden = socket + ".hidden";
  std::filesystem::rename(socket, hidden);  // the engine is not there yet
  auto s = settings_for(f.engine);
  s.optional = true;
  s.backoff_max = 50ms;
  f.start(s);
  REQUIRE(f.until([&] { return f.sink.synced == 1; }));
  CHECK(f.sink.services.empty());
  // It keeps looking, quietly: no error, no second sync report.
  REQUIRE(f.until([&] { return f.sink.counts["reconnects"] >= 5; }));
  CHECK(f.sink.errors.empty());
  CHECK(f.sink.synced == 1);
  // The engine appears: its containers are discovered without a restart.
  std::filesystem::rename(hidden, socket);
  REQUIRE(f.until([&] { return f.has(1); }));
  CHECK(f.sink.synced == 2);
  CHECK(f.sink.errors.empty());
}

TEST_CASE("not optional: an absent socket is a connect error with a hint, retried", "[docker][fake]") {
  fixture f;
  const std::string socket = f.engine.socket_path();
  std::filesystem::rename(socket, socket + ".hidden");
  f.start();
  REQUIRE(f.until([&] { return f.sink.errors.size() >= 2; }));
  CHECK(f.sink.errors[0].first == "connect");
  CHECK(f.sink.errors[0].second.find("hint: is the engine running? On a host that may have none, set optional: true") !=
        std::string::npos);
  CHECK(f.sink.synced == 0);
}

TEST_CASE("optional: once containers were seen, a vanished socket is an outage (services kept, error), not an absence",
          "[docker][fake]") {
  fixture f;
  f.engine.put_container(test::fake_engine::container(cid(1), "one", "redis:7"));
  auto s = settings_for(f.engine);
  s.optional = true;
  f.start(s);
  REQUIRE(f.until([&] { return f.has(1) && f.sink.synced == 1; }));
  const std::string socket = f.engine.socket_path();
  std::filesystem::rename(socket, socket + ".hidden");
  f.engine.drop_connections();
  REQUIRE(f.until([&] { return !f.sink.errors.empty() && f.sink.errors.back().first == "connect"; }));
  CHECK(f.has(1));
  CHECK(f.sink.synced == 1);
}

TEST_CASE("trace level: one container's path from event to file logs every stage, in order", "[docker][fake][trace]") {
  // What `autodiscd_bench real-docker`'s breakdown reads (listeners/log.hpp trace_stage): a
  // stage that stops being logged would only show there as "0 of N containers traced".
  net::io_context io{1};
  test::fake_engine engine{io.get_executor()};
  test::temp_dir dir{"autodiscd-trace"};
  std::filesystem::create_directories(dir.path() / "templates" / "redisdb.d");
  test::write_file(dir.path() / "templates" / "redisdb.d" / "auto_conf.yaml",
                   "ad_identifiers:\n  - redis\ninit_config:\ninstances:\n  - host: '%%host%%'\n    port: 6379\n");
  daemon_config config;
  const auto errors = parse_daemon_config("listeners:\n  - type: docker\n    host: " + engine.url() +
                                              "\ntemplates:\n  dirs: [templates]\noutput:\n  dir: out\n",
                                          "trace.yaml", dir.str(), config);
  REQUIRE(errors.empty());

  auto stages = logger("stages");
  auto captured = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  captured->set_pattern("%v");
  struct restore {
    std::shared_ptr<spdlog::logger> log;
    std::vector<spdlog::sink_ptr> sinks;
    spdlog::level::level_enum level;
    ~restore() {
      log->sinks() = sinks;
      log->set_level(level);
    }
  } restored{stages, stages->sinks(), stages->level()};
  stages->sinks() = {captured};  // only here: the test's output stays readable
  stages->set_level(spdlog::level::trace);

  {
    app a(io, config, true);
    REQUIRE_FALSE(a.start().has_value());
    REQUIRE(test::run_io_until(io, [&] { return a.ready() && engine.open_streams() == 1; }, 5s));
    engine.put_container(test::fake_engine::container(cid(7), "seven", "redis:7"));
    engine.emit_container_event("start", cid(7));
    const auto file = dir.path() / "out" / "redisdb.d" / ("docker___" + cid(7) + ".yaml");
    REQUIRE(test::run_io_until(io, [&] { return std::filesystem::exists(file); }, 5s));
    a.stop();

    // stage -> the first time it was logged for this container (its id, service id or file).
    std::map<std::string, long long> first;
    for (const auto& line : captured->last_formatted()) {
      std::istringstream in(line);
      std::string stage, key, us;
      in >> stage >> key >> us;
      if (!stage.starts_with("stage=") || !key.starts_with("key=") || !us.starts_with("mono_us=")) continue;
      if (key.find(cid(7)) == std::string::npos) continue;
      first.emplace(stage.substr(6), std::stoll(us.substr(8)));
    }
    INFO("stages logged: " << first.size());
    const std::vector<std::string> order = {"event", "inspect_sent", "inspect_parsed", "resolved", "renamed"};
    for (std::size_t i = 0; i < order.size(); ++i) {
      INFO(order[i]);
      REQUIRE(first.count(order[i]) == 1);
      if (i > 0) CHECK(first[order[i - 1]] <= first[order[i]]);
    }
  }
  io.restart();
  io.run_for(20ms);
}
