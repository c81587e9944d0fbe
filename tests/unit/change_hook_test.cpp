// output.on_change: once per batch, never two at once, timeouts kill, failures counted.
#include <catch2/catch.hpp>

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/change_hook.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

struct hook_fixture {
  net::io_context io{1};
  test::temp_dir dir{"autodiscd-hook"};
  std::vector<std::string> results;

  change_hook make(std::vector<std::string> command, std::chrono::milliseconds debounce, std::chrono::milliseconds timeout) {
    change_hook_config config;
    config.command = std::move(command);
    config.debounce = debounce;
    config.timeout = timeout;
    return change_hook(io.get_executor(), config, [this](std::string_view r) { results.emplace_back(r); });
  }
  /// Runs the loop until `n` results came or `limit` passed.
  void run_until_results(std::size_t n, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (results.size() < n && std::chrono::steady_clock::now() < deadline) run_for(10ms);
  }
  /// Runs the loop for `d`, also after it ran out of work once.
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
};

}  // namespace

TEST_CASE("change hook: runs once with the changed paths in the environment", "[change_hook]") {
  hook_fixture f;
  const auto out = f.dir.str() + "/paths";
  auto hook = f.make({"sh", "-c", "printf '%s' \"$AUTODISCD_CHANGED_PATHS\" > " + out + "; echo hello from hook"}, 30ms, 5s);
  hook.notify({"/out/a.d/x.yaml", "/out/b.d/y.yaml"});
  hook.notify({"/out/a.d/x.yaml"});
  f.run_until_results(1, 5s);
  REQUIRE(f.results == std::vector<std::string>{"ok"});
  CHECK(test::read_file(out) == "/out/a.d/x.yaml\n/out/b.d/y.yaml\n");
  CHECK(hook.runs_started() == 1);
}

TEST_CASE("change hook: a failing command is reported as failed", "[change_hook]") {
  hook_fixture f;
  auto hook = f.make({"sh", "-c", "echo boom >&2; exit 3"}, 10ms, 5s);
  hook.notify({"/out/a"});
  f.run_until_results(1, 5s);
  CHECK(f.results == std::vector<std::string>{"failed"});
  auto missing = f.make({"/nonexistent/autodiscd-no-such-program"}, 10ms, 5s);
  missing.notify({"/out/a"});
  f.run_until_results(2, 5s);
  CHECK(f.results == std::vector<std::string>{"failed", "failed"});
}

TEST_CASE("change hook: a slow command is killed at its timeout, with its children", "[change_hook]") {
  hook_fixture f;
  const auto marker = f.dir.str() + "/child-pid";
  // The grandchild would outlive a kill of the shell alone.
  auto hook = f.make({"sh", "-c", "sleep 30 & echo $! > " + marker + "; wait"}, 10ms, 300ms);
  const auto started = std::chrono::steady_clock::now();
  hook.notify({"/out/a"});
  f.run_until_results(1, 10s);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(f.results == std::vector<std::string>{"timeout"});
  CHECK(took < 3s);
  CHECK_FALSE(hook.running());
  const auto grandchild = std::stoi(test::read_file(marker));
  // Killed with its process group (it may linger as a zombie of init for a moment).
  bool gone = false;
  std::string stat;
  for (int i = 0; i < 250 && !gone; ++i) {
    stat = test::read_file("/proc/" + std::to_string(grandchild) + "/stat");
    const auto state_at = stat.rfind(')');
    gone = ::kill(grandchild, 0) != 0 || stat.empty() ||
           (state_at != std::string::npos && stat.size() > state_at + 2 &&
            (stat[state_at + 2] == 'Z' || stat[state_at + 2] == 'X'));
    // A real wait: run_for returns at once when the loop has nothing left to do.
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  INFO("grandchild " << grandchild << " stat: " << stat);
  CHECK(gone);
}

TEST_CASE("change hook: a burst of 100 changes runs it once or twice, never two at once", "[change_hook]") {
  hook_fixture f;
  const auto log = f.dir.str() + "/runs";
  // Each run appends "start" and "end"; overlapping runs would interleave them.
  auto hook = f.make({"sh", "-c", "echo start >> " + log + "; sleep 0.2; echo end >> " + log}, 50ms, 5s);
  for (int i = 0; i < 100; ++i) {
    hook.notify({"/out/check.d/svc" + std::to_string(i) + ".yaml"});
    f.run_for(1ms);
  }
  f.run_until_results(1, 5s);
  // Give a possible second batch time to run.
  f.run_until_results(2, 1s);
  CHECK(f.results.size() >= 1);
  CHECK(f.results.size() <= 2);
  CHECK(hook.runs_started() == f.results.size());
  std::string expected;
  for (std::size_t i = 0; i < f.results.size(); ++i) expected += "start\nend\n";
  CHECK(test::read_file(log) == expected);
}

TEST_CASE("change hook: changes during a run make exactly one more run after it", "[change_hook]") {
  hook_fixture f;
  const auto log = f.dir.str() + "/runs";
  auto hook = f.make({"sh", "-c", "echo start >> " + log + "; sleep 0.3; echo end >> " + log}, 10ms, 5s);
  hook.notify({"/out/a"});
  // Let the first run start, then change things while it runs.
  while (!hook.running()) f.run_for(5ms);
  for (int i = 0; i < 10; ++i) {
    hook.notify({"/out/b" + std::to_string(i)});
    f.run_for(5ms);
  }
  CHECK(hook.running());
  CHECK(hook.runs_started() == 1);
  f.run_until_results(2, 5s);
  CHECK(f.results == std::vector<std::string>{"ok", "ok"});
  CHECK(hook.runs_started() == 2);
  CHECK(test::read_file(log) == "start\nend\nstart\nend\n");
}

TEST_CASE("change hook: stop kills a running command and nothing runs after", "[change_hook]") {
  hook_fixture f;
  auto hook = f.make({"sleep", "30"}, 10ms, 60s);
  hook.notify({"/out/a"});
  while (!hook.running()) f.run_for(5ms);
  const auto started = std::chrono::steady_clock::now();
  hook.stop();
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  CHECK_FALSE(hook.running());
  hook.notify({"/out/b"});
  f.run_for(100ms);
  CHECK(hook.runs_started() == 1);
}
