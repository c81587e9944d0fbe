#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "config/template_loader.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using autodiscd::test::temp_dir;
using autodiscd::test::write_file;
namespace fs = std::filesystem;

namespace {

const check_template* find_source(const template_set& set, const std::string& suffix) {
  for (const auto& t : set.templates) {
    if (t.source.ends_with(suffix)) return &t;
  }
  return nullptr;
}

std::vector<std::string> names(const template_set& set) {
  std::vector<std::string> out;
  for (const auto& t : set.templates) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("template folders: <check>.d/*.yaml|yml and <check>.yaml", "[templates]") {
  temp_dir dir("autodiscd-tpl");
  const auto& d = dir.path();
  fs::create_directories(d / "redisdb.d");
  fs::create_directories(d / "nginx.d");
  write_file(d / "redisdb.d/auto_conf.yaml", "ad_identifiers: [redis]\ninstances: [{port: 1}]\n");
  write_file(d / "redisdb.d/second.yml", "ad_identifiers: [redis2]\ninstances: [{port: 2}]\n");
  write_file(d / "redisdb.d/notes.txt", "ad_identifiers: [x]\ninstances: [{}]\n");     // ignored
  write_file(d / "redisdb.d/.hidden.yaml", "ad_identifiers: [x]\ninstances: [{}]\n");  // ignored
  write_file(d / "nginx.d/conf.yaml", "instances: [{nginx_status_url: x}]\n");  // a plain config: ignored
  write_file(d / "postgres.yaml", "ad_identifiers: [postgres]\ninstances: [{port: 5432}]\n");
  write_file(d / "mysql.yml", "ad_identifiers: [mysql]\ninstances: [{port: 3306}]\n");
  auto set = load_templates({d.string()});
  INFO(to_string(set.errors));
  CHECK(set.errors.empty());
  CHECK(names(set) == std::vector<std::string>{"mysql", "postgres", "redisdb", "redisdb"});
  const auto* redis = find_source(set, "redisdb.d/auto_conf.yaml");
  REQUIRE(redis);
  CHECK(redis->ad_identifiers == std::vector<std::string>{"redis"});
  CHECK(redis->instances == json::parse(R"([{"port": 1}])"));
  CHECK(redis->kind == template_kind::datadog);
  REQUIRE(find_source(set, "redisdb.d/second.yml"));
  CHECK(std::find(set.watched_dirs.begin(), set.watched_dirs.end(), (d / "redisdb.d").string()) !=
        set.watched_dirs.end());
}

TEST_CASE("*.yaml.default is used only when the check has no other file", "[templates]") {
  temp_dir dir("autodiscd-tpl");
  const auto& d = dir.path();
  fs::create_directories(d / "redisdb.d");
  fs::create_directories(d / "nginx.d");
  write_file(d / "redisdb.d/auto_conf.yaml.default", "ad_identifiers: [redis]\ninstances: [{from: default}]\n");
  write_file(d / "redisdb.d/conf.yaml", "ad_identifiers: [redis]\ninstances: [{from: user}]\n");
  write_file(d / "nginx.d/auto_conf.yaml.default", "ad_identifiers: [nginx]\ninstances: [{from: default}]\n");
  write_file(d / "kafka.yaml.default", "ad_identifiers: [kafka]\ninstances: [{from: default}]\n");
  auto set = load_templates({d.string()});
  CHECK(set.errors.empty());
  REQUIRE(set.templates.size() == 3);
  CHECK(find_source(set, "redisdb.d/conf.yaml"));
  CHECK_FALSE(find_source(set, "redisdb.d/auto_conf.yaml.default"));
  REQUIRE(find_source(set, "nginx.d/auto_conf.yaml.default"));
  CHECK(find_source(set, "nginx.d/auto_conf.yaml.default")->name == "nginx");
  REQUIRE(find_source(set, "kafka.yaml.default"));
  CHECK(find_source(set, "kafka.yaml.default")->name == "kafka");
}

TEST_CASE("a plain conf.yaml (no ad_identifiers) still hides the check's .default", "[templates]") {
  // Datadog: a check's default template is skipped when the check has another config file.
  temp_dir dir("autodiscd-tpl");
  fs::create_directories(dir.path() / "redisdb.d");
  write_file(dir.path() / "redisdb.d/conf.yaml", "instances: [{host: localhost}]\n");
  write_file(dir.path() / "redisdb.d/auto_conf.yaml.default", "ad_identifiers: [redis]\ninstances: [{}]\n");
  auto set = load_templates({dir.str()});
  CHECK(set.errors.empty());
  // The plain config is not a template; whether the default applies follows the file rule:
  // any other file of the check takes precedence.
  CHECK(set.templates.empty());
}

TEST_CASE("a bad file is reported with file and key, the others still load", "[templates]") {
  temp_dir dir("autodiscd-tpl");
  const auto& d = dir.path();
  fs::create_directories(d / "redisdb.d");
  write_file(d / "redisdb.d/good.yaml", "ad_identifiers: [redis]\ninstances: [{port: 1}]\n");
  write_file(d / "redisdb.d/broken.yaml", "ad_identifiers: [redis\ninstances: {\n");
  write_file(d / "badkeys.yaml", "ad_identifiers: [x, 5, '']\ninstances: {a: 1}\ninit_config: [1]\n");
  write_file(d / "badtags.yaml", "ad_identifiers: [x]\nignore_autodiscovery_tags: maybe\ninstances: [1]\n");
  write_file(d / "nothing.yaml", "ad_identifiers: [x]\n");
  auto set = load_templates({d.string(), (d / "missing-folder").string()});
  REQUIRE(set.templates.size() == 1);
  CHECK(set.templates[0].source == (d / "redisdb.d/good.yaml").string());
  auto has = [&](const std::string& file, const std::string& key, const std::string& text) {
    return std::any_of(set.errors.begin(), set.errors.end(), [&](const config_error& e) {
      return e.file == (d / file).string() && e.key_path == key && e.message.find(text) != std::string::npos;
    });
  };
  INFO(to_string(set.errors));
  CHECK(has("redisdb.d/broken.yaml", "", "invalid YAML at line"));
  CHECK(has("badkeys.yaml", "ad_identifiers[2]", "non-empty string"));
  CHECK(has("badkeys.yaml", "instances", "expected a list"));
  CHECK(has("badkeys.yaml", "init_config", "expected a map"));
  CHECK(has("badtags.yaml", "ignore_autodiscovery_tags", "true or false"));
  CHECK(has("badtags.yaml", "instances[0]", "expected a map"));
  CHECK(has("nothing.yaml", "instances", "missing"));
  CHECK(has("missing-folder", "", "cannot read template folder"));
}

TEST_CASE("file_sd templates", "[templates][file_sd]") {
  config_errors errors;
  auto t = parse_template_text(
      "ad_identifiers: [redis]\nfile_sd:\n  targets: ['%%host%%:%%port%%']\n  labels: {job: redis}\n",
      "/t/prom.d/f.yaml", "prom", errors);
  REQUIRE(t);
  CHECK(t->kind == template_kind::file_sd);
  CHECK(t->file_sd["targets"] == json::parse(R"(["%%host%%:%%port%%"])"));

  errors.clear();
  CHECK_FALSE(parse_template_text("ad_identifiers: [r]\nfile_sd:\n  targets: []\n  extra: 1\n", "f", "p", errors));
  auto has_key = [&](const std::string& key) {
    return std::any_of(errors.begin(), errors.end(), [&](const config_error& e) { return e.key_path == key; });
  };
  CHECK(has_key("file_sd.targets"));
  CHECK(has_key("file_sd.extra"));

  errors.clear();
  CHECK_FALSE(parse_template_text("ad_identifiers: [r]\nfile_sd: {targets: [a]}\ninstances: [{}]\n", "f", "p", errors));
  CHECK(has_key("instances"));
}

TEST_CASE("templates keep quoted scalars as strings and type plain ones", "[templates]") {
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [r]\ninstances:\n  - port: 6379\n    ssl: no\n    pw: '123'\n",
                               "f", "r", errors);
  REQUIRE(t);
  CHECK(t->instances[0]["port"] == 6379);
  CHECK(t->instances[0]["ssl"] == false);
  CHECK(t->instances[0]["pw"] == "123");
}

TEST_CASE("the real templates in tests/fixtures/auto_conf", "[templates][fixtures]") {
  auto set = load_templates({autodiscd::test::fixture("auto_conf")});
  INFO(to_string(set.errors));
  CHECK(set.errors.empty());
  // agent_test_envvars_conf.yaml has no ad_identifiers: a plain config, not a template.
  CHECK(names(set) == std::vector<std::string>{"coredns", "redisdb"});
  const auto* redis = find_source(set, "redisdb.d/auto_conf.yaml");
  REQUIRE(redis);
  CHECK(redis->ad_identifiers == std::vector<std::string>{"redis"});
  CHECK(redis->init_config.is_null());
  CHECK(redis->instances == json::parse(R"([{"host": "%%host%%", "port": 6379}])"));
  const auto* dns = find_source(set, "coredns.d/auto_conf.yaml");
  REQUIRE(dns);
  CHECK(dns->instances[0]["prometheus_url"] == "http://%%host%%:9153/metrics");
  CHECK(dns->instances[0]["tags"] == json::parse(R"(["dns-pod:%%host%%"])"));
}

TEST_CASE("a missing template folder is an error and is awaited in its nearest existing ancestor", "[templates]") {
  temp_dir dir("autodiscd-tpl-missing");
  const auto root = dir.path().string();
  fs::create_directories(root + "/a");
  auto set = load_templates({root + "/a/b/c", root + "/a"});
  REQUIRE(set.errors.size() == 1);
  CHECK(set.errors[0].file == root + "/a/b/c");
  CHECK(set.errors[0].to_string().find("cannot read template folder") != std::string::npos);
  REQUIRE(set.awaited.size() == 1);
  CHECK(set.awaited[0] == std::make_pair(root + "/a", std::string("b")));
  CHECK(set.watched_dirs == std::vector<std::string>{root + "/a"});

  CHECK(nearest_existing_ancestor(root + "/x/") == std::make_pair(root, std::string("x")));
  CHECK(nearest_existing_ancestor("no-such-folder-here/templates") == std::make_pair(std::string("."), std::string("no-such-folder-here")));
  // A folder that exists but cannot be listed (a file in the way) is not awaited.
  write_file(root + "/file", "x");
  CHECK(load_templates({root + "/file"}).awaited.empty());
}
