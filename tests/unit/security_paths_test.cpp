// Security: nothing a label, an annotation, a check name, a service id or a template file
// name says can put a file outside the output folder; a symlink planted in the output folder
// is never followed; very long names fail cleanly (or are written), never escape or crash.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "config/resolver.hpp"
#include "config/template_loader.hpp"
#include "config/writer.hpp"
#include "listeners/ad_templates.hpp"
#include "listeners/container_ids.hpp"
#include "support/support.hpp"

using namespace autodiscd;
namespace fs = std::filesystem;

namespace {

env_lookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

service service_with(const std::string& id, std::vector<std::string> identifiers) {
  service svc;
  svc.id = id;
  svc.listener = "docker";
  svc.ad_identifiers = std::move(identifiers);
  svc.hosts = std::map<std::string, std::string>{{"bridge", "172.17.0.2"}};
  svc.ports = std::vector<service_port>{{6379, "redis"}};
  return svc;
}

/// Every regular file and symlink under `root`, relative, sorted.
std::set<std::string> tree_of(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) out.insert(fs::relative(it->path(), root).string());
  }
  return out;
}

/// Writes `res` for `owner` into `<sandbox>/out` and checks that nothing appeared in the
/// sandbox outside `out`, and that every file under `out` is at depth 2 and a regular file.
void write_and_check_contained(const test::temp_dir& sandbox, const std::string& owner, const resolution& res) {
  const auto out = sandbox.path() / "out";
  const auto before = tree_of(sandbox.path());
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  const auto stats = w.apply(owner, res.configs);
  for (const auto& e : stats.errors) INFO(e);
  for (const auto& p : stats.changed_paths) {
    INFO(p);
    CHECK(p.starts_with(out.string() + "/"));
    CHECK(fs::weakly_canonical(p).string().starts_with(out.string() + "/"));
  }
  for (const auto& rel : tree_of(sandbox.path())) {
    if (before.contains(rel)) continue;
    INFO("new file " << rel);
    CHECK(rel.starts_with("out/"));
    CHECK(std::count(rel.begin(), rel.end(), '/') <= 2);
    CHECK(fs::is_regular_file(fs::symlink_status(sandbox.path() / rel)));
  }
}

const std::vector<std::string> hostile_names = {
    "../../etc/x", "..", ".", "", "/etc/passwd", "/", "a/../../b", ".hidden", "x\ny", "..\\..\\x",
    std::string("a\0b", 3), std::string("..\0/x", 5), "%2e%2e%2fetc", "~root", "$(touch /tmp/pwned)",
    "\xc0\xae\xc0\xae/x", "con", ".autodiscd-owned", "x.autodiscd.tmp", ".x.yaml.autodiscd.tmp",
};

}  // namespace

TEST_CASE("security: hostile check.id labels only become identifiers, never paths", "[security][traversal]") {
  for (const auto& name : hostile_names) {
    INFO("check.id: " << json(name).dump(-1, ' ', false, json::error_handler_t::replace));
    if (name.empty()) continue;  // an empty label is no check.id
    const auto ids = compute_container_service_ids("docker://abc", "redis:7",
                                                   {{"com.datadoghq.ad.check.id", name}});
    // The check.id label is the only identifier (even when hostile): it selects templates
    // and never names a file.
    REQUIRE(ids.size() == 1);
    CHECK(ids[0] == name);
    config_errors errors;
    auto t = parse_template_text("ad_identifiers: [x]\ninstances: [{}]\n", "/t/redisdb.d/a.yaml", "redisdb", errors);
    REQUIRE(t);
    t->ad_identifiers = {name};
    test::temp_dir sandbox("autodiscd-sec");
    const auto res = resolve_service(service_with("docker://abc", ids), template_index({*t}), no_env());
    REQUIRE(res.configs.size() == 1);
    CHECK(res.configs[0].relative_path == "redisdb.d/docker___abc.yaml");
    write_and_check_contained(sandbox, "docker://abc", res);
  }
}

TEST_CASE("security: hostile label and annotation check names stay inside the output folder",
          "[security][traversal]") {
  for (const auto& prefix : {std::string("com.datadoghq.ad."), std::string("ad.datadoghq.com/redis.")}) {
    for (const auto& name : hostile_names) {
      INFO(prefix << " check name: " << json(name).dump(-1, ' ', false, json::error_handler_t::replace));
      // v1 labels: check_names is a JSON array; v2: the keys of `checks`.
      json names = json::array({name});
      json checks = json::object();
      checks[name] = json::parse(R"({"instances": [{"host": "%%host%%"}]})");
      const std::map<std::string, std::string> v1 = {
          {prefix + "check_names", names.dump(-1, ' ', false, json::error_handler_t::replace)},
          {prefix + "init_configs", "[{}]"},
          {prefix + "instances", R"([{"host": "%%host%%"}])"}};
      const std::map<std::string, std::string> v2 = {
          {prefix + "checks", checks.dump(-1, ' ', false, json::error_handler_t::replace)}};
      for (const auto* labels : {&v1, &v2}) {
        auto svc = service_with("docker://" + name, {"docker://abc"});
        svc.label_templates = parse_ad_templates(*labels, prefix, "container x");
        const auto res = resolve_service(svc, template_index{}, no_env());
        for (const auto& c : res.configs) {
          INFO(c.relative_path);
          CHECK(config_writer::valid_relative_path(c.relative_path));
        }
        test::temp_dir sandbox("autodiscd-sec");
        write_and_check_contained(sandbox, svc.id, res);
      }
    }
  }
}

TEST_CASE("security: hostile template file and folder names stay inside the output folder",
          "[security][traversal]") {
  test::temp_dir sandbox("autodiscd-sec");
  const auto templates = sandbox.path() / "templates";
  fs::create_directories(templates);
  const std::string body = "ad_identifiers: [redis]\ninstances: [{host: \"%%host%%\"}]\n";
  // Folder names that make odd check names: "..", "", ".x", "a b", newline, 250 bytes.
  const std::vector<std::string> folders = {"...d", ".d", "..x.d", "a b.d", "x\ny.d", std::string(250, 'a') + ".d",
                                            "-rf.d", "\xff\xfe.d"};
  for (const auto& f : folders) {
    fs::create_directories(templates / f);
    test::write_file(templates / f / "conf.yaml", body);
  }
  // Top-level files: the stem is the check name.
  for (const auto& f : {"...yaml", ".yaml", "..yaml", "a..b.yaml", "-.yaml"}) test::write_file(templates / f, body);
  // A symlinked template folder pointing outside is read (operators do that), but names
  // only what its own link says.
  fs::create_directories(sandbox.path() / "elsewhere");
  test::write_file(sandbox.path() / "elsewhere" / "conf.yaml", body);
  fs::create_directory_symlink(sandbox.path() / "elsewhere", templates / "linked.d");

  const auto set = load_templates({templates.string()});
  for (const auto& e : set.errors) INFO(e.to_string());
  REQUIRE(set.templates.size() >= 8);
  const auto res = resolve_service(service_with("docker://abc", {"redis"}), template_index(set.templates), no_env());
  REQUIRE(res.configs.size() == set.templates.size());
  std::set<std::string> paths;
  for (const auto& c : res.configs) {
    INFO(c.relative_path);
    CHECK(config_writer::valid_relative_path(c.relative_path));
    paths.insert(c.relative_path);
  }
  CHECK(paths.size() == res.configs.size());  // distinct check names never share a file
  write_and_check_contained(sandbox, "docker://abc", res);
}

TEST_CASE("security: hostile service ids stay inside the output folder", "[security][traversal]") {
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [redis]\ninstances: [{}]\n", "/t/redisdb.d/a.yaml", "redisdb", errors);
  REQUIRE(t);
  for (const auto& id : hostile_names) {
    INFO("id: " << json(id).dump(-1, ' ', false, json::error_handler_t::replace));
    test::temp_dir sandbox("autodiscd-sec");
    const auto res = resolve_service(service_with(id, {"redis"}), template_index({*t}), no_env());
    REQUIRE(res.configs.size() == 1);
    write_and_check_contained(sandbox, id, res);
  }
}

TEST_CASE("security: very long names fail cleanly or are written, inside the output folder",
          "[security][traversal]") {
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [redis]\ninstances: [{}]\n", "/t/redisdb.d/a.yaml", "redisdb", errors);
  REQUIRE(t);
  for (std::size_t n : {200u, 250u, 255u, 256u, 4096u, 100'000u}) {
    INFO("length " << n);
    const std::string id = "docker://" + std::string(n, 'a');
    test::temp_dir sandbox("autodiscd-sec");
    const auto res = resolve_service(service_with(id, {"redis"}), template_index({*t}), no_env());
    REQUIRE(res.configs.size() == 1);
    const auto out = sandbox.path() / "out";
    config_writer w(out.string());
    REQUIRE_FALSE(w.open().has_value());
    const auto stats = w.apply(id, res.configs);
    // Either the file is there, or the failure names the file and the reason.
    CHECK(stats.written + stats.failed == 1);
    if (stats.failed) {
      REQUIRE(stats.errors.size() == 1);
      CHECK_THAT(stats.errors[0], Catch::Contains("too long") || Catch::Contains("refused"));
    }
    for (const auto& rel : tree_of(sandbox.path())) CHECK(rel.starts_with("out"));
    // Removing it again works either way, and leaves no temp file behind.
    w.apply(id, {});
    for (const auto& rel : tree_of(out)) {
      INFO(rel);
      CHECK(rel.find(".autodiscd.tmp") == std::string::npos);
    }
  }
}

TEST_CASE("security: a symlinked check folder planted in the output folder is not followed",
          "[security][symlink]") {
  test::temp_dir sandbox("autodiscd-sec");
  const auto out = sandbox.path() / "out";
  const auto victim = sandbox.path() / "victim";
  fs::create_directories(out);
  fs::create_directories(victim);
  fs::create_directory_symlink(victim, out / "redisdb.d");
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [redis]\ninstances: [{}]\n", "/t/redisdb.d/a.yaml", "redisdb", errors);
  REQUIRE(t);
  const auto res = resolve_service(service_with("docker://abc", {"redis"}), template_index({*t}), no_env());
  REQUIRE(res.configs.size() == 1);
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  const auto stats = w.apply("docker://abc", res.configs);
  INFO((stats.errors.empty() ? std::string() : stats.errors[0]));
  CHECK(fs::is_empty(victim));
  // Either refused (reported), or the link was replaced by a real folder.
  if (stats.written == 1) CHECK_FALSE(fs::is_symlink(out / "redisdb.d"));
  else CHECK(stats.failed == 1);
  w.apply("docker://abc", {});
  CHECK(fs::is_empty(victim));
}

TEST_CASE("security: a symlink planted as the temp file or the target file is not followed",
          "[security][symlink]") {
  test::temp_dir sandbox("autodiscd-sec");
  const auto out = sandbox.path() / "out";
  const auto victim = sandbox.path() / "victim.txt";
  test::write_file(victim, "precious\n");
  config_errors errors;
  auto t = parse_template_text("ad_identifiers: [redis]\ninstances: [{}]\n", "/t/redisdb.d/a.yaml", "redisdb", errors);
  REQUIRE(t);
  const auto svc = service_with("docker://abc", {"redis"});
  auto res = resolve_service(svc, template_index({*t}), no_env());
  REQUIRE(res.configs.size() == 1);
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  fs::create_directories(out / "redisdb.d");
  // Planted after open() (which removes leftover temp files): the next write must not
  // follow it.
  fs::create_symlink(victim, out / "redisdb.d" / ".docker___abc.yaml.autodiscd.tmp");
  auto stats = w.apply(svc.id, res.configs);
  CHECK(test::read_file(victim) == "precious\n");
  // The target itself as a symlink: rename replaces the link, the victim stays.
  res.configs[0].content += "# changed\n";
  fs::remove(out / "redisdb.d" / "docker___abc.yaml");
  fs::create_symlink(victim, out / "redisdb.d" / "docker___abc.yaml");
  stats = w.apply(svc.id, res.configs);
  CHECK(test::read_file(victim) == "precious\n");
  w.apply(svc.id, {});
  CHECK(test::read_file(victim) == "precious\n");
  CHECK(fs::exists(victim));
}
