#include <catch2/catch.hpp>

#include <random>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "listeners/docker/backoff.hpp"
#include "listeners/docker/docker_config.hpp"
#include "listeners/docker/docker_mapping.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace autodiscd::docker;
using njson = nlohmann::json;

namespace {

njson fixture_inspect() {
  auto j = njson::parse(test::read_file(test::fixture("docker/docker_inspect_real_bridge_port3000.json")));
  return j.is_array() ? j.at(0) : j;
}

container_filter no_filter() {
  std::vector<std::string> errors;
  return container_filter({}, {}, true, errors);
}

const std::string long_id = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

njson minimal(const std::string& image = "redis:7") {
  return njson{{"Id", long_id},
               {"Name", "/cache"},
               {"Image", "sha256:" + std::string(64, 'b')},
               {"State", {{"Running", true}, {"Paused", false}, {"Pid", 77}}},
               {"Config", {{"Hostname", "cachehost"}, {"Image", image}, {"Labels", njson::object()}}},
               {"NetworkSettings", {{"Ports", njson::object()}, {"Networks", njson::object()}}}};
}

}  // namespace

TEST_CASE("a real bridge inspect maps to the service fields", "[docker][mapping]") {
  auto j = fixture_inspect();
  REQUIRE(image_name_of(j) == "censerver");
  auto m = map_container(j, image_name_of(j), mapping_options{"docker", false}, no_filter());
  REQUIRE(m.running);
  REQUIRE(m.svc);
  const auto& s = *m.svc;
  auto id = j["Id"].get<std::string>();
  CHECK(s.id == "docker://" + id);
  CHECK(s.listener == "docker");
  CHECK(s.ad_identifiers == std::vector<std::string>{"docker://" + id, "censerver"});
  REQUIRE(s.hosts);
  CHECK(*s.hosts == std::map<std::string, std::string>{{"bridge", "172.17.0.3"}});
  REQUIRE(s.ports);
  CHECK(*s.ports == std::vector<service_port>{{3000, ""}});
  CHECK(s.pid == 12680);
  CHECK(s.hostname == "86199ab4c77b");
  CHECK(s.ready);
  CHECK(m.name == "cen");
  CHECK(s.tags == std::vector<std::string>{"container_id:" + id, "container_name:cen", "docker_image:censerver",
                                           "image_name:censerver", "short_image:censerver"});
}

TEST_CASE("sha256 images are resolved from the image inspect", "[docker][mapping]") {
  auto j = minimal("sha256:" + std::string(64, 'b'));
  CHECK(image_name_of(j).empty());
  CHECK(image_name_of(minimal(std::string(64, 'c'))).empty());
  CHECK(image_id_of(j) == "sha256:" + std::string(64, 'b'));
  CHECK(image_name_from_image_inspect(njson{{"RepoTags", {"zz/app:2", "aa/app:1"}}, {"RepoDigests", {"x@sha256:1"}}}) ==
        "aa/app:1");
  CHECK(image_name_from_image_inspect(njson{{"RepoTags", njson::array()}, {"RepoDigests", {"b@sha256:2", "a@sha256:1"}}}) ==
        "a@sha256:1");
  CHECK(image_name_from_image_inspect(njson{{"RepoTags", {"<none>:<none>"}}}).empty());
  auto m = map_container(j, "myreg.local:5000/team/app:v3", mapping_options{}, no_filter());
  REQUIRE(m.svc);
  CHECK(m.svc->ad_identifiers ==
        std::vector<std::string>{"docker://" + long_id, "myreg.local:5000/team/app", "app"});
  CHECK(std::count(m.svc->tags.begin(), m.svc->tags.end(), "image_tag:v3") == 1);
  CHECK(std::count(m.svc->tags.begin(), m.svc->tags.end(), "short_image:app") == 1);
}

TEST_CASE("host network: no IP gives the hostname as the only host", "[docker][mapping]") {
  auto j = minimal();
  j["NetworkSettings"]["Networks"] = {{"host", {{"IPAddress", ""}}}};
  j["Config"]["ExposedPorts"] = {{"8080/tcp", njson::object()}, {"53/udp", njson::object()}};
  auto m = map_container(j, "redis:7", {}, no_filter());
  REQUIRE(m.svc);
  CHECK(*m.svc->hosts == std::map<std::string, std::string>{{"hostname", "cachehost"}});
  CHECK(*m.svc->ports == std::vector<service_port>{{53, ""}, {8080, ""}});
}

TEST_CASE("two networks and published ports with ranges", "[docker][mapping]") {
  auto j = minimal();
  j["NetworkSettings"]["Networks"] = {{"front", {{"IPAddress", "10.1.0.2"}}}, {"back", {{"IPAddress", "10.2.0.2"}}}};
  j["NetworkSettings"]["Ports"] = {{"9000/tcp", nullptr}, {"22-24/tcp", njson::array()}, {"80/tcp", njson::array()}};
  j["Config"]["ExposedPorts"] = {{"1/tcp", njson::object()}};  // ignored: Ports has entries
  auto m = map_container(j, "redis:7", {}, no_filter());
  REQUIRE(m.svc);
  CHECK(*m.svc->hosts == std::map<std::string, std::string>{{"back", "10.2.0.2"}, {"front", "10.1.0.2"}});
  std::vector<int> ports;
  for (const auto& p : *m.svc->ports) ports.push_back(p.port);
  CHECK(ports == std::vector<int>{22, 23, 24, 80, 9000});
}

TEST_CASE("check.id label overrides identifiers, labels carry templates", "[docker][mapping]") {
  auto j = minimal();
  j["Config"]["Labels"] = {{"com.datadoghq.ad.check.id", "custom-redis"},
                           {"com.datadoghq.ad.check_names", R"(["redisdb"])"},
                           {"com.datadoghq.ad.init_configs", "[{}]"},
                           {"com.datadoghq.ad.instances", R"([{"host":"%%host%%","port":"6379"}])"}};
  auto m = map_container(j, "redis:7", {}, no_filter());
  REQUIRE(m.svc);
  CHECK(m.svc->ad_identifiers == std::vector<std::string>{"custom-redis"});
  REQUIRE(m.svc->label_templates.templates.size() == 1);
  CHECK(m.svc->label_templates.errors.empty());

  j["Config"]["Labels"] = {{"com.datadoghq.ad.checks", R"({"nginx":{"instances":[{"url":"http://%%host%%"}]}})"},
                           {"com.datadoghq.ad.check_names", "not json"}};
  m = map_container(j, "redis:7", {}, no_filter());
  REQUIRE(m.svc);
  CHECK(m.svc->label_templates.templates.size() == 1);
  CHECK(m.svc->label_templates.errors.empty());  // v1 ignored when v2 is present

  j["Config"]["Labels"] = {{"com.datadoghq.ad.check_names", "[broken"}};
  m = map_container(j, "redis:7", {}, no_filter());
  REQUIRE(m.svc);
  REQUIRE_FALSE(m.svc->label_templates.errors.empty());
  CHECK(m.svc->label_templates.errors[0].find("cache") != std::string::npos);
}

TEST_CASE("stopped and paused containers are no services", "[docker][mapping]") {
  auto j = minimal();
  j["State"]["Running"] = false;
  auto m = map_container(j, "redis:7", {}, no_filter());
  CHECK_FALSE(m.running);
  CHECK_FALSE(m.svc);
  j["State"]["Running"] = true;
  j["State"]["Paused"] = true;
  CHECK_FALSE(map_container(j, "redis:7", {}, no_filter()).svc);
  CHECK_FALSE(map_container(njson::object(), "", {}, no_filter()).svc);
  CHECK_FALSE(map_container(njson::array(), "", {}, no_filter()).svc);
}

TEST_CASE("wait_for_healthy: ready only when healthy, empty status is no health check", "[docker][mapping]") {
  auto j = minimal();
  j["State"]["Health"] = {{"Status", "starting"}};
  CHECK(map_container(j, "redis:7", {"docker", false}, no_filter()).svc->ready);
  CHECK_FALSE(map_container(j, "redis:7", {"docker", true}, no_filter()).svc->ready);
  j["State"]["Health"]["Status"] = "healthy";
  CHECK(map_container(j, "redis:7", {"docker", true}, no_filter()).svc->ready);
  j["State"]["Health"]["Status"] = "";  // Podman without a health check
  CHECK(map_container(j, "redis:7", {"docker", true}, no_filter()).svc->ready);
}

TEST_CASE("include wins over exclude, pause containers excluded by default", "[docker][filter]") {
  std::vector<std::string> errors;
  container_filter f({"name:^keep"}, {"image:redis", "name:.*"}, true, errors);
  CHECK(errors.empty());
  CHECK(f.excluded("web", "nginx:1"));
  CHECK_FALSE(f.excluded("keep-me", "redis:7"));
  container_filter pause({}, {}, true, errors);
  CHECK(pause.excluded("x", "registry.k8s.io/pause:3.9"));
  CHECK(pause.excluded("x", "gcr.io/google_containers/pause-amd64:3.1"));
  CHECK(pause.excluded("x", "amazon/amazon-ecs-pause:0.1.0"));
  CHECK_FALSE(pause.excluded("x", "redis:7"));
  container_filter keep_pause({}, {}, false, errors);
  CHECK_FALSE(keep_pause.excluded("x", "registry.k8s.io/pause:3.9"));
  container_filter bad({"nope"}, {"name:("}, true, errors);
  CHECK(errors.size() == 2);
  // What libstdc++'s regex compiler cannot take safely is refused with a reason (a count past
  // a long overflowed in it, found by fuzz_daemon_config; very long patterns recurse deeply).
  errors.clear();
  container_filter huge({"name:a{11111111111111111111}", "image:" + std::string(600, 'x')}, {}, true, errors);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("include[0]") != std::string::npos);
  CHECK(errors[0].find("7 or more digits") != std::string::npos);
  CHECK(errors[1].find("longer than 512") != std::string::npos);
  errors.clear();
  container_filter fine({"name:^web-[0-9]{1,3}$", "image:^registry:5000/app$"}, {}, true, errors);
  CHECK(errors.empty());
  CHECK_FALSE(fine.excluded("web-12", "other"));
  auto m = map_container(minimal(), "registry.k8s.io/pause:3.9", {}, pause);
  CHECK(m.filtered);
  CHECK_FALSE(m.svc);
}

TEST_CASE("events: parse and decide which need an inspect", "[docker][events]") {
  auto real = test::read_file(test::fixture("docker/docker_event_api_example.json"));
  auto ev = parse_event(real);
  REQUIRE(ev);
  CHECK(ev->type == "container");
  CHECK(ev->action == "create");
  CHECK(ev->id == "ede54ee1afda366ab42f824e8a5ffd195155d853ceaec74a927f249ea270c743");
  CHECK_FALSE(event_needs_inspect(*ev));
  for (const char* a : {"start", "unpause", "rename", "health_status: healthy", "die", "stop", "kill", "pause",
                        "destroy", "remove"}) {
    ev->action = a;
    CHECK(event_needs_inspect(*ev));
  }
  for (const char* a : {"exec_start: sh", "attach", "create", "init", "cleanup", "sync", "resize"}) {
    ev->action = a;
    CHECK_FALSE(event_needs_inspect(*ev));
  }
  // Podman 4.3 announces a health check's result before writing it: such events are followed
  // by a second, later inspect (Docker's exec_die is not one: its health events come after).
  for (const char* a : {"health_status", "health_status: healthy", "exec_died"}) {
    ev->action = a;
    CHECK(event_needs_late_inspect(*ev));
  }
  for (const char* a : {"start", "die", "exec_die", "exec_start: sh", "remove"}) {
    ev->action = a;
    CHECK_FALSE(event_needs_late_inspect(*ev));
  }
  ev->action = "start";
  ev->type = "image";
  CHECK_FALSE(event_needs_inspect(*ev));
  ev->action = "health_status";
  CHECK_FALSE(event_needs_late_inspect(*ev));
  CHECK_FALSE(parse_event("not json"));
  CHECK_FALSE(parse_event("[1]"));
}

TEST_CASE("line splitter: every split point of a two-line stream gives the same lines", "[docker][events]") {
  const std::string text = "{\"Action\":\"start\",\"id\":\"a\"}\r\n{\"Action\":\"die\",\"id\":\"b\"}\n";
  for (std::size_t i = 0; i <= text.size(); ++i) {
    for (std::size_t k = i; k <= text.size(); ++k) {
      line_splitter s;
      std::vector<std::string> lines;
      REQUIRE(s.feed(std::string_view(text).substr(0, i), lines));
      REQUIRE(s.feed(std::string_view(text).substr(i, k - i), lines));
      REQUIRE(s.feed(std::string_view(text).substr(k), lines));
      REQUIRE(lines == std::vector<std::string>{"{\"Action\":\"start\",\"id\":\"a\"}", "{\"Action\":\"die\",\"id\":\"b\"}"});
    }
  }
  line_splitter small(8);
  std::vector<std::string> lines;
  CHECK(small.feed("12345678", lines));
  CHECK_FALSE(small.feed("9", lines));
}

TEST_CASE("API version: the engine's, capped, HTTP dates", "[docker][version]") {
  CHECK(negotiate_api_version("1.41") == "1.41");
  CHECK(negotiate_api_version("1.24") == "1.24");
  CHECK(negotiate_api_version("1.99") == "1.43");
  CHECK(negotiate_api_version("2.0") == "1.43");
  CHECK(negotiate_api_version("").empty());
  CHECK(negotiate_api_version("garbage").empty());
  CHECK(parse_http_date("Thu, 01 Jan 1970 00:01:40 GMT") == 100);
  CHECK_FALSE(parse_http_date("yesterday"));
}

TEST_CASE("backoff: first retry fast, doubling with jitter, capped, reset", "[docker][backoff]") {
  backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
  std::mt19937 rng(42);
  auto first = b.next(rng);
  CHECK(first.count() >= 50);
  CHECK(first.count() <= 100);
  auto second = b.next(rng);
  CHECK(second.count() >= 100);
  CHECK(second.count() <= 200);
  for (int i = 0; i < 20; ++i) {
    auto d = b.next(rng);
    CHECK(d.count() <= 1000);
    if (i >= 2) CHECK(d.count() >= 500);  // 100 * 2^4 is past the cap
  }
  b.reset();
  CHECK(b.next(rng).count() <= 100);
}

namespace {
listener_config docker_config(const std::string& yaml) {
  listener_config c;
  c.type = "docker";
  c.name = "docker";
  c.file = "autodiscd.yaml";
  c.key_path = "listeners[0]";
  c.node = YAML::Load(yaml);
  return c;
}
env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}
}  // namespace

TEST_CASE("docker settings: defaults, DOCKER_* environment, config keys win", "[docker][config]") {
  config_errors errors;
  auto s = read_docker_settings(docker_config("{type: docker}"), env_of({}), errors);
  CHECK(errors.empty());
  CHECK(s.endpoint.describe() == "unix:///var/run/docker.sock");
  CHECK(s.removal_grace.count() == 0);

  s = read_docker_settings(docker_config("{type: docker}"),
                           env_of({{"DOCKER_HOST", "tcp://10.0.0.5"}, {"DOCKER_TLS_VERIFY", "1"},
                                   {"DOCKER_CERT_PATH", "/certs"}}),
                           errors);
  CHECK(errors.empty());
  CHECK(s.endpoint.host == "10.0.0.5");
  CHECK(s.endpoint.port == "2376");
  CHECK(s.endpoint.tls.enabled);
  CHECK(s.endpoint.tls.verify);
  CHECK(s.endpoint.tls.ca_file == "/certs/ca.pem");

  s = read_docker_settings(docker_config("{type: docker, host: 'tcp://127.0.0.1:2375', tls_verify: false, "
                                         "removal_grace: 2s, inspect_concurrency: 8, wait_for_healthy: true}"),
                           env_of({{"DOCKER_HOST", "unix:///nope"}, {"DOCKER_TLS_VERIFY", "1"}}), errors);
  CHECK(errors.empty());
  CHECK(s.endpoint.port == "2375");
  CHECK_FALSE(s.endpoint.tls.enabled);
  CHECK(s.removal_grace == std::chrono::seconds(2));
  CHECK(s.inspect_concurrency == 8);
  CHECK(s.wait_for_healthy);

  errors.clear();
  read_docker_settings(docker_config("{type: docker, host: 'ftp://x', include: ['bad'], timeout: nope, typo: 1}"),
                       env_of({}), errors);
  CHECK(errors.size() >= 4);
  auto all = to_string(errors);
  CHECK(all.find("listeners[0].host") != std::string::npos);
  CHECK(all.find("typo") != std::string::npos);
  CHECK(all.find("include[0]") != std::string::npos);
}
