#include <catch2/catch.hpp>

#include <map>

#include "config/template_vars.hpp"

using namespace autodiscd;

namespace {

service make_service() {
  service svc;
  svc.id = "docker://abc";
  svc.listener = "docker";
  svc.ad_identifiers = {"redis"};
  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}};
  svc.ports = std::vector<service_port>{{6379, "redis"}, {9121, "metrics"}, {26379, "sentinel"}};
  svc.pid = 4242;
  svc.hostname = "redis-host";
  svc.extra = {{"namespace", "prod"}, {"pod_name", "redis-0"}, {"service_id", "cache"}};
  return svc;
}

env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

std::string value_of(std::string_view name, const service& svc, const env_lookup& env = fake_env({})) {
  auto v = resolve_variable(name, svc, env);
  INFO("variable " << name << " error: " << v.error);
  REQUIRE(v.value.has_value());
  CHECK(v.error.empty());
  return *v.value;
}

std::string error_of(std::string_view name, const service& svc, const env_lookup& env = fake_env({})) {
  auto v = resolve_variable(name, svc, env);
  INFO("variable " << name << " resolved to " << v.value.value_or("<none>"));
  REQUIRE_FALSE(v.value.has_value());
  CHECK_FALSE(v.error.empty());
  return v.error;
}

}  // namespace

TEST_CASE("%%host%%: the only network, else bridge, else an error", "[vars]") {
  auto svc = make_service();
  svc.hosts = std::map<std::string, std::string>{{"custom", "10.0.0.5"}};
  CHECK(value_of("host", svc) == "10.0.0.5");  // single network, not named bridge

  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}, {"custom", "10.0.0.5"}};
  CHECK(value_of("host", svc) == "172.17.0.2");  // several: bridge wins

  svc.hosts = std::map<std::string, std::string>{{"front", "10.0.0.5"}, {"back", "10.1.0.5"}};
  const auto error = error_of("host", svc);
  CHECK_THAT(error, Catch::Contains("%%host%%") && Catch::Contains("back") && Catch::Contains("front"));

  svc.hosts = std::map<std::string, std::string>{};
  CHECK_THAT(error_of("host", svc), Catch::Contains("no network"));
}

TEST_CASE("%%host_<net>%%: that network, else the %%host%% fallback", "[vars]") {
  auto svc = make_service();
  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}, {"custom", "10.0.0.5"}};
  CHECK(value_of("host_custom", svc) == "10.0.0.5");
  CHECK(value_of("host_bridge", svc) == "172.17.0.2");
  CHECK(value_of("host_missing", svc) == "172.17.0.2");  // falls back to bridge
  // Network names may hold underscores.
  svc.hosts = std::map<std::string, std::string>{{"my_net", "10.9.9.9"}, {"other", "10.8.8.8"}};
  CHECK(value_of("host_my_net", svc) == "10.9.9.9");
  // No such network, several networks, no bridge: the fallback's error.
  CHECK_THAT(error_of("host_missing", svc), Catch::Contains("%%host_missing%%"));
  svc.hosts = std::map<std::string, std::string>{{"only", "10.7.7.7"}};
  CHECK(value_of("host_missing", svc) == "10.7.7.7");
}

TEST_CASE("%%port%% variables", "[vars]") {
  auto svc = make_service();
  CHECK(value_of("port", svc) == "26379");  // the highest
  CHECK(value_of("port_0", svc) == "6379");  // ascending order
  CHECK(value_of("port_1", svc) == "9121");
  CHECK(value_of("port_2", svc) == "26379");
  CHECK_THAT(error_of("port_3", svc), Catch::Contains("out of range"));
  CHECK(value_of("port_metrics", svc) == "9121");
  CHECK(value_of("port_redis", svc) == "6379");
  CHECK_THAT(error_of("port_nosuch", svc), Catch::Contains("no port named nosuch"));

  svc.ports = std::vector<service_port>{};
  CHECK_THAT(error_of("port", svc), Catch::Contains("no ports"));
  CHECK_THAT(error_of("port_0", svc), Catch::Contains("no ports"));
}

TEST_CASE("%%pid%%, %%hostname%%", "[vars]") {
  auto svc = make_service();
  CHECK(value_of("pid", svc) == "4242");
  CHECK(value_of("hostname", svc) == "redis-host");
  svc.hostname = "";
  CHECK(value_of("hostname", svc).empty());  // empty is a value, not "not supported"
}

TEST_CASE("%%env_X%%: the daemon's environment, unset is an error", "[vars]") {
  auto svc = make_service();
  auto env = fake_env({{"REDIS_PASSWORD", "s3cret"}, {"EMPTY", ""}});
  CHECK(value_of("env_REDIS_PASSWORD", svc, env) == "s3cret");
  CHECK(value_of("env_EMPTY", svc, env).empty());
  CHECK_THAT(error_of("env_NOT_SET", svc, env), Catch::Contains("NOT_SET") && Catch::Contains("not set"));
}

TEST_CASE("the process environment lookup reads getenv", "[vars]") {
  ::setenv("AUTODISCD_TEST_VARS_ENV", "from-process", 1);
  auto env = process_environment();
  CHECK(env("AUTODISCD_TEST_VARS_ENV") == std::optional<std::string>("from-process"));
  ::unsetenv("AUTODISCD_TEST_VARS_ENV");
  CHECK_FALSE(env("AUTODISCD_TEST_VARS_ENV").has_value());
}

TEST_CASE("%%kube_x%% and %%extra_x%% read the extra map", "[vars]") {
  auto svc = make_service();
  CHECK(value_of("kube_namespace", svc) == "prod");
  CHECK(value_of("kube_pod_name", svc) == "redis-0");
  CHECK(value_of("extra_service_id", svc) == "cache");
  CHECK(value_of("extra_namespace", svc) == "prod");
  CHECK_THAT(error_of("kube_pod_uid", svc), Catch::Contains("pod_uid"));
  CHECK_THAT(error_of("extra_nothing", svc), Catch::Contains("nothing"));
}

TEST_CASE("unknown variables are errors", "[vars]") {
  auto svc = make_service();
  CHECK_THAT(error_of("nosuchvar", svc), Catch::Contains("unknown variable %%nosuchvar%%"));
  CHECK_THAT(error_of("HOST", svc), Catch::Contains("unknown variable"));
  CHECK_THAT(error_of("ports", svc), Catch::Contains("unknown variable"));
}

TEST_CASE("a variable the listener does not support: the exact message", "[vars]") {
  service svc;
  svc.id = "static://x";
  svc.listener = "static-hosts";
  // hosts, ports, pid and hostname all left as "not supported"
  CHECK(error_of("host", svc) == "variable %%host%% not supported by listener static-hosts");
  CHECK(error_of("host_bridge", svc) == "variable %%host_bridge%% not supported by listener static-hosts");
  CHECK(error_of("port", svc) == "variable %%port%% not supported by listener static-hosts");
  CHECK(error_of("port_0", svc) == "variable %%port_0%% not supported by listener static-hosts");
  CHECK(error_of("port_web", svc) == "variable %%port_web%% not supported by listener static-hosts");
  CHECK(error_of("pid", svc) == "variable %%pid%% not supported by listener static-hosts");
  CHECK(error_of("hostname", svc) == "variable %%hostname%% not supported by listener static-hosts");
}

TEST_CASE("substitute_variables: typed results for whole-variable strings", "[vars]") {
  auto svc = make_service();
  auto env = fake_env({{"FLAG", "true"}, {"OFF", "False"}, {"NUM", "+15"}, {"NEG", "-3"}, {"WORD", "yes"}});
  json tree = json::parse(R"({
    "port": "%%port_0%%",
    "url": "redis://%%host%%:%%port_0%%",
    "embedded_number": "%%port_0%%0",
    "flag": "%%env_FLAG%%",
    "off": "%%env_OFF%%",
    "num": "%%env_NUM%%",
    "neg": "%%env_NEG%%",
    "word": "%%env_WORD%%",
    "host": "%%host%%",
    "list": ["%%pid%%", "pid-%%pid%%"],
    "%%host%%": "keys are never substituted",
    "already_int": 5,
    "percent": "100%%%% sure"
  })");
  REQUIRE_FALSE(substitute_variables(tree, svc, env).has_value());
  CHECK(tree["port"] == json(6379));
  CHECK(tree["port"].is_number_integer());
  CHECK(tree["url"] == "redis://172.17.0.2:6379");
  CHECK(tree["embedded_number"] == "63790");  // embedded: stays a string
  CHECK(tree["flag"] == json(true));
  CHECK(tree["off"] == json(false));
  CHECK(tree["num"] == json(15));
  CHECK(tree["neg"] == json(-3));
  CHECK(tree["word"] == "yes");  // only true/false become booleans
  CHECK(tree["host"] == "172.17.0.2");  // an IP is no number
  CHECK(tree["list"] == json::parse(R"([4242, "pid-4242"])"));
  CHECK(tree["%%host%%"] == "keys are never substituted");
  CHECK(tree["already_int"] == 5);
  CHECK(tree["percent"] == "100%%%% sure");
}

TEST_CASE("substitute_variables returns the first error", "[vars]") {
  auto svc = make_service();
  json tree = json::parse(R"({"a": "%%host%%", "b": ["x", {"c": "%%env_NOT_SET_X%%"}]})");
  auto error = substitute_variables(tree, svc, fake_env({}));
  REQUIRE(error.has_value());
  CHECK_THAT(*error, Catch::Contains("NOT_SET_X"));
  json unknown = json::parse(R"(["ok", "x %%bogus%% y"])");
  REQUIRE(substitute_variables(unknown, svc, fake_env({})) == std::optional<std::string>("unknown variable %%bogus%%"));
}
