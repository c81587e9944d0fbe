// Inputs the long fuzz runs (docs/reliability.md, "Long runs") stopped on, pinned.
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

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
