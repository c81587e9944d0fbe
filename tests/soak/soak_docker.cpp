// autodiscd_soak: the real autodiscd binary (a child process) against a fake Docker engine
// (tests/bench/scale_engine: tests/support's fake_engine on its own thread in this process,
// on a unix socket) with SOAK_LIVE running containers (default 1,000), churned at SOAK_RATE
// starts and SOAK_RATE stops per second (default 50) for SOAK_SECONDS (default 120).
//
// One churn cycle of a container: put + `start` event; later (a random live container)
// State.Running=false + `die` event; 1 s after that removed + `destroy` event. Inspect
// answers always match the events already written (the state changes before its event).
//
// Samples every SOAK_SAMPLE_SECONDS (default 2) the daemon's VmRSS (/proc/PID/status) and its
// open descriptors (/proc/PID/fd: the minimum and maximum of 50 counts 20 ms apart; the
// minimum leaves out short-lived descriptors: the writer's temp files and folders, extra
// engine connections of a burst beyond the 4 kept idle; a leaked one stays). Warm-up: the
// first 20 % of the churn, at least 20 s.
//
// Fails (exit 1) when, after warm-up:
//   - RSS growth > SOAK_MAX_RSS_GROWTH_KIB (default 1024): growth = the largest VmRSS of the
//     samples after the warm-up-end sample (the end sample included) minus VmRSS at the
//     warm-up-end sample;
//   - the lowest descriptor count (minimum of 50 counts over 1 s) of the samples in the last
//     20 s of the churn differs from the count when idle before the churn (a leaked one is in
//     every count; connections opened in a burst when the daemon falls behind are not);
//   - the descriptor count once the daemon is idle after the churn (a single count, after the
//     output equals the truth and 1 s without events) differs from the count when it was
//     idle before the churn (after the initial sync);
//   - once churn stops, the output folder does not equal the truth within 5 s: exactly one
//     file redisdb.d/<safe id>.yaml per running container, holding its IP, and nothing else
//     (no other visible file, folder or temp file);
//   - the daemon received a different number of events than the engine wrote, reconnected,
//     reported listener errors, or did not exit 0 on SIGTERM.
//
// CI runs it for 2 minutes (ctest label `soak`); docs/reliability.md records a 30-minute run:
//   SOAK_SECONDS=1800 build/tests/soak/autodiscd_soak

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_common.hpp"
#include "config/resolver.hpp"
#include "scale_engine.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

namespace autodiscd::soak {

using bench::clock_type;
using bench::container_id;
using bench::redis_template;
namespace fs = std::filesystem;

namespace {

long env_num(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0) throw std::runtime_error(fmt::format("{}={}: not a number", name, v));
  return n;
}

std::string ip_of(std::size_t n) { return fmt::format("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255); }

nlohmann::json make_container(std::size_t n, bool running) {
  auto c = test::fake_engine::container(container_id(n), fmt::format("soak-{}", n), "redis:5", {}, ip_of(n));
  if (!running) {
    c["State"]["Status"] = "exited";
    c["State"]["Running"] = false;
    c["State"]["Pid"] = 0;
    c["State"]["ExitCode"] = 0;
  }
  return c;
}

std::string file_name(std::size_t n) { return safe_file_name("docker://" + container_id(n)) + ".yaml"; }

// --- the daemon's resources ----------------------------------------------------------------

std::size_t fd_count(int pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

/// Open descriptors by kind ("socket", "anon_inode:[eventpoll]", a file path...), for the log.
std::map<std::string, int> fd_kinds(int pid) {
  std::map<std::string, int> kinds;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    auto target = fs::read_symlink(it->path(), ec).string();
    if (ec) continue;
    if (auto colon = target.find(":["); colon != std::string::npos && target.rfind("anon_inode:", 0) != 0) {
      target = target.substr(0, colon);  // socket:[123] -> socket
    }
    kinds[target]++;
  }
  return kinds;
}

struct sample {
  double t = 0;  ///< seconds since churn started
  long rss_kib = -1;
  std::size_t fds_min = 0;
  std::size_t fds_max = 0;
  std::size_t events = 0;  ///< written by the engine so far
};

/// Descriptor counts per sample, 20 ms apart: the minimum over 1 s is the count at rest.
constexpr int fd_counts = 50;

sample take_sample(int pid, double t, std::size_t events) {
  sample s;
  s.t = t;
  s.events = events;
  s.rss_kib = bench::rss_kib(pid);
  s.fds_min = s.fds_max = fd_count(pid);
  for (int i = 1; i < fd_counts; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto n = fd_count(pid);
    s.fds_min = std::min(s.fds_min, n);
    s.fds_max = std::max(s.fds_max, n);
  }
  return s;
}

/// GET `target` from the status server on a unix socket; the body ("" on failure).
std::string status_get(const std::string& socket_path, const std::string& target) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  std::string response;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const auto request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (;;) {
        const auto n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        response.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

/// Sum of the samples of metric `name` (its lines "name{...} value" or "name value") whose
/// labels contain `label_filter`.
double metric(const std::string& text, const std::string& name, const std::string& label_filter = "") {
  double sum = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    if (line[name.size()] != '{' && line[name.size()] != ' ') continue;
    if (!label_filter.empty() && line.find(label_filter) == std::string_view::npos) continue;
    const auto space = line.rfind(' ');
    sum += std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return sum;
}

// --- the truth ---------------------------------------------------------------------------------

/// What differs between the output folder and the running containers ("" when equal).
std::string compare_output(const fs::path& out, const std::vector<std::size_t>& live) {
  std::map<std::string, std::size_t> expected;
  for (auto n : live) expected.emplace(file_name(n), n);
  std::vector<std::string> problems;
  std::size_t missing = 0, extra = 0, wrong = 0;
  std::error_code ec;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name == ".autodiscd-owned") continue;
    if (name != "redisdb.d") problems.push_back("unexpected entry out/" + name);
  }
  std::set<std::string> seen;
  for (fs::directory_iterator it(out / "redisdb.d", ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    auto e = expected.find(name);
    if (e == expected.end()) {
      if (++extra <= 3) problems.push_back("stale or foreign file redisdb.d/" + name);
      continue;
    }
    seen.insert(name);
    const auto content = test::read_file(it->path());
    if (content.find("host: " + ip_of(e->second) + "\n") == std::string::npos) {
      if (++wrong <= 3) problems.push_back("redisdb.d/" + name + " does not hold " + ip_of(e->second) + ": " + content);
    }
  }
  for (const auto& [name, n] : expected) {
    if (!seen.count(name) && ++missing <= 3) problems.push_back("missing redisdb.d/" + name);
  }
  if (problems.empty()) return {};
  std::string text = fmt::format("{} missing, {} stale or foreign, {} with wrong content", missing, extra, wrong);
  for (const auto& p : problems) text += "\n  " + p;
  return text;
}

// --- the churn ---------------------------------------------------------------------------------

/// The engine's containers as the soak sees them; changed only inside scale_engine::call.
struct churn_state {
  std::vector<std::size_t> live;
  std::vector<std::pair<clock_type::time_point, std::size_t>> stopped;  ///< stop time, container
  std::size_t next = 0;
  std::size_t events = 0;
  std::size_t inspects = 0;
  std::size_t starts = 0;
  std::size_t stops = 0;
  std::mt19937_64 random{20261126};
};

void churn_step(test::fake_engine& e, churn_state& s, std::size_t starts, std::size_t stops, clock_type::time_point now) {
  // Count and forget what the engine recorded, so that its memory stays flat.
  for (const auto& [path, hits] : e.hits) {
    if (path.rfind("/containers/", 0) == 0 && path != "/containers/json") s.inspects += static_cast<std::size_t>(hits);
  }
  e.hits.clear();
  e.targets.clear();
  // Stopped containers go 1 s after their stop.
  std::size_t gone = 0;
  while (gone < s.stopped.size() && now - s.stopped[gone].first >= std::chrono::seconds(1)) {
    const auto id = container_id(s.stopped[gone].second);
    e.remove_container(id);
    e.emit_container_event("destroy", id);
    ++s.events;
    ++gone;
  }
  s.stopped.erase(s.stopped.begin(), s.stopped.begin() + static_cast<std::ptrdiff_t>(gone));
  for (std::size_t i = 0; i < std::max(starts, stops); ++i) {
    if (i < starts) {
      const auto n = s.next++;
      e.put_container(make_container(n, true));
      e.emit_container_event("start", container_id(n));
      s.live.push_back(n);
      ++s.events;
      ++s.starts;
    }
    if (i < stops && !s.live.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, s.live.size() - 1);
      const auto k = pick(s.random);
      const auto n = s.live[k];
      s.live[k] = s.live.back();
      s.live.pop_back();
      e.put_container(make_container(n, false));
      e.emit_container_event("die", container_id(n));
      s.stopped.emplace_back(now, n);
      ++s.events;
      ++s.stops;
    }
  }
}

void print_summary(const std::vector<sample>& samples, std::size_t warm_index) {
  std::cout << "| t s | VmRSS KiB | fds (min of 50 in 1 s) | fds (max of 50) | events written |\n|---|---|---|---|---|\n";
  // Every sample for short runs; about 40 rows for long ones (the warm-up end and the last always).
  const std::size_t stride = std::max<std::size_t>(1, samples.size() / 40);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i % stride != 0 && i != warm_index && i + 1 != samples.size()) continue;
    const auto& s = samples[i];
    std::cout << fmt::format("| {:.0f}{} | {} | {} | {} | {} |\n", s.t, i == warm_index ? " (warm-up end)" : "",
                             s.rss_kib, s.fds_min, s.fds_max, s.events);
  }
}

volatile std::sig_atomic_t interrupted = 0;
void on_signal(int) { interrupted = 1; }

int run() {
  const long seconds = env_num("SOAK_SECONDS", 120);
  const auto live_target = static_cast<std::size_t>(env_num("SOAK_LIVE", 1000));
  const long rate = env_num("SOAK_RATE", 50);
  const long sample_every = std::max(1L, env_num("SOAK_SAMPLE_SECONDS", 2));
  const long max_growth = env_num("SOAK_MAX_RSS_GROWTH_KIB", 1024);
  const double warm_s = std::max(20.0, 0.2 * static_cast<double>(seconds));
  if (static_cast<double>(seconds) < warm_s + 2.0 * static_cast<double>(sample_every)) {
    throw std::runtime_error(fmt::format("SOAK_SECONDS={} leaves no samples after the {:.0f} s warm-up", seconds, warm_s));
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  test::temp_dir dir("autodiscd-soak");
  fs::create_directories(dir.path() / "templates" / "redisdb.d");
  test::write_file(dir.path() / "templates" / "redisdb.d" / "auto_conf.yaml", redis_template);
  const auto out = dir.path() / "out";
  const auto status_socket = (dir.path() / "status.sock").string();

  bench::scale_engine engine;
  churn_state state;
  engine.call([&](test::fake_engine& e) {
    for (; state.next < live_target; ++state.next) {
      e.put_container(make_container(state.next, true));
      state.live.push_back(state.next);
    }
  });
  test::write_file(dir.path() / "autodiscd.yaml",
                   fmt::format("listeners:\n  - type: docker\n    host: {}\n"
                               "templates:\n  dirs: [templates]\noutput:\n  dir: out\n"
                               "status:\n  listen: \"unix:{}\"\nlog:\n  level: info\n",
                               engine.url(), status_socket));
  const auto log_file = (dir.path() / "daemon.log").string();
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", (dir.path() / "autodiscd.yaml").string()},
                             log_file);
  std::cerr << fmt::format("soak: autodiscd pid {}, {} live containers, {} starts + {} stops/s for {} s "
                           "(warm-up {:.0f} s), samples every {} s, folder {}\n",
                           daemon.pid(), live_target, rate, rate, seconds, warm_s, sample_every, dir.str());
  const auto ready_text = fmt::format("ready: services={} ", live_target);
  if (!test::eventually([&] { return test::read_file(log_file).find(ready_text) != std::string::npos; },
                        std::chrono::seconds(60))) {
    std::cerr << "soak: FAILED: the daemon was not ready with " << live_target << " services in 60 s\n"
              << test::read_file(log_file);
    return 1;
  }
  {
    const auto diff = compare_output(out, state.live);
    if (!diff.empty()) {
      std::cerr << "soak: FAILED: after the initial sync the output differs from the engine: " << diff << "\n";
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto kinds_before = fd_kinds(daemon.pid());
  const auto idle_fds_before = fd_count(daemon.pid());

  // Samples on their own thread (each takes 1 s of descriptor counts), so the churn stays even.
  std::vector<sample> samples;
  std::mutex samples_mutex;
  std::atomic<std::size_t> events_written{0};
  std::atomic<bool> churning{true};
  const auto begin = clock_type::now();
  const int pid = daemon.pid();
  std::thread sampler([&] {
    auto next_sample = begin + std::chrono::seconds(sample_every);
    while (churning) {
      if (clock_type::now() < next_sample) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      next_sample += std::chrono::seconds(sample_every);
      const double t = std::chrono::duration<double>(clock_type::now() - begin).count();
      auto s = take_sample(pid, t, events_written);
      std::cerr << fmt::format("soak: t={:.0f}s rss={}KiB fds={}..{} events={}\n", t, s.rss_kib, s.fds_min, s.fds_max,
                               s.events);
      std::lock_guard lock(samples_mutex);
      samples.push_back(s);
    }
  });
  // Churn: every 100 ms, the starts and stops due by now (so the rate holds whatever a tick costs).
  const auto duration = std::chrono::seconds(seconds);
  std::size_t starts_done = 0;
  bool daemon_died = false;
  while (!interrupted) {
    const auto now = clock_type::now();
    const double t = std::chrono::duration<double>(now - begin).count();
    const bool last = now - begin >= duration;
    const auto due = last ? static_cast<std::size_t>(rate * seconds)
                          : static_cast<std::size_t>(t * static_cast<double>(rate));
    const auto batch = due - std::min(due, starts_done);
    engine.call([&](test::fake_engine& e) { churn_step(e, state, batch, batch, now); });
    starts_done += batch;
    events_written = state.events;
    if (!daemon.running()) {
      daemon_died = true;
      break;
    }
    if (last) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto churn_end = clock_type::now();
  churning = false;
  sampler.join();
  if (daemon_died) {
    std::cerr << "soak: FAILED: autodiscd exited during the churn\n" << test::read_file(log_file);
    return 1;
  }
  if (interrupted) {
    std::cerr << "soak: interrupted\n";
    return 1;
  }
  // The last sample, at the end of the churn (the last events may still be in flight: it
  // counts as a sample under load); the warm-up-end sample is the first at or after warm_s.
  samples.push_back(take_sample(pid, std::chrono::duration<double>(clock_type::now() - begin).count(), state.events));
  std::size_t warm_index = 0;
  while (warm_index + 1 < samples.size() && samples[warm_index].t < warm_s) ++warm_index;
  const auto kinds_after = fd_kinds(daemon.pid());

  // Churn stopped: the stopped containers go now; then the output must equal the truth.
  std::vector<std::size_t> live;
  engine.call([&](test::fake_engine& e) {
    for (const auto& [when, n] : state.stopped) {
      e.remove_container(container_id(n));
      e.emit_container_event("destroy", container_id(n));
      ++state.events;
    }
    state.stopped.clear();
    churn_step(e, state, 0, 0, clock_type::now());  // counts the last inspects
    live = state.live;
  });
  const auto truth_set = clock_type::now();
  std::string diff;
  const bool converged = test::eventually(
      [&] {
        diff = compare_output(out, live);
        return diff.empty();
      },
      std::chrono::seconds(5));
  const double converge_ms = bench::ms_between(truth_set, clock_type::now());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto idle_fds_after = fd_count(daemon.pid());
  const auto kinds_idle_after = fd_kinds(daemon.pid());
  // Inspects still in flight when the churn stopped are answered by now.
  engine.call([&](test::fake_engine& e) { churn_step(e, state, 0, 0, clock_type::now()); });
  const auto metrics = status_get(status_socket, "/metrics");
  const auto events_received = static_cast<std::size_t>(metric(metrics, "autodiscd_listener_events_received_total"));
  const auto reconnects = metric(metrics, "autodiscd_listener_reconnects_total");
  const auto listener_errors = metric(metrics, "autodiscd_listener_errors_total");
  const auto written = metric(metrics, "autodiscd_files_total", "result=\"written\"");
  const auto removed = metric(metrics, "autodiscd_files_total", "result=\"removed\"");
  const auto failed = metric(metrics, "autodiscd_files_total", "result=\"failed\"");
  const auto journal_bytes = fs::file_size(out / ".autodiscd-owned");
  const auto hwm = [&] {
    std::string text = test::read_file("/proc/" + std::to_string(daemon.pid()) + "/status");
    auto p = text.find("VmHWM:");
    return p == std::string::npos ? -1L : std::strtol(text.c_str() + p + 6, nullptr, 10);
  }();
  daemon.signal(SIGTERM);
  const auto exit_code = daemon.wait(std::chrono::seconds(10));

  // Figures after warm-up.
  const auto& warm = samples[warm_index];
  const auto& end = samples.back();
  long max_rss = warm.rss_kib;
  std::size_t fd_lo = warm.fds_min, fd_hi = warm.fds_min, fd_max_seen = warm.fds_max;
  for (std::size_t i = warm_index; i < samples.size(); ++i) {
    max_rss = std::max(max_rss, samples[i].rss_kib);
    fd_lo = std::min(fd_lo, samples[i].fds_min);
    fd_hi = std::max(fd_hi, samples[i].fds_min);
    fd_max_seen = std::max(fd_max_seen, samples[i].fds_max);
  }
  const long growth = max_rss - warm.rss_kib;
  const double churn_s = std::chrono::duration<double>(churn_end - begin).count();

  print_summary(samples, warm_index);
  std::cout << fmt::format(
      "\nsoak: {:.0f} s of churn, {} live containers, {} starts + {} stops ({:.1f}/s each), {} events written by "
      "the engine, {} received by autodiscd, {} inspects answered\n",
      churn_s, live.size(), state.starts, state.stops, static_cast<double>(state.starts) / churn_s, state.events,
      events_received, state.inspects);
  std::cout << fmt::format(
      "soak: VmRSS KiB: first sample {}, warm-up end (t={:.0f} s) {}, max after warm-up {}, end {}; growth after "
      "warm-up (max - warm-up end) {} KiB (limit {}); end - warm-up end {} KiB; VmHWM {}\n",
      samples.front().rss_kib, warm.t, warm.rss_kib, max_rss, end.rss_kib, growth, max_growth,
      end.rss_kib - warm.rss_kib, hwm);
  std::cout << fmt::format("soak: open fds (min of 50 counts in 1 s) after warm-up: {}..{} (warm-up end {}, end {}); max of "
                           "any count {}\n",
                           fd_lo, fd_hi, warm.fds_min, end.fds_min, fd_max_seen);
  std::cout << fmt::format("soak: open fds when idle: {} before the churn, {} after it\n", idle_fds_before,
                           idle_fds_after);
  std::cout << "soak: fds by kind, idle before the churn:";
  for (const auto& [k, n] : kinds_before) std::cout << " " << k << "=" << n;
  std::cout << "\nsoak: fds by kind, at the end of the churn:";
  for (const auto& [k, n] : kinds_after) std::cout << " " << k << "=" << n;
  std::cout << "\nsoak: fds by kind, idle after the churn:";
  for (const auto& [k, n] : kinds_idle_after) std::cout << " " << k << "=" << n;
  std::cout << fmt::format(
      "\nsoak: files written {}, removed {}, failed {}; reconnects {}, listener errors {}; journal {} bytes\n",
      written, removed, failed, reconnects, listener_errors, journal_bytes);
  std::cout << fmt::format("soak: output {} the truth ({} files) {:.0f} ms after the last destroy event\n",
                           converged ? "equal to" : "NOT equal to", live.size(), converge_ms);

  std::vector<std::string> failures;
  if (growth > max_growth) failures.push_back(fmt::format("RSS grew {} KiB after warm-up (limit {})", growth, max_growth));
  // A leaked descriptor is in every count from then on; a burst connection is not. So the
  // lowest count of the churn's last 20 s (10 samples, 500 counts) must be the idle count.
  std::size_t tail_min = end.fds_min;
  for (const auto& x : samples) {
    if (x.t >= end.t - 20) tail_min = std::min(tail_min, x.fds_min);
  }
  if (tail_min != idle_fds_before) {
    failures.push_back(fmt::format("open fds: the lowest count in the last 20 s of the churn is {}, idle before it {} "
                                   "(after warm-up: {}..{})",
                                   tail_min, idle_fds_before, fd_lo, fd_hi));
  }
  if (idle_fds_before != idle_fds_after) {
    failures.push_back(fmt::format("open fds when idle: {} before the churn, {} after", idle_fds_before, idle_fds_after));
  }
  if (!converged) failures.push_back("the output is not the truth 5 s after the churn stopped: " + diff);
  if (events_received != state.events) {
    failures.push_back(fmt::format("autodiscd received {} events, the engine wrote {}", events_received, state.events));
  }
  if (reconnects != 0 || listener_errors != 0 || failed != 0) {
    failures.push_back(fmt::format("reconnects {}, listener errors {}, failed files {}", reconnects, listener_errors, failed));
  }
  if (!exit_code || *exit_code != 0) {
    failures.push_back(exit_code ? fmt::format("autodiscd exited {} on SIGTERM", *exit_code)
                                 : "autodiscd did not exit 10 s after SIGTERM");
  }
  if (failures.empty()) {
    std::cout << "soak: ok" << std::endl;
    return 0;
  }
  for (const auto& f : failures) std::cout << "soak: FAILED: " << f << "\n";
  const auto log = test::read_file(log_file);
  std::cout << "soak: the daemon's log ends with:\n" << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << std::endl;
  return 1;
}

}  // namespace
}  // namespace autodiscd::soak

int main() {
  try {
    return autodiscd::soak::run();
  } catch (const std::exception& e) {
    std::cerr << "autodiscd_soak: " << e.what() << std::endl;
    return 1;
  }
}
