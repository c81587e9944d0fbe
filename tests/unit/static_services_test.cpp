#include <catch2/catch.hpp>

#include <algorithm>

#include "listeners/static/static_services.hpp"

using namespace autodiscd;

namespace {

bool has_error(const config_errors& errors, const std::string& key_part, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(), [&](const config_error& e) {
    return e.file == "/etc/services.yaml" && e.key_path.find(key_part) != std::string::npos &&
           e.to_string().find(text) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("static services: every field, plain port numbers, sorted ports", "[static]") {
  service_map out;
  auto errors = parse_static_services(R"(
- id: "docker://redis-1"
  ad_identifiers: [redis, "docker://redis-1"]
  hosts: {bridge: 172.17.0.2, backend: 10.0.0.2}
  ports:
    - {port: 9121, name: metrics}
    - 6379
  tags: ["env:prod"]
  pid: 1234
  hostname: redis-host
  ready: false
  extra: {namespace: prod, pod_name: redis-0}
)", "/etc/services.yaml", "static", out);
  INFO(to_string(errors));
  REQUIRE(errors.empty());
  REQUIRE(out.size() == 1);
  const auto& svc = *out.at("docker://redis-1");
  CHECK(svc.listener == "static");
  CHECK(svc.ad_identifiers == std::vector<std::string>{"redis", "docker://redis-1"});
  CHECK(svc.hosts == std::map<std::string, std::string>{{"backend", "10.0.0.2"}, {"bridge", "172.17.0.2"}});
  REQUIRE(svc.ports);
  CHECK(*svc.ports == std::vector<service_port>{{6379, ""}, {9121, "metrics"}});
  CHECK(svc.tags == std::vector<std::string>{"env:prod"});
  CHECK(svc.pid == 1234);
  CHECK(svc.hostname == std::optional<std::string>("redis-host"));
  CHECK_FALSE(svc.ready);
  CHECK(svc.extra == std::map<std::string, std::string>{{"namespace", "prod"}, {"pod_name", "redis-0"}});
}

TEST_CASE("static services: absent or null means not supported, empty means empty", "[static]") {
  service_map out;
  auto errors = parse_static_services(R"(
- id: a
  ad_identifiers: [x]
- id: b
  ad_identifiers: [x]
  hosts: {}
  ports: []
  hostname: ""
  pid: 0
- id: c
  ad_identifiers: [x]
  hosts: ~
  ports: null
  hostname: null
  pid: null
)", "/etc/services.yaml", "static", out);
  REQUIRE(errors.empty());
  const auto& a = *out.at("a");
  CHECK_FALSE(a.hosts);
  CHECK_FALSE(a.ports);
  CHECK_FALSE(a.pid);
  CHECK_FALSE(a.hostname);
  CHECK(a.ready);
  const auto& b = *out.at("b");
  REQUIRE(b.hosts);
  CHECK(b.hosts->empty());
  REQUIRE(b.ports);
  CHECK(b.ports->empty());
  CHECK(b.hostname == std::optional<std::string>(""));
  CHECK(b.pid == std::optional<std::int64_t>(0));
  const auto& c = *out.at("c");
  CHECK_FALSE(c.hosts);
  CHECK_FALSE(c.ports);
  CHECK_FALSE(c.hostname);
  CHECK_FALSE(c.pid);
}

TEST_CASE("static services: an empty file or an empty list means no services", "[static]") {
  for (const std::string text : {"", "\n", "# just a comment\n", "[]\n", "~\n"}) {
    service_map out{{"old", std::make_shared<const service>()}};
    auto errors = parse_static_services(text, "/etc/services.yaml", "static", out);
    INFO(json(text).dump());
    CHECK(errors.empty());
    CHECK(out.empty());
  }
}

TEST_CASE("static services: errors name file, line and key, every error at once", "[static]") {
  service_map out;
  auto errors = parse_static_services(R"(- id: ok
  ad_identifiers: [x]
- ad_identifiers: [y]
- id: noids
- id: badports
  ad_identifiers: [z]
  ports: [0, 70000, {port: http}, {port: 80, nmae: web}, [1]]
- id: ok
  ad_identifiers: [dup]
- id: badtypes
  ad_identifiers: [z]
  hosts: [a]
  pid: abc
  ready: maybe
  tags: {a: b}
  extra: [1]
  unknown_key: 1
)", "/etc/services.yaml", "static", out);
  INFO(to_string(errors));
  CHECK(out.empty());  // a bad file yields no services (the listener keeps the last good ones)
  CHECK(has_error(errors, "[1] (line 3)", "id: missing"));
  CHECK(has_error(errors, "[2] (line 4)", "ad_identifiers: missing"));
  CHECK(has_error(errors, "[3] (line 5).ports[0]", "1 to 65535"));
  CHECK(has_error(errors, "[3] (line 5).ports[1]", "1 to 65535"));
  CHECK(has_error(errors, "[3] (line 5).ports[2]", "1 to 65535"));
  CHECK(has_error(errors, "[3] (line 5).ports[3].nmae", "unknown key"));
  CHECK(has_error(errors, "[3] (line 5).ports[4]", "1 to 65535"));
  CHECK(has_error(errors, "[4] (line 8).id", "duplicate service id ok"));
  CHECK(has_error(errors, "[5] (line 10).hosts", "expected a map"));
  CHECK(has_error(errors, "[5] (line 10).pid", "integer"));
  CHECK(has_error(errors, "[5] (line 10).ready", "true or false"));
  CHECK(has_error(errors, "[5] (line 10).tags", "list of strings"));
  CHECK(has_error(errors, "[5] (line 10).extra", "map of strings"));
  CHECK(has_error(errors, "[5] (line 10).unknown_key", "unknown key"));
}

TEST_CASE("static services: invalid YAML and non-list documents", "[static]") {
  service_map out;
  auto errors = parse_static_services("- id: a\n  ad_identifiers: [x\n", "/etc/services.yaml", "static", out);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].to_string(), Catch::StartsWith("/etc/services.yaml: invalid YAML at line"));
  errors = parse_static_services("id: a\n", "/etc/services.yaml", "static", out);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].message, Catch::Contains("expected a list"));
  errors = parse_static_services("- just a string\n", "/etc/services.yaml", "static", out);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key_path == "[0] (line 1)");
  CHECK_THAT(errors[0].message, Catch::Contains("expected a map"));
}

TEST_CASE("static services: a list read entry by entry gives what the whole file gives", "[static]") {
  // Entries at column 0 are read one at a time; an anchor ties entries together, so that file
  // is read whole. Both must give the same services.
  const std::string by_entry = "# services\n- id: a\n  ad_identifiers: [x]\n  extra: {k: v}\n\n# next\n"
                               "- id: b\n  ad_identifiers: [y]\n  ports: [80, {port: 81, name: m}]\n-\n  id: c\n  ad_identifiers: [z]\n";
  const std::string whole = "# services\n- id: a\n  ad_identifiers: [x]\n  extra: {k: &v v}\n\n# next\n"
                            "- id: b\n  ad_identifiers: [y]\n  ports: [80, {port: 81, name: m}]\n-\n  id: c\n  ad_identifiers: [z]\n";
  service_map one;
  service_map other;
  REQUIRE(parse_static_services(by_entry, "/etc/services.yaml", "static", one).empty());
  REQUIRE(parse_static_services(whole, "/etc/services.yaml", "static", other).empty());
  REQUIRE(one.size() == 3);
  REQUIRE(other.size() == 3);
  for (const auto& [id, svc] : one) CHECK(*svc == *other.at(id));
  CHECK(*one.at("b")->ports == std::vector<service_port>{{80, ""}, {81, "m"}});

  // Lines in errors count from the top of the file, whichever way it was read.
  const std::string dup = "- id: a\n  ad_identifiers: [x]\n\n# again\n- id: a\n  ad_identifiers: [x]\n";
  for (const auto& text : {dup, dup + "- id: &n n\n  ad_identifiers: [x]\n"}) {
    service_map out;
    const auto errors = parse_static_services(text, "/etc/services.yaml", "static", out);
    INFO(to_string(errors));
    CHECK(has_error(errors, "[1] (line 5).id", "duplicate service id a"));
    CHECK(out.empty());
  }
  // An entry that does not stand alone (a flow list going on at column 0) makes the file read
  // whole: the same result as a file read whole for its "&" (in a comment, lines unchanged).
  const std::string continued = "- id: a\n  ad_identifiers: [x,\n- y]\n";
  service_map split_out;
  service_map whole_out;
  const auto split_errors = parse_static_services(continued, "/etc/services.yaml", "static", split_out);
  const auto whole_errors = parse_static_services(continued + "# &\n", "/etc/services.yaml", "static", whole_out);
  CHECK(to_string(split_errors) == to_string(whole_errors));
  REQUIRE(split_out.size() == whole_out.size());
  for (const auto& [id, svc] : split_out) CHECK(*svc == *whole_out.at(id));
}

TEST_CASE("static services: nested values in hosts and extra are errors, not empty strings", "[static]") {
  service_map out;
  auto errors = parse_static_services("- id: a\n  ad_identifiers: [x]\n  hosts: {bridge: [1]}\n  extra: {k: {a: b}}\n",
                                      "/etc/services.yaml", "static", out);
  INFO(to_string(errors));
  CHECK(has_error(errors, "hosts.bridge", "expected"));
  CHECK(has_error(errors, "extra.k", "expected"));
}
