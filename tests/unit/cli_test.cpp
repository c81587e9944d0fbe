// The command line of the real binary: services / configs / check-config output and exit codes.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "config/check_template.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using autodiscd::test::read_file;
using autodiscd::test::temp_dir;
using autodiscd::test::write_file;
namespace fs = std::filesystem;

namespace {

/// Copies the real templates into a writable folder (the fixtures are read-only).
void copy_templates(const fs::path& to) { autodiscd::test::copy_fixture_dir("auto_conf", to); }

struct cli_result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

cli_result run_cli(const temp_dir& dir, const std::string& args) {
  const auto out = dir.path() / "cli.out";
  const auto err = dir.path() / "cli.err";
  const auto command = "timeout 30 " + quote(AUTODISCD_BINARY) + " " + args + " >" + quote(out.string()) + " 2>" +
                       quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  cli_result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

/// A config with the static listener, the real templates and a services file.
struct cli_setup {
  temp_dir dir{"autodiscd-cli"};
  std::string config = (dir.path() / "autodiscd.yaml").string();
  cli_setup() {
    copy_templates(dir.path() / "templates");
    write_file(dir.path() / "autodiscd.yaml",
               "listeners: [{type: static, path: services.yaml}]\n"
               "templates: {dirs: [templates]}\n"
               "output: {dir: out}\n"
               "status: {listen: off}\n");
    write_file(dir.path() / "services.yaml", R"(- id: "docker://redis-1"
  ad_identifiers: [redis]
  hosts: {bridge: 172.17.0.2}
  ports: [{port: 6379, name: redis}]
  tags: ["env:test"]
- id: "static://db"
  ad_identifiers: [coredns]
)");
  }
};

}  // namespace

TEST_CASE("cli: --version, --help and usage errors", "[cli]") {
  temp_dir dir("autodiscd-cli");
  auto r = run_cli(dir, "--version");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("autodiscd "));
  r = run_cli(dir, "--help");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("check-config") && Catch::Contains("services") && Catch::Contains("configs"));
  r = run_cli(dir, "");
  CHECK(r.code == 64);
  r = run_cli(dir, "frobnicate");
  CHECK(r.code == 64);
  r = run_cli(dir, "services --timeout soon");
  CHECK(r.code == 64);
}

TEST_CASE("cli: services prints the services JSON contract", "[cli]") {
  cli_setup s;
  auto r = run_cli(s.dir, "services --config " + quote(s.config));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto j = json::parse(r.out);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  CHECK(j[0] == json::parse(R"({"id": "docker://redis-1", "listener": "static", "ad_identifiers": ["redis"],
                               "hosts": {"bridge": "172.17.0.2"}, "ports": [{"port": 6379, "name": "redis"}],
                               "tags": ["env:test"], "pid": null, "hostname": null, "ready": true, "extra": {}})"));
  CHECK(j[1]["id"] == "static://db");
  CHECK(j[1]["hosts"].is_null());
  // The CLI never writes the output folder.
  CHECK_FALSE(fs::exists(s.dir.path() / "out"));
}

TEST_CASE("cli: configs prints resolved and rejected configs", "[cli]") {
  cli_setup s;
  auto r = run_cli(s.dir, "configs --config " + quote(s.config));
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto j = json::parse(r.out);
  REQUIRE(j["configs"].size() == 1);
  const auto& c = j["configs"][0];
  CHECK(c["service_id"] == "docker://redis-1");
  CHECK(c["check"] == "redisdb");
  CHECK_THAT(c["template"].get<std::string>(), Catch::EndsWith("templates/redisdb.d/auto_conf.yaml"));
  CHECK_THAT(c["path"].get<std::string>(), Catch::EndsWith("out/redisdb.d/docker___redis-1.yaml"));
  CHECK_THAT(c["content"].get<std::string>(), Catch::Contains("host: 172.17.0.2") && Catch::Contains("port: 6379"));
  REQUIRE(j["rejected"].size() == 1);
  CHECK(j["rejected"][0]["service_id"] == "static://db");
  CHECK(j["rejected"][0]["check"] == "coredns");
  CHECK(j["rejected"][0]["reason"] == "variable %%host%% not supported by listener static");
  CHECK_FALSE(fs::exists(s.dir.path() / "out"));
}

TEST_CASE("cli: a listener that cannot sync is reported and the exit code is non-zero", "[cli]") {
  cli_setup s;
  fs::remove(s.dir.path() / "services.yaml");
  auto r = run_cli(s.dir, "services --timeout 300ms --config " + quote(s.config));
  CHECK(r.code != 0);
  CHECK_THAT(r.err, Catch::Contains("listener static") && Catch::Contains("services.yaml"));
  CHECK(json::parse(r.out) == json::array());
}

TEST_CASE("cli: check-config", "[cli]") {
  cli_setup s;
  auto r = run_cli(s.dir, "check-config --config " + quote(s.config));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("ok") && Catch::Contains("templates: 2 loaded"));

  // A bad template: non-zero, naming the file and key.
  write_file(s.dir.path() / "templates/bad.yaml", "ad_identifiers: [x]\ninstances: {a: 1}\n");
  r = run_cli(s.dir, "check-config --config " + quote(s.config));
  CHECK(r.code != 0);
  CHECK(r.code != 78);
  CHECK_THAT(r.err, Catch::Contains("templates/bad.yaml: instances: expected a list"));

  // A config error: exit 78, every error with its key path.
  write_file(s.config, "listeners: [{type: static}, {type: nope}]\noutput: {}\nbogus: 1\n");
  for (const char* command : {"check-config", "run", "services", "configs"}) {
    INFO(command);
    r = run_cli(s.dir, std::string(command) + " --config " + quote(s.config));
    CHECK(r.code == 78);
    CHECK_THAT(r.err, Catch::Contains("listeners[0].path: missing") && Catch::Contains("listeners[1].type") &&
                          Catch::Contains("output.dir: missing") && Catch::Contains("bogus: unknown key"));
  }
  r = run_cli(s.dir, "check-config --config " + quote((s.dir.path() / "nope.yaml").string()));
  CHECK(r.code == 78);
  CHECK_THAT(r.err, Catch::Contains("nope.yaml"));
}
