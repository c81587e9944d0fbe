#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "config/writer.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using autodiscd::test::read_file;
using autodiscd::test::temp_dir;
using autodiscd::test::write_file;
namespace fs = std::filesystem;

namespace {

resolved_config config_for(const std::string& service, const std::string& path, const std::string& content) {
  resolved_config c;
  c.service_id = service;
  c.check_name = "check";
  c.relative_path = path;
  c.content = content;
  return c;
}

std::string big_content(char fill, std::size_t size) {
  std::string s = "begin\n";
  s.append(size, fill);
  s += "\nend\n";
  return s;
}

struct timespec mtime_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mtim;
}

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/// Every file below `dir`, relative, including hidden ones.
std::set<std::string> all_files(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

}  // namespace

TEST_CASE("writer: writes, skips unchanged content (mtime stays), removes", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());

  auto stats = w.apply("svc1", {config_for("svc1", "redisdb.d/svc1.yaml", "a: 1\n")});
  CHECK(stats.written == 1);
  CHECK(stats.failed == 0);
  CHECK(read_file(out / "redisdb.d/svc1.yaml") == "a: 1\n");
  CHECK(stats.changed_paths == std::vector<std::string>{(out / "redisdb.d/svc1.yaml").string()});

  // Backdate the file so that a rewrite would be visible even on coarse clocks.
  const auto file = out / "redisdb.d/svc1.yaml";
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
  const auto before = mtime_of(file);
  stats = w.apply("svc1", {config_for("svc1", "redisdb.d/svc1.yaml", "a: 1\n")});
  CHECK(stats.written == 0);
  CHECK(stats.unchanged == 1);
  CHECK(same_time(mtime_of(file), before));

  stats = w.apply("svc1", {config_for("svc1", "redisdb.d/svc1.yaml", "a: 2\n")});
  CHECK(stats.written == 1);
  CHECK(read_file(file) == "a: 2\n");
  CHECK_FALSE(same_time(mtime_of(file), before));

  // A second config of the same owner, then dropping the first.
  stats = w.apply("svc1", {config_for("svc1", "other.d/svc1.yaml", "b: 1\n")});
  CHECK(stats.written == 1);
  CHECK(stats.removed == 1);
  CHECK_FALSE(fs::exists(file));
  CHECK(fs::exists(out / "other.d/svc1.yaml"));

  stats = w.apply("svc1", {});
  CHECK(stats.removed == 1);
  CHECK_FALSE(fs::exists(out / "other.d/svc1.yaml"));
  CHECK(w.owned_paths().empty());
  // Nothing but the journal is left; no temp files.
  CHECK(all_files(out) == std::set<std::string>{".autodiscd-owned"});
}

TEST_CASE("writer: a reader polling in a loop never sees a partial file", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  const auto path = out / "big.d/svc.yaml";
  const std::string a = big_content('a', 4 << 20);
  const std::string b = big_content('b', 3 << 20);
  REQUIRE(w.apply("svc", {config_for("svc", "big.d/svc.yaml", a)}).written == 1);

  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  std::atomic<int> missing{0};
  std::thread reader([&] {
    while (!done.load()) {
      const auto content = read_file(path);
      if (content.empty()) ++missing;
      else if (content != a && content != b) ++bad;
      ++reads;
    }
  });
  int writes = 0;
  for (int i = 0; i < 40; ++i) {
    writes += static_cast<int>(w.apply("svc", {config_for("svc", "big.d/svc.yaml", i % 2 ? a : b)}).written);
  }
  // Let the reader see at least a few complete cycles.
  while (reads.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  done = true;
  reader.join();
  CHECK(writes == 40);
  CHECK(reads.load() >= 20);
  CHECK(bad.load() == 0);
  CHECK(missing.load() == 0);  // rename replaces the file: it never disappears
}

TEST_CASE("writer: restart reconciliation removes own stale files and keeps foreign ones", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  {
    config_writer w(out.string());
    REQUIRE_FALSE(w.open().has_value());
    w.apply("gone", {config_for("gone", "redisdb.d/gone.yaml", "x: 1\n")});
    w.apply("kept", {config_for("kept", "redisdb.d/kept.yaml", "y: 1\n")});
  }
  fs::create_directories(out / "mine.d");
  write_file(out / "redisdb.d/foreign.yaml", "operator: wrote this\n");
  write_file(out / "mine.d/conf.yaml", "also: foreign\n");
  write_file(out / "top.yaml", "foreign: top\n");
  // A killed run left temp files behind.
  write_file(out / "redisdb.d/.kept.yaml.autodiscd.tmp", "partial");
  // A tampered journal must not let the writer delete outside its folder or foreign files.
  const auto victim = dir.path() / "victim.yaml";
  write_file(victim, "must survive\n");
  {
    std::ofstream journal(out / ".autodiscd-owned", std::ios::app);
    journal << "+../victim.yaml\n+redisdb.d/../../victim.yaml\n+/etc/passwd\n+mine.d/../top.yaml\n+.d/x\n";
  }

  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  CHECK_FALSE(fs::exists(out / "redisdb.d/.kept.yaml.autodiscd.tmp"));
  CHECK(w.owned_paths() == std::set<std::string>{"redisdb.d/gone.yaml", "redisdb.d/kept.yaml"});

  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (out / "redisdb.d/kept.yaml").c_str(), times, 0) == 0);
  auto stats = w.apply("kept", {config_for("kept", "redisdb.d/kept.yaml", "y: 1\n")});
  CHECK(stats.unchanged == 1);  // same content as the past run wrote: not rewritten
  CHECK(mtime_of(out / "redisdb.d/kept.yaml").tv_sec == 1000);

  stats = w.remove_stale({"redisdb.d/kept.yaml"});
  CHECK(stats.removed == 1);
  CHECK_FALSE(fs::exists(out / "redisdb.d/gone.yaml"));
  CHECK(fs::exists(out / "redisdb.d/kept.yaml"));
  CHECK(read_file(out / "redisdb.d/foreign.yaml") == "operator: wrote this\n");
  CHECK(read_file(out / "mine.d/conf.yaml") == "also: foreign\n");
  CHECK(read_file(out / "top.yaml") == "foreign: top\n");
  CHECK(read_file(victim) == "must survive\n");
  CHECK(fs::exists("/etc/passwd"));

  // remove_all (remove_on_exit) also leaves foreign files alone.
  w.remove_all();
  CHECK_FALSE(fs::exists(out / "redisdb.d/kept.yaml"));
  CHECK(fs::exists(out / "redisdb.d/foreign.yaml"));
}

TEST_CASE("writer: a second writer on the same folder is refused", "[writer]") {
  temp_dir dir("autodiscd-writer");
  config_writer a(dir.str());
  REQUIRE_FALSE(a.open().has_value());
  config_writer b(dir.str());
  auto error = b.open();
  REQUIRE(error.has_value());
  CHECK_THAT(*error, Catch::Contains("in use"));
}

TEST_CASE("writer: the output folder deleted while running is recreated on the next write", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  w.apply("a", {config_for("a", "redisdb.d/a.yaml", "a: 1\n")});
  fs::remove_all(out);

  // Same content: the file is gone, so it is written again.
  auto stats = w.apply("a", {config_for("a", "redisdb.d/a.yaml", "a: 1\n")});
  CHECK(stats.written == 1);
  CHECK(read_file(out / "redisdb.d/a.yaml") == "a: 1\n");
  stats = w.apply("b", {config_for("b", "nginx.d/b.yaml", "b: 1\n")});
  CHECK(stats.written == 1);
  CHECK(read_file(out / "nginx.d/b.yaml") == "b: 1\n");
  // The new folder has a journal that lists both: a restart still knows they are ours.
  const auto journal = read_file(out / ".autodiscd-owned");
  CHECK_THAT(journal, Catch::Contains("+redisdb.d/a.yaml") && Catch::Contains("+nginx.d/b.yaml"));
}

TEST_CASE("writer: failures are retried", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  // A file where the check folder should be: the write fails (as root too).
  write_file(out / "blocked.d", "in the way\n");
  auto stats = w.apply("a", {config_for("a", "blocked.d/a.yaml", "a: 1\n")});
  CHECK(stats.failed == 1);
  REQUIRE(stats.errors.size() == 1);
  CHECK_THAT(stats.errors[0], Catch::Contains("blocked.d/a.yaml"));
  CHECK(w.has_failures());
  CHECK(w.retry().failed == 1);
  fs::remove(out / "blocked.d");
  stats = w.retry();
  CHECK(stats.written == 1);
  CHECK_FALSE(w.has_failures());
  CHECK(read_file(out / "blocked.d/a.yaml") == "a: 1\n");
}

TEST_CASE("writer: unsafe relative paths are refused", "[writer][traversal]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  for (const std::string path : {"../../etc/x", "../x.d/y.yaml", "x.d/../../y.yaml", "/etc/x.d/y.yaml", "x.d/.y.yaml",
                                 "x.d/y/z.yaml", ".d/x.yaml", "x/y.yaml", "x.d/", "x.d/..", "x.d/y.yaml.autodiscd.tmp",
                                 "..d/x.yaml", "x.d/y\n.yaml"}) {
    INFO(path);
    CHECK_FALSE(config_writer::valid_relative_path(path));
    auto stats = w.apply("evil", {config_for("evil", path, "x\n")});
    CHECK(stats.failed == 1);
    CHECK(stats.written == 0);
  }
  CHECK(all_files(dir.path()) == std::set<std::string>{"out/.autodiscd-owned"});
  CHECK(config_writer::valid_relative_path("redisdb.d/docker___abc.yaml"));
}

TEST_CASE("writer: two owners mapping to one file do not clobber each other", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  CHECK(w.apply("web/1", {config_for("web/1", "nginx.d/web_1.yaml", "first\n")}).written == 1);
  auto stats = w.apply("web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second\n")});
  CHECK(stats.failed == 1);
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "first\n");
  // The refused owner going away does not remove the first owner's file.
  w.apply("web_1", {});
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "first\n");
  // Once the first owner is gone, the path is free.
  w.apply("web/1", {});
  CHECK(w.apply("web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second\n")}).written == 1);
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "second\n");
}

TEST_CASE("writer: a refused owner takes the file when the first owner releases it", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  w.apply("web/1", {config_for("web/1", "nginx.d/web_1.yaml", "first\n")});
  auto refused = w.apply("web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second\n")});
  CHECK(refused.failed == 1);
  REQUIRE(refused.errors.size() == 1);
  CHECK(refused.errors[0].find("when that one releases it") != std::string::npos);
  // The waiting owner asks again with new content: the latest is what it gets.
  w.apply("web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second, v2\n")});
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "first\n");
  const auto released = w.apply("web/1", {});
  CHECK(released.written == 1);
  CHECK(released.removed == 0);
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "second, v2\n");
  CHECK(w.owned_paths() == std::set<std::string>{"nginx.d/web_1.yaml"});
  // It is now that owner's file: it goes when that owner goes.
  CHECK(w.apply("web_1", {}).removed == 1);
  CHECK_FALSE(fs::exists(out / "nginx.d/web_1.yaml"));
}

TEST_CASE("writer: an owner waiting for two files forgets both when it goes, even after taking one", "[writer]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  w.apply("a/1", {config_for("a/1", "nginx.d/a_1.yaml", "a\n")});
  w.apply("b/1", {config_for("b/1", "redisdb.d/b_1.yaml", "b\n")});
  const auto refused = w.apply("x", {config_for("x", "nginx.d/a_1.yaml", "x-a\n"),
                                     config_for("x", "redisdb.d/b_1.yaml", "x-b\n")});
  CHECK(refused.failed == 2);
  // a/1 goes: x takes its file. x waits on for the other one.
  CHECK(w.apply("a/1", {}).written == 1);
  CHECK(read_file(out / "nginx.d/a_1.yaml") == "x-a\n");
  // x asks for something else: both its file and its wait go.
  w.apply("x", {config_for("x", "nginx.d/x.yaml", "x\n")});
  CHECK_FALSE(fs::exists(out / "nginx.d/a_1.yaml"));
  // b/1 goes: nobody waits any more, the file is removed, not written for x.
  const auto released = w.apply("b/1", {});
  CHECK(released.removed == 1);
  CHECK(released.written == 0);
  CHECK_FALSE(fs::exists(out / "redisdb.d/b_1.yaml"));
  CHECK(w.owned_paths() == std::set<std::string>{"nginx.d/x.yaml"});
}

TEST_CASE("writer: a batch writes many owners' files in chunks, journalled, no temp left", "[writer][batch]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  std::set<std::string> expected;
  {
    config_writer w(out.string());
    REQUIRE_FALSE(w.open().has_value());
    // More owners than one chunk (128), two folders, so every chunk boundary is crossed.
    std::vector<owner_configs> batch;
    for (int i = 0; i < 300; ++i) {
      const auto id = "svc" + std::to_string(i);
      const auto path = std::string(i % 2 ? "redisdb.d/" : "nginx.d/") + id + ".yaml";
      batch.push_back({id, {config_for(id, path, "n: " + std::to_string(i) + "\n")}});
      expected.insert(path);
    }
    auto stats = w.apply(batch);
    CHECK(stats.written == 300);
    CHECK(stats.failed == 0);
    CHECK(stats.changed_paths.size() == 300);
    CHECK(read_file(out / "redisdb.d/svc7.yaml") == "n: 7\n");
    // The same batch again changes nothing.
    stats = w.apply(batch);
    CHECK(stats.written == 0);
    CHECK(stats.unchanged == 300);
    // Removing half in one batch.
    std::vector<owner_configs> removal;
    for (int i = 0; i < 300; i += 2) removal.push_back({"svc" + std::to_string(i), {}});
    stats = w.apply(removal);
    CHECK(stats.removed == 150);
    for (int i = 0; i < 300; i += 2) expected.erase("nginx.d/svc" + std::to_string(i) + ".yaml");
  }
  auto files = all_files(out);
  files.erase(".autodiscd-owned");
  CHECK(files == expected);
  // The journal covers every file: a restart that keeps nothing removes them all.
  config_writer again(out.string());
  REQUIRE_FALSE(again.open().has_value());
  CHECK(again.owned_paths() == expected);
  CHECK(again.remove_stale({}).removed == expected.size());
}

TEST_CASE("writer: in one batch, a file one owner releases can be taken by a later owner", "[writer][batch]") {
  temp_dir dir("autodiscd-writer");
  const auto out = dir.path() / "out";
  config_writer w(out.string());
  REQUIRE_FALSE(w.open().has_value());
  REQUIRE(w.apply("web/1", {config_for("web/1", "nginx.d/web_1.yaml", "first\n")}).written == 1);
  // Taken first, released later in the same batch: refused (as applied one by one), then
  // the refused owner takes the path its first owner released.
  auto stats = w.apply(std::vector<owner_configs>{{"web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second\n")}},
                                                  {"web/1", {}}});
  CHECK(stats.failed == 1);
  CHECK(stats.removed == 0);
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "second\n");
  CHECK(w.apply("web_1", {}).removed == 1);
  REQUIRE(w.apply("web/1", {config_for("web/1", "nginx.d/web_1.yaml", "first\n")}).written == 1);
  // Released first, then taken: the file holds the new owner's content and is not removed.
  stats = w.apply(std::vector<owner_configs>{{"web/1", {}},
                                             {"web_1", {config_for("web_1", "nginx.d/web_1.yaml", "second\n")}}});
  CHECK(stats.failed == 0);
  CHECK(stats.removed == 0);
  CHECK(read_file(out / "nginx.d/web_1.yaml") == "second\n");
  // And the new owner now owns it: its removal removes the file.
  w.apply("web_1", {});
  CHECK_FALSE(fs::exists(out / "nginx.d/web_1.yaml"));
}
