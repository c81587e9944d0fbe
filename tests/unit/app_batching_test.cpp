// How the app groups changes into writer batches (group commit): a change after a quiet spell
// is written at once; changes that stream in right after a write wait for the output to rest
// as long as that write took, and go together.
#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>

#include "daemon/app.hpp"
#include "support/running_app.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

TEST_CASE("group commit: wait until the output rested as long as the last write took, capped", "[app][batch]") {
  const auto t0 = clock_type::time_point{} + 1h;
  // Quiet for longer than the last write took: at once.
  CHECK(group_commit_wait(t0 + 10ms, t0, 3ms, 20ms) == clock_type::duration::zero());
  CHECK(group_commit_wait(t0 + 3ms, t0, 3ms, 20ms) == clock_type::duration::zero());
  // Right after a 3 ms write: the rest of 3 ms.
  CHECK(group_commit_wait(t0, t0, 3ms, 20ms) == 3ms);
  CHECK(group_commit_wait(t0 + 1ms, t0, 3ms, 20ms) == 2ms);
  // A slow write (a loaded disk): never more than the cap.
  CHECK(group_commit_wait(t0, t0, 900ms, 20ms) == 20ms);
  // Before any write (last_end at the epoch): at once.
  CHECK(group_commit_wait(t0, clock_type::time_point{}, clock_type::duration::zero(), 20ms) == clock_type::duration::zero());
}

namespace {

service_ptr redis(int i) {
  service s;
  s.id = "static://redis-" + std::to_string(i);
  s.listener = "static";
  s.ad_identifiers = {"redis"};
  s.hosts = std::map<std::string, std::string>{{"bridge", "10.2.0." + std::to_string(i % 250 + 1)}};
  s.ports = std::vector<service_port>{{6379, "redis"}};
  return std::make_shared<const service>(std::move(s));
}

std::string file_of(const test::running_app& r, int i) {
  return r.setup.out + "/redisdb.d/static___redis-" + std::to_string(i) + ".yaml";
}

}  // namespace

TEST_CASE("group commit in the app: a lone change is written at once, a stream goes in fewer batches", "[app][batch]") {
  test::running_app r("[]\n");
  auto& a = *r.the_app;
  std::this_thread::sleep_for(50ms);  // a quiet spell
  const auto batches_before = a.totals().write_batches;
  service_delta lone;
  lone.added.push_back(redis(0));
  a.on_delta("static", std::move(lone));
  r.io.poll();  // no time passes for timers: only what is due now runs
  CHECK(fs::exists(file_of(r, 0)));
  CHECK(a.totals().write_batches == batches_before + 1);

  // 200 changes, each delivered in its own turn of the loop, as a busy event stream does.
  const int n = 200;
  for (int i = 1; i <= n; ++i) {
    service_delta d;
    d.added.push_back(redis(i));
    a.on_delta("static", std::move(d));
    r.io.poll();
  }
  for (int i = 0; i < 100 && !fs::exists(file_of(r, n)); ++i) r.io.run_for(10ms);
  for (int i = 1; i <= n; ++i) {
    INFO(i);
    REQUIRE(fs::exists(file_of(r, i)));
  }
  const auto batches = a.totals().write_batches - batches_before - 1;
  INFO(batches << " batches for " << n << " changes");
  CHECK(batches < static_cast<std::uint64_t>(n));
  CHECK(batches >= 1);
}
