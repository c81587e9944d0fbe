#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/resolver.hpp"
#include "config/template_vars.hpp"
#include "listeners/kubelet/kubelet_pods.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using input_json = nlohmann::json;

namespace {

const std::string coredns_id = "docker://3698873b7d4ebc30f230d15fdfd46cca6ab6b312be4f6c23b8860a2522f5f90b";
const std::string redis_id = "docker://84adac90973fa1263ccf1e296cec72acb4128b6e19fd25bffe4fafb059adafc0";
const std::string redis_pod_id = "kubernetes_pod://b4e03af2-8608-11e9-892f-02c6fa0ccfb0";

kubelet_pod_options options() {
  kubelet_pod_options o;
  o.listener_name = "kubelet";
  o.now = *parse_rfc3339("2019-06-03T15:00:00Z");
  return o;
}

service_map parse_fixture(const std::string& name) {
  service_map out;
  const auto error = parse_pod_list(test::read_file(test::fixture("kubelet/" + name)), options(), out);
  INFO(error.value_or(""));
  REQUIRE_FALSE(error);
  return out;
}

service_map parse_json(const input_json& doc) {
  service_map out;
  const auto error = parse_pod_list(doc.dump(), options(), out);
  INFO(error.value_or(""));
  REQUIRE_FALSE(error);
  return out;
}

input_json fixture_json(const std::string& name) {
  return input_json::parse(test::read_file(test::fixture("kubelet/" + name)));
}

/// The pod named `name` in a PodList.
input_json& pod_named(input_json& doc, const std::string& name) {
  for (auto& pod : doc["items"]) {
    if (pod["metadata"]["name"] == name) return pod;
  }
  FAIL("no pod " << name);
  throw std::logic_error("unreachable");
}

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

resolution resolve(const service& svc) { return resolve_service(svc, template_index{}, &no_env); }

}  // namespace

TEST_CASE("kubelet: ready PodList gives one service per container and per pod", "[kubelet]") {
  const auto services = parse_fixture("kubelet_podlist_container_ready.json");
  CHECK(services.size() == 10);  // 5 containers + 5 pods

  const auto& coredns = *services.at(coredns_id);
  CHECK(coredns.listener == "kubelet");
  CHECK(coredns.ad_identifiers == std::vector<std::string>{coredns_id, "coredns/coredns:1.1.1", "coredns"});
  CHECK(coredns.hosts == std::map<std::string, std::string>{{"pod", "192.168.253.2"}});
  REQUIRE(coredns.ports);
  CHECK(*coredns.ports == std::vector<service_port>{{53, "dns"}, {53, "dns-tcp"}, {9153, "metrics"}});
  CHECK(coredns.tags == std::vector<std::string>{"image_name:coredns/coredns", "image_tag:1.1.1",
                                                 "kube_container_name:coredns", "kube_namespace:kube-system",
                                                 "pod_name:coredns-747dbcf5df-ks57g", "pod_phase:running",
                                                 "short_image:coredns"});
  CHECK(coredns.extra == std::map<std::string, std::string>{{"namespace", "kube-system"},
                                                            {"pod_name", "coredns-747dbcf5df-ks57g"},
                                                            {"pod_uid", "47af7bf2-85f7-11e9-892f-02c6fa0ccfb0"}});
  CHECK(coredns.ready);
  CHECK_FALSE(coredns.pid);
  CHECK_FALSE(coredns.hostname);
  CHECK(coredns.label_templates.templates.empty());
  CHECK(coredns.label_templates.errors.empty());

  // A container without ports has an empty (supported) port list.
  const auto& proxy = *services.at("docker://f8222454e2866de60831bd99cec33d282ea9a6e7e8d63a09593d303c6c570b2c");
  REQUIRE(proxy.ports);
  CHECK(proxy.ports->empty());
  CHECK(proxy.ad_identifiers ==
        std::vector<std::string>{proxy.id, "gcr.io/google_containers/hyperkube:v1.10.7", "hyperkube"});

  const auto& pod = *services.at("kubernetes_pod://47af7bf2-85f7-11e9-892f-02c6fa0ccfb0");
  CHECK(pod.ad_identifiers == std::vector<std::string>{pod.id});
  CHECK(pod.ready);
  CHECK(pod.hosts == std::map<std::string, std::string>{{"pod", "192.168.253.2"}});
  CHECK(*pod.ports == *coredns.ports);
  CHECK(pod.extra.at("pod_name") == "coredns-747dbcf5df-ks57g");
}

TEST_CASE("kubelet: coredns's named ports resolve %%port%%, %%port_0%% and %%port_<name>%%", "[kubelet]") {
  const auto services = parse_fixture("kubelet_podlist_container_ready.json");
  const auto& coredns = *services.at(coredns_id);
  CHECK(resolve_variable("port", coredns, &no_env).value == "9153");
  CHECK(resolve_variable("port_0", coredns, &no_env).value == "53");
  CHECK(resolve_variable("port_1", coredns, &no_env).value == "53");
  CHECK(resolve_variable("port_metrics", coredns, &no_env).value == "9153");
  CHECK(resolve_variable("port_dns-tcp", coredns, &no_env).value == "53");
  CHECK(resolve_variable("host", coredns, &no_env).value == "192.168.253.2");
  CHECK(resolve_variable("kube_namespace", coredns, &no_env).value == "kube-system");
  // pid and hostname are not supported by the kubelet listener.
  const auto pid = resolve_variable("pid", coredns, &no_env);
  CHECK_FALSE(pid.value);
  CHECK_THAT(pid.error, Catch::Contains("not supported by listener kubelet"));
}

TEST_CASE("kubelet: v1 annotations become templates, readiness gates configs", "[kubelet]") {
  const auto ready = parse_fixture("kubelet_podlist_container_ready.json");
  const auto not_ready = parse_fixture("kubelet_podlist_container_not_ready.json");

  const auto& redis = *ready.at(redis_id);
  CHECK(redis.ad_identifiers == std::vector<std::string>{redis_id, "redis"});
  REQUIRE(redis.label_templates.errors.empty());
  REQUIRE(redis.label_templates.templates.size() == 1);
  CHECK(redis.label_templates.templates[0].name == "redisdb");
  CHECK(redis.ready);
  auto r = resolve(redis);
  REQUIRE(r.rejected.empty());
  REQUIRE(r.configs.size() == 1);
  CHECK_THAT(r.configs[0].content, Catch::Contains("192.168.253.15"));
  CHECK_THAT(r.configs[0].content, Catch::Contains("port: 6379"));

  // Ready=False: same service, not ready, no configs; the pod service stays ready.
  CHECK_FALSE(not_ready.at(redis_id)->ready);
  CHECK(resolve(*not_ready.at(redis_id)).configs.empty());
  CHECK(not_ready.at(redis_pod_id)->ready);

  // ready -> not ready -> ready: only redis changes, then comes back identical.
  auto delta = diff_services(ready, not_ready);
  CHECK(delta.added.empty());
  CHECK(delta.removed.empty());
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0]->id == redis_id);
  delta = diff_services(not_ready, ready);
  REQUIRE(delta.changed.size() == 1);
  CHECK(*delta.changed[0] == redis);
}

TEST_CASE("kubelet: an unchanged poll is an empty delta", "[kubelet]") {
  const auto a = parse_fixture("kubelet_podlist_container_ready.json");
  const auto b = parse_fixture("kubelet_podlist_container_ready.json");
  CHECK(diff_services(a, b).empty());
  // Pod order in the list does not matter (the not-ready fixture lists redis first).
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  std::reverse(doc["items"].begin(), doc["items"].end());
  CHECK(diff_services(a, parse_json(doc)).empty());
}

TEST_CASE("kubelet: init containers and containers without an id are not services", "[kubelet]") {
  const auto running = parse_fixture("kubelet_podlist_init_container_running.json");
  const auto terminated = parse_fixture("kubelet_podlist_init_container_terminated.json");
  const std::string init_id = "containerd://922a2f3f14d1724d7eeb6cad2b5138bcbd85948c802fead1af2a1e5d79807e4e";
  const std::string app_id = "containerd://aa4f77272e3407f4ba15cd14f885d3799f6373e8a2b2ef883f9acfccd3c73ba3";
  const std::string pod_id = "kubernetes_pod://7760601b-65a6-11e9-bc12-02f121c1eeb4";

  CHECK_FALSE(running.contains(init_id));
  CHECK_FALSE(terminated.contains(init_id));
  CHECK_FALSE(running.contains(app_id));  // waiting, no containerID yet
  REQUIRE(running.contains(pod_id));
  CHECK(running.size() == 9);  // 4 containers + 5 pods

  REQUIRE(terminated.contains(app_id));
  const auto& app = *terminated.at(app_id);
  CHECK(app.ready);
  CHECK(app.ad_identifiers == std::vector<std::string>{app_id, "busybox"});
  for (const auto& [id, svc] : terminated) {
    CHECK((id.starts_with("containerd://") || id.starts_with("kubernetes_pod://")));
  }

  const auto delta = diff_services(running, terminated);
  REQUIRE(delta.added.size() == 1);
  CHECK(delta.added[0]->id == app_id);
  CHECK(delta.removed.empty());
  REQUIRE(delta.changed.size() == 1);  // the pod: Pending -> Running
  CHECK(delta.changed[0]->id == pod_id);
}

TEST_CASE("kubelet: a creating container is not a service, its pod has no IP", "[kubelet]") {
  const auto services = parse_fixture("kubelet_podlist_container_creating.json");
  REQUIRE(services.size() == 1);
  const auto& pod = *services.begin()->second;
  CHECK(pod.id == "kubernetes_pod://a7b2a624-3b27-11eb-bf0e-42010a8400c5");
  REQUIRE(pod.hosts);
  CHECK(pod.hosts->empty());
}

TEST_CASE("kubelet: items null, missing and malformed bodies", "[kubelet]") {
  service_map out;
  out["stale"] = std::make_shared<const service>();
  CHECK_FALSE(parse_pod_list(R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":null})", options(), out));
  CHECK(out.empty());
  CHECK_FALSE(parse_pod_list(R"({"kind":"PodList","apiVersion":"v1","metadata":{}})", options(), out));
  CHECK(out.empty());

  const auto body = test::read_file(test::fixture("kubelet/kubelet_podlist_container_ready.json"));
  auto error = parse_pod_list(std::string_view(body).substr(0, body.size() / 2), options(), out);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("malformed JSON"));
  CHECK(out.empty());
  error = parse_pod_list("[1,2]", options(), out);
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("not a PodList"));
  CHECK(parse_pod_list(R"({"kind":"Status","status":"Failure"})", options(), out));
  CHECK(parse_pod_list(R"({"items":{}})", options(), out));
  CHECK(parse_pod_list("", options(), out));
  CHECK(parse_pod_list(R"({"kind":"PodList","items":[]} trailing)", options(), out));
  CHECK(parse_pod_list(R"({"kind":"PodList","items":[{"metadata":{"managedFields":[{"a":)", options(), out));
  // Parts the mapping does not read may hold anything.
  CHECK_FALSE(parse_pod_list(R"({"kind":"PodList","metadata":{"x":[[{}],null]},"items":[{"spec":{"volumes":[{"a":[1,{"b":null}]}]}}]})",
                             options(), out));
}

TEST_CASE("kubelet: %%port_<name>%% in annotations, v2 wins over v1, legacy prefix", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  auto& annotations = pod_named(doc, "redis-unready-69cfd574f5-wg9vb")["metadata"]["annotations"];

  SECTION("v1 with a named port") {
    annotations["ad.datadoghq.com/redis-unready.instances"] = R"([{"host": "%%host%%", "port": "%%port_redis%%"}])";
    const auto r = resolve(*parse_json(doc).at(redis_id));
    REQUIRE(r.configs.size() == 1);
    CHECK_THAT(r.configs[0].content, Catch::Contains("port: 6379"));
  }
  SECTION("v2 checks win over v1") {
    annotations["ad.datadoghq.com/redis-unready.checks"] =
        R"({"redisdb_v2": {"instances": [{"host": "%%host%%", "port": "%%port_redis%%"}]}})";
    const auto parsed = parse_json(doc);
    const auto& svc = *parsed.at(redis_id);
    REQUIRE(svc.label_templates.templates.size() == 1);
    CHECK(svc.label_templates.templates[0].name == "redisdb_v2");
  }
  SECTION("legacy prefix") {
    input_json legacy = input_json::object();
    for (auto& [key, value] : annotations.items()) {
      if (key.starts_with("ad.datadoghq.com/")) legacy["service-discovery.datadoghq.com/" + key.substr(17)] = value;
      else legacy[key] = value;
    }
    annotations = legacy;
    const auto parsed = parse_json(doc);
    const auto& svc = *parsed.at(redis_id);
    REQUIRE(svc.label_templates.templates.size() == 1);
    CHECK(svc.label_templates.templates[0].name == "redisdb");
  }
  SECTION("check_names [] disables file templates") {
    annotations["ad.datadoghq.com/redis-unready.check_names"] = "[]";
    const auto parsed = parse_json(doc);
    const auto& svc = *parsed.at(redis_id);
    CHECK(svc.label_templates.disable_file_templates);
    CHECK(svc.label_templates.templates.empty());
  }
}

TEST_CASE("kubelet: check.id annotation leads the identifiers and names templates", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  auto& annotations = pod_named(doc, "redis-unready-69cfd574f5-wg9vb")["metadata"]["annotations"];
  annotations.erase("ad.datadoghq.com/redis-unready.check_names");
  annotations.erase("ad.datadoghq.com/redis-unready.init_configs");
  annotations.erase("ad.datadoghq.com/redis-unready.instances");
  annotations["ad.datadoghq.com/redis-unready.check.id"] = "my-redis";
  annotations["ad.datadoghq.com/my-redis.checks"] = R"({"redisdb": {"instances": [{"port": "%%port%%"}]}})";
  const auto services = parse_json(doc);
  const auto& svc = *services.at(redis_id);
  CHECK(svc.ad_identifiers == std::vector<std::string>{"my-redis", redis_id, "redis"});
  REQUIRE(svc.label_templates.templates.size() == 1);
  CHECK(svc.label_templates.templates[0].name == "redisdb");
  CHECK(services.at(redis_pod_id)->label_templates.errors.empty());  // my-redis names the container
}

TEST_CASE("kubelet: annotation errors are reported and do not take other templates down", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  auto& pod = pod_named(doc, "redis-unready-69cfd574f5-wg9vb");
  // A second container with a bad annotation, and an annotation naming no container.
  input_json sidecar = pod["spec"]["containers"][0];
  sidecar["name"] = "sidecar";
  sidecar["ports"] = input_json::array();
  pod["spec"]["containers"].push_back(sidecar);
  input_json sidecar_status = pod["status"]["containerStatuses"][0];
  sidecar_status["name"] = "sidecar";
  sidecar_status["containerID"] = "docker://5555";
  pod["status"]["containerStatuses"].push_back(sidecar_status);
  auto& annotations = pod["metadata"]["annotations"];
  annotations["ad.datadoghq.com/sidecar.check_names"] = R"(["nginx"])";
  annotations["ad.datadoghq.com/sidecar.instances"] = R"([{"port": )";
  annotations["ad.datadoghq.com/nosuch.instances"] = R"([{}])";

  const auto services = parse_json(doc);
  const auto& sidecar_svc = *services.at("docker://5555");
  REQUIRE(sidecar_svc.label_templates.errors.size() == 1);
  CHECK_THAT(sidecar_svc.label_templates.errors[0], Catch::Contains("default/redis-unready-69cfd574f5-wg9vb"));
  CHECK_THAT(sidecar_svc.label_templates.errors[0], Catch::Contains("sidecar"));
  CHECK_THAT(sidecar_svc.label_templates.errors[0], Catch::Contains("ad.datadoghq.com/sidecar.instances"));
  CHECK_FALSE(resolve(sidecar_svc).rejected.empty());

  // The other container's templates still apply.
  const auto r = resolve(*services.at(redis_id));
  CHECK(r.rejected.empty());
  CHECK(r.configs.size() == 1);

  const auto& pod_svc = *services.at(redis_pod_id);
  REQUIRE(pod_svc.label_templates.errors.size() == 1);
  CHECK_THAT(pod_svc.label_templates.errors[0], Catch::Contains("ad.datadoghq.com/nosuch.instances"));
  CHECK_THAT(pod_svc.label_templates.errors[0], Catch::Contains("nosuch"));
  CHECK_THAT(pod_svc.label_templates.errors[0], Catch::Contains("default/redis-unready-69cfd574f5-wg9vb"));
  // Reported by the resolver (the pod service is always ready).
  CHECK(resolve(pod_svc).rejected.size() == 1);
}

TEST_CASE("kubelet: exclude annotations", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  auto& annotations = pod_named(doc, "redis-unready-69cfd574f5-wg9vb")["metadata"]["annotations"];
  SECTION("container") {
    annotations["ad.datadoghq.com/redis-unready.exclude"] = "true";
    const auto services = parse_json(doc);
    CHECK_FALSE(services.contains(redis_id));
    CHECK(services.contains(redis_pod_id));
    CHECK(services.at(redis_pod_id)->label_templates.errors.empty());
  }
  SECTION("pod") {
    annotations["ad.datadoghq.com/exclude"] = "true";
    const auto services = parse_json(doc);
    CHECK_FALSE(services.contains(redis_id));
    CHECK_FALSE(services.contains(redis_pod_id));
    CHECK(services.size() == 8);
  }
  SECTION("false excludes nothing") {
    annotations["ad.datadoghq.com/exclude"] = "false";
    CHECK(parse_json(doc).contains(redis_id));
  }
}

TEST_CASE("kubelet: readiness rules", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_not_ready.json");
  auto& pod = pod_named(doc, "redis-unready-69cfd574f5-wg9vb");
  CHECK_FALSE(parse_json(doc).at(redis_id)->ready);

  SECTION("tolerate-unready") {
    pod["metadata"]["annotations"]["ad.datadoghq.com/tolerate-unready"] = "true";
    CHECK(parse_json(doc).at(redis_id)->ready);
  }
  SECTION("Ready=True but not Running") {
    for (auto& c : pod["status"]["conditions"]) c["status"] = "True";
    CHECK(parse_json(doc).at(redis_id)->ready);
    pod["status"]["phase"] = "Pending";
    CHECK_FALSE(parse_json(doc).at(redis_id)->ready);
  }
  SECTION("static pod in Pending") {
    pod["status"]["phase"] = "Pending";
    CHECK_FALSE(parse_json(doc).at(redis_id)->ready);
    pod["metadata"]["annotations"]["kubernetes.io/config.source"] = "file";
    CHECK(parse_json(doc).at(redis_id)->ready);
  }
}

TEST_CASE("kubelet: finished pods expire after pod_expiration", "[kubelet]") {
  auto doc = fixture_json("kubelet_podlist_container_ready.json");
  auto& pod = pod_named(doc, "redis-unready-69cfd574f5-wg9vb");
  pod["status"]["phase"] = "Succeeded";
  auto& state = pod["status"]["containerStatuses"][0]["state"];
  state = {{"terminated", {{"exitCode", 0}, {"finishedAt", "2019-06-03T14:50:00Z"}}}};
  CHECK(parse_json(doc).contains(redis_id));  // 10 minutes ago
  state["terminated"]["finishedAt"] = "2019-06-03T14:40:00Z";
  CHECK_FALSE(parse_json(doc).contains(redis_id));  // 20 minutes ago
  CHECK_FALSE(parse_json(doc).contains(redis_pod_id));
  pod["status"]["phase"] = "Running";
  CHECK(parse_json(doc).contains(redis_id));  // only finished pods expire
}

TEST_CASE("kubelet: parse_rfc3339", "[kubelet]") {
  using std::chrono::system_clock;
  const auto base = parse_rfc3339("2019-06-03T12:01:08Z");
  REQUIRE(base);
  CHECK(system_clock::to_time_t(*base) == 1559563268);
  CHECK(parse_rfc3339("2019-06-03T12:01:08.123456Z") == base);
  CHECK(parse_rfc3339("2019-06-03T14:01:08+02:00") == base);
  CHECK(parse_rfc3339("2019-06-03T11:01:08-01:00") == base);
  CHECK_FALSE(parse_rfc3339(""));
  CHECK_FALSE(parse_rfc3339("2019-06-03 12:01:08"));
  CHECK_FALSE(parse_rfc3339("2019-13-03T12:01:08Z"));
  CHECK_FALSE(parse_rfc3339("2019-06-03T12:01:08Zjunk"));
}
