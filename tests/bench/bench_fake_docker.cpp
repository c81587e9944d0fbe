// Figures on the fake Docker engine: initial sync vs containers, sustained events/s, and a
// standalone fake engine for the daemon's footprint (RSS, idle CPU) measured by run.sh.

#include <sys/stat.h>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "bench_commands.hpp"
#include "config/daemon_config.hpp"
#include "daemon/app.hpp"
#include "scale_engine.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

/// A daemon (the real app, in this process, on this thread) pointed at a fake engine.
struct daemon_world {
  daemon_world(const std::string& engine_url, long concurrency) {
    std::filesystem::create_directories(dir.path() / "templates" / "redisdb.d");
    test::write_file(dir.path() / "templates" / "redisdb.d" / "auto_conf.yaml", redis_template);
    const std::string yaml = fmt::format(
        "listeners:\n  - type: docker\n    host: {}\n    inspect_concurrency: {}\n"
        "templates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: \"off\"\n",
        engine_url, concurrency);
    auto errors = parse_daemon_config(yaml, "bench.yaml", dir.str(), config);
    if (!errors.empty()) throw std::runtime_error("bench config: " + errors.front().message);
    out = (dir.path() / "out" / "redisdb.d").string();
  }
  std::size_t files() const {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(out, ec)) {
      if (e.path().filename().string()[0] != '.') ++n;
    }
    return n;
  }
  test::temp_dir dir{"autodiscd-bench"};
  daemon_config config;
  std::string out;
};

/// Runs `io` until `done()` or `limit`; false on timeout.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// The container number in a path holding its 64-hex id (see container_id()).
std::optional<std::size_t> container_of(const std::string& path) {
  const auto name = std::filesystem::path(path).filename().string();
  std::size_t run = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const bool hex = std::isxdigit(static_cast<unsigned char>(name[i])) != 0;
    run = hex ? run + 1 : 0;
    if (run == 64) return std::stoull(name.substr(i + 1 - 16, 16), nullptr, 16) - 1;
  }
  return std::nullopt;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

int run_sync(const options& opt) {
  const auto sizes = opt.nums("containers", "100,1000,10000");
  const long repeat = opt.num("repeat", 3);
  const auto delay = std::chrono::milliseconds(opt.num("inspect-delay-ms", 1));
  const long concurrency = opt.num("concurrency", 4);
  // Sizes of 10,000 and more run `repeat-large` times (each run writes that many files).
  const long repeat_large = opt.num("repeat-large", repeat);
  scale_engine engine;
  engine.set_inspect_delay(delay);
  std::size_t have = 0;
  int rc = 0;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::pair<double, double>> points;  // containers, median ms
  for (long n : sizes) {
    engine.add_containers(have, static_cast<std::size_t>(n) - have);
    have = static_cast<std::size_t>(n);
    std::vector<double> wall, cpu;
    const long runs = n >= 10000 ? repeat_large : repeat;
    for (long r = 0; r < runs; ++r) {
      daemon_world world(engine.url(), concurrency);
      boost::asio::io_context io;
      auto daemon = std::make_unique<app>(io, world.config, true);
      bool ready = false;
      clock_type::time_point t_ready;
      daemon->on_ready = [&] {
        ready = true;
        t_ready = clock_type::now();
      };
      const double cpu0 = thread_cpu_ms();
      const auto t0 = clock_type::now();
      if (auto error = daemon->start()) throw std::runtime_error(*error);
      if (!run_until(io, [&] { return ready; }, std::chrono::minutes(5))) throw std::runtime_error("sync timed out");
      const double cpu1 = thread_cpu_ms();
      wall.push_back(ms_between(t0, t_ready));
      cpu.push_back(cpu1 - cpu0);
      const auto files = world.files();
      if (files != static_cast<std::size_t>(n)) {
        progress(fmt::format("sync: WRONG final state: {} files for {} containers", files, n));
        rc = 1;
      }
      progress(fmt::format("sync containers={} run={} ms={:.1f} cpu_ms={:.1f} files={}", n, r, wall.back(), cpu.back(), files));
      daemon->stop();
      daemon.reset();
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
    summary w(wall), c(cpu);
    points.emplace_back(static_cast<double>(n), w.median());
    rows.push_back({std::to_string(n), std::to_string(runs), fmt_num(w.min()), fmt_num(w.median()), fmt_num(w.max()),
                    fmt_num(c.median()), fmt_num(w.median() * 1000.0 / static_cast<double>(n))});
  }
  print_table({"containers", "runs", "min ms", "median ms", "max ms", "daemon CPU ms (median)", "µs per container"}, rows);
  if (points.size() >= 2) {
    // Least-squares slope of median time over containers.
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (auto [x, y] : points) {
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    const double k = static_cast<double>(points.size());
    const double slope = (k * sxy - sx * sy) / (k * sxx - sx * sx);
    const double intercept = (sy - slope * sx) / k;
    std::cout << fmt::format("Least-squares fit over the medians: {} ms + {} ms per 1,000 containers "
                             "(inspect latency {} ms, {} connections).\n\n",
                             fmt_num(intercept), fmt_num(slope * 1000.0), delay.count(), concurrency);
  }
  return rc;
}

namespace {

struct event_run {
  double events = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  bool correct = false;
  std::size_t inspects = 0;
  std::uint64_t batches = 0;     ///< write batches from the first event to the end
  std::uint64_t files = 0;       ///< files written or removed in them
  double write_seconds = 0;      ///< loop time spent resolving and writing them
};

/// Starts a daemon on a fresh engine, waits until it is ready with no containers, then plays
/// `containers` starts followed by destroys of every second one at `rate` (0: flat out).
event_run play_events(std::size_t containers, double rate, long concurrency) {
  scale_engine engine;
  daemon_world world(engine.url(), concurrency);
  boost::asio::io_context io;
  app daemon(io, world.config, true);
  bool ready = false;
  daemon.on_ready = [&] { ready = true; };
  std::vector<clock_type::time_point> written(containers), removed(containers);
  clock_type::time_point last_change;
  daemon.on_files_changed = [&](const std::vector<std::string>& paths) {
    const auto now = clock_type::now();
    last_change = now;
    for (const auto& p : paths) {
      auto n = container_of(p);
      if (!n || *n >= containers) continue;
      if (exists(p)) {
        if (written[*n] == clock_type::time_point{}) written[*n] = now;
      } else {
        removed[*n] = now;
      }
    }
  };
  if (auto error = daemon.start()) throw std::runtime_error(*error);
  if (!run_until(io, [&] { return ready; }, std::chrono::seconds(30))) throw std::runtime_error("no initial sync");

  std::vector<scale_engine::step> script;
  for (std::size_t n = 0; n < containers; ++n) script.push_back({n, true});
  for (std::size_t n = 0; n < containers; n += 2) script.push_back({n, false});
  std::vector<clock_type::time_point> emitted;
  const auto totals_before = daemon.totals();
  std::atomic<bool> played{false};
  std::thread player([&] {
    engine.play(script, rate, emitted);
    played = true;
  });
  const std::size_t expected = containers / 2;
  // Settled: exactly the odd containers are services, each with its file (a count alone can
  // pass through the expected value while starts and destroys are still being applied).
  auto settled = [&] {
    const auto& svcs = daemon.services();
    if (svcs.size() != expected || daemon.writer()->owned_paths().size() != expected) return false;
    for (std::size_t n = 1; n < containers; n += 2) {
      if (!svcs.count("docker://" + container_id(n))) return false;
    }
    return true;
  };
  const bool ok = run_until(io, [&] { return played.load() && settled(); }, std::chrono::minutes(10));
  player.join();
  event_run out;
  out.events = static_cast<double>(script.size());
  out.seconds = std::chrono::duration<double>(last_change - emitted.front()).count();
  out.inspects = engine.inspects();
  const auto& totals = daemon.totals();
  out.batches = totals.write_batches - totals_before.write_batches;
  out.files = (totals.writes.written + totals.writes.removed) - (totals_before.writes.written + totals_before.writes.removed);
  out.write_seconds = std::chrono::duration<double>(totals.write_time - totals_before.write_time).count();
  // Final state: exactly the odd containers, each with its file.
  bool correct = ok;
  for (std::size_t n = 0; n < containers && correct; ++n) {
    const bool want = n % 2 == 1;
    const bool has = daemon.services().count("docker://" + container_id(n)) > 0;
    if (want != has) correct = false;
  }
  correct = correct && world.files() == expected;
  out.correct = correct;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const auto& s = script[i];
    const auto done = s.start ? written[s.container] : removed[s.container];
    if (done == clock_type::time_point{}) continue;  // coalesced (destroyed before its start was seen)
    out.latencies_ms.push_back(ms_between(emitted[i], done));
  }
  daemon.stop();
  return out;
}

/// "batches=B files/batch=F writing=P%" of one run.
std::string batch_text(const event_run& run) {
  return fmt::format("batches={} files/batch={:.1f} writing={:.0f}%", run.batches,
                     run.batches ? static_cast<double>(run.files) / static_cast<double>(run.batches) : 0.0,
                     run.seconds > 0 ? 100 * run.write_seconds / run.seconds : 0.0);
}

/// The median run's files per batch and share of the run the loop spent writing.
std::string batch_summary(const std::vector<event_run>& runs) {
  std::vector<double> per_batch, share;
  for (const auto& r : runs) {
    per_batch.push_back(r.batches ? static_cast<double>(r.files) / static_cast<double>(r.batches) : 0.0);
    share.push_back(r.seconds > 0 ? 100 * r.write_seconds / r.seconds : 0.0);
  }
  if (runs.empty()) return "";
  return fmt::format("{} / {}%", fmt_num(summary(per_batch).median()), fmt_num(summary(share).median()));
}

}  // namespace

int run_events(const options& opt) {
  const auto containers = static_cast<std::size_t>(opt.num("containers", 20000));
  const double load = opt.real("load", 0.5);
  const double duration = opt.real("duration-s", 4);
  const long repeat = opt.num("repeat", 3);
  const long concurrency = opt.num("concurrency", 4);
  int rc = 0;
  std::vector<double> rates;
  std::vector<std::vector<std::string>> rows;
  std::vector<event_run> flat_batches, paced_batches;
  for (long r = 0; r < repeat; ++r) {
    auto run = play_events(containers, 0, concurrency);
    const double rate = run.events / run.seconds;
    rates.push_back(rate);
    progress(fmt::format("events flat-out run={} events={} s={:.2f} rate={:.0f}/s inspects={} correct={} {}", r, run.events,
                         run.seconds, rate, run.inspects, run.correct, batch_text(run)));
    flat_batches.push_back(run);
    if (!run.correct) rc = 1;
  }
  summary sr(rates);
  rows.push_back({"flat out", fmt::format("{} starts + {} destroys", containers, containers / 2), std::to_string(repeat),
                  fmt::format("{} / {} / {}", fmt_num(sr.min()), fmt_num(sr.median()), fmt_num(sr.max())), "", "",
                  batch_summary(flat_batches), rc == 0 ? "yes" : "NO"});
  // Paced at `load` of the median flat-out rate, for about `duration` seconds.
  const double rate = load * sr.median();
  const auto paced = std::max<std::size_t>(20, static_cast<std::size_t>(rate * duration / 1.5));
  std::vector<double> lat;
  bool correct = true;
  for (long r = 0; r < repeat; ++r) {
    auto run = play_events(paced, rate, concurrency);
    lat.insert(lat.end(), run.latencies_ms.begin(), run.latencies_ms.end());
    progress(fmt::format("events paced run={} rate={:.0f}/s events={} achieved={:.0f}/s correct={} {}", r, rate, run.events,
                         run.events / run.seconds, run.correct, batch_text(run)));
    paced_batches.push_back(run);
    correct = correct && run.correct;
  }
  if (!correct) rc = 1;
  summary sl(lat);
  rows.push_back({fmt::format("paced at {:.0f}% ({:.0f}/s)", load * 100, rate),
                  fmt::format("{} starts + {} destroys", paced, paced / 2), std::to_string(repeat), "",
                  fmt_num(sl.median()), fmt_num(sl.p99()), batch_summary(paced_batches), correct ? "yes" : "NO"});
  print_table({"load", "script", "runs", "events/s min / median / max", "latency p50 ms", "latency p99 ms",
               "write batches: files per batch / loop time writing (median run)", "final state correct"},
              rows);
  return rc;
}

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }
}  // namespace

int run_fake_engine(const options& opt) {
  const auto containers = static_cast<std::size_t>(opt.num("containers", 1000));
  const auto link = opt.str("socket-link", "");
  const double events_per_s = opt.real("events-per-s", 0);
  scale_engine engine;
  engine.set_inspect_delay(std::chrono::milliseconds(opt.num("inspect-delay-ms", 1)));
  engine.add_containers(0, containers);
  if (!link.empty()) {
    std::error_code ec;
    std::filesystem::remove(link, ec);
    std::filesystem::create_symlink(engine.socket_path(), link);
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::cout << "unix://" << (link.empty() ? engine.socket_path() : link) << std::endl;
  // Churn: start a new container and destroy it again, M events/s in all, until stopped.
  std::size_t next = containers;
  while (!stop_requested) {
    if (events_per_s <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::vector<scale_engine::step> script;
    const auto per_second = static_cast<std::size_t>(events_per_s);
    for (std::size_t i = 0; i < per_second / 2; ++i) {
      script.push_back({next + i, true});
      script.push_back({next + i, false});
    }
    next += per_second / 2;
    std::vector<clock_type::time_point> emitted;
    engine.play(script, events_per_s, emitted);
  }
  if (!link.empty()) {
    std::error_code ec;
    std::filesystem::remove(link, ec);
  }
  return 0;
}

}  // namespace autodiscd::bench
