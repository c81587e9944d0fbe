#include <catch2/catch.hpp>

#include "config/resolver.hpp"
#include "listeners/ad_templates.hpp"

using namespace autodiscd;

namespace {

const std::string prefix = "com.datadoghq.ad.";

std::map<std::string, std::string> labels(std::initializer_list<std::pair<const std::string, std::string>> list) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : list) out[prefix + k] = v;
  return out;
}

}  // namespace

TEST_CASE("label templates v1: check_names, init_configs, instances", "[ad_templates]") {
  auto t = parse_ad_templates(labels({{"check_names", R"(["redisdb", "http_check"])"},
                                      {"init_configs", R"([{}, {"x": 1}])"},
                                      {"instances", R"([{"host": "%%host%%", "port": "%%port%%"}, [{"url": "a"}, {"url": "b"}]])"},
                                      {"logs", R"([{"type": "docker", "service": "redis"}])"}}),
                              prefix, "container redis-1");
  INFO(t.errors.size());
  REQUIRE(t.errors.empty());
  CHECK_FALSE(t.disable_file_templates);
  REQUIRE(t.templates.size() == 2);
  CHECK(t.templates[0].name == "redisdb");
  CHECK(t.templates[0].ad_identifiers.empty());  // label templates apply to their own service
  CHECK(t.templates[0].init_config == json::object());
  CHECK(t.templates[0].instances == json::parse(R"([{"host": "%%host%%", "port": "%%port%%"}])"));
  CHECK(t.templates[0].logs == json::parse(R"([{"type": "docker", "service": "redis"}])"));
  CHECK_THAT(t.templates[0].source, Catch::Contains("container redis-1"));
  CHECK(t.templates[1].name == "http_check");
  CHECK(t.templates[1].init_config == json::parse(R"({"x": 1})"));
  CHECK(t.templates[1].instances.size() == 2);
  CHECK(t.templates[1].logs.is_null());
}

TEST_CASE("label templates v2: checks JSON, v1 keys ignored when present", "[ad_templates]") {
  auto t = parse_ad_templates(labels({{"checks", R"({"redisdb": {"init_config": {}, "instances": [{"port": 1}],
                                                    "ignore_autodiscovery_tags": true},
                                        "nginx": {"instances": [{"a": 1}, {"b": 2}]}})"},
                                      {"check_names", R"(["ignored"])"},
                                      {"instances", R"([{}])"}}),
                              prefix, "container x");
  REQUIRE(t.errors.empty());
  REQUIRE(t.templates.size() == 2);
  CHECK(t.templates[0].name == "redisdb");
  CHECK(t.templates[0].ignore_autodiscovery_tags);
  CHECK(t.templates[1].name == "nginx");
  CHECK_FALSE(t.templates[1].ignore_autodiscovery_tags);
  CHECK(t.templates[1].instances.size() == 2);
}

TEST_CASE("check_names [] disables file templates", "[ad_templates]") {
  auto t = parse_ad_templates(labels({{"check_names", "[]"}, {"init_configs", "[]"}, {"instances", "[]"}}), prefix, "c");
  CHECK(t.errors.empty());
  CHECK(t.templates.empty());
  CHECK(t.disable_file_templates);
}

TEST_CASE("ignore_autodiscovery_tags label applies to every label template", "[ad_templates]") {
  auto t = parse_ad_templates(labels({{"check_names", R"(["a"])"}, {"instances", R"([{}])"},
                                      {"ignore_autodiscovery_tags", "true"}}),
                              prefix, "c");
  REQUIRE(t.templates.size() == 1);
  CHECK(t.templates[0].ignore_autodiscovery_tags);
}

TEST_CASE("malformed label JSON rejects only that container's label templates", "[ad_templates]") {
  for (const auto& bad : std::vector<std::map<std::string, std::string>>{
           labels({{"check_names", R"(["a", "b"])"}, {"instances", R"([{}, {])"}}),
           labels({{"check_names", R"(["a", "b"])"}, {"instances", R"([{}])"}}),
           labels({{"check_names", R"("a")"}, {"instances", R"([{}])"}}),
           labels({{"check_names", R"(["a"])"}}),
           labels({{"check_names", R"(["a"])"}, {"instances", R"([5])"}}),
           labels({{"checks", R"({"a": {"instances": [{}]}, "b": 5})"}}),
           labels({{"checks", R"([1])"}}),
           labels({{"checks", R"({"a": {"instances": {}}})"}}),
           labels({{"check_names", R"(["a"])"}, {"instances", R"([{}])"}, {"logs", "{"}}),
       }) {
    INFO((bad.begin()->first) << " = " << bad.begin()->second);
    auto t = parse_ad_templates(bad, prefix, "container bad-1");
    CHECK(t.templates.empty());
    REQUIRE_FALSE(t.errors.empty());
    CHECK_THAT(t.errors[0], Catch::Contains("container bad-1"));
    CHECK_THAT(t.errors[0], Catch::Contains(prefix));

    // The resolver reports the error and still applies the file templates to this service.
    service svc;
    svc.id = "docker://bad-1";
    svc.listener = "docker";
    svc.ad_identifiers = {"redis"};
    svc.label_templates = t;
    check_template file_template;
    file_template.name = "redisdb";
    file_template.source = "/t/redisdb.yaml";
    file_template.ad_identifiers = {"redis"};
    file_template.instances = json::parse(R"([{"from": "file"}])");
    auto result = resolve_service(svc, template_index({file_template}), [](const std::string&) {
      return std::optional<std::string>();
    });
    CHECK(result.configs.size() == 1);
    CHECK_FALSE(result.rejected.empty());
  }
}

TEST_CASE("kubelet annotations use the same parser with their own prefix", "[ad_templates]") {
  const std::string kprefix = "ad.datadoghq.com/redis.";
  std::map<std::string, std::string> ann{{kprefix + "check_names", R"(["redisdb"])"},
                                         {kprefix + "instances", R"([{"host": "%%host%%"}])"},
                                         {"ad.datadoghq.com/other.check_names", R"(["nope"])"}};
  auto t = parse_ad_templates(ann, kprefix, "pod default/redis-0 container redis");
  REQUIRE(t.errors.empty());
  REQUIRE(t.templates.size() == 1);
  CHECK(t.templates[0].name == "redisdb");
  CHECK(parse_ad_templates({}, kprefix, "pod").templates.empty());
}

TEST_CASE("the logs label applies with v2 checks too", "[ad_templates]") {
  auto t = parse_ad_templates(labels({{"checks", R"({"redisdb": {"instances": [{}]}})"},
                                      {"logs", R"([{"source": "redis"}])"}}),
                              prefix, "c");
  REQUIRE(t.errors.empty());
  REQUIRE(t.templates.size() == 1);
  CHECK(t.templates[0].logs == json::parse(R"([{"source": "redis"}])"));
  t = parse_ad_templates(labels({{"logs", R"([{"source": "redis"}])"}}), prefix, "c");
  REQUIRE(t.templates.size() == 1);
  CHECK(t.templates[0].name == "logs");
}

TEST_CASE("ignore_autodiscovery_tags label values", "[ad_templates]") {
  for (const std::string value : {"true", "True", "1", "t"}) {
    auto t = parse_ad_templates(labels({{"check_names", R"(["a"])"}, {"instances", R"([{}])"},
                                        {"ignore_autodiscovery_tags", value}}), prefix, "c");
    REQUIRE(t.templates.size() == 1);
    CHECK(t.templates[0].ignore_autodiscovery_tags);
  }
  auto t = parse_ad_templates(labels({{"check_names", R"(["a"])"}, {"instances", R"([{}])"},
                                      {"ignore_autodiscovery_tags", "false"}}), prefix, "c");
  REQUIRE(t.templates.size() == 1);
  CHECK_FALSE(t.templates[0].ignore_autodiscovery_tags);
  t = parse_ad_templates(labels({{"check_names", R"(["a"])"}, {"instances", R"([{}])"},
                                 {"ignore_autodiscovery_tags", "sometimes"}}), prefix, "c");
  CHECK(t.templates.empty());
  CHECK_FALSE(t.errors.empty());
}
