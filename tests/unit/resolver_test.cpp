#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "config/resolver.hpp"
#include "config/template_loader.hpp"
#include "config/writer.hpp"
#include "support/support.hpp"

using namespace autodiscd;

namespace {

service redis_service() {
  service svc;
  svc.id = "docker://abc123";
  svc.listener = "docker";
  svc.ad_identifiers = {"docker://abc123", "redis"};
  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}};
  svc.ports = std::vector<service_port>{{6379, "redis"}};
  svc.tags = {"service:cache", "env:prod"};
  svc.pid = 10;
  svc.hostname = "cache-1";
  return svc;
}

env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

check_template parse(const std::string& text, const std::string& check = "redisdb",
                     const std::string& path = "/t/redisdb.d/auto_conf.yaml") {
  config_errors errors;
  auto t = parse_template_text(text, path, check, errors);
  INFO(to_string(errors));
  REQUIRE(t.has_value());
  return *t;
}

YAML::Node parse_yaml(const std::string& text) {
  INFO(text);
  return YAML::Load(text);
}

}  // namespace

TEST_CASE("matching by any AD identifier, each template once", "[resolver]") {
  auto a = parse("ad_identifiers: [redis, docker://abc123]\ninstances: [{port: 1}]\n", "a", "/t/a.yaml");
  auto b = parse("ad_identifiers: [nginx]\ninstances: [{port: 2}]\n", "b", "/t/b.yaml");
  template_index index({a, b});
  auto found = index.matching({"docker://abc123", "redis"});
  REQUIRE(found.size() == 1);
  CHECK(found[0]->name == "a");
  CHECK(index.matching({"nothing"}).empty());
  CHECK(index.matching({"nginx", "redis"}).size() == 2);
}

TEST_CASE("resolve_service: typed port, tags merged sorted without duplicates", "[resolver]") {
  auto t = parse(R"(ad_identifiers: [redis]
init_config:
instances:
  - host: "%%host%%"
    port: "%%port%%"
    url: "redis://%%host%%:%%port%%"
    tags: ["env:prod", "team:a"]
)");
  template_index index({t});
  auto result = resolve_service(redis_service(), index, fake_env({}));
  REQUIRE(result.rejected.empty());
  REQUIRE(result.configs.size() == 1);
  const auto& c = result.configs[0];
  CHECK(c.relative_path == "redisdb.d/docker___abc123.yaml");
  CHECK(c.check_name == "redisdb");
  CHECK(c.template_source == "/t/redisdb.d/auto_conf.yaml");
  auto doc = parse_yaml(c.content);
  CHECK(doc["init_config"].IsMap());
  REQUIRE(doc["instances"].size() == 1);
  auto inst = doc["instances"][0];
  CHECK(inst["host"].as<std::string>() == "172.17.0.2");
  CHECK(inst["port"].Tag() == "?");  // plain scalar: an int for any YAML reader
  CHECK(inst["port"].as<int>() == 6379);
  CHECK(inst["url"].as<std::string>() == "redis://172.17.0.2:6379");
  CHECK(inst["tags"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"env:prod", "service:cache", "team:a"});
  CHECK_THAT(c.content, Catch::Contains("port: 6379\n"));
}

TEST_CASE("tags: added when the instance has none, null tags count as none", "[resolver]") {
  auto t = parse("ad_identifiers: [redis]\ninstances:\n  - port: 1\n  - port: 2\n    tags:\n");
  auto result = resolve_service(redis_service(), template_index({t}), fake_env({}));
  REQUIRE(result.configs.size() == 1);
  auto doc = parse_yaml(result.configs[0].content);
  for (int i = 0; i < 2; ++i) {
    CHECK(doc["instances"][i]["tags"].as<std::vector<std::string>>() ==
          std::vector<std::string>{"env:prod", "service:cache"});
  }
}

TEST_CASE("ignore_autodiscovery_tags keeps the template's tags only", "[resolver]") {
  auto t = parse("ad_identifiers: [redis]\nignore_autodiscovery_tags: true\ninstances:\n  - tags: [own]\n  - port: 1\n");
  auto result = resolve_service(redis_service(), template_index({t}), fake_env({}));
  REQUIRE(result.configs.size() == 1);
  auto doc = parse_yaml(result.configs[0].content);
  CHECK(doc["instances"][0]["tags"].as<std::vector<std::string>>() == std::vector<std::string>{"own"});
  CHECK_FALSE(doc["instances"][1]["tags"]);
  CHECK_THAT(result.configs[0].content, !Catch::Contains("service:cache"));
}

TEST_CASE("YAML injection through a tag or an env value stays a string", "[resolver][injection]") {
  const std::vector<std::string> evil = {
      "\n- evil: 1",
      "x\ninstances:\n  - evil: 1",
      "}: {",
      "a: b",
      "- item",
      "[1, 2]",
      "{evil: 1}",
      "'quoted'",
      "\"dq\"",
      "# comment",
      "&anchor",
      "*alias",
      "!!int 5",
      "|\n  block",
      "yes",
      "no",
      "null",
      "~",
      "0x1F",
      "1_000",
      "12",
      "1e3",
      ".inf",
      "  padded  ",
      "tab\there",
      "back\\slash",
      "%%host%%",  // a value is never substituted again
      "--- \n...",
      "\xE2\x9C\x93 unicode",
  };
  for (const auto& value : evil) {
    INFO("value: " << json(value).dump());
    auto svc = redis_service();
    svc.tags = {value};
    auto t = parse(R"(ad_identifiers: [redis]
init_config:
  password: "%%env_EVIL%%"
instances:
  - host: "%%host%%"
    password: "%%env_EVIL%%"
    embedded: "pre-%%env_EVIL%%-post"
)");
    auto result = resolve_service(svc, template_index({t}), fake_env({{"EVIL", value}}));
    if (value == "12") {
      // A whole-variable value that is a number becomes one (Datadog semantics).
      REQUIRE(result.configs.size() == 1);
      CHECK(parse_yaml(result.configs[0].content)["init_config"]["password"].as<int>() == 12);
      continue;
    }
    REQUIRE(result.rejected.empty());
    REQUIRE(result.configs.size() == 1);
    YAML::Node doc;
    REQUIRE_NOTHROW(doc = parse_yaml(result.configs[0].content));
    // Structure unchanged: the same keys, nothing added.
    REQUIRE(doc.IsMap());
    CHECK(doc.size() == 2);
    REQUIRE(doc["instances"].IsSequence());
    REQUIRE(doc["instances"].size() == 1);
    auto inst = doc["instances"][0];
    CHECK(inst.size() == 4);
    CHECK_FALSE(inst["evil"]);
    // Values come back as the exact strings, quoted when plain YAML would type them.
    CHECK(inst["password"].as<std::string>() == value);
    CHECK(inst["password"].Tag() == "!");
    CHECK(doc["init_config"]["password"].as<std::string>() == value);
    CHECK(inst["embedded"].as<std::string>() == "pre-" + value + "-post");
    REQUIRE(inst["tags"].IsSequence());
    REQUIRE(inst["tags"].size() == 1);
    CHECK(inst["tags"][0].as<std::string>() == value);
  }
}

TEST_CASE("a rejected config names the service, template and reason and is never written", "[resolver]") {
  auto good = parse("ad_identifiers: [redis]\ninstances: [{port: 1}]\n", "good", "/t/good.yaml");
  auto bad = parse("ad_identifiers: [redis]\ninstances: [{password: \"%%env_NOPE%%\"}]\n", "bad", "/t/bad.yaml");
  auto result = resolve_service(redis_service(), template_index({good, bad}), fake_env({}));
  REQUIRE(result.configs.size() == 1);
  CHECK(result.configs[0].check_name == "good");
  REQUIRE(result.rejected.size() == 1);
  CHECK(result.rejected[0].service_id == "docker://abc123");
  CHECK(result.rejected[0].check_name == "bad");
  CHECK(result.rejected[0].template_source == "/t/bad.yaml");
  CHECK_THAT(result.rejected[0].reason, Catch::Contains("NOPE"));
}

TEST_CASE("not supported: the config is rejected with the exact message", "[resolver]") {
  service svc;
  svc.id = "static://db";
  svc.listener = "static";
  svc.ad_identifiers = {"redis"};
  auto t = parse("ad_identifiers: [redis]\ninstances: [{host: \"%%host%%\"}]\n");
  auto result = resolve_service(svc, template_index({t}), fake_env({}));
  CHECK(result.configs.empty());
  REQUIRE(result.rejected.size() == 1);
  CHECK(result.rejected[0].reason == "variable %%host%% not supported by listener static");
}

TEST_CASE("a service that is not ready gets no configs", "[resolver]") {
  auto svc = redis_service();
  svc.ready = false;
  auto t = parse("ad_identifiers: [redis]\ninstances: [{port: 1}]\n");
  auto result = resolve_service(svc, template_index({t}), fake_env({}));
  CHECK(result.configs.empty());
  CHECK(result.rejected.empty());
}

TEST_CASE("several templates of one check for one service get _<n> suffixes", "[resolver]") {
  auto a = parse("ad_identifiers: [redis]\ninstances: [{port: 1}]\n", "redisdb", "/t/redisdb.d/a.yaml");
  auto b = parse("ad_identifiers: [redis]\ninstances: [{port: 2}]\n", "redisdb", "/t/redisdb.d/b.yaml");
  auto result = resolve_service(redis_service(), template_index({a, b}), fake_env({}));
  REQUIRE(result.configs.size() == 2);
  CHECK(result.configs[0].relative_path == "redisdb.d/docker___abc123.yaml");
  CHECK(result.configs[1].relative_path == "redisdb.d/docker___abc123_1.yaml");
}

TEST_CASE("label templates replace file templates of the same check, check_names [] disables", "[resolver]") {
  auto file_redis = parse("ad_identifiers: [redis]\ninstances: [{from: file}]\n", "redisdb", "/t/redisdb.d/a.yaml");
  auto file_other = parse("ad_identifiers: [redis]\ninstances: [{from: file}]\n", "other", "/t/other.yaml");
  template_index index({file_redis, file_other});
  auto svc = redis_service();
  config_errors errors;
  auto label = template_from_json(json::parse(R"({"instances": [{"from": "label"}]})"), "label:x", "redisdb",
                                  false, errors);
  REQUIRE(label);
  svc.label_templates.templates.push_back(*label);
  auto result = resolve_service(svc, index, fake_env({}));
  REQUIRE(result.configs.size() == 2);
  for (const auto& c : result.configs) {
    if (c.check_name == "redisdb") CHECK_THAT(c.content, Catch::Contains("from: label"));
    else CHECK_THAT(c.content, Catch::Contains("from: file"));
  }

  svc.label_templates.disable_file_templates = true;
  result = resolve_service(svc, index, fake_env({}));
  REQUIRE(result.configs.size() == 1);
  CHECK(result.configs[0].template_source == "label:x");

  svc.label_templates.templates.clear();
  result = resolve_service(svc, index, fake_env({}));
  CHECK(result.configs.empty());
}

TEST_CASE("label template errors are reported and file templates still apply", "[resolver]") {
  auto svc = redis_service();
  svc.label_templates.errors.push_back("container x: com.datadoghq.ad.instances: invalid JSON");
  auto t = parse("ad_identifiers: [redis]\ninstances: [{port: 1}]\n");
  auto result = resolve_service(svc, template_index({t}), fake_env({}));
  CHECK(result.configs.size() == 1);
  REQUIRE(result.rejected.size() == 1);
  CHECK_THAT(result.rejected[0].reason, Catch::Contains("invalid JSON"));
}

TEST_CASE("path traversal: names from labels and ids never leave the output folder", "[resolver][traversal]") {
  const std::vector<std::string> names = {"../../etc/x", "..", ".", "", "/etc/passwd", "a/../../b", ".hidden",
                                          "x\ny", "..\\..\\x"};
  for (const auto& name : names) {
    INFO("name: " << json(name).dump());
    for (const auto& id : std::vector<std::string>{"../../etc/x", "docker://a/b", "..", ".", "", "/abs"}) {
      INFO("id: " << json(id).dump());
      auto svc = redis_service();
      svc.id = id;
      config_errors errors;
      auto label = template_from_json(json::parse(R"({"instances": [{}]})"), "label", name, false, errors);
      REQUIRE(label);
      svc.label_templates.templates.push_back(*label);
      auto result = resolve_service(svc, template_index{}, fake_env({}));
      REQUIRE(result.configs.size() == 1);
      const auto& path = result.configs[0].relative_path;
      CHECK(config_writer::valid_relative_path(path));
      CHECK(path.find("..") != 0);
      CHECK(path.find("/..") == std::string::npos);
      CHECK(path.find("/.") == std::string::npos);
      CHECK(std::count(path.begin(), path.end(), '/') == 1);
    }
  }
  CHECK(safe_file_name("") == "_");
  CHECK(safe_file_name(".") == "_");
  CHECK(safe_file_name("..") == "_.");
  CHECK(safe_file_name("../../etc/x") == "_._.._etc_x");
  CHECK(safe_file_name("docker://abc") == "docker___abc");
}

TEST_CASE("agent_test_envvars_conf.yaml: set env vars substitute, an unset one rejects", "[resolver][fixtures]") {
  // The fixture has no ad_identifiers (it is a plain config, not a template file), so the
  // loader ignores it; parsed as a template body it shows the env semantics.
  config_errors errors;
  auto tree = YAML::LoadFile(autodiscd::test::fixture("auto_conf/agent_test_envvars_conf.yaml"));
  CHECK_FALSE(parse_template_text(autodiscd::test::read_file(
                                      autodiscd::test::fixture("auto_conf/agent_test_envvars_conf.yaml")),
                                  "f", "envvars", errors)
                  .has_value());
  CHECK(errors.empty());  // not a template: ignored, not an error
  json body = json::parse(R"({"ad_identifiers": ["redis"]})");
  body["init_config"] = json::object({{"foo", tree["init_config"]["foo"].as<std::string>()}});
  body["instances"] = json::array();
  for (const auto& inst : tree["instances"]) {
    json i = json::object();
    for (const auto& kv : inst) i[kv.first.as<std::string>()] = kv.second.as<std::string>();
    body["instances"].push_back(i);
  }
  auto t = template_from_json(body, "agent_test_envvars_conf.yaml", "envvars", true, errors);
  REQUIRE(t);
  auto env_both = fake_env({{"test_envvar_key", "test_value"}, {"test_envvar_not_set", "now-set"}});
  auto ok = resolve_service(redis_service(), template_index({*t}), env_both);
  REQUIRE(ok.configs.size() == 1);
  auto doc = parse_yaml(ok.configs[0].content);
  CHECK(doc["init_config"]["foo"].as<std::string>() == "test_value");
  CHECK(doc["instances"][0]["bar"].as<std::string>() == "test_value");
  CHECK(doc["instances"][1]["baz"].as<std::string>() == "now-set");

  auto rejected = resolve_service(redis_service(), template_index({*t}), fake_env({{"test_envvar_key", "test_value"}}));
  CHECK(rejected.configs.empty());
  REQUIRE(rejected.rejected.size() == 1);
  CHECK_THAT(rejected.rejected[0].reason, Catch::Contains("test_envvar_not_set"));
}

TEST_CASE("the real templates resolve for a matching service", "[resolver][fixtures]") {
  auto set = load_templates({autodiscd::test::fixture("auto_conf")});
  REQUIRE(set.errors.empty());
  template_index index(set.templates);
  auto result = resolve_service(redis_service(), index, fake_env({}));
  REQUIRE(result.configs.size() == 1);
  auto doc = parse_yaml(result.configs[0].content);
  CHECK(doc["instances"][0]["host"].as<std::string>() == "172.17.0.2");
  CHECK(doc["instances"][0]["port"].as<int>() == 6379);

  auto dns = redis_service();
  dns.id = "containerd://dns";
  dns.ad_identifiers = {"coredns"};
  dns.tags = {};
  result = resolve_service(dns, index, fake_env({}));
  REQUIRE(result.configs.size() == 1);
  CHECK(result.configs[0].relative_path == "coredns.d/containerd___dns.yaml");
  doc = parse_yaml(result.configs[0].content);
  CHECK(doc["instances"][0]["prometheus_url"].as<std::string>() == "http://172.17.0.2:9153/metrics");
  CHECK(doc["instances"][0]["tags"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"dns-pod:172.17.0.2"});
}

TEST_CASE("file_sd templates render a Prometheus target group", "[resolver][file_sd]") {
  auto t = parse(R"(ad_identifiers: [redis]
file_sd:
  targets: ["%%host%%:%%port_redis%%", "%%port%%"]
  labels: {job: redis, port: "%%port%%", svc: "%%extra_service_id%%"}
)", "prometheus_redis", "/t/prometheus_redis.d/file_sd.yaml");
  auto svc = redis_service();
  svc.extra["service_id"] = "cache";
  auto result = resolve_service(svc, template_index({t}), fake_env({}));
  REQUIRE(result.rejected.empty());
  REQUIRE(result.configs.size() == 1);
  CHECK(result.configs[0].kind == template_kind::file_sd);
  CHECK(result.configs[0].relative_path == "prometheus_redis.d/docker___abc123.json");
  auto doc = json::parse(result.configs[0].content);
  CHECK(doc == json::parse(R"([{"targets": ["172.17.0.2:6379", "6379"],
                                "labels": {"job": "redis", "port": "6379", "svc": "cache"}}])"));
}

TEST_CASE("render_datadog output is plain Datadog config", "[resolver]") {
  auto text = render_datadog(nullptr, json::parse(R"([{"a": 1}])"), nullptr);
  CHECK(text == "init_config: {}\ninstances:\n  - a: 1\n");
}

TEST_CASE("env values a template puts in are recorded and masked by redact_env_values", "[resolver][secrets]") {
  auto t = parse(R"(ad_identifiers: [redis]
instances:
  - host: "%%host%%"
    password: "%%env_REDIS_PASSWORD%%"
    quoted: "it's %%env_QUOTED%%"
    unused_port: "%%port%%"
)");
  template_index index({t});
  const std::string password = "pa\"ss:wo'rd\\1";
  auto result = resolve_service(redis_service(), index,
                                fake_env({{"REDIS_PASSWORD", password}, {"QUOTED", "o'brien"}, {"OTHER", "x"}}));
  REQUIRE(result.configs.size() == 1);
  const auto& c = result.configs[0];
  CHECK(c.env_values == std::vector<std::string>{password, "o'brien"});
  // The file holds them (the agent needs them) ...
  CHECK(parse_yaml(c.content)["instances"][0]["password"].as<std::string>() == password);
  // ... the masked copy holds neither, in any quoting, and keeps the rest.
  const auto masked = redact_env_values(c.content, c.env_values);
  INFO(masked);
  CHECK(masked.find("ss:wo") == std::string::npos);
  CHECK(masked.find("brien") == std::string::npos);
  CHECK(masked.find("********") != std::string::npos);
  CHECK(parse_yaml(masked)["instances"][0]["host"].as<std::string>() == "172.17.0.2");
  // Nothing from the environment: nothing to mask.
  auto plain = resolve_service(redis_service(), template_index({parse("ad_identifiers: [redis]\ninstances: [{port: 1}]\n")}),
                               fake_env({{"OTHER", "x"}}));
  CHECK(plain.configs.at(0).env_values.empty());
}
