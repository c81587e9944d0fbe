// The process listener's config: keys, defaults, rules, and every error with its key path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <sys/wait.h>

#include "config/daemon_config.hpp"
#include "listeners/process/process_config.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace autodiscd::process;

namespace {

const char* file = "/etc/autodiscd.yaml";

/// The settings of the first listener of a config document, and every error of the document
/// (parse_daemon_config validates each listener through the registry: `type: process` is known).
process_settings read(const std::string& listener_yaml, config_errors& errors) {
  const auto text = "listeners:\n" + listener_yaml + "templates: {dirs: [t]}\noutput: {dir: out}\n";
  daemon_config c;
  errors = parse_daemon_config(text, file, "/etc", c);
  if (c.listeners.empty()) return {};
  config_errors again;
  auto settings = read_process_settings(c.listeners[0], again);
  CHECK(again.size() == errors.size());
  return settings;
}

bool has_error(const config_errors& errors, const std::string& key, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(), [&](const config_error& e) {
    return e.file == file && e.key_path == key && e.message.find(text) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("process config: the issue's example", "[process][config]") {
  config_errors errors;
  const auto s = read(R"(  - type: process
    interval: 1s
    min_age: 0s
    removal_grace: 0s
    udp: false
    include_containers: false
    rules:
      - match: {name: '^java$', cmdline: 'org\.elasticsearch'}
        ad_identifiers: [elasticsearch]
      - match: {cmdline: 'http\.server'}
        ad_identifiers: [webapp]
)", errors);
  INFO(to_string(errors));
  REQUIRE(errors.empty());
  CHECK(s.name == "process");
  CHECK(s.interval == std::chrono::seconds(1));
  REQUIRE(s.rules.size() == 2);
  CHECK(s.rules[0].name);
  CHECK(s.rules[0].cmdline);
  CHECK_FALSE(s.rules[0].exe);
  CHECK_FALSE(s.rules[0].port);
  CHECK(s.rules[0].ad_identifiers == std::vector<std::string>{"elasticsearch"});
  process_facts es;
  es.name = "java";
  es.cmdline = "java -cp x org.elasticsearch.bootstrap.Elasticsearch";
  CHECK(rule_matches(s.rules[0], es, {}));
  es.cmdline = "java -cp x orgXelasticsearch";
  CHECK_FALSE(rule_matches(s.rules[0], es, {}));
}

TEST_CASE("process config: defaults and values", "[process][config]") {
  config_errors errors;
  auto s = read("  - {type: process}\n", errors);
  REQUIRE(errors.empty());
  CHECK(s.interval == std::chrono::seconds(1));
  CHECK(s.min_age.count() == 0);
  CHECK(s.removal_grace.count() == 0);
  CHECK_FALSE(s.udp);
  CHECK_FALSE(s.include_containers);
  CHECK(s.rules.empty());
  s = read("  - {type: process, name: host, interval: 250ms, min_age: 1m, removal_grace: 30s, udp: true, "
           "include_containers: true, rules: [{match: {port: '^80$', exe: '/nginx$'}, ad_identifiers: [web, edge]}]}\n",
           errors);
  INFO(to_string(errors));
  REQUIRE(errors.empty());
  CHECK(s.name == "host");
  CHECK(s.interval == std::chrono::milliseconds(250));
  CHECK(s.min_age == std::chrono::minutes(1));
  CHECK(s.removal_grace == std::chrono::seconds(30));
  CHECK(s.udp);
  CHECK(s.include_containers);
  REQUIRE(s.rules.size() == 1);
  CHECK(s.rules[0].port);
  CHECK(s.rules[0].exe);
  CHECK(s.rules[0].ad_identifiers == std::vector<std::string>{"web", "edge"});
}

TEST_CASE("process config: every error at once, each with its key path", "[process][config]") {
  config_errors errors;
  read(R"(  - type: process
    interval: 0s
    udp: maybe
    bogus: 1
    rules:
      - match: {comm: redis}
        ad_identifiers: [redis]
      - match: {cmdline: 'http\.server('}
        ad_identifiers: [webapp]
      - match: {name: '^x$'}
      - ad_identifiers: [y]
      - match: {}
        ad_identifiers: [z]
      - match: '^java$'
        ad_identifiers: [j]
      - just a string
      - match: {name: '^a$'}
        ad_identifiers: ['']
)", errors);
  INFO(to_string(errors));
  CHECK(has_error(errors, "listeners[0].interval", "greater than 0"));
  CHECK(has_error(errors, "listeners[0].udp", "true or false"));
  CHECK(has_error(errors, "listeners[0].bogus", "unknown key"));
  CHECK(has_error(errors, "listeners[0].rules[0].match.comm", "unknown key"));
  CHECK(has_error(errors, "listeners[0].rules[1].match.cmdline", "not a valid regular expression"));
  CHECK(has_error(errors, "listeners[0].rules[2].ad_identifiers", "missing"));
  CHECK(has_error(errors, "listeners[0].rules[3].match", "missing"));
  CHECK(has_error(errors, "listeners[0].rules[4].match", "at least one of"));
  CHECK(has_error(errors, "listeners[0].rules[5].match", "at least one of"));
  CHECK(has_error(errors, "listeners[0].rules[6]", "expected a map"));
  CHECK(has_error(errors, "listeners[0].rules[7].ad_identifiers", "cannot be empty"));
  CHECK(errors.size() == 11);

  read("  - {type: process, rules: {match: {name: x}}}\n", errors);
  CHECK(has_error(errors, "listeners[0].rules", "expected a list"));
}

TEST_CASE("process config: check-config of the real binary exits 78 naming the key paths", "[process][config][cli]") {
  test::temp_dir dir("autodiscd-process-config");
  const auto config = dir.str() + "/autodiscd.yaml";
  std::filesystem::create_directories(dir.path() / "templates");
  test::write_file(config, "listeners:\n  - type: process\n    rules:\n      - match: {cmdline: '(', comm: x}\n"
                           "        ad_identifiers: [a]\n      - match: {name: y}\n"
                           "templates: {dirs: [templates]}\noutput: {dir: out}\n");
  const auto err = dir.str() + "/err.txt";
  const auto command = "timeout 30 " + std::string(AUTODISCD_BINARY) + " check-config --config " + config + " >/dev/null 2>" + err;
  const int status = std::system(command.c_str());
  const auto text = test::read_file(err);
  INFO(text);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 78);
  CHECK_THAT(text, Catch::Contains("listeners[0].rules[0].match.cmdline: not a valid regular expression") &&
                       Catch::Contains("listeners[0].rules[0].match.comm: unknown key") &&
                       Catch::Contains("listeners[0].rules[1].ad_identifiers: missing"));

  test::write_file(config, "listeners:\n  - type: process\n    rules:\n      - match: {cmdline: 'http\\.server'}\n"
                           "        ad_identifiers: [webapp]\n"
                           "templates: {dirs: [templates]}\noutput: {dir: out}\n");
  CHECK(std::system(("timeout 30 " + std::string(AUTODISCD_BINARY) + " check-config --config " + config +
                     " >/dev/null 2>&1").c_str()) == 0);
}
