#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/resolver.hpp"
#include "config/template_vars.hpp"
#include "listeners/ecs/ecs_task.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using input_json = nlohmann::json;

namespace {

const std::string nginx_id = "docker://43481a6ce4842eec8fe72fc28500c6b52edcc0917f105b83379f88cac1ff3946";
const std::string redis_id = "docker://938f6d263c464aa5985dc67ab7f38a7e-3054012820";

ecs_task_result parse(const std::string& body, ecs_metadata_version version) {
  ecs_task_options options;
  options.version = version;
  ecs_task_result out;
  const auto error = parse_ecs_task(body, options, out);
  INFO(error.value_or(""));
  REQUIRE_FALSE(error);
  return out;
}

std::string fixture(const std::string& name) { return test::read_file(test::fixture("ecs/" + name)); }

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

}  // namespace

TEST_CASE("ecs: v2 task: the pause container is not a service", "[ecs]") {
  const auto result = parse(fixture("ecs_v2_task.json"), ecs_metadata_version::v2);
  CHECK(result.task_started);
  CHECK(result.task_status == "RUNNING");
  REQUIRE(result.services.size() == 1);
  const auto& nginx = *result.services.at(nginx_id);
  CHECK(nginx.listener == "ecs");
  CHECK(nginx.ad_identifiers == std::vector<std::string>{nginx_id, "nrdlngr/nginx-curl", "nginx-curl"});
  CHECK(nginx.hosts == std::map<std::string, std::string>{{"awsvpc", "10.0.2.106"}});
  REQUIRE(nginx.ports);  // this v2 sample lists its ports
  CHECK(*nginx.ports == std::vector<service_port>{{80, "80/tcp"}});
  CHECK(nginx.tags == std::vector<std::string>{
                          "availability_zone:us-east-2b", "ecs_cluster_name:default", "ecs_container_name:nginx-curl",
                          "image_name:nrdlngr/nginx-curl", "short_image:nginx-curl",
                          "task_arn:arn:aws:ecs:us-east-2:012345678910:task/9781c248-0edd-4cdb-9a93-f63cb662a5d3",
                          "task_family:nginx", "task_version:5"});
  CHECK(nginx.ready);
  CHECK_FALSE(nginx.pid);
  CHECK_FALSE(nginx.hostname);
  CHECK(resolve_variable("host", nginx, &no_env).value == "10.0.2.106");
  CHECK(resolve_variable("port", nginx, &no_env).value == "80");
  CHECK_THAT(resolve_variable("pid", nginx, &no_env).error, Catch::Contains("not supported"));
}

TEST_CASE("ecs: v2/v3 containers without Ports do not support ports, v4 lists them", "[ecs]") {
  auto doc = input_json::parse(fixture("ecs_v2_task.json"));
  doc["Containers"][1].erase("Ports");
  const auto v2 = parse(doc.dump(), ecs_metadata_version::v2);
  CHECK_FALSE(v2.services.at(nginx_id)->ports);
  const auto v3 = parse(doc.dump(), ecs_metadata_version::v3);
  CHECK_FALSE(v3.services.at(nginx_id)->ports);
  CHECK_THAT(resolve_variable("port", *v3.services.at(nginx_id), &no_env).error, Catch::Contains("not supported"));
  const auto v4 = parse(doc.dump(), ecs_metadata_version::v4);
  REQUIRE(v4.services.at(nginx_id)->ports);
  CHECK(v4.services.at(nginx_id)->ports->empty());
}

TEST_CASE("ecs: v4 Fargate task", "[ecs]") {
  const auto result = parse(fixture("ecs_v4_task_fargate_redis.json"), ecs_metadata_version::v4);
  REQUIRE(result.services.size() == 3);
  const auto& redis = *result.services.at(redis_id);  // Fargate ids kept as they are
  CHECK(redis.ad_identifiers == std::vector<std::string>{redis_id, "redis/redis", "redis"});
  CHECK(redis.hosts == std::map<std::string, std::string>{{"awsvpc", "172.31.115.18"}});
  REQUIRE(redis.ports);
  CHECK(redis.ports->empty());
  CHECK(redis.tags == std::vector<std::string>{
                          "availability_zone:us-east-1d", "ecs_cluster_name:ecs-cluster", "ecs_container_name:redis",
                          "image_name:redis/redis", "image_tag:latest", "short_image:redis",
                          "task_arn:arn:aws:ecs:us-east-1:123457279990:task/ecs-cluster/938f6d263c464aa5985dc67ab7f38a7e",
                          "task_family:my-redis", "task_version:1"});
  CHECK(result.services.at("docker://938f6d263c464aa5985dc67ab7f38a7e-2537586469")->ready);
}

TEST_CASE("ecs: v4 ports: bridge host ports, IPv4+IPv6 duplicates, sorted", "[ecs]") {
  auto doc = input_json::parse(fixture("ecs_v4_task_fargate_redis.json"));
  auto& c = doc["Containers"][2];
  c["Ports"] = input_json::parse(R"([
      {"ContainerPort": 6379, "Protocol": "tcp", "HostPort": 32768, "HostIp": "0.0.0.0"},
      {"ContainerPort": 6379, "Protocol": "tcp", "HostPort": 32768, "HostIp": "::"},
      {"ContainerPort": 80, "Protocol": "tcp"}])");
  auto result = parse(doc.dump(), ecs_metadata_version::v4);
  CHECK(*result.services.at(redis_id)->ports == std::vector<service_port>{{80, "80/tcp"}, {6379, "6379/tcp"}});
  c["Networks"][0]["NetworkMode"] = "bridge";
  result = parse(doc.dump(), ecs_metadata_version::v4);
  CHECK(*result.services.at(redis_id)->ports == std::vector<service_port>{{80, "80/tcp"}, {32768, "32768/tcp"}});
  CHECK(result.services.at(redis_id)->hosts == std::map<std::string, std::string>{{"bridge", "172.31.115.18"}});
}

TEST_CASE("ecs: task tags, labels templates and check.id", "[ecs]") {
  auto doc = input_json::parse(fixture("ecs_v4_task_fargate_redis.json"));
  doc["TaskTags"] = {{"team", "storage"}, {"env", "prod"}};
  auto& labels = doc["Containers"][2]["Labels"];
  labels["com.datadoghq.ad.checks"] = R"({"redisdb": {"instances": [{"host": "%%host%%", "port": 6379}]}})";
  labels["com.datadoghq.ad.check.id"] = "my-redis";
  const auto result = parse(doc.dump(), ecs_metadata_version::v4);
  const auto& redis = *result.services.at(redis_id);
  CHECK(redis.ad_identifiers == std::vector<std::string>{"my-redis"});
  CHECK(std::count(redis.tags.begin(), redis.tags.end(), "team:storage") == 1);
  CHECK(std::count(redis.tags.begin(), redis.tags.end(), "env:prod") == 1);
  REQUIRE(redis.label_templates.templates.size() == 1);
  const auto r = resolve_service(redis, template_index{}, &no_env);
  REQUIRE(r.configs.size() == 1);
  CHECK_THAT(r.configs[0].content, Catch::Contains("172.31.115.18"));
  CHECK_THAT(r.configs[0].content, Catch::Contains("team:storage"));

  labels["com.datadoghq.ad.checks"] = R"({"redisdb": )";
  const auto bad = parse(doc.dump(), ecs_metadata_version::v4);
  REQUIRE(bad.services.at(redis_id)->label_templates.errors.size() == 1);
  CHECK_THAT(bad.services.at(redis_id)->label_templates.errors[0], Catch::Contains("container redis"));
}

TEST_CASE("ecs: RUNNING -> STOPPED removes the service, health gates readiness", "[ecs]") {
  auto doc = input_json::parse(fixture("ecs_v4_task_fargate_redis.json"));
  const auto before = parse(doc.dump(), ecs_metadata_version::v4);
  doc["Containers"][2]["KnownStatus"] = "STOPPED";
  const auto after = parse(doc.dump(), ecs_metadata_version::v4);
  const auto delta = diff_services(before.services, after.services);
  CHECK(delta.removed == std::vector<std::string>{redis_id});
  CHECK(delta.added.empty());
  CHECK(delta.changed.empty());
  CHECK(diff_services(after.services, parse(doc.dump(), ecs_metadata_version::v4).services).empty());

  ecs_task_options options;
  options.wait_for_healthy = true;
  ecs_task_result healthy;
  doc["Containers"][1]["Health"]["status"] = "UNHEALTHY";
  REQUIRE_FALSE(parse_ecs_task(doc.dump(), options, healthy));
  CHECK_FALSE(healthy.services.at("docker://938f6d263c464aa5985dc67ab7f38a7e-2537586469")->ready);
  CHECK(healthy.services.at("docker://938f6d263c464aa5985dc67ab7f38a7e-1714341083")->ready);  // no health check
  options.wait_for_healthy = false;
  REQUIRE_FALSE(parse_ecs_task(doc.dump(), options, healthy));
  CHECK(healthy.services.at("docker://938f6d263c464aa5985dc67ab7f38a7e-2537586469")->ready);
}

TEST_CASE("ecs: a task not running yet is not a sync, malformed bodies are errors", "[ecs]") {
  auto doc = input_json::parse(fixture("ecs_v4_task_fargate_redis.json"));
  doc["KnownStatus"] = "PENDING";
  CHECK_FALSE(parse(doc.dump(), ecs_metadata_version::v4).task_started);
  doc.erase("KnownStatus");  // missing fields are not errors
  CHECK(parse(doc.dump(), ecs_metadata_version::v4).task_started);
  CHECK(parse(R"({"Containers": []})", ecs_metadata_version::v4).services.empty());

  ecs_task_result out;
  const auto body = fixture("ecs_v4_task_fargate_redis.json");
  auto error = parse_ecs_task(body.substr(0, 300), {}, out);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("malformed JSON"));
  CHECK(parse_ecs_task("[]", {}, out));
  CHECK(parse_ecs_task("", {}, out));
}

TEST_CASE("ecs: a document without a Containers list is not a task (found by listener_faults_test)", "[ecs]") {
  // Before the fix an error object parsed as a task with no containers: every service and
  // its files went, until the next good poll wrote them again.
  ecs_task_result out;
  for (const char* body : {R"({})", R"({"Message": "task metadata not available"})",
                           R"({"KnownStatus": "RUNNING", "Containers": null})", R"({"Containers": {"a": 1}})"}) {
    INFO(body);
    const auto error = parse_ecs_task(body, {}, out);
    REQUIRE(error);
    CHECK_THAT(*error, Catch::Contains("Containers"));
    CHECK(out.services.empty());
  }
}

TEST_CASE("ecs: endpoint discovery", "[ecs]") {
  std::map<std::string, std::string> vars;
  auto env = [&vars](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto e = choose_ecs_endpoint(std::nullopt, env);
  CHECK(e.url == "http://169.254.170.2/v2/metadata");
  CHECK(e.version == ecs_metadata_version::v2);
  CHECK(e.tags_url.empty());

  vars["ECS_CONTAINER_METADATA_URI"] = "http://169.254.170.2/v3/abc";
  e = choose_ecs_endpoint(std::nullopt, env);
  CHECK(e.url == "http://169.254.170.2/v3/abc/task");
  CHECK(e.version == ecs_metadata_version::v3);
  CHECK(e.source == "ECS_CONTAINER_METADATA_URI");

  vars["ECS_CONTAINER_METADATA_URI_V4"] = "http://169.254.170.2/v4/abc/";
  e = choose_ecs_endpoint(std::nullopt, env);
  CHECK(e.url == "http://169.254.170.2/v4/abc/task");
  CHECK(e.tags_url == "http://169.254.170.2/v4/abc/taskWithTags");
  CHECK(e.version == ecs_metadata_version::v4);

  e = choose_ecs_endpoint(std::string("http://127.0.0.1:9/v2/metadata"), env);
  CHECK(e.url == "http://127.0.0.1:9/v2/metadata");
  CHECK(e.version == ecs_metadata_version::v2);
  CHECK(e.source == "url");
  CHECK(e.tags_url.empty());
}
