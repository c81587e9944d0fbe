#include <catch2/catch.hpp>

#include <cstdio>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/daemon_config.hpp"
#include "listeners/static/static_listener.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using autodiscd::test::temp_dir;
using autodiscd::test::write_file;

namespace {

/// Records what a listener reports.
struct recording_sink : service_sink {
  service_map services;
  int deltas = 0;
  int syncs = 0;
  std::vector<std::string> error_kinds;
  std::vector<std::string> error_messages;
  void on_delta(const std::string&, service_delta delta) override {
    ++deltas;
    for (auto& s : delta.added) {
      CHECK_FALSE(services.contains(s->id));
      services[s->id] = s;
    }
    for (auto& s : delta.changed) {
      CHECK(services.contains(s->id));
      services[s->id] = s;
    }
    for (auto& id : delta.removed) {
      CHECK(services.erase(id) == 1);
    }
  }
  void on_synced(const std::string&) override { ++syncs; }
  void on_error(const std::string&, const std::string& kind, const std::string& message) override {
    error_kinds.push_back(kind);
    error_messages.push_back(message);
  }
  void on_count(const std::string&, std::string_view) override {}
};

/// Runs the loop until `done` holds or 5 s pass.
bool run_until(net::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  return done();
}

const char* two_services = R"(- id: a
  ad_identifiers: [x]
- id: b
  ad_identifiers: [y]
)";

}  // namespace

TEST_CASE("static listener: first sync, rewrite in place, rename into place, bad file keeps services",
          "[static][listener]") {
  temp_dir dir("autodiscd-static");
  const auto path = dir.path() / "services.yaml";
  write_file(path, two_services);
  net::io_context io(1);
  static_listener l(io.get_executor(), "static", path.string());
  recording_sink sink;
  l.start(sink);
  REQUIRE(run_until(io, [&] { return sink.syncs >= 1; }));
  CHECK(sink.services.size() == 2);
  CHECK(sink.services.at("a")->listener == "static");

  SECTION("rewritten in place") {
    write_file(path, "- id: a\n  ad_identifiers: [x]\n  tags: [new]\n");
    REQUIRE(run_until(io, [&] { return sink.services.size() == 1; }));
    CHECK(sink.services.at("a")->tags == std::vector<std::string>{"new"});
  }
  SECTION("renamed into place") {
    const auto temp = dir.path() / ".services.yaml.tmp";
    write_file(temp, "- id: c\n  ad_identifiers: [z]\n");
    REQUIRE(std::rename(temp.c_str(), path.c_str()) == 0);
    REQUIRE(run_until(io, [&] { return sink.services.size() == 1 && sink.services.contains("c"); }));
  }
  SECTION("a malformed file keeps the last good services and reports file, line and key") {
    write_file(path, "- id: a\n  ad_identifiers: [x]\n- id: b\n  ports: [99999]\n");
    REQUIRE(run_until(io, [&] { return !sink.error_kinds.empty(); }));
    CHECK(sink.error_kinds.back() == "parse");
    CHECK_THAT(sink.error_messages.back(), Catch::Contains(path.string()) && Catch::Contains("line 3") &&
                                                Catch::Contains("ports[0]"));
    CHECK(sink.services.size() == 2);
    // Fixed again: changes apply.
    write_file(path, "[]\n");
    REQUIRE(run_until(io, [&] { return sink.services.empty(); }));
  }
  SECTION("an empty file means no services") {
    write_file(path, "");
    REQUIRE(run_until(io, [&] { return sink.services.empty(); }));
  }
  SECTION("unchanged content reports no delta") {
    const int deltas = sink.deltas;
    const int syncs = sink.syncs;
    write_file(path, two_services);
    REQUIRE(run_until(io, [&] { return sink.syncs > syncs; }));
    CHECK(sink.deltas == deltas);
  }
  l.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("static listener: a missing file is an error, not a sync", "[static][listener]") {
  temp_dir dir("autodiscd-static");
  net::io_context io(1);
  static_listener l(io.get_executor(), "static", (dir.path() / "missing.yaml").string());
  recording_sink sink;
  l.start(sink);
  io.run_for(std::chrono::milliseconds(100));
  CHECK(sink.syncs == 0);
  REQUIRE_FALSE(sink.error_kinds.empty());
  CHECK(sink.error_kinds[0] == "read");
  // Created later: picked up.
  write_file(dir.path() / "missing.yaml", two_services);
  REQUIRE(run_until(io, [&] { return sink.syncs == 1; }));
  CHECK(sink.services.size() == 2);
  l.stop();
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST_CASE("static listener config validation", "[static][config]") {
  daemon_config c;
  auto errors = parse_daemon_config("listeners: [{type: static, paht: x}]\noutput: {dir: /o}\n", "/f.yaml", "/", c);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].to_string() == "/f.yaml: listeners[0].path: missing: the services file to read");
  CHECK(errors[1].to_string() == "/f.yaml: listeners[0].paht: unknown key");
}
