// The writer's journal of owned files stays bounded while the daemon runs (found by the soak
// test: it grew by one line per file written or removed, 9 KB/s under 100 changes/s, until
// the next restart), and a restart after a compaction still knows every file it owns.

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/writer.hpp"
#include "support/support.hpp"

using namespace autodiscd;
namespace fs = std::filesystem;

namespace {

/// Round `round`'s configs: `count` files with long names (long journal lines), none shared
/// with another round, so each apply() adds `count` lines and removes the previous `count`.
std::vector<resolved_config> round_configs(int round, int count) {
  std::vector<resolved_config> configs;
  for (int i = 0; i < count; ++i) {
    resolved_config c;
    c.service_id = "svc";
    c.check_name = "check";
    c.relative_path = fmt::format("check.d/{}-{}-{}.yaml", std::string(200, 'n'), round, i);
    c.content = fmt::format("instances:\n  - round: {}\n", round);
    configs.push_back(std::move(c));
  }
  return configs;
}

}  // namespace

TEST_CASE("writer: the journal is compacted while running, a restart owns exactly the current files",
          "[writer][journal]") {
  test::temp_dir dir("autodiscd-journal");
  const auto out = dir.str() + "/out";
  const auto journal = fs::path(out) / ".autodiscd-owned";
  fs::create_directories(fs::path(out) / "check.d");
  test::write_file(fs::path(out) / "check.d" / "foreign.yaml", "not ours\n");
  REQUIRE(fs::exists(fs::path(out) / "check.d" / "foreign.yaml"));
  constexpr int rounds = 6, per_round = 300;
  std::uintmax_t appended = 0, largest = 0;
  std::set<std::string> last;
  {
    config_writer writer(out);
    REQUIRE_FALSE(writer.open());
    for (int round = 0; round < rounds; ++round) {
      auto configs = round_configs(round, per_round);
      last.clear();
      for (const auto& c : configs) {
        last.insert(c.relative_path);
        appended += c.relative_path.size() + 2;  // "+path\n"
        if (round > 0) appended += c.relative_path.size() + 2;  // "-path\n" of the round before
      }
      const auto stats = writer.apply("owner", configs);
      REQUIRE(stats.failed == 0);
      REQUIRE(stats.written == per_round);
      largest = std::max(largest, fs::file_size(journal));
    }
    REQUIRE(writer.owned_paths() == last);
  }
  // Without compaction the journal would hold every line ever appended (over 700 KB here);
  // it is compacted past 256 KiB, so it never exceeds that by more than one apply's lines.
  CHECK(appended > 700'000);
  CHECK(largest < (256u << 10) + 2u * per_round * 230u);
  CHECK(fs::exists(fs::path(out) / "check.d" / "foreign.yaml"));
  CHECK(fs::file_size(journal) < appended / 2);

  // A restart reads the compacted journal (plus what came after it): the current files, no
  // file of an earlier round, and never the foreign one.
  config_writer again(out);
  REQUIRE_FALSE(again.open());
  CHECK(again.owned_paths() == last);
  const auto stats = again.remove_all();
  CHECK(stats.removed == per_round);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(fs::path(out) / "check.d")) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"foreign.yaml"});
}
