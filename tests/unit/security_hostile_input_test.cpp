// Security / hostile input: what the fuzzers found (each crash is a test here), and bounded
// handling of deep nesting, huge labels and invalid UTF-8. Nothing may throw out of a
// parser or the resolver: an exception escaping the event loop stops the daemon.
#include <catch2/catch.hpp>

#include <chrono>

#include "config/daemon_config.hpp"
#include "config/resolver.hpp"
#include "config/template_loader.hpp"
#include "config/writer.hpp"
#include "config/yaml_json.hpp"
#include "listeners/ad_templates.hpp"
#include "listeners/service_json.hpp"
#include "listeners/static/static_services.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

env_lookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

service redis() {
  service svc;
  svc.id = "docker://abc";
  svc.listener = "docker";
  svc.ad_identifiers = {"redis"};
  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}};
  svc.ports = std::vector<service_port>{{6379, "redis"}};
  return svc;
}

bool any_contains(const std::vector<std::string>& list, const std::string& text) {
  for (const auto& s : list) {
    if (s.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// fuzz_ad_templates found it: json::parse throws out_of_range (406), not parse_error, for a
// number beyond double; the label parser let it escape, so one container label stopped the
// daemon.
TEST_CASE("hostile input: a label number beyond double is a label error, not a crash", "[security][fuzz]") {
  for (const auto& value : {std::string("[{\"n\": 1e999}]"), std::string("[{\"n\": -2e308}]"),
                            std::string("[{\"n\": 123456789012345678901234567890e300}]")}) {
    INFO(value);
    const std::map<std::string, std::string> v1 = {{"com.datadoghq.ad.check_names", "[\"redisdb\"]"},
                                                   {"com.datadoghq.ad.init_configs", "[{}]"},
                                                   {"com.datadoghq.ad.instances", value}};
    service_templates out;
    REQUIRE_NOTHROW(out = parse_ad_templates(v1, "com.datadoghq.ad.", "container x"));
    CHECK(out.templates.empty());
    CHECK(any_contains(out.errors, "com.datadoghq.ad.instances: invalid JSON"));
    const std::map<std::string, std::string> v2 = {
        {"ad.datadoghq.com/redis.checks", "{\"redisdb\": {\"instances\": " + value + "}}"}};
    REQUIRE_NOTHROW(out = parse_ad_templates(v2, "ad.datadoghq.com/redis.", "pod p"));
    CHECK(out.templates.empty());
    CHECK(any_contains(out.errors, "ad.datadoghq.com/redis.checks: invalid JSON"));
  }
}

// fuzz_resolve found it: a file_sd value with a byte that is not UTF-8 made json::dump throw
// inside resolve_service.
TEST_CASE("hostile input: a file_sd value that is not UTF-8 rejects the config, no crash", "[security][fuzz]") {
  config_errors errors;
  json tree = json::parse(R"({"ad_identifiers": ["redis"], "file_sd": {"targets": ["%%host%%:1"], "labels": {}}})");
  tree["file_sd"]["targets"].push_back(std::string("\xff\xfe-%%host%%"));
  tree["file_sd"]["labels"]["k"] = std::string("\xc0\xae");
  auto t = template_from_json(tree, "/t/node.d/conf.yaml", "node", true, errors);
  INFO(to_string(errors));
  REQUIRE(t);
  resolution res;
  REQUIRE_NOTHROW(res = resolve_service(redis(), template_index({*t}), no_env()));
  CHECK(res.configs.empty());
  REQUIRE(res.rejected.size() == 1);
  CHECK_THAT(res.rejected[0].reason, Catch::Contains("invalid UTF-8"));
  // The reason itself is printable JSON (it lands in /configs and `autodiscd configs`).
  CHECK_NOTHROW(json(res.rejected[0].reason).dump());
}

// fuzz_static_services found it (CI run, 30 s): a NUL byte inside a plain scalar made yaml-cpp
// return bytes that are not UTF-8 (0xA0) although the file itself was valid UTF-8, and the
// `services` JSON dump() threw. YAML forbids NUL: such files are refused with the line.
TEST_CASE("hostile input: a NUL byte in a services, template or config file is refused with the line",
          "[security][fuzz]") {
  using namespace std::string_literals;
  const auto crash = "- id: ___________________U\0____a\n  ad_identifiers: [x]\n- id: a\n  ad_identifiers: [x]\n"s;
  service_map services;
  const auto e = parse_static_services(crash, "/s.yaml", "static", services);
  REQUIRE(e.size() == 1);
  CHECK(e[0].file == "/s.yaml");
  CHECK_THAT(e[0].message, Catch::Contains("NUL byte at line 1"));
  CHECK(services.empty());

  config_errors errors;
  CHECK_FALSE(parse_template_text("ad_identifiers: [redis]\ninstances:\n  - host: a\0b\n"s, "/t/x.d/a.yaml", "x", errors));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].message, Catch::Contains("NUL byte at line 3"));

  daemon_config config;
  const auto config_errors_found = parse_daemon_config("output: {dir: /o\0x}\n"s, "/c.yaml", "/", config);
  REQUIRE(config_errors_found.size() == 1);
  CHECK_THAT(config_errors_found[0].message, Catch::Contains("NUL byte at line 1"));
}

// fuzz_template_file / fuzz_static_services found it: bytes that are not UTF-8 went into the
// `services` JSON and the configs report, whose dump() then threw.
TEST_CASE("hostile input: template and services files that are not UTF-8 are refused with the line",
          "[security][fuzz]") {
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [redis]\ninstances:\n  - host: \"caf\xe9\"\n", "/t/x.d/a.yaml", "x", errors);
  CHECK_FALSE(t);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].file == "/t/x.d/a.yaml");
  CHECK_THAT(errors[0].message, Catch::Contains("not valid UTF-8 at line 3"));

  service_map services;
  const auto e = parse_static_services("- id: \"docker://\x91x\"\n  ad_identifiers: [redis]\n", "/s.yaml", "static", services);
  REQUIRE(e.size() == 1);
  CHECK_THAT(e[0].message, Catch::Contains("not valid UTF-8 at line 1"));
  CHECK(services.empty());

  // Valid UTF-8 (multi-byte) is fine and reaches the JSON output intact.
  errors.clear();
  const auto ok = parse_static_services("- id: \"docker://caf\xc3\xa9-\xf0\x9f\x90\xb3\"\n  ad_identifiers: [redis]\n",
                                        "/s.yaml", "static", services);
  CHECK(ok.empty());
  REQUIRE(services.size() == 1);
  CHECK_NOTHROW(service_to_json(*services.begin()->second).dump());
}

TEST_CASE("hostile input: invalid_utf8_at", "[security][utf8]") {
  CHECK_FALSE(invalid_utf8_at(""));
  CHECK_FALSE(invalid_utf8_at("plain ascii\n"));
  CHECK_FALSE(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3 \xf4\x8f\xbf\xbf"));
  CHECK(invalid_utf8_at("ab\xff") == 2u);
  CHECK(invalid_utf8_at("\xc0\xae") == 0u);              // overlong '.'
  CHECK(invalid_utf8_at("x\xe0\x80\xaf") == 1u);         // overlong
  CHECK(invalid_utf8_at("\xed\xa0\x80") == 0u);          // surrogate
  CHECK(invalid_utf8_at("\xf4\x90\x80\x80") == 0u);      // above U+10FFFF
  CHECK(invalid_utf8_at("ok\xe2\x82") == 2u);            // truncated
  CHECK(invalid_utf8_at("\xc3\xa9\x80") == 2u);          // stray continuation byte
  CHECK(invalid_utf8_at(std::string("a\0b", 3)) == std::nullopt);  // NUL is UTF-8
}

TEST_CASE("hostile input: deeply nested label JSON is refused quickly, no stack exhaustion", "[security][bounded]") {
  for (std::size_t depth : {65u, 10'000u, 1'000'000u}) {
    INFO("depth " << depth);
    const std::string deep = std::string(depth, '[') + std::string(depth, ']');
    const std::map<std::string, std::string> labels = {{"com.datadoghq.ad.check_names", "[\"redisdb\"]"},
                                                       {"com.datadoghq.ad.init_configs", "[{}]"},
                                                       {"com.datadoghq.ad.instances", "[{\"x\": " + deep + "}]"}};
    const auto start = std::chrono::steady_clock::now();
    auto svc = redis();
    svc.label_templates = parse_ad_templates(labels, "com.datadoghq.ad.", "container x");
    CHECK(svc.label_templates.templates.empty());
    CHECK(any_contains(svc.label_templates.errors, "nested deeper than"));
    const auto res = resolve_service(svc, template_index{}, no_env());
    CHECK(res.configs.empty());
    CHECK(std::chrono::steady_clock::now() - start < 10s);
  }
  // 64 levels (the limit) still work.
  const std::string ok = std::string(60, '[') + "1" + std::string(60, ']');
  const auto t = parse_ad_templates({{"com.datadoghq.ad.checks", "{\"c\": {\"instances\": [{\"x\": " + ok + "}]}}"}},
                                    "com.datadoghq.ad.", "container x");
  CHECK(t.errors.empty());
  CHECK(t.templates.size() == 1);
}

TEST_CASE("hostile input: deeply nested template files are refused, no stack exhaustion", "[security][bounded]") {
  for (std::size_t depth : {5'000u, 200'000u}) {
    INFO("depth " << depth);
    const std::string text = "ad_identifiers: [redis]\ninstances: " + std::string(depth, '[') + std::string(depth, ']') + "\n";
    config_errors errors;
    std::optional<check_template> t;
    REQUIRE_NOTHROW(t = parse_template_text(text, "/t/x.d/a.yaml", "x", errors));
    CHECK_FALSE(t);
    CHECK_FALSE(errors.empty());
  }
}

TEST_CASE("hostile input: huge labels are handled in bounded time", "[security][bounded]") {
  // 8 MiB of label value, 10,000 instances, 100,000 tags: parsed, resolved and rendered
  // without crashing, in well under a poll interval's worth of seconds.
  const auto start = std::chrono::steady_clock::now();
  json instances = json::array();
  for (int i = 0; i < 10'000; ++i) instances.push_back({{"host", "%%host%%"}, {"port", "%%port%%"}, {"i", i}});
  json big = json::array({std::string(8u << 20, 'x')});
  std::map<std::string, std::string> labels = {{"com.datadoghq.ad.check_names", "[\"a\", \"b\"]"},
                                               {"com.datadoghq.ad.init_configs", "[{}, {}]"},
                                               {"com.datadoghq.ad.instances", json::array({instances, big}).dump()}};
  auto svc = redis();
  for (int i = 0; i < 100'000; ++i) svc.tags.push_back("tag:" + std::to_string(i));
  svc.label_templates = parse_ad_templates(labels, "com.datadoghq.ad.", "container x");
  const auto res = resolve_service(svc, template_index{}, no_env());
  CHECK(res.configs.size() + res.rejected.size() >= 1);
  for (const auto& c : res.configs) CHECK(config_writer::valid_relative_path(c.relative_path));
  CHECK(std::chrono::steady_clock::now() - start < 60s);
}
