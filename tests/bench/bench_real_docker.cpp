// Real dockerd (started by tests/bench/dockerd.sh in its own network namespace): container
// start returned -> config file renamed into place, the engine's floor (a bare client's
// inspect of the started container), rm -f returned -> file gone, and Prometheus's
// docker_sd_configs (refresh_interval 1s) discovering the same kind of containers.
// This program starts its own autodiscd (the build's binary) and Prometheus.

#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_commands.hpp"
#include "listeners/file_watch.hpp"
#include "listeners/http/http_client.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// The first run of 64 hex digits in `name`.
std::optional<std::string> hex_id(const std::string& name) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    run = std::isxdigit(static_cast<unsigned char>(name[i])) ? run + 1 : 0;
    if (run == 64) return name.substr(i + 1 - 64, 64);
  }
  return std::nullopt;
}

struct docker_bench {
  docker_bench(net::io_context& io_, http_endpoint ep) : io(io_), api(io_.get_executor(), ep), bare(io_.get_executor(), ep), waiter(io_) {}
  net::io_context& io;
  http_client api;   ///< create, start, rm
  http_client bare;  ///< the floor: just the inspect
  net::steady_timer waiter;
  std::map<std::string, clock_type::time_point> written, removed;
  std::string prefix = "/v1.41";
  std::string image;
  std::string name_prefix;
  std::string error;

  void on_file(const std::string& dir, const std::string& name) {
    if (name.empty() || name[0] == '.') return;
    auto id = hex_id(name);
    if (!id) return;
    const auto now = clock_type::now();
    struct stat st {};
    if (::stat((dir + "/" + name).c_str(), &st) == 0) {
      written.emplace(*id, now);
    } else {
      removed[*id] = now;
    }
    waiter.cancel();
  }

  net::awaitable<http_result> call(std::string method, std::string target, std::string body = "") {
    http_request r;
    r.method = std::move(method);
    r.target = prefix + target;
    r.body = std::move(body);
    r.timeout = std::chrono::seconds(60);
    auto op = api.request(std::move(r));
    http_result result = co_await std::move(op);
    co_return result;
  }

  /// Waits until `id` is in `which` (woken by on_file), up to `limit`.
  net::awaitable<bool> wait_for(std::map<std::string, clock_type::time_point>& which, std::string id,
                                std::chrono::milliseconds limit) {
    const auto deadline = clock_type::now() + limit;
    while (!which.count(id)) {
      if (clock_type::now() >= deadline) co_return false;
      waiter.expires_after(std::chrono::milliseconds(50));
      co_await waiter.async_wait(use_tuple);
    }
    co_return true;
  }

  net::awaitable<std::string> create(std::string name) {
    nlohmann::json spec = {{"Image", image}, {"Cmd", {"sleep", "3600"}}, {"HostConfig", {{"Init", true}}}};
    auto op = call("POST", "/containers/create?name=" + name, spec.dump());
    http_result r = co_await std::move(op);
    if (!r.ok()) throw std::runtime_error("create " + name + ": " + r.error.message + " " + (r.response ? r.response->body : ""));
    co_return nlohmann::json::parse(r.response->body).at("Id").get<std::string>();
  }
};

struct start_sample {
  std::string id;
  double from_return = 0;  ///< file time - start returned (negative: the file was first)
  double from_send = 0;    ///< file time - start sent
  double start_call = 0;   ///< the engine's start call
  double floor = 0;        ///< a bare client's inspect right after start returned
};

net::awaitable<void> start_phase(docker_bench& b, std::size_t count, std::vector<start_sample>& out) {
  for (std::size_t i = 0; i < count; ++i) {
    auto create_op = b.create(fmt::format("{}-{}", b.name_prefix, i));
    std::string id = co_await std::move(create_op);
    start_sample s;
    s.id = id;
    const auto t0 = clock_type::now();
    auto start_op = b.call("POST", "/containers/" + id + "/start");
    http_result started = co_await std::move(start_op);
    const auto t1 = clock_type::now();
    if (!started.ok()) throw std::runtime_error("start: " + started.error.message);
    http_request inspect;
    inspect.target = b.prefix + "/containers/" + id + "/json";
    auto inspect_op = b.bare.request(std::move(inspect));
    http_result inspected = co_await std::move(inspect_op);
    const auto t2 = clock_type::now();
    if (!inspected.ok()) throw std::runtime_error("inspect: " + inspected.error.message);
    auto wait_op = b.wait_for(b.written, id, std::chrono::seconds(10));
    if (!co_await std::move(wait_op)) throw std::runtime_error("no config file for container " + id + " within 10 s");
    s.start_call = ms_between(t0, t1);
    s.floor = ms_between(t1, t2);
    s.from_return = ms_between(t1, b.written[id]);
    s.from_send = ms_between(t0, b.written[id]);
    out.push_back(s);
    if ((i + 1) % 50 == 0) progress(fmt::format("real-docker: {} containers started", i + 1));
  }
}

net::awaitable<void> removal_phase(docker_bench& b, const std::vector<start_sample>& started, std::vector<double>& out) {
  for (const auto& s : started) {
    auto rm_op = b.call("DELETE", "/containers/" + s.id + "?force=true");
    http_result r = co_await std::move(rm_op);
    const auto t1 = clock_type::now();
    if (!r.ok()) throw std::runtime_error("rm -f: " + r.error.message);
    auto wait_op = b.wait_for(b.removed, s.id, std::chrono::seconds(10));
    if (!co_await std::move(wait_op)) throw std::runtime_error("config file of " + s.id + " not removed within 10 s");
    out.push_back(ms_between(t1, b.removed[s.id]));
  }
}

/// Creates and starts container `name`: its id and when the start call returned.
net::awaitable<std::pair<std::string, clock_type::time_point>> create_and_start(docker_bench& b, std::string name) {
  auto create_op = b.create(std::move(name));
  std::string id = co_await std::move(create_op);
  auto start_op = b.call("POST", "/containers/" + id + "/start");
  http_result started = co_await std::move(start_op);
  const auto returned = clock_type::now();
  if (!started.ok()) throw std::runtime_error("start: " + started.error.message);
  co_return std::make_pair(id, returned);
}

/// Breakdown: containers started one at a time with a daemon at trace level, which logs
/// "stage=<stage> key=<id or path> mono_us=<steady clock>" (listeners/log.hpp trace_stage).
/// Returns each container's id and the time its start call returned.
net::awaitable<void> breakdown_phase(docker_bench& b, std::size_t count,
                                     std::vector<std::pair<std::string, clock_type::time_point>>& out) {
  for (std::size_t i = 0; i < count; ++i) {
    auto start_op = create_and_start(b, fmt::format("{}-trace-{}", b.name_prefix, i));
    const auto [id, t1] = co_await std::move(start_op);
    auto wait_op = b.wait_for(b.written, id, std::chrono::seconds(10));
    if (!co_await std::move(wait_op)) throw std::runtime_error("no config file for container " + id + " within 10 s");
    out.emplace_back(id, t1);
    auto rm_op = b.call("DELETE", "/containers/" + id + "?force=true");
    http_result removed = co_await std::move(rm_op);
    if (!removed.ok()) throw std::runtime_error("rm -f: " + removed.error.message);
  }
}

/// The stages one container went through, from the trace log: for each stage, the times (µs
/// of the steady clock) it was logged for the container.
using stage_times = std::map<std::string, std::vector<long long>>;

std::map<std::string, stage_times> read_stages(const std::string& log) {
  std::map<std::string, stage_times> out;
  std::istringstream in(log);
  std::string line;
  auto field = [](const std::string& l, const std::string& name) -> std::string {
    const auto at = l.find(" " + name + "=");
    if (at == std::string::npos) return "";
    const auto begin = at + name.size() + 2;
    return l.substr(begin, l.find(' ', begin) - begin);
  };
  while (std::getline(in, line)) {
    const auto stage = field(line, "stage");
    const auto id = hex_id(field(line, "key"));
    const auto us = field(line, "mono_us");
    if (stage.empty() || !id || us.empty()) continue;
    out[*id][stage].push_back(std::stoll(us));
  }
  return out;
}

/// The latest time of `stage` at or before `limit`, if any.
std::optional<long long> latest_before(const stage_times& t, const std::string& stage, long long limit) {
  std::optional<long long> best;
  if (auto it = t.find(stage); it != t.end()) {
    for (auto v : it->second) {
      if (v <= limit && (!best || v > *best)) best = v;
    }
  }
  return best;
}

/// For each of `count` containers: start, wait for our file, then poll Prometheus's
/// /api/v1/targets every 20 ms until the container's id is among its targets.
net::awaitable<void> prometheus_phase(docker_bench& b, http_client prom, std::size_t count,
                                      std::vector<double>& prom_ms, std::vector<double>& ours_ms) {
  for (std::size_t i = 0; i < count; ++i) {
    auto start_op = create_and_start(b, fmt::format("{}-prom-{}", b.name_prefix, i));
    const auto [id, t1] = co_await std::move(start_op);
    auto wait_op = b.wait_for(b.written, id, std::chrono::seconds(10));
    if (!co_await std::move(wait_op)) throw std::runtime_error("no config file for " + id);
    ours_ms.push_back(std::max(0.0, ms_between(t1, b.written[id])));
    net::steady_timer tick(b.io);
    const auto deadline = t1 + std::chrono::seconds(120);
    bool seen = false;
    while (!seen && clock_type::now() < deadline) {
      http_request q;
      q.target = "/api/v1/targets?state=active";
      auto op = prom.request(std::move(q));
      http_result r = co_await std::move(op);
      if (r.ok() && r.response->body.find(id) != std::string::npos) {
        seen = true;
        break;
      }
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(use_tuple);
    }
    if (!seen) throw std::runtime_error("Prometheus did not discover " + id + " within 120 s");
    prom_ms.push_back(ms_between(t1, clock_type::now()));
    progress(fmt::format("real-docker: prometheus sample {}: {:.0f} ms (autodiscd {:.2f} ms)", i, prom_ms.back(), ours_ms.back()));
    auto rm_op = b.call("DELETE", "/containers/" + id + "?force=true");
    co_await std::move(rm_op);
  }
}

/// Everything the real-docker run's coroutine works on.
struct real_docker_run {
  net::io_context& io;
  docker_bench& b;
  test::child_process& daemon;
  std::filesystem::path dir;
  std::string socket;
  std::size_t count;
  std::size_t prom_count;
  std::vector<start_sample> starts{};
  std::vector<double> removals{}, prom_ms{}, ours_ms{};
  long daemon_rss = -1;
  std::size_t trace_count = 0;
  std::vector<std::pair<std::string, clock_type::time_point>> traced{};
  std::string trace_log{};
};

/// The breakdown run: the same daemon again, at trace level (its log lines would weigh on
/// the other figures), then `trace_count` containers one at a time.
net::awaitable<void> run_breakdown(real_docker_run& r) {
  auto& io = r.io;
  auto& dir = r.dir;
  r.daemon.signal(SIGTERM);
  if (!r.daemon.wait(std::chrono::seconds(20))) throw std::runtime_error("autodiscd did not stop");
  auto config = test::read_file(dir / "autodiscd.yaml");
  config.replace(config.find("level: warn"), 11, "level: trace");
  test::write_file(dir / "autodiscd-trace.yaml", config);
  test::child_process traced({test::autodiscd_binary(), "run", "--config", (dir / "autodiscd-trace.yaml").string()},
                             (dir / "autodiscd-trace.log").string());
  net::steady_timer settle_trace(io, std::chrono::seconds(1));
  co_await settle_trace.async_wait(use_tuple);
  auto trace_op = breakdown_phase(r.b, r.trace_count, r.traced);
  co_await std::move(trace_op);
  traced.signal(SIGTERM);
  traced.wait(std::chrono::seconds(20));
  r.trace_log = traced.log();
}

net::awaitable<void> prometheus_run(real_docker_run& r);

net::awaitable<void> run_body(real_docker_run& r) {
  // Let the daemon connect and sync (no container runs yet).
  net::steady_timer settle(r.io, std::chrono::seconds(1));
  co_await settle.async_wait(use_tuple);
  auto starts_op = start_phase(r.b, r.count, r.starts);
  co_await std::move(starts_op);
  r.daemon_rss = rss_kib(r.daemon.pid());
  auto removal_op = removal_phase(r.b, r.starts, r.removals);
  co_await std::move(removal_op);
  if (r.prom_count > 0) {
    auto prom_op = prometheus_run(r);
    co_await std::move(prom_op);
  }
  if (r.trace_count > 0) {
    auto trace_op = run_breakdown(r);
    co_await std::move(trace_op);
  }
}

/// Prometheus's docker_sd on the same kind of containers, against ours.
net::awaitable<void> prometheus_run(real_docker_run& r) {
  auto& io = r.io;
  auto& dir = r.dir;
  const auto port = test::free_port();
  std::filesystem::create_directories(dir / "prom");
  test::write_file(dir / "prom" / "prometheus.yml",
                   fmt::format("global:\n  scrape_interval: 1m\nscrape_configs:\n  - job_name: docker\n"
                               "    docker_sd_configs:\n      - host: unix://{}\n        refresh_interval: 1s\n",
                               r.socket));
  test::child_process prom({"prometheus", "--config.file=" + (dir / "prom" / "prometheus.yml").string(),
                            "--storage.tsdb.path=" + (dir / "prom" / "data").string(),
                            fmt::format("--web.listen-address=127.0.0.1:{}", port)},
                           (dir / "prom" / "prometheus.log").string());
  std::string perr;
  auto prom_ep = parse_http_endpoint(fmt::format("http://127.0.0.1:{}", port), perr);
  http_client pc(io.get_executor(), *prom_ep);
  bool up = false;
  net::steady_timer tick(io);
  for (int i = 0; i < 300 && !up; ++i) {
    http_request ready;
    ready.target = "/-/ready";
    auto op = pc.request(std::move(ready));
    http_result res = co_await std::move(op);
    up = res.ok();
    tick.expires_after(std::chrono::milliseconds(100));
    if (!up) co_await tick.async_wait(use_tuple);
  }
  if (!up) throw std::runtime_error("Prometheus did not become ready: " + test::read_file(dir / "prom" / "prometheus.log"));
  auto prom_op = prometheus_phase(r.b, pc, r.prom_count, r.prom_ms, r.ours_ms);
  co_await std::move(prom_op);
  prom.signal(SIGTERM);
  prom.wait(std::chrono::seconds(20));
}

std::string row3(const summary& s) {
  return fmt::format("{} | {} | {} | {}", fmt_num(s.min()), fmt_num(s.median()), fmt_num(s.p99()), fmt_num(s.max()));
}

/// One row per step of the breakdown: the p50 (and p99) of each step over the traced containers.
void print_breakdown(const std::vector<std::pair<std::string, clock_type::time_point>>& traced,
                     const std::map<std::string, stage_times>& stages) {
  static const std::vector<std::string> chain = {"event", "inspect_sent", "inspect_parsed", "resolved", "renamed"};
  std::map<std::string, std::vector<double>> steps;  // "from -> to" -> ms
  std::size_t complete = 0;
  for (const auto& [id, returned] : traced) {
    const auto it = stages.find(id);
    if (it == stages.end()) continue;
    // Walk back from the first rename: each earlier stage is its latest time before the next.
    const auto renamed = it->second.find("renamed");
    if (renamed == it->second.end() || renamed->second.empty()) continue;
    std::vector<long long> at(chain.size());
    at.back() = *std::min_element(renamed->second.begin(), renamed->second.end());
    bool ok = true;
    for (std::size_t i = chain.size() - 1; ok && i-- > 0;) {
      const auto t = latest_before(it->second, chain[i], at[i + 1]);
      ok = t.has_value();
      if (ok) at[i] = *t;
    }
    if (!ok) continue;
    ++complete;
    const auto returned_us =
        std::chrono::duration_cast<std::chrono::microseconds>(returned.time_since_epoch()).count();
    steps["start returned -> event read (negative: the event came first)"].push_back((at[0] - returned_us) / 1000.0);
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
      steps[fmt::format("{:02d} {} -> {}", i, chain[i], chain[i + 1])].push_back((at[i + 1] - at[i]) / 1000.0);
    }
    steps["event read -> renamed (the daemon's whole path)"].push_back((at.back() - at[0]) / 1000.0);
  }
  std::cout << fmt::format("| breakdown, {} of {} containers traced (daemon at trace level, a separate run): | | | | | |\n",
                           complete, traced.size());
  for (const auto& [name, values] : steps) {
    summary s(values);
    const auto label = name.size() > 3 && name[2] == ' ' ? name.substr(3) : name;
    std::cout << fmt::format("| &nbsp;&nbsp;{} | {} | {} |\n", label, s.count(), row3(s));
  }
}

}  // namespace

int run_real_docker(const options& opt) {
  const std::string socket = opt.str("socket", "");
  if (socket.empty()) throw std::runtime_error("--socket is required (tests/bench/dockerd.sh start prints it)");
  const auto count = static_cast<std::size_t>(opt.num("containers", 200));
  const auto prom_count = static_cast<std::size_t>(opt.num("prometheus-containers", 20));
  const std::string image = opt.str("image", "localtest/busybox:latest");
  const auto trace_count = static_cast<std::size_t>(opt.num("breakdown-containers", 50));

  test::temp_dir dir("autodiscd-bench-docker");
  const auto out = dir.path() / "out";
  std::filesystem::create_directories(dir.path() / "templates" / "bench.d");
  std::filesystem::create_directories(out / "bench.d");
  test::write_file(dir.path() / "templates" / "bench.d" / "auto_conf.yaml",
                   "ad_identifiers:\n  - busybox\ninit_config:\ninstances:\n  - host: '%%host%%'\n    port: 80\n");
  test::write_file(dir.path() / "autodiscd.yaml",
                   fmt::format("listeners:\n  - type: docker\n    host: unix://{}\ntemplates:\n  dirs: [templates]\n"
                               "output:\n  dir: out\nstatus:\n  listen: \"off\"\nlog:\n  level: warn\n",
                               socket));
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", (dir.path() / "autodiscd.yaml").string()},
                             (dir.path() / "autodiscd.log").string());

  net::io_context io;
  std::string error;
  auto ep = parse_http_endpoint("unix://" + socket, error);
  if (!ep) throw std::runtime_error(error);
  docker_bench b(io, *ep);
  b.image = image;
  b.name_prefix = fmt::format("bench-{}", ::getpid());
  file_watch watch(io.get_executor(), [&b](const std::string& d, const std::string& n) { b.on_file(d, n); });
  if (!watch.add((out / "bench.d").string())) throw std::runtime_error("cannot watch the output folder");
  watch.start();

  real_docker_run run{io, b, daemon, dir.path(), socket, count, prom_count};
  run.trace_count = trace_count;
  std::exception_ptr failure;
  auto on_done = [&failure, &watch](const std::exception_ptr& e) {
    failure = e;
    watch.stop();
  };
  net::co_spawn(io, run_body(run), on_done);
  io.run();
  daemon.signal(SIGTERM);
  daemon.wait(std::chrono::seconds(20));
  if (failure) {
    std::cerr << "autodiscd log:\n" << daemon.log() << std::endl;
    std::rethrow_exception(failure);
  }

  std::vector<double> from_return, from_send, floor, start_call;
  std::size_t before_return = 0;
  const auto& starts = run.starts;
  for (const auto& s : starts) {
    from_return.push_back(std::max(0.0, s.from_return));
    from_send.push_back(s.from_send);
    floor.push_back(s.floor);
    start_call.push_back(s.start_call);
    if (s.from_return < 0) ++before_return;
  }
  std::vector<double> removals;
  std::size_t removed_before_return = 0;
  for (double v : run.removals) {
    removals.push_back(std::max(0.0, v));
    if (v < 0) ++removed_before_return;
  }
  summary fr(from_return), fs(from_send), fl(floor), sc(start_call), rm(removals);
  std::cout << "| figure | samples | min ms | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n";
  std::cout << fmt::format("| start returned -> config file renamed into place (0 when the file came first: {} of {}) | {} | {} |\n",
                           before_return, starts.size(), fr.count(), row3(fr));
  std::cout << fmt::format("| start sent -> config file in place | {} | {} |\n", fs.count(), row3(fs));
  std::cout << fmt::format("| floor: a bare client's inspect of the started container | {} | {} |\n", fl.count(), row3(fl));
  std::cout << fmt::format("| (the engine's start call itself) | {} | {} |\n", sc.count(), row3(sc));
  std::cout << fmt::format("| rm -f returned -> config file gone (0 when the file went first: {} of {}) | {} | {} |\n",
                           removed_before_return, removals.size(), rm.count(), row3(rm));
  if (!run.traced.empty()) print_breakdown(run.traced, read_stages(run.trace_log));
  if (!run.prom_ms.empty()) {
    summary pm(run.prom_ms), om(run.ours_ms);
    std::cout << fmt::format("| Prometheus docker_sd (refresh_interval 1s): start returned -> in /api/v1/targets | {} | {} |\n",
                             pm.count(), row3(pm));
    std::cout << fmt::format("| autodiscd on the same containers: start returned -> file | {} | {} |\n", om.count(), row3(om));
    std::cout << "\n";
    std::cout << fmt::format("Ratios of medians: autodiscd (start returned -> file) / floor = {}x; "
                             "Prometheus / autodiscd (same containers, start returned -> file/target) = {}x "
                             "(autodiscd's median clamped at 1 µs when its file came before start returned).\n",
                             fmt_num(fr.median() / fl.median()), fmt_num(pm.median() / std::max(om.median(), 0.001)));
  } else {
    std::cout << fmt::format("\nRatio of medians: autodiscd (start returned -> file) / floor = {}x.\n", fmt_num(fr.median() / fl.median()));
  }
  std::cout << fmt::format("autodiscd RSS with {} services: {} KiB.\n\n", starts.size(), run.daemon_rss);
  return 0;
}

}  // namespace autodiscd::bench
