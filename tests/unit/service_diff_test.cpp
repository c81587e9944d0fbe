#include <catch2/catch.hpp>

#include "listeners/service_diff.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;

namespace {

service make(const std::string& id, const std::string& tag = "") {
  service s;
  s.id = id;
  s.listener = "static";
  s.ad_identifiers = {"x"};
  if (!tag.empty()) s.tags = {tag};
  return s;
}

service_map map_of(std::initializer_list<service> list) {
  service_map m;
  for (const auto& s : list) m.emplace(s.id, std::make_shared<const service>(s));
  return m;
}

}  // namespace

TEST_CASE("diff_services reports only differences", "[diff]") {
  auto before = map_of({make("a"), make("b"), make("c", "v1")});
  auto after = map_of({make("b"), make("c", "v2"), make("d")});
  auto delta = diff_services(before, after);
  REQUIRE(delta.added.size() == 1);
  CHECK(delta.added[0]->id == "d");
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0]->id == "c");
  CHECK(delta.changed[0]->tags == std::vector<std::string>{"v2"});
  CHECK(delta.removed == std::vector<std::string>{"a"});
  CHECK(diff_services(after, after).empty());
  CHECK(diff_services({}, {}).empty());
  CHECK(diff_services({}, after).added.size() == 3);
  CHECK(diff_services(after, {}).removed.size() == 3);
}

TEST_CASE("diff_services_sharing: an unchanged service keeps the snapshot already reported", "[diff]") {
  const auto before = map_of({make("a"), make("b"), make("c", "v1")});
  auto after = map_of({make("a"), make("b"), make("c", "v2"), make("d")});  // mapped afresh: equal copies
  const auto fresh_c = after.at("c");
  const auto fresh_d = after.at("d");
  const auto delta = diff_services_sharing(before, after);
  CHECK(delta.removed.empty());
  REQUIRE(delta.added.size() == 1);
  CHECK(delta.added[0] == fresh_d);  // the same snapshot, not a copy
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0] == fresh_c);
  CHECK(after.at("a") == before.at("a"));
  CHECK(after.at("b") == before.at("b"));
  CHECK(after.at("c") == fresh_c);
  CHECK(after.at("d") == fresh_d);
  // Without sharing the maps are left as they are, and the delta is the same.
  auto again = map_of({make("a"), make("b"), make("c", "v2"), make("d")});
  const auto fresh_a = again.at("a");
  CHECK(diff_services(before, again).changed.size() == 1);
  CHECK(again.at("a") == fresh_a);
}

TEST_CASE("every field counts as a change, including not supported vs empty", "[diff]") {
  const auto base = make("a");
  std::vector<service> variants(9, base);
  variants[0].ad_identifiers = {"y"};
  variants[1].hosts = std::map<std::string, std::string>{};
  variants[2].ports = std::vector<service_port>{};
  variants[3].tags = {"t"};
  variants[4].pid = 1;
  variants[5].hostname = "";
  variants[6].ready = false;
  variants[7].extra = {{"k", "v"}};
  variants[8].label_templates.disable_file_templates = true;
  const auto ptr = [](const service& s) { return std::make_shared<const service>(s); };
  for (std::size_t i = 0; i < variants.size(); ++i) {
    INFO("variant " << i);
    auto delta = diff_one(ptr(base), ptr(variants[i]));
    CHECK(delta.changed.size() == 1);
    CHECK(diff_services(map_of({base}), map_of({variants[i]})).changed.size() == 1);
  }
  CHECK(diff_one(ptr(base), ptr(base)).empty());
  CHECK(diff_one(nullptr, ptr(base)).added.size() == 1);
  CHECK(diff_one(ptr(base), nullptr).removed == std::vector<std::string>{"a"});
  CHECK(diff_one(nullptr, nullptr).empty());
}

TEST_CASE("normalize_ports sorts ascending and drops duplicates", "[diff]") {
  std::vector<service_port> ports{{9121, "m"}, {80, ""}, {6379, "r"}, {80, ""}, {80, "http"}};
  normalize_ports(ports);
  CHECK(ports == std::vector<service_port>{{80, ""}, {80, "http"}, {6379, "r"}, {9121, "m"}});
}

TEST_CASE("the services JSON contract", "[diff][json]") {
  auto s = make("docker://a");
  auto j = service_to_json(s);
  CHECK(j == json::parse(R"({"id": "docker://a", "listener": "static", "ad_identifiers": ["x"], "hosts": null,
                            "ports": null, "tags": [], "pid": null, "hostname": null, "ready": true,
                            "extra": {}})"));
  s.hosts = std::map<std::string, std::string>{{"bridge", "1.2.3.4"}};
  s.ports = std::vector<service_port>{{80, "http"}};
  s.pid = 7;
  s.hostname = "h";
  s.extra = {{"k", "v"}};
  j = service_to_json(s);
  CHECK(j["hosts"] == json::parse(R"({"bridge": "1.2.3.4"})"));
  CHECK(j["ports"] == json::parse(R"([{"port": 80, "name": "http"}])"));
  CHECK(j["pid"] == 7);
  CHECK(j["hostname"] == "h");
  CHECK(j["extra"] == json::parse(R"({"k": "v"})"));
  s.hosts = std::map<std::string, std::string>{};
  s.ports = std::vector<service_port>{};
  j = service_to_json(s);
  CHECK(j["hosts"] == json::object());
  CHECK(j["ports"] == json::array());
}
