// The kubelet listener's poll measured from outside (issue 15, section 2): the build's
// autodiscd polls a fake kubelet (tests/support's fake HTTP server, in this process) serving a
// fixed synthetic /pods body every --interval-ms; the daemon's CPU (utime + stime of
// /proc/PID/stat, and the threads' schedstat in ns) over N polls / N. So the figure includes
// the HTTP request and the read of the body, which autodiscd_bench kubelet does not.
// A second phase serves two bodies in turn that differ only in a byte the mapping does not
// read (the list's resourceVersion): every poll is then parsed and diffed, as before the
// body memo, with nothing to resolve or write.

#include <unistd.h>

#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "bench_commands.hpp"
#include "pods_gen.hpp"
#include "scale_engine.hpp"
#include "support/fake_http_server.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

namespace fs = std::filesystem;

/// utime + stime of `pid` (all its threads), in milliseconds (10 ms ticks).
double stat_cpu_ms(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt: fields 3-13
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Runs `io` until `polls` more requests for /pods were served; `between` runs after each.
bool serve_polls(boost::asio::io_context& io, test::fake_http_server& server, std::size_t polls,
                 const std::function<void()>& between, std::chrono::milliseconds limit) {
  const auto target = server.count("/pods") + polls;
  const auto deadline = clock_type::now() + limit;
  std::size_t seen = server.count("/pods");
  while (server.count("/pods") < target) {
    if (clock_type::now() >= deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
    if (server.count("/pods") != seen) {
      seen = server.count("/pods");
      if (between) between();
    }
  }
  return true;
}

/// "metadata":{} of the synthetic list -> one with a resourceVersion (not read by the mapping).
std::string with_version(const std::string& body, int version) {
  const std::string empty = "\"metadata\":{}";
  const auto at = body.find(empty);
  if (at == std::string::npos) throw std::runtime_error("synthetic body has no empty list metadata");
  return body.substr(0, at) + fmt::format("\"metadata\":{{\"resourceVersion\":\"{}\"}}", version) +
         body.substr(at + empty.size());
}

}  // namespace

int run_kubelet_poll(const options& opt) {
  const auto pods = static_cast<std::size_t>(opt.num("pods", 212));
  const auto interval = std::chrono::milliseconds(opt.num("interval-ms", 100));
  const auto polls = static_cast<std::size_t>(opt.num("polls", 300));
  const auto changing_polls = static_cast<std::size_t>(opt.num("changing-polls", 50));
  const std::string body = synthetic_pod_list(pods).dump();

  boost::asio::io_context io(1);
  test::fake_http_server server(io);
  server.set_response("/pods", test::fake_response::ok(body));

  test::temp_dir dir("autodiscd-bench-kubelet-poll");
  fs::create_directories(dir.path() / "templates" / "redisdb.d");
  fs::create_directories(dir.path() / "out");
  test::write_file(dir.path() / "templates" / "redisdb.d" / "auto_conf.yaml", redis_template);
  test::write_file(dir.path() / "autodiscd.yaml",
                   fmt::format("listeners:\n  - type: kubelet\n    url: {}\n    poll_interval: {}ms\n"
                               "templates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: \"off\"\n"
                               "log:\n  level: warn\n",
                               server.url(), interval.count()));
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", (dir.path() / "autodiscd.yaml").string()},
                             (dir.path() / "autodiscd.log").string());
  const auto limit = interval * static_cast<long>(polls + changing_polls) * 3 + std::chrono::seconds(30);
  int rc = 0;
  std::vector<std::vector<std::string>> rows;
  auto measure = [&](const std::string& what, std::size_t n, const std::function<void()>& between) {
    const double s0 = stat_cpu_ms(daemon.pid()), c0 = schedstat_cpu_ms(daemon.pid());
    const auto t0 = clock_type::now();
    if (!serve_polls(io, server, n, between, limit)) throw std::runtime_error("the daemon stopped polling");
    const double s1 = stat_cpu_ms(daemon.pid()), c1 = schedstat_cpu_ms(daemon.pid());
    const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    progress(fmt::format("kubelet-poll: {}: {} polls in {:.1f} s, {:.1f} ms CPU (stat), {:.1f} ms (schedstat)", what,
                         n, seconds, s1 - s0, c1 - c0));
    rows.push_back({what, std::to_string(body.size() / 1024), std::to_string(n),
                    fmt_num((s1 - s0) / static_cast<double>(n)), fmt_num((c1 - c0) / static_cast<double>(n))});
  };
  try {
    // The first poll parses, diffs, resolves and writes every service; then a few settle.
    if (!serve_polls(io, server, 5, nullptr, limit)) throw std::runtime_error("the daemon did not poll");
    measure("unchanged body (the same bytes every poll)", polls, nullptr);
    // Two bodies in turn: each poll's body differs from the last one, so each is parsed.
    const std::array<std::string, 2> changing{with_version(body, 1), with_version(body, 2)};
    std::size_t next = 0;
    auto queue = [&] {
      while (next < server.count("/pods") + 2) {
        server.push_response("/pods", test::fake_response::ok(changing[next % 2]));
        ++next;
      }
    };
    next = server.count("/pods");
    queue();
    serve_polls(io, server, 2, queue, limit);
    measure("a body differing from the last in an unread byte (parsed and diffed, nothing to resolve)",
            changing_polls, queue);
  } catch (const std::exception& e) {
    std::cerr << "kubelet-poll: " << e.what() << "\nautodiscd log:\n" << daemon.log() << std::endl;
    rc = 1;
  }
  daemon.signal(SIGTERM);
  if (daemon.wait(std::chrono::seconds(10)) != 0) rc = 1;
  print_table({"poll", "body KiB", "polls", "daemon CPU ms per poll (utime+stime)", "daemon CPU ms per poll (schedstat)"},
              rows);
  std::cout << fmt::format(
      "The build's autodiscd with one kubelet listener (plain http, poll_interval {} ms) against a fake kubelet in "
      "the benchmark process serving synthetic /pods ({} pods, {} services' worth); CPU of every daemon thread over "
      "the polls / polls, the HTTP request and the read of the body included. utime+stime counts 10 ms ticks, "
      "schedstat ns.\n\n",
      interval.count(), pods, pods * 3);
  return rc;
}

}  // namespace autodiscd::bench
