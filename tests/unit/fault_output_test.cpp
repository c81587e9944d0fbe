// Output folder faults with the real binary on the static listener: disk full (a small tmpfs
// the test mounts), the folder made read-only, the folder deleted while running. Throughout,
// a reader polling the folder never sees a partial file; errors show in the log and in
// /metrics; when the fault ends the output converges to the truth (the writer retries every
// second). Mounting needs root: without it the test fails and says so (CI runs as root).
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "daemon/status_server.hpp"
#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A tmpfs mounted on `where` for the test's lifetime (lazily unmounted on teardown).
class tmpfs_mount {
 public:
  tmpfs_mount(const std::string& where, const std::string& size) : where_(where) {
    fs::create_directories(where);
    const auto options = "size=" + size + ",mode=0755";
    if (::mount("autodiscd-test", where.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      FAIL("cannot mount a tmpfs on " << where << " (the fault tests need root): " << std::strerror(errno));
    }
  }
  ~tmpfs_mount() { ::umount2(where_.c_str(), MNT_DETACH); }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
 private:
  std::string where_;
};

/// Makes folders read-only for the test's lifetime (or until writable()): each is bind-mounted
/// on itself and the bind remounted read-only. (A read-only remount of the whole tmpfs is
/// refused while the daemon holds its journal open for writing.)
class read_only_folders {
 public:
  explicit read_only_folders(std::vector<std::string> folders) : folders_(std::move(folders)) {
    for (const auto& f : folders_) {
      REQUIRE(::mount(f.c_str(), f.c_str(), nullptr, MS_BIND, nullptr) == 0);
      mounted_.push_back(f);
      INFO("remount read-only " << f << ": " << std::strerror(errno));
      REQUIRE(::mount(nullptr, f.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0);
    }
  }
  ~read_only_folders() { writable(); }
  read_only_folders(const read_only_folders&) = delete;
  read_only_folders& operator=(const read_only_folders&) = delete;
  void writable() {
    for (const auto& f : mounted_) ::umount2(f.c_str(), MNT_DETACH);
    mounted_.clear();
  }

 private:
  std::vector<std::string> folders_;
  std::vector<std::string> mounted_;
};

/// Polls every file under `out` in a loop; records any that is visible but not a complete
/// config (a check config must parse with instances; a file_sd file must be a JSON list).
class partial_file_watcher {
 public:
  explicit partial_file_watcher(std::string out) : out_(std::move(out)), thread_([this] { run(); }) {}
  ~partial_file_watcher() {
    stop_ = true;
    thread_.join();
  }
  partial_file_watcher(const partial_file_watcher&) = delete;
  partial_file_watcher& operator=(const partial_file_watcher&) = delete;
  std::vector<std::string> bad() {
    std::lock_guard lock(mutex_);
    return bad_;
  }
  std::size_t reads() const { return reads_; }

 private:
  void run() {
    while (!stop_) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(out_, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (it->is_directory(ec) || name.starts_with(".")) continue;  // hidden: never read by consumers
        if (name.starts_with("filler")) continue;                     // the test's own file
        std::ifstream in(it->path(), std::ios::binary);
        if (!in) continue;  // removed meanwhile
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ++reads_;
        if (!complete(name, text)) {
          std::lock_guard lock(mutex_);
          bad_.push_back(it->path().string() + ": " + text);
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  static bool complete(const std::string& name, const std::string& text) {
    try {
      if (name.ends_with(".json")) return nlohmann::json::parse(text).is_array();
      const auto doc = YAML::Load(text);
      return doc.IsMap() && doc["instances"].IsSequence() && doc["instances"].size() > 0;
    } catch (const std::exception&) {
      return false;
    }
  }
  std::string out_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> reads_{0};
  std::mutex mutex_;
  std::vector<std::string> bad_;
  std::thread thread_;
};

/// The services YAML for ids svc-<from>..svc-<to-1>.
std::string services(int from, int to) {
  std::string yaml;
  for (int i = from; i < to; ++i) yaml += test::ops_setup::service_yaml("svc-" + std::to_string(i), "10.0.0." + std::to_string(i % 250 + 1));
  return yaml.empty() ? "[]\n" : yaml;
}

/// The files the daemon should own for services svc-<from>..svc-<to-1>: one redisdb check
/// config and one node file_sd group each.
std::set<std::string> expected_files(int from, int to) {
  std::set<std::string> out;
  for (int i = from; i < to; ++i) {
    out.insert("redisdb.d/svc-" + std::to_string(i) + ".yaml");
    out.insert("node.d/svc-" + std::to_string(i) + ".json");
  }
  return out;
}

/// Visible (non-hidden) files under `out`, relative, without the test's filler.
std::set<std::string> visible_files(const std::string& out) {
  std::set<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (it->is_directory(ec) || name.starts_with(".") || name.starts_with("filler")) continue;
    files.insert(it->path().lexically_relative(out).string());
  }
  return files;
}

/// Temp files the writer left (hidden, ".autodiscd.tmp").
std::vector<std::string> temp_files(const std::string& out) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().ends_with(".autodiscd.tmp")) files.push_back(it->path().string());
  }
  return files;
}

/// autodiscd_files_total{result="failed"} from /metrics (-1 when unreadable).
double failed_writes(const std::string& listen) {
  const auto r = fetch_status(listen, "/metrics", 2s);
  static const std::regex line(R"(autodiscd_files_total\{result="failed"\} ([0-9.e+]+))");
  std::smatch m;
  if (r.status != 200 || !std::regex_search(r.body, m, line)) return -1;
  return std::stod(m[1]);
}

/// Fills the filesystem holding `dir` with `dir/filler` until it is full.
void fill_disk(const std::string& dir) {
  std::ofstream f(dir + "/filler", std::ios::binary);
  const std::string block(4096, 'x');
  for (int i = 0; i < 1'000'000 && f.write(block.data(), block.size()); ++i) f.flush();
}

struct daemon_under_test {
  explicit daemon_under_test(test::ops_setup& s, const std::string& listen)
      : process({test::autodiscd_binary(), "run", "--config", s.config, "--log-level", "debug"},
                s.dir.str() + "/daemon.log") {
    REQUIRE(test::eventually([&] { return fetch_status(listen, "/readyz", 1s).status == 200; }, 10s));
  }
  test::child_process process;
};

}  // namespace

TEST_CASE("fault: disk full, then space again: no partial file, errors reported, output converges",
          "[fault][output]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  test::ops_setup s(listen);
  // 1 MiB: about 250 files of one page; the 86 files below fit, once the filler is gone.
  tmpfs_mount mount(s.out, "1m");
  s.write_services(services(0, 3));
  daemon_under_test d(s, listen);
  REQUIRE(test::eventually([&] { return visible_files(s.out) == expected_files(0, 3); }, 5s));
  partial_file_watcher watcher(s.out);

  fill_disk(s.out);
  const auto failed_before = failed_writes(listen);
  // 40 new services while the disk is full: nothing partial shows up, the failure is reported.
  s.write_services(services(0, 43));
  CHECK(test::eventually([&] { return d.process.log().find("No space left on device") != std::string::npos; }, 5s));
  CHECK(test::eventually([&] { return failed_writes(listen) > failed_before; }, 5s));
  CHECK(fetch_status(listen, "/healthz", 2s).status == 503);
  CHECK(fetch_status(listen, "/healthz", 2s).body.find("retrying") != std::string::npos);
  std::this_thread::sleep_for(2500ms);  // a few retries against the full disk
  for (const auto& f : visible_files(s.out)) CHECK(expected_files(0, 43).contains(f));

  // Space again: the retries (every second) write everything.
  fs::remove(s.out + "/filler");
  CHECK(test::eventually([&] { return visible_files(s.out) == expected_files(0, 43); }, 5s));
  CHECK(temp_files(s.out).empty());
  CHECK(test::eventually([&] { return fetch_status(listen, "/healthz", 2s).status == 200; }, 5s));
  CHECK(watcher.bad().empty());
  for (const auto& b : watcher.bad()) INFO(b);
  CHECK(watcher.reads() > 0);
  CHECK(fs::exists(s.out + "/.autodiscd-owned"));
}

TEST_CASE("fault: output folder read-only, then writable: errors reported, output converges",
          "[fault][output]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  test::ops_setup s(listen);
  s.write_services(services(0, 5));
  daemon_under_test d(s, listen);
  REQUIRE(test::eventually([&] { return visible_files(s.out) == expected_files(0, 5); }, 5s));
  partial_file_watcher watcher(s.out);

  read_only_folders ro({s.out + "/redisdb.d", s.out + "/node.d"});
  const auto failed_before = failed_writes(listen);
  // Two services go, three come: neither the removals nor the writes can happen.
  s.write_services(services(2, 8));
  CHECK(test::eventually([&] { return d.process.log().find("Read-only file system") != std::string::npos; }, 5s));
  CHECK(test::eventually([&] { return failed_writes(listen) > failed_before; }, 5s));
  CHECK(visible_files(s.out) == expected_files(0, 5));  // untouched while read-only

  ro.writable();
  CHECK(test::eventually([&] { return visible_files(s.out) == expected_files(2, 8); }, 5s));
  CHECK(temp_files(s.out).empty());
  CHECK(watcher.bad().empty());
  for (const auto& b : watcher.bad()) INFO(b);
}

// The app watches the output folder itself and writes every current config again when the
// folder is deleted or moved away (also for services whose resolution did not change).
TEST_CASE("fault: output folder deleted while running: recreated with every current file",
          "[fault][output]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  test::ops_setup s(listen);
  s.write_services(services(0, 4));
  daemon_under_test d(s, listen);
  REQUIRE(test::eventually([&] { return visible_files(s.out) == expected_files(0, 4); }, 5s));

  fs::remove_all(s.out);
  // Nothing changed in the services: the output must still come back, whole.
  CHECK(test::eventually([&] { return visible_files(s.out) == expected_files(0, 4); }, 5s));
  // A change after the deletion: the new file and every unchanged one are there.
  s.write_services(services(0, 5));
  CHECK(test::eventually([&] { return visible_files(s.out) == expected_files(0, 5); }, 5s));
  CHECK(temp_files(s.out).empty());
  CHECK(d.process.running());
}
