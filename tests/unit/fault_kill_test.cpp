// autodiscd killed with SIGKILL in the middle of writing bursts, then restarted: the output
// converges to the truth (the services file as it is now), no temp file is left, and files
// the daemon does not own are untouched.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string services(const std::set<int>& ids) {
  std::string yaml;
  for (int i : ids) yaml += test::ops_setup::service_yaml("svc-" + std::to_string(i), "10.1.0." + std::to_string(i % 250 + 1));
  return yaml.empty() ? "[]\n" : yaml;
}

std::set<std::string> expected_files(const std::set<int>& ids) {
  std::set<std::string> out;
  for (int i : ids) {
    out.insert("redisdb.d/svc-" + std::to_string(i) + ".yaml");
    out.insert("node.d/svc-" + std::to_string(i) + ".json");
  }
  return out;
}

/// Files under `out` that the daemon may own (folders ending ".d", not hidden, not foreign).
std::set<std::string> owned_view(const std::string& out) {
  std::set<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto rel = it->path().lexically_relative(out).string();
    const auto name = it->path().filename().string();
    if (it->is_directory(ec) || name.starts_with(".") || name.starts_with("foreign")) continue;
    files.insert(rel);
  }
  return files;
}

std::vector<std::string> leftovers(const std::string& out) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().ends_with(".tmp")) files.push_back(it->path().string());
  }
  return files;
}

}  // namespace

TEST_CASE("fault: SIGKILL during write bursts, restart: output converges, no temp files, foreign files kept",
          "[fault][kill]") {
  test::ops_setup s;
  // Files the daemon does not own, in its folders and beside them.
  const std::map<std::string, std::string> foreign = {
      {"redisdb.d/foreign.yaml", "init_config:\ninstances: [{host: 1.2.3.4}]\n"},
      {"node.d/foreign.json", "[]\n"},
      {"foreign.txt", "keep me\n"},
      {"other.d/foreign-x.yaml", "instances: []\n"}};
  for (const auto& [rel, text] : foreign) {
    fs::create_directories(fs::path(s.out + "/" + rel).parent_path());
    test::write_file(s.out + "/" + rel, text);
  }
  std::mt19937 rng(12345);
  std::set<int> truth;
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    INFO("round " << round);
    test::child_process d({test::autodiscd_binary(), "run", "--config", s.config},
                          s.dir.str() + "/daemon.log");
    // The previous round's truth must be reached after the restart.
    REQUIRE(test::eventually([&] { return owned_view(s.out) == expected_files(truth); }, 10s));
    // A burst: 30 rewrites of the services file, 5 ms apart, each adding and removing some.
    const auto kill_after = std::uniform_int_distribution<int>(3, 29)(rng);
    for (int step = 0; step < 30; ++step) {
      for (int k = 0; k < 6; ++k) {
        const int id = std::uniform_int_distribution<int>(0, 59)(rng);
        if (truth.contains(id)) truth.erase(id);
        else truth.insert(id);
      }
      s.write_services(services(truth));
      std::this_thread::sleep_for(5ms);
      if (step == kill_after) {
        d.signal(SIGKILL);
        ++kills;
        break;
      }
    }
    REQUIRE(d.wait(5s).has_value());
  }
  // A last restart: converges, and then stays put.
  test::child_process d({test::autodiscd_binary(), "run", "--config", s.config}, s.dir.str() + "/daemon-last.log");
  REQUIRE(test::eventually([&] { return owned_view(s.out) == expected_files(truth); }, 10s));
  // The files may have been right before this daemon even started: wait for it to be up,
  // so the SIGTERM below tests its stop, not the dynamic loader's.
  REQUIRE(test::eventually([&] { return d.log().find("started: version") != std::string::npos; }, 10s));
  CHECK(kills == 8);
  CHECK(leftovers(s.out).empty());
  for (const auto& [rel, text] : foreign) {
    INFO(rel);
    CHECK(test::read_file(s.out + "/" + rel) == text);
  }
  d.signal(SIGTERM);
  const auto code = d.wait(10s);
  INFO(d.log());
  CHECK(code == 0);
  CHECK(owned_view(s.out) == expected_files(truth));  // remove_on_exit is off: files stay
}
