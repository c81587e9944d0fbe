#include <catch2/catch.hpp>

#include <chrono>

#include "config/yaml_json.hpp"

using namespace autodiscd;

namespace {

json from_yaml(const std::string& text) { return yaml_to_json(YAML::Load(text)); }

/// Emits `value` and reads it back with yaml-cpp, typing plain scalars as the Agent would.
json round_trip(const json& value) {
  const auto text = json_to_yaml(value);
  INFO("emitted: " << text);
  return from_yaml(text);
}

}  // namespace

TEST_CASE("yaml_to_json types plain scalars like the Agent's YAML 1.1 reader", "[yaml]") {
  auto j = from_yaml(R"(
int: 6379
neg: -5
plus: +7
hex: 0x1F
octal: 017
binary: 0b101
under: 1_000
float: 1.5
exp: 1e3
ver: 1.10
zip: 08
t: true
f: False
yes: yes
no: no
on: On
off: OFF
null1: null
null2: ~
null3:
quoted_int: "6379"
quoted_bool: 'yes'
explicit_str: !!str 42
text: hello world
ip: 10.0.0.1
)");
  CHECK(j["int"] == 6379);
  CHECK(j["neg"] == -5);
  CHECK(j["plus"] == 7);
  CHECK(j["hex"] == 31);
  CHECK(j["octal"] == 15);
  CHECK(j["binary"] == 5);
  CHECK(j["under"] == 1000);
  CHECK(j["float"] == 1.5);
  CHECK(j["exp"] == 1000.0);
  CHECK(j["ver"].is_number_float());
  CHECK(j["zip"] == 8.0);  // not octal: a float, as go-yaml reads it
  CHECK(j["t"] == true);
  CHECK(j["f"] == false);
  CHECK(j["yes"] == true);
  CHECK(j["no"] == false);
  CHECK(j["on"] == true);
  CHECK(j["off"] == false);
  CHECK(j["null1"].is_null());
  CHECK(j["null2"].is_null());
  CHECK(j["null3"].is_null());
  CHECK(j["quoted_int"] == "6379");
  CHECK(j["quoted_bool"] == "yes");
  CHECK(j["explicit_str"] == "42");
  CHECK(j["text"] == "hello world");
  CHECK(j["ip"] == "10.0.0.1");
}

TEST_CASE("yaml_to_json keeps structure and order", "[yaml]") {
  auto j = from_yaml("b: [1, {c: d}]\na: {}\nlist: []\n");
  CHECK(j.dump() == R"({"b":[1,{"c":"d"}],"a":{},"list":[]})");
  CHECK(from_yaml("9223372036854775807") == json(9223372036854775807LL));
  CHECK(from_yaml("99999999999999999999").is_number_float());  // too big for an int
}

TEST_CASE("json_to_yaml quotes every string a reader would type or parse as syntax", "[yaml]") {
  const std::vector<std::string> strings = {
      "", " ", "yes", "No", "on", "OFF", "y", "n", "true", "False", "null", "~", "NULL",
      "6379", "-1", "+1", "0x1F", "017", "1_000", "1.5", "1e3", ".inf", "-.inf", ".nan",
      "1:20", "2001-12-14", "a: b", "a:b", "- x", "[x]", "{x}", "x, y", "#x", "x #y", "&a", "*a", "!t",
      "|", ">", "'", "\"", "%x", "@x", "`x", "\n", "a\nb", "\t", "\\", "--- x", "...", "?", "? x",
      "x: |", "}: {", "\n- evil: 1", "a\xC2\x85" "b", "a\xE2\x80\xA8" "b", "a\xE2\x80\xA9" "b", "\x7f", "\r\n", "\xE2\x9C\x93", "a\x01" "b", "=", "<<",
      "plain", "with space", "172.17.0.2", "1.2.3", "1..2", "1.2.", ".1.2", "1.2.3e4", "http://host:80/path", "service:web", "/var/log/x.log", "_x", "a.b-c=d+e@f"};
  for (const auto& s : strings) {
    INFO("string: " << json(s).dump());
    json doc = {{"key", s}, {"list", {s}}, {s.empty() ? "empty" : s, 1}};
    auto back = round_trip(doc);
    CHECK(back == doc);
    auto node = YAML::Load(json_to_yaml(doc));
    CHECK(node.size() == 3);
  }
}

TEST_CASE("json_to_yaml writes plain scalars where safe and numbers as numbers", "[yaml]") {
  json doc = json::parse(R"({"host": "redis", "port": 6379, "ratio": 0.5, "on": true, "off": false,
                             "none": null, "url": "/metrics", "empty_map": {}, "empty_list": []})");
  const auto text = json_to_yaml(doc);
  CHECK(text == "host: redis\nport: 6379\nratio: 0.5\n\"on\": true\n\"off\": false\nnone: ~\n"
                "url: /metrics\nempty_map: {}\nempty_list: []\n");
  CHECK(round_trip(doc) == doc);
  // IPv4 addresses and versions stay plain; numbers-looking strings are quoted.
  CHECK(json_to_yaml(json::parse(R"({"ip": "172.17.0.2", "v": "1.2.3", "f": "1.5", "p": "6379"})")) ==
        "ip: 172.17.0.2\nv: 1.2.3\nf: \"1.5\"\np: \"6379\"\n");
}

TEST_CASE("json_to_yaml nests block maps and lists like yaml-cpp", "[yaml]") {
  json doc = json::parse(R"({"a": [{"b": 1, "c": [1, [2, 3], {}]}, []], "d": {"e": {"f": null}}, "g": [{"h": [{"i": 1}]}]})");
  CHECK(json_to_yaml(doc) ==
        "a:\n  - b: 1\n    c:\n      - 1\n      - - 2\n        - 3\n      - {}\n  - []\n"
        "d:\n  e:\n    f: ~\n"
        "g:\n  - h:\n      - i: 1\n");
  CHECK(round_trip(doc) == doc);
  CHECK(json_to_yaml(json("x")) == "x\n");
  CHECK(json_to_yaml(json::object()) == "{}\n");
}

TEST_CASE("json_to_yaml is fast enough for large configs", "[yaml][perf]") {
  json doc = json::array();
  for (int i = 0; i < 20000; ++i) {
    doc.push_back({{"host", "10.0.0." + std::to_string(i % 250)}, {"name", "service-" + std::to_string(i)},
                   {"tags", {"env:prod", "team:x"}}, {"port", i}});
  }
  const auto start = std::chrono::steady_clock::now();
  const auto text = json_to_yaml(doc);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(text.size() > 100000);
  // 100k scalars; the regex-based checks took seconds here. Generous bound for sanitizers.
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() < 20000);
}
