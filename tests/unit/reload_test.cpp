// SIGHUP reload, SIGTERM/SIGINT timing, and the change hook in the real binary.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("reload: SIGHUP applies new templates, keeps an unchanged listener, writes only what changed", "[reload]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.1"));
  // A second template folder that the config will switch to: a different redis template.
  const auto templates2 = setup.dir.str() + "/templates2";
  fs::create_directories(templates2 + "/redisdb.d");
  fs::copy(setup.templates + "/node.d", templates2 + "/node.d");
  test::write_file(templates2 + "/redisdb.d/conf.yaml",
                   "ad_identifiers: [redis]\ninit_config:\ninstances:\n  - host: '%%host%%'\n    port: '%%port_redis%%'\n    reloaded: true\n");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
  const auto node_file = setup.out + "/node.d/static___redis-1.json";
  REQUIRE(test::eventually([&] { return fs::exists(redis_file) && fs::exists(node_file); }, 10s));
  INFO(daemon.log());
  CHECK_FALSE(contains(test::read_file(redis_file), "reloaded"));
  const auto node_mtime = mtime_ns(node_file);

  auto text = test::read_file(setup.config);
  text.replace(text.find("dirs: [templates]"), 17, "dirs: [templates2]");
  test::write_file(setup.config, text);
  daemon.signal(SIGHUP);
  REQUIRE(test::eventually([&] { return contains(test::read_file(redis_file), "reloaded: true"); }, 5s));
  CHECK(contains(test::read_file(redis_file), "port: 6379"));
  // The file_sd output did not change: not rewritten.
  CHECK(mtime_ns(node_file) == node_mtime);
  CHECK(test::eventually([&] { return contains(daemon.log(), "reloaded: listeners=1 kept=1"); }, 2s));
  CHECK_FALSE(contains(daemon.log(), "listener=static stopped"));
  CHECK(daemon.running());
}

TEST_CASE("reload: a broken config is rejected with its errors and the running one stays", "[reload]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.2"));
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
  REQUIRE(test::eventually([&] { return fs::exists(redis_file); }, 10s));
  const auto before = test::read_file(redis_file);

  test::write_file(setup.config, "listeners:\n  - type: nosuch\noutput: {dir: out}\nlog: {level: loud}\n");
  daemon.signal(SIGHUP);
  REQUIRE(test::eventually([&] { return contains(daemon.log(), "the running config stays"); }, 5s));
  const auto log = daemon.log();
  INFO(log);
  CHECK(contains(log, "reload rejected"));
  CHECK(contains(log, "listeners[0].type"));
  CHECK(contains(log, "log.level"));
  CHECK(daemon.running());
  CHECK(test::read_file(redis_file) == before);
  // Discovery still works with the old config.
  setup.write_services(test::ops_setup::service_yaml("static://redis-2", "10.0.1.3"));
  CHECK(test::eventually([&] { return fs::exists(setup.out + "/redisdb.d/static___redis-2.yaml"); }, 5s));

  // A valid config that changes the listener's settings: old services go, new ones come.
  const auto services2 = setup.dir.str() + "/services2.yaml";
  test::write_file(services2, test::ops_setup::service_yaml("static://other-1", "10.0.1.4"));
  setup.write_config("off");
  auto text = test::read_file(setup.config);
  text.replace(text.find("path: services.yaml"), 19, "path: services2.yaml");
  test::write_file(setup.config, text);
  daemon.signal(SIGHUP);
  CHECK(test::eventually([&] { return fs::exists(setup.out + "/redisdb.d/static___other-1.yaml"); }, 5s));
  CHECK(test::eventually([&] { return !fs::exists(redis_file); }, 5s));
  CHECK(daemon.running());
}

TEST_CASE("reload command (systemd's ExecReload): checks the config, refuses a broken one, then signals the daemon",
          "[reload][cli]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.5"));
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
  REQUIRE(test::eventually([&] { return fs::exists(redis_file); }, 10s));
  const auto reload = test::autodiscd_binary() + " reload --config '" + setup.config + "' --pid " + std::to_string(daemon.pid());
  std::string out;

  // Without --pid: a usage error.
  CHECK(test::run_command(test::autodiscd_binary() + " reload --config '" + setup.config + "'", out) == 64);
  CHECK(contains(out, "--pid is required"));

  // A broken config: exit 78 with its errors, and the daemon is not even asked.
  const auto good = test::read_file(setup.config);
  test::write_file(setup.config, "listeners:\n  - type: nosuch\noutput: {dir: out}\n");
  CHECK(test::run_command(reload, out) == 78);
  INFO(out);
  CHECK(contains(out, "listeners[0].type"));
  CHECK_FALSE(contains(daemon.log(), "reloading"));

  // A good one: applied by the daemon.
  const auto services2 = setup.dir.str() + "/services2.yaml";
  test::write_file(services2, test::ops_setup::service_yaml("static://other-2", "10.0.1.6"));
  auto text = good;
  text.replace(text.find("path: services.yaml"), 19, "path: services2.yaml");
  test::write_file(setup.config, text);
  CHECK(test::run_command(reload, out) == 0);
  CHECK(test::eventually([&] { return contains(daemon.log(), "reload done"); }, 5s));
  CHECK(test::eventually([&] { return fs::exists(setup.out + "/redisdb.d/static___other-2.yaml"); }, 5s));
  CHECK(test::eventually([&] { return !fs::exists(redis_file); }, 5s));

  // A process that is not there: an error, not a crash.
  daemon.signal(SIGTERM);
  REQUIRE(daemon.wait(3s) == 0);
  CHECK(test::run_command(reload, out) == 1);
  CHECK(contains(out, "cannot signal process"));
}

TEST_CASE("signals: SIGTERM and SIGINT exit 0 within 2 s and keep the output", "[reload][signals]") {
  for (int sig : {SIGTERM, SIGINT}) {
    test::ops_setup setup;
    setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.5"));
    test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
    const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
    REQUIRE(test::eventually([&] { return fs::exists(redis_file); }, 10s));
    const auto started = std::chrono::steady_clock::now();
    daemon.signal(sig);
    const auto code = daemon.wait(5s);
    const auto took = std::chrono::steady_clock::now() - started;
    INFO("signal " << sig << " took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << "ms");
    CHECK(code == 0);
    CHECK(took < 2s);
    CHECK(fs::exists(redis_file));
  }
}

TEST_CASE("signals: a stop sent during start-up is a clean stop, even with the signals inherited blocked",
          "[reload][signals]") {
  // The daemon is started with SIGTERM blocked and is sent SIGTERM at once, so the signal is
  // pending from before main(). It must come through once the handlers are in place: a
  // clean exit 0, not death by signal and not a daemon that can never be stopped.
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.7"));
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config},
                               setup.dir.str() + "/daemon.log", {}, {SIGTERM, SIGINT, SIGHUP});
    daemon.signal(SIGTERM);
    const auto code = daemon.wait(5s);
    INFO(daemon.log());
    CHECK(code == 0);
  }
  CHECK(contains(test::read_file(setup.dir.str() + "/daemon.log"), "stopping: signal=15"));
}

TEST_CASE("signals: output.remove_on_exit removes the daemon's files, and only them", "[reload][signals]") {
  test::ops_setup setup("off", "");
  auto text = test::read_file(setup.config);
  text.replace(text.find("  dir: out\n"), 11, "  dir: out\n  remove_on_exit: true\n");
  test::write_file(setup.config, text);
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.6"));
  fs::create_directories(setup.out + "/foreign.d");
  test::write_file(setup.out + "/foreign.d/keep.yaml", "mine: true\n");
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
  REQUIRE(test::eventually([&] { return fs::exists(redis_file); }, 10s));
  daemon.signal(SIGTERM);
  CHECK(daemon.wait(3s) == 0);
  CHECK_FALSE(fs::exists(redis_file));
  CHECK(fs::exists(setup.out + "/foreign.d/keep.yaml"));
}

TEST_CASE("change hook in the daemon: 100 quick changes run it once or twice", "[reload][change_hook]") {
  test::ops_setup setup;
  const auto runs = setup.dir.str() + "/runs";
  const auto hook = setup.dir.str() + "/hook.sh";
  test::write_file(hook, "#!/bin/sh\necho \"run $(echo \"$AUTODISCD_CHANGED_PATHS\" | grep -c yaml)\" >> " + runs + "\nsleep 0.2\n");
  fs::permissions(hook, fs::perms::owner_all);
  setup.write_config("off", "");
  auto text = test::read_file(setup.config);
  text.replace(text.find("  dir: out\n"), 11,
               "  dir: out\n  on_change:\n    command: [\"" + hook + "\"]\n    debounce: 300ms\n    timeout: 5s\n");
  test::write_file(setup.config, text);
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  REQUIRE(test::eventually([&] { return contains(daemon.log(), "ready:"); }, 10s));
  // 100 changes in quick succession: each rewrite of the services file adds a service.
  std::string services;
  for (int i = 0; i < 100; ++i) {
    services += test::ops_setup::service_yaml("static://svc-" + std::to_string(i), "10.0.2." + std::to_string(i + 1));
    setup.write_services(services);
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(test::eventually([&] { return fs::exists(setup.out + "/redisdb.d/static___svc-99.yaml"); }, 60s));
  // The daemon may still be working through the burst (each write is a reload): wait for
  // the first run, then long enough for a second one.
  CHECK(test::eventually([&] { return !test::read_file(runs).empty(); }, 60s));
  std::this_thread::sleep_for(2s);
  const auto lines = test::read_file(runs);
  INFO(lines << daemon.log());
  const auto n = std::count(lines.begin(), lines.end(), '\n');
  CHECK(n >= 1);
  CHECK(n <= 2);
  CHECK(contains(daemon.log(), "running command=" + hook));
}

TEST_CASE("templates: a template folder missing at start is picked up when it appears, two levels down",
          "[reload][templates]") {
  test::ops_setup setup;
  setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.1.8"));
  auto text = test::read_file(setup.config);
  text.replace(text.find("dirs: [templates]"), 17, "dirs: [conf/templates]");
  test::write_file(setup.config, text);
  const auto staged = setup.dir.str() + "/staged";
  fs::rename(setup.templates, staged);
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", setup.config}, setup.dir.str() + "/daemon.log");
  REQUIRE(test::eventually([&] { return contains(daemon.log(), "cannot read template folder"); }, 10s));
  INFO(daemon.log());
  const auto redis_file = setup.out + "/redisdb.d/static___redis-1.yaml";
  // Unrelated changes beside the awaited folder do not matter; the folder's arrival does.
  test::write_file(setup.dir.str() + "/unrelated.txt", "x\n");
  fs::create_directories(setup.dir.str() + "/conf");
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(fs::exists(redis_file));
  fs::rename(staged, setup.dir.str() + "/conf/templates");  // as a deploy tool does
  CHECK(test::eventually([&] { return fs::exists(redis_file); }, 5s));
  // And from then on the folder itself is followed.
  for (const auto& entry : fs::directory_iterator(setup.dir.str() + "/conf/templates/redisdb.d")) fs::remove(entry.path());
  CHECK(test::eventually([&] { return !fs::exists(redis_file); }, 5s));
  CHECK(daemon.running());
}
