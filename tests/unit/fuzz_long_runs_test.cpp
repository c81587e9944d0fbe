// Inputs the long fuzz runs (docs/reliability.md, "Long runs") stopped on, pinned.
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

#include "config/template_loader.hpp"
#include "config/yaml_json.hpp"
#include "listeners/docker/docker_mapping.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

// fuzz_docker_inspect stopped with a libFuzzer timeout (10 s of wall time) on a container whose
// NetworkSettings.Ports has the key "1-65532/tcp": the range expands to 65,532 ports (plus 6379
// once more, dropped as a duplicate). About 5 s of CPU in the ASan + coverage build, on a box
// where a niced fuzzer got a sixth of a core; linear work, no hang. Pinned: the range maps,
// sorted and without duplicates, within a bound generous enough for the -O0 sanitizer build.
TEST_CASE("hostile input: a port range over the whole port space maps once per port, in bounded time",
          "[security][fuzz][bounded]") {
  const auto inspect = nlohmann::json::parse(R"({
    "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Name": "/wide",
    "State": {"Running": true, "Paused": false, "Pid": 42},
    "Config": {"Image": "redis:7", "ExposedPorts": {"6379/tcp": {}, "22-25/tcp": {}}},
    "NetworkSettings": {"Ports": {"6379/tcp": [{"HostIp": "0.0.0.0", "HostPort": "6379"}], "1-65532/tcp": null},
                        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}})");
  const auto start = std::chrono::steady_clock::now();
  const auto mapped = docker::map_container(inspect, "redis:7", docker::mapping_options{}, docker::container_filter());
  REQUIRE(mapped.svc);
  REQUIRE(mapped.svc->ports);
  const auto& ports = *mapped.svc->ports;
  REQUIRE(ports.size() == 65532);
  CHECK(ports.front().port == 1);
  CHECK(ports.back().port == 65532);
  for (std::size_t i = 1; i < ports.size(); ++i) REQUIRE(ports[i - 1].port < ports[i].port);
  const auto text = service_to_json(*mapped.svc).dump();
  CHECK(text.find("65532") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 20s);
}

// fuzz_template_file crashed (stack overflow): an anchor used inside its own node makes a cycle
// that yaml-cpp accepts, and yaml_to_json followed it forever. One template file stopped the
// daemon. Now yaml_to_json stops at yaml_max_depth levels and the template is refused.
TEST_CASE("hostile input: a template whose anchor is used inside itself is refused, no crash",
          "[security][fuzz][bounded]") {
  const std::string text = "ad_identifiers: &ids [redis]\nbase: &base\n  - <<: *base\n    port:  {TRUEiGds: *ids}\n";
  config_errors errors;
  std::optional<check_template> t;
  REQUIRE_NOTHROW(t = parse_template_text(text, "/t/x.d/a.yaml", "x", errors));
  CHECK_FALSE(t);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().find("nested deeper than") != std::string::npos);
}

TEST_CASE("hostile input: aliases of aliases (billion laughs) are refused in bounded time",
          "[security][fuzz][bounded]") {
  std::string text = "ad_identifiers: [redis]\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 8; ++i) {
    const auto prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) text += ", " + prev;
    text += "]\n";
  }
  text += "instances: [{host: \"%%host%%\"}]\n";
  const auto start = std::chrono::steady_clock::now();
  config_errors errors;
  std::optional<check_template> t;
  REQUIRE_NOTHROW(t = parse_template_text(text, "/t/x.d/a.yaml", "x", errors));
  CHECK_FALSE(t);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().find("aliases are expanded") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 20s);
}

TEST_CASE("templates: aliases that are not cycles still read as copies", "[security][fuzz]") {
  const std::string text =
      "ad_identifiers: [redis]\ninit_config: {}\ninstances:\n  - &one {host: \"%%host%%\", port: 6379}\n  - *one\n";
  config_errors errors;
  const auto t = parse_template_text(text, "/t/x.d/a.yaml", "x", errors);
  REQUIRE(errors.empty());
  REQUIRE(t);
  REQUIRE(t->instances.size() == 2);
  CHECK(t->instances[0] == t->instances[1]);
  CHECK(t->instances[1]["port"] == 6379);
}

// fuzz_template_file (after the fix above): a template key longer than 1024 characters was
// written as an implicit key, which YAML forbids: the written config did not parse ("illegal map
// value"), for yaml-cpp nor for the agent. Such keys are now written explicitly ("? key").
TEST_CASE("templates: a key longer than 1024 characters is written so that it reads back",
          "[security][fuzz]") {
  const std::string long_key = "t" + std::string(1100, 'Z') + "c\x1b";
  const json tree = {{"nginx_status_url", "http://%%host%%/"}, {long_key, {{"inner", 1}}}, {long_key + "2", "v"}};
  const auto text = json_to_yaml(json::array({tree}));
  CHECK(text.find("? ") != std::string::npos);
  YAML::Node back;
  REQUIRE_NOTHROW(back = YAML::Load(text));
  CHECK(yaml_to_json(back) == json::array({tree}));
}
