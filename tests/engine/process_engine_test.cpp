// The process listener against real daemons from Debian's packages (redis-server, nginx,
// memcached, python3's http.server), each started by the test inside a network namespace the
// test creates, with the real autodiscd binary in the same namespace (`services` and `run`).
// Needs root (ip netns); skipped loudly otherwise (ctest: "Skipped").
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/network_namespace.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// Why these tests cannot run here ("" when they can).
std::string missing_requirements() {
  if (::geteuid() != 0) return "needs root (ip netns add)";
  const auto missing = test::missing_programs({"ip", "redis-server", "nginx", "memcached", "python3", "setpriv"});
  return missing.empty() ? "" : "not installed: " + missing + " (tests/setup-deps.sh test)";
}

bool skipped() {
  const auto why = missing_requirements();
  if (why.empty()) return false;
  WARN("SKIPPED: the process listener's real-daemon tests do not run: " << why);
  std::fprintf(stderr, "*** ENGINE_TESTS_SKIPPED: [process]: %s\n", why.c_str());
  return true;
}

using test::children_of;
using test::shell_quote;

/// The daemons under test and the daemon's world, in one folder and one namespace.
struct host_under_test {
  host_under_test() {
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    config = dir.str() + "/autodiscd.yaml";
    out = dir.str() + "/out";
    const auto templates = dir.str() + "/templates";
    fs::create_directories(templates + "/redisdb.d");
    fs::copy_file(test::fixture("auto_conf/redisdb.d/auto_conf.yaml"), templates + "/redisdb.d/auto_conf.yaml");
    fs::create_directories(templates + "/nginx.d");
    test::write_file(templates + "/nginx.d/auto_conf.yaml",
                     "ad_identifiers: [nginx]\ninit_config:\ninstances:\n  - nginx_status_url: http://%%host%%:%%port%%/nginx_status/\n");
    fs::create_directories(templates + "/mcache.d");
    test::write_file(templates + "/mcache.d/auto_conf.yaml",
                     "ad_identifiers: [memcached]\ninit_config:\ninstances:\n  - url: \"%%host%%\"\n    port: \"%%port%%\"\n");
    fs::create_directories(templates + "/http_check.d");
    test::write_file(templates + "/http_check.d/conf.yaml",
                     "ad_identifiers: [webapp, ephemeral]\ninit_config:\ninstances:\n  - name: web\n    url: \"http://%%host%%:%%port%%/\"\n");
    test::write_file(config, R"(listeners:
  - type: process
    interval: 200ms
    rules:
      - match: {cmdline: 'http\.server'}
        ad_identifiers: [webapp]
      - match: {cmdline: 'requirepass'}
        ad_identifiers: [guarded]
      - match: {name: '^python', cmdline: 'ephemeral-listener'}
        ad_identifiers: [ephemeral]
templates: {dirs: [templates]}
output: {dir: out}
status: {listen: "off"}
log: {level: debug}
)");
    test::write_file(dir.str() + "/nginx.conf", "daemon off;\nmaster_process on;\nworker_processes 2;\npid " + dir.str() +
                                                    "/nginx.pid;\nevents { worker_connections 64; }\n"
                                                    "http {\n  access_log off;\n  server { listen 8080; location / { return 200 \"ok\\n\"; } }\n}\n");
  }

  void start_daemons() {
    redis = start({"redis-server", "--port", "6379", "--bind", "0.0.0.0", "--save", "", "--appendonly", "no",
                   "--dir", dir.str(), "--protected-mode", "no", "--daemonize", "no", "--requirepass", "SECRETPW"},
                  "redis");
    nginx = start({"nginx", "-e", dir.str() + "/nginx-error.log", "-p", dir.str(), "-c", dir.str() + "/nginx.conf"}, "nginx");
    memcached = start({"memcached", "-u", "nobody", "-l", "127.0.0.2", "-p", "11211"}, "memcached");
    web = start({"python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", dir.str()}, "web");
    // Bound to ::1 only, with a password on its command line (redis hides its own arguments
    // behind its process title; this one keeps them in /proc/PID/cmdline).
    ipv6_only = start({"python3", "-c", listener_code("socket.AF_INET6", "'::1'", 9001), "--requirepass", "SECRETPW"}, "ipv6");
    ephemeral = start({"python3", "-c", listener_code("socket.AF_INET", "'127.0.0.1'", 7001), "ephemeral-listener"}, "ephemeral");
  }

  static std::string listener_code(const std::string& family, const std::string& address, int port) {
    return "import socket,time\ns=socket.socket(" + family + ")\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
           "s.bind((" + address + "," + std::to_string(port) + "))\ns.listen()\ntime.sleep(600)\n";
  }

  std::unique_ptr<test::child_process> start(std::vector<std::string> argv, const std::string& log) {
    return std::make_unique<test::child_process>(ns.in(std::move(argv)), dir.str() + "/" + log + ".log");
  }

  /// `autodiscd services` inside the namespace: the JSON array, or null when it failed.
  json services(const std::string& prefix = "") {
    std::string output;
    const auto err = dir.str() + "/services.err";
    // In braces: the inner redirection sends the log to its file (run_command adds 2>&1).
    const int code = test::run_command("{ " + prefix + ns.shell(shell_quote(test::autodiscd_binary()) + " services --log-level debug --config " +
                                                                config + " --timeout 10s 2>" + err) + "; }",
                                       output);
    last_output = output;
    last_log = test::read_file(err);
    if (code != 0) return nullptr;
    try {
      return json::parse(output);
    } catch (const json::exception&) {
      return nullptr;
    }
  }

  /// Written configs under out/<check>.d/ ("<check>.d/<file>" -> content).
  std::map<std::string, std::string> written() const {
    std::map<std::string, std::string> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || it->path().filename().string().starts_with(".")) continue;
      files[fs::relative(it->path(), out).string()] = test::read_file(it->path());
    }
    return files;
  }

  // Destroyed in reverse: the processes first, the namespace (killing what is left), the folder.
  test::temp_dir dir{"autodiscd-process-engine"};
  test::network_namespace ns;
  std::string config, out, last_output, last_log;
  std::unique_ptr<test::child_process> redis, nginx, memcached, web, ipv6_only, ephemeral;
};

const json* service_of(const json& services, int pid) {
  for (const auto& s : services) {
    if (s.value("id", "") == "process://" + std::to_string(pid)) return &s;
  }
  return nullptr;
}

bool has_identifier(const json& svc, const std::string& id) {
  for (const auto& i : svc["ad_identifiers"]) {
    if (i == id) return true;
  }
  return false;
}

std::string file_with(const std::map<std::string, std::string>& files, const std::string& folder, const std::string& text) {
  for (const auto& [path, content] : files) {
    if (path.starts_with(folder + "/") && content.find(text) != std::string::npos) return path;
  }
  return "";
}

}  // namespace

TEST_CASE("process listener: real daemons in a network namespace, services and written configs",
          "[engine][process]") {
  if (skipped()) return;
  host_under_test h;
  h.start_daemons();
  // nginx: a master and two workers, all holding the listening socket.
  REQUIRE(test::eventually([&] { return children_of(h.nginx->pid()).size() == 2; }, 20s));

  json services;
  const bool all_found = test::eventually(
      [&] {
        services = h.services();
        if (!services.is_array()) return false;
        for (const auto* p : {h.redis.get(), h.nginx.get(), h.memcached.get(), h.web.get(), h.ipv6_only.get(), h.ephemeral.get()}) {
          if (!service_of(services, p->pid())) return false;
        }
        return true;
      },
      30s);
  INFO(h.last_output << "\n--- log\n" << h.last_log);
  REQUIRE(all_found);
  CHECK(services.size() == 6);  // nothing else listens in this namespace

  const auto& redis = *service_of(services, h.redis->pid());
  CHECK(redis["listener"] == "process");
  CHECK(redis["ad_identifiers"] == json::array({"process://" + std::to_string(h.redis->pid()), "redis-server", "redis"}));
  CHECK(redis["hosts"] == json({{"host", "127.0.0.1"}}));
  CHECK(redis["ports"] == json::array({{{"port", 6379}, {"name", "6379/tcp"}}}));
  CHECK(redis["tags"] == json::array({"process_name:redis-server"}));
  CHECK(redis["pid"] == h.redis->pid());
  CHECK(redis["extra"]["exe"] == fs::canonical("/usr/bin/redis-server").string());  // Debian: a symlink
  CHECK(redis["extra"]["user"] == "root");

  // Exactly one nginx service: the master's.
  int nginx_services = 0;
  for (const auto& s : services) nginx_services += s["tags"] == json::array({"process_name:nginx"}) ? 1 : 0;
  CHECK(nginx_services == 1);
  const auto& nginx = *service_of(services, h.nginx->pid());
  CHECK(has_identifier(nginx, "nginx"));
  CHECK(nginx["ports"] == json::array({{{"port", 8080}, {"name", "8080/tcp"}}}));
  for (int worker : children_of(h.nginx->pid())) CHECK_FALSE(service_of(services, worker));

  const auto& memcached = *service_of(services, h.memcached->pid());
  CHECK(has_identifier(memcached, "memcached"));
  CHECK(memcached["hosts"] == json({{"host", "127.0.0.2"}}));  // bound to a specific address
  CHECK(memcached["extra"]["user"] == "nobody");

  const auto& web = *service_of(services, h.web->pid());
  CHECK(has_identifier(web, "webapp"));  // matched by its command line
  CHECK_FALSE(has_identifier(web, "guarded"));
  CHECK(web["hosts"] == json({{"host", "127.0.0.1"}}));
  CHECK(web["ports"] == json::array({{{"port", 8000}, {"name", "8000/tcp"}}}));

  const auto& ipv6 = *service_of(services, h.ipv6_only->pid());
  CHECK(ipv6["hosts"] == json({{"host", "::1"}}));
  CHECK(has_identifier(ipv6, "guarded"));  // the rule read the password's command line...
  // ...which is nowhere in the output nor the log, at debug level.
  CHECK(h.last_log.find("listener=process") != std::string::npos);  // the log was captured
  CHECK(h.last_output.find("SECRETPW") == std::string::npos);
  CHECK(h.last_log.find("SECRETPW") == std::string::npos);
  CHECK(h.last_output.find("requirepass") == std::string::npos);
  CHECK(h.last_log.find("requirepass") == std::string::npos);

  // autodiscd run in the same namespace: configs written, and removed when a process exits.
  test::child_process daemon(h.ns.in({test::autodiscd_binary(), "run", "--config", h.config}), h.dir.str() + "/daemon.log");
  std::map<std::string, std::string> files;
  const bool written = test::eventually(
      [&] {
        files = h.written();
        return !file_with(files, "redisdb.d", "host: 127.0.0.1").empty() && !file_with(files, "nginx.d", "8080").empty() &&
               !file_with(files, "mcache.d", "127.0.0.2").empty() &&
               !file_with(files, "http_check.d", "http://127.0.0.1:8000/").empty() &&
               !file_with(files, "http_check.d", "http://127.0.0.1:7001/").empty();
      },
      20s);
  {
    std::string listing;
    for (const auto& [path, content] : files) listing += path + ":\n" + content + "\n";
    INFO(listing << "\n--- daemon log\n" << daemon.log());
    REQUIRE(written);
    CHECK(file_with(files, "nginx.d", "http://127.0.0.1:8080/nginx_status/") != "");
    CHECK(files.size() == 5);
  }
  const auto ephemeral_file = file_with(files, "http_check.d", "http://127.0.0.1:7001/");
  CHECK(ephemeral_file.find(std::to_string(h.ephemeral->pid())) != std::string::npos);
  h.ephemeral->signal(SIGKILL);
  h.ephemeral->wait(5s);
  CHECK(test::eventually([&] { return !h.written().contains(ephemeral_file); }, 10s));
  CHECK(h.written().size() == 4);

  daemon.signal(SIGTERM);
  CHECK(daemon.wait(10s) == 0);
  const auto log = daemon.log();
  INFO(log);
  CHECK(log.find("listener=process") != std::string::npos);
  CHECK(log.find("SECRETPW") == std::string::npos);
  for (const auto& [path, content] : h.written()) CHECK(content.find("SECRETPW") == std::string::npos);
}

TEST_CASE("process listener: without root, unmapped sockets are counted and what grants them is named",
          "[engine][process]") {
  if (skipped()) return;
  host_under_test h;
  h.redis = h.start({"redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                     h.dir.str(), "--daemonize", "no"},
                    "redis");
  const auto ns_has_listener = [&] {
    std::string out;
    test::run_command(h.ns.shell("ss -Hltn"), out);
    return out.find("127.0.0.1:6379") != std::string::npos;
  };
  REQUIRE(test::eventually(ns_has_listener, 20s));
  // nobody, without capabilities: redis (root's) /proc/PID/fd cannot be read.
  const auto services = h.services("");
  const auto as_root = h.last_log;
  REQUIRE(services.is_array());
  CHECK(services.size() == 1);
  CHECK(as_root.find("could not be mapped") == std::string::npos);

  std::string output;
  const auto err = h.dir.str() + "/nobody.err";
  const int code = test::run_command(
      "{ " + h.ns.shell("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all " + shell_quote(test::autodiscd_binary()) +
                        " services --config " + h.config + " --timeout 10s 2>" + err) + "; }",
      output);
  const auto log = test::read_file(err);
  INFO(output << "\n--- log\n" << log);
  CHECK(code == 0);
  CHECK(json::parse(output) == json::array());
  CHECK(log.find("unmapped_sockets=1") != std::string::npos);
  CHECK(log.find("CAP_SYS_PTRACE") != std::string::npos);
  CHECK(log.find("CAP_DAC_READ_SEARCH") != std::string::npos);

  // A running daemon says it once, not per interval, and again when the number changes (a new
  // process makes it retry the unmapped sockets).
  const auto fast_config = h.dir.str() + "/fast.yaml";
  test::write_file(fast_config, "listeners:\n  - {type: process, interval: 50ms}\ntemplates: {dirs: [templates]}\n"
                                "output: {dir: out-nobody}\nstatus: {listen: \"off\"}\n");
  fs::create_directories(h.dir.path() / "out-nobody");
  fs::permissions(h.dir.path() / "out-nobody", fs::perms::all);
  test::child_process daemon(h.ns.in({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                      test::autodiscd_binary(), "run", "--config", fast_config}),
                             h.dir.str() + "/nobody-daemon.log");
  auto count = [&](const std::string& text) {
    const auto daemon_log = daemon.log();
    std::size_t n = 0;
    for (auto at = daemon_log.find(text); at != std::string::npos; at = daemon_log.find(text, at + 1)) ++n;
    return n;
  };
  REQUIRE(test::eventually([&] { return count("unmapped_sockets=1 ") == 1; }, 10s));
  auto second = h.start({"redis-server", "--port", "6380", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", h.dir.str(), "--daemonize", "no"},
                        "redis2");
  const bool recounted = test::eventually([&] { return count("unmapped_sockets=2 ") == 1; }, 10s);
  INFO(daemon.log());
  CHECK(recounted);
  CHECK(count("unmapped_sockets=1 ") == 1);
  daemon.signal(SIGTERM);
  CHECK(daemon.wait(10s) == 0);
}
