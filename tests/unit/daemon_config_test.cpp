#include <catch2/catch.hpp>

#include <algorithm>

#include "config/daemon_config.hpp"
#include "config/yaml_reader.hpp"

using namespace autodiscd;

namespace {

bool has_error(const config_errors& errors, const std::string& key, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(), [&](const config_error& e) {
    return e.file == "/etc/autodiscd.yaml" && e.key_path == key && e.message.find(text) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("daemon config: a valid file, relative paths against the config folder", "[config]") {
  daemon_config c;
  auto errors = parse_daemon_config(R"(
listeners:
  - type: static
    path: services.yaml
  - {type: static, name: second, path: /abs/other.yaml}
templates: {dirs: [templates, /etc/templates]}
output:
  dir: ../out
  remove_on_exit: true
  on_change: {command: [systemctl, reload, x], debounce: 500ms, timeout: 2s}
status: {listen: off}
log: {level: debug, format: json}
)", "/etc/autodiscd.yaml", "/etc/autodiscd", c);
  INFO(to_string(errors));
  REQUIRE(errors.empty());
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].type == "static");
  CHECK(c.listeners[0].name == "static");
  CHECK(c.listeners[0].node["path"].Scalar() == "/etc/autodiscd/services.yaml");
  CHECK(c.listeners[1].name == "second");
  CHECK(c.listeners[1].node["path"].Scalar() == "/abs/other.yaml");
  CHECK(c.template_dirs == std::vector<std::string>{"/etc/autodiscd/templates", "/etc/templates"});
  CHECK(c.output_dir == "/etc/out");
  CHECK(c.remove_output_on_exit);
  CHECK(c.on_change.command == std::vector<std::string>{"systemctl", "reload", "x"});
  CHECK(c.on_change.debounce == std::chrono::milliseconds(500));
  CHECK(c.on_change.timeout == std::chrono::milliseconds(2000));
  CHECK(c.status_listen == "off");
  CHECK(c.log_level == "debug");
  CHECK(c.log_format == "json");
  CHECK(c.startup_grace == std::chrono::milliseconds(10'000));  // the default
}

TEST_CASE("daemon config: startup_grace", "[config]") {
  const std::string base = "listeners: [{type: static, path: s.yaml}]\noutput: {dir: out}\n";
  daemon_config c;
  REQUIRE(parse_daemon_config(base + "startup_grace: 1500ms\n", "/etc/a.yaml", "/etc", c).empty());
  CHECK(c.startup_grace == std::chrono::milliseconds(1500));
  REQUIRE(parse_daemon_config(base + "startup_grace: 0s\n", "/etc/a.yaml", "/etc", c).empty());
  CHECK(c.startup_grace == std::chrono::milliseconds(0));
  auto errors = parse_daemon_config(base + "startup_grace: soon\n", "/etc/a.yaml", "/etc", c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key_path == "startup_grace");
}

TEST_CASE("daemon config: docker optional needs a unix socket host", "[config]") {
  const std::string tail = "output: {dir: out}\n";
  daemon_config c;
  INFO(to_string(parse_daemon_config("listeners: [{type: docker, optional: true}]\n" + tail, "/etc/a.yaml", "/etc", c)));
  CHECK(parse_daemon_config("listeners: [{type: docker, optional: true}]\n" + tail, "/etc/a.yaml", "/etc", c).empty());
  auto errors = parse_daemon_config("listeners: [{type: docker, optional: true, host: 'tcp://10.0.0.1:2375'}]\n" + tail,
                                    "/etc/a.yaml", "/etc", c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key_path == "listeners[0].optional");
  errors = parse_daemon_config("listeners: [{type: docker, optional: maybe}]\n" + tail, "/etc/a.yaml", "/etc", c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key_path == "listeners[0].optional");
}

TEST_CASE("daemon config: every error at once, with key paths", "[config]") {
  daemon_config c;
  auto errors = parse_daemon_config(R"(
listeners:
  - type: nosuch
  - {type: static}
  - {type: static, path: a.yaml, pathh: typo}
  - just-a-string
templates: {dirs: notalist, extra: 1}
output:
  on_change: {command: [], debounce: soon, timeout: 5 s}
log: {level: loud, format: xml}
unknown_top: 1
)", "/etc/autodiscd.yaml", "/etc", c);
  INFO(to_string(errors));
  CHECK(has_error(errors, "listeners[0].type", "expected one of"));
  CHECK(has_error(errors, "listeners[1].path", "missing"));
  CHECK(has_error(errors, "listeners[2].name", "duplicate listener name 'static'"));
  CHECK(has_error(errors, "listeners[2].pathh", "unknown key"));
  CHECK(has_error(errors, "listeners[3]", "expected a map"));
  CHECK(has_error(errors, "templates.dirs", "list of strings"));
  CHECK(has_error(errors, "templates.extra", "unknown key"));
  CHECK(has_error(errors, "output.dir", "missing"));
  CHECK(has_error(errors, "output.on_change.command", "non-empty list"));
  CHECK(has_error(errors, "output.on_change.debounce", "duration"));
  CHECK(has_error(errors, "output.on_change.timeout", "duration"));
  CHECK(has_error(errors, "log.level", "expected"));
  CHECK(has_error(errors, "log.format", "text or json"));
  CHECK(has_error(errors, "unknown_top", "unknown key"));
  CHECK(errors.size() >= 14);
}

TEST_CASE("daemon config: a duration too long or not finite is an error with its key, not a crash", "[config]") {
  daemon_config c;
  auto errors = parse_daemon_config(R"(
listeners:
  - {type: docker, timeout: 1.01111e+58h, removal_grace: nans, backoff_max: 8761h}
output: {dir: out}
)", "/etc/autodiscd.yaml", "/etc", c);
  INFO(to_string(errors));
  CHECK(has_error(errors, "listeners[0].timeout", "at most 8760h"));
  CHECK(has_error(errors, "listeners[0].removal_grace", "at most 8760h"));
  CHECK(has_error(errors, "listeners[0].backoff_max", "at most 8760h"));
  CHECK(errors.size() == 3);
}

TEST_CASE("daemon config: missing listeners, bad YAML, wrong document type", "[config]") {
  daemon_config c;
  auto errors = parse_daemon_config("output: {dir: /x}\n", "/etc/autodiscd.yaml", "/etc", c);
  CHECK(has_error(errors, "listeners", "non-empty list"));
  errors = parse_daemon_config("listeners: []\noutput: {dir: /x}\n", "/etc/autodiscd.yaml", "/etc", c);
  CHECK(has_error(errors, "listeners", "non-empty list"));
  errors = parse_daemon_config("listeners: [\n", "/etc/autodiscd.yaml", "/etc", c);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].message, Catch::Contains("invalid YAML at line"));
  errors = parse_daemon_config("- a\n- b\n", "/etc/autodiscd.yaml", "/etc", c);
  CHECK(has_error(errors, "", "expected a map"));
  errors = parse_daemon_config("", "/etc/autodiscd.yaml", "/etc", c);
  CHECK(has_error(errors, "listeners", "non-empty list"));
  CHECK(has_error(errors, "output.dir", "missing"));
}

TEST_CASE("error text names file, key path and reason", "[config]") {
  config_error e{"/etc/a.yaml", "listeners[0].path", "missing"};
  CHECK(e.to_string() == "/etc/a.yaml: listeners[0].path: missing");
  CHECK(to_string(config_errors{e, {"/f", "", "bad"}}) == "/etc/a.yaml: listeners[0].path: missing\n/f: bad");
}

TEST_CASE("durations", "[config]") {
  using std::chrono::milliseconds;
  CHECK(parse_duration("5s") == milliseconds(5000));
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("2m") == milliseconds(120000));
  CHECK(parse_duration("1h") == milliseconds(3600000));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("1500us") == milliseconds(1));
  CHECK(parse_duration("0") == milliseconds(0));
  CHECK(parse_duration("8760h") == max_duration);
  // Beyond long long's range, not finite, or over a year: refused, never cast (the CI fuzz
  // run found 1e58 hours reaching an undefined double -> long long conversion).
  for (const char* bad : {"", "5", "s", "5 s", "-1s", "5sec", "5S", "abc", "5s5", "8760.5h",
                          "1.01111e+58h", "1e300ms", "nans", "nanms", "infs", "-nans", "1e19us"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}
