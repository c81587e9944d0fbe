// The process listener (issue 14) on the real autodiscd binary, against processes this
// program forks on this host:
//   - a listening port opened -> its config file renamed into place (inotify), p50 / p99;
//   - the daemon's idle CPU with N extra processes and M listening sockets;
//   - the CPU of one change: a new process that listens; a process already seen by a walk that
//     starts listening later (as root like the N, and as another user);
//   - the peers' method (every interval: read /proc/net/tcp* and walk every /proc/PID/fd)
//     timed on the same host, as the ratio of its per-interval cost to ours.
// The daemon's CPU is the sum of its threads' time on a CPU (/proc/PID/task/*/schedstat, ns).

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "bench_commands.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

namespace fs = std::filesystem;

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// What a child writes to the shared pipe once it listens (one write, atomic under PIPE_BUF).
struct listen_report {
  int pid = 0;
  int port = 0;
  std::int64_t listened_ns = 0;  ///< CLOCK_MONOTONIC right after listen() returned
};

/// Children of this program: each waits for SIGUSR1, then opens a listening TCP socket on
/// 127.0.0.1 and reports it. SIGUSR1 is blocked here before the first fork, so a signal sent
/// at once is never lost. Every child is killed (and reaped) at the end; each dies with this
/// program too (PR_SET_PDEATHSIG).
class process_farm {
 public:
  process_farm() {
    if (::pipe2(pipe_.data(), O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
  }
  ~process_farm() {
    for (int pid : children_) ::kill(pid, SIGKILL);
    for (int pid : children_) ::waitpid(pid, nullptr, 0);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  process_farm(const process_farm&) = delete;
  process_farm& operator=(const process_farm&) = delete;

  /// A child named `name` (its comm), running as `uid` when not -1.
  int spawn(const char* name, int uid = -1) {
    const int parent = ::getpid();
    const int pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) child(name, uid, parent);
    children_.insert(pid);
    return pid;
  }
  void listen(int pid) const { ::kill(pid, SIGUSR1); }
  void kill_one(int pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    children_.erase(pid);
  }
  std::set<int> children() const { return children_; }

  /// The next report, or nullopt after `timeout`.
  std::optional<listen_report> next_report(std::chrono::milliseconds timeout) const {
    pollfd p{pipe_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    listen_report r;
    if (::read(pipe_[0], &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) return std::nullopt;
    return r;
  }

 private:
  [[noreturn]] void child(const char* name, int uid, int parent) const {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::prctl(PR_SET_NAME, name);
    if (uid >= 0 && (::setgid(static_cast<gid_t>(uid)) != 0 || ::setuid(static_cast<uid_t>(uid)) != 0)) ::_exit(2);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sig = 0;
    ::sigwait(&set, &sig);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd, 16) != 0) ::_exit(3);
    listen_report r;
    r.listened_ns = monotonic_ns();
    r.pid = ::getpid();
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    r.port = ntohs(addr.sin_port);
    if (::write(pipe_[1], &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) ::_exit(4);
    while (true) ::pause();
  }

  std::array<int, 2> pipe_{-1, -1};
  std::set<int> children_;
};

/// The daemon's output folder for the bench template, watched with inotify: when each
/// `process://PID` file was renamed into place or removed (CLOCK_MONOTONIC ns).
class output_watch {
 public:
  explicit output_watch(const std::string& dir) : fd_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    if (fd_ < 0 || ::inotify_add_watch(fd_, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE) < 0) {
      throw std::runtime_error("cannot watch " + dir);
    }
  }
  ~output_watch() { ::close(fd_); }
  output_watch(const output_watch&) = delete;
  output_watch& operator=(const output_watch&) = delete;

  std::map<int, std::int64_t> written, removed;

  /// Waits until `done()` or `timeout`; true when done.
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!done()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) > 0) drain();
    }
    return true;
  }
  bool wait_written(int pid, std::chrono::milliseconds timeout) {
    return wait([&] { return written.contains(pid); }, timeout);
  }

 private:
  void drain() {
    alignas(inotify_event) std::array<char, 16384> buf{};
    while (true) {
      const auto n = ::read(fd_, buf.data(), buf.size());
      if (n <= 0) return;
      const auto now = monotonic_ns();
      for (char* at = buf.data(); at < buf.data() + n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(at);
        at += sizeof(inotify_event) + e->len;
        const std::string name = e->len ? e->name : "";
        // process://PID -> "process___PID" in the file name (safe_file_name)
        const auto mark = name.find("process___");
        if (name.empty() || name[0] == '.' || mark == std::string::npos) continue;
        const int pid = std::atoi(name.c_str() + mark + 10);
        if (e->mask & IN_DELETE) {
          removed[pid] = now;
          written.erase(pid);
        } else if (e->mask & IN_MOVED_TO) {
          written.emplace(pid, now);
        }
      }
    }
  }
  int fd_;
};

/// The peers' method, once: every /proc/net/tcp* line read, then every /proc/PID/fd link read.
struct peers_count {
  std::size_t socket_lines = 0;  ///< /proc/net/tcp* lines
  std::size_t links = 0;         ///< fd links read
};
peers_count peers_pass() {
  peers_count count;
  std::string line;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    while (std::getline(in, line)) ++count.socket_lines;
  }
  DIR* proc = ::opendir("/proc");
  if (!proc) return count;
  std::array<char, 64> target{};
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const auto fd_path = fmt::format("/proc/{}/fd", entry->d_name);
    DIR* fds = ::opendir(fd_path.c_str());
    if (!fds) continue;
    while (const dirent* fd = ::readdir(fds)) {
      if (fd->d_name[0] == '.') continue;
      if (::readlinkat(::dirfd(fds), fd->d_name, target.data(), target.size()) > 0) ++count.links;
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return count;
}

std::size_t count_processes() {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    n += !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) ? 1 : 0;
  }
  return n;
}

std::string ms_cell(const summary& s) {
  return fmt::format("{} / {} / {}", fmt_num(s.median()), fmt_num(s.p99()), fmt_num(s.max()));
}

struct process_bench {
  process_farm& farm;
  output_watch& watch;
  test::child_process& daemon;
  std::chrono::milliseconds interval;
  std::mt19937 random{std::random_device{}()};

  /// A random pause in [0, interval): a change lands anywhere between two polls.
  void random_phase() {
    std::uniform_int_distribution<long> d(0, interval.count() - 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(d(random)));
  }

  /// Signals `pid` to listen; waits for its report and its file. The listen -> file latency
  /// (ms) and the daemon's CPU (ms) from the signal to the file.
  std::pair<double, double> listen_and_wait(int pid) {
    const double cpu0 = schedstat_cpu_ms(daemon.pid());
    farm.listen(pid);
    const auto report = farm.next_report(std::chrono::seconds(10));
    if (!report || report->pid != pid) throw std::runtime_error(fmt::format("child {} did not report listening", pid));
    if (!watch.wait_written(pid, interval * 10 + std::chrono::seconds(10))) {
      throw std::runtime_error(fmt::format("no config file for process {} (port {})", pid, report->port));
    }
    const double cpu1 = schedstat_cpu_ms(daemon.pid());
    return {static_cast<double>(watch.written.at(pid) - report->listened_ns) / 1e6, cpu1 - cpu0};
  }
};

}  // namespace

int run_process(const options& opt) {
  const std::chrono::milliseconds interval(opt.num("interval-ms", 1000));
  const auto starts = static_cast<int>(opt.num("starts", 50));
  const auto extra = static_cast<int>(opt.num("processes", 1000));
  const auto socket_count = static_cast<int>(opt.num("sockets", 100));
  const double idle_s = opt.real("idle-s", 60);
  const auto changes = static_cast<int>(opt.num("changes", 10));
  const auto peers_repeat = static_cast<int>(opt.num("peers-repeat", 20));
  if (extra < socket_count || interval.count() < 1 || starts < 1 || changes < 0) {
    throw std::runtime_error("--processes must be >= --sockets, --interval-ms and --starts >= 1");
  }
  const bool root = ::geteuid() == 0;

  test::temp_dir dir("autodiscd-bench-process");
  const auto out = dir.path() / "out" / "adbench.d";
  fs::create_directories(dir.path() / "templates" / "adbench.d");
  fs::create_directories(out);
  test::write_file(dir.path() / "templates" / "adbench.d" / "auto_conf.yaml",
                   "ad_identifiers:\n  - adbench-srv\ninit_config:\ninstances:\n  - host: '%%host%%'\n    port: '%%port%%'\n");
  test::write_file(dir.path() / "autodiscd.yaml",
                   fmt::format("listeners:\n  - type: process\n    interval: {}ms\ntemplates:\n  dirs: [templates]\n"
                               "output:\n  dir: out\nstatus:\n  listen: \"off\"\nlog:\n  level: warn\n",
                               interval.count()));
  // The daemon starts before SIGUSR1 is blocked here (it would inherit the mask).
  test::child_process daemon({test::autodiscd_binary(), "run", "--config", (dir.path() / "autodiscd.yaml").string()},
                             (dir.path() / "autodiscd.log").string());
  output_watch watch(out.string());
  process_farm farm;
  process_bench b{farm, watch, daemon, interval};
  int failures = 0;
  try {
    // 1. N extra processes, M of them listening: every listener's file.
    progress(fmt::format("process: {} processes, {} listening", extra, socket_count));
    std::vector<int> servers;
    for (int i = 0; i < extra - socket_count; ++i) farm.spawn("adbench-idle");
    for (int i = 0; i < socket_count; ++i) servers.push_back(farm.spawn("adbench-srv"));
    for (int pid : servers) farm.listen(pid);
    for (int i = 0; i < socket_count; ++i) {
      if (!farm.next_report(std::chrono::seconds(30))) throw std::runtime_error("a server child did not listen");
    }
    if (!watch.wait([&] { return watch.written.size() == servers.size(); }, std::chrono::seconds(60) + interval * 5)) {
      throw std::runtime_error(fmt::format("{} of {} config files after 60 s", watch.written.size(), servers.size()));
    }
    const auto processes = count_processes();

    // 2. Idle: nothing changes for idle_s.
    std::this_thread::sleep_for(interval * 2);
    const double idle0 = schedstat_cpu_ms(daemon.pid());
    std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
    const double idle_cpu = schedstat_cpu_ms(daemon.pid()) - idle0;
    const double polls = idle_s * 1000.0 / static_cast<double>(interval.count());
    const double idle_per_poll = idle_cpu / polls;

    // 3. The peers' method on the same host, now.
    peers_count host;
    std::vector<double> peers;
    for (int i = 0; i < peers_repeat; ++i) {
      const double t0 = thread_cpu_ms();
      host = peers_pass();
      peers.push_back(thread_cpu_ms() - t0);
    }
    const summary peer(peers);

    // 4. Latency and CPU of one change: a new process that listens.
    progress(fmt::format("process: {} starts", starts));
    std::vector<double> latency, new_cpu;
    for (int i = 0; i < starts; ++i) {
      b.random_phase();
      const int pid = farm.spawn("adbench-srv");
      const auto [ms, cpu] = b.listen_and_wait(pid);
      latency.push_back(ms);
      new_cpu.push_back(cpu - idle_per_poll);
    }

    // 5. A process seen by an earlier walk starts listening later (as a JVM does after its
    //    start-up): as root like the N others, and as another user (nobody).
    std::map<std::string, std::vector<double>> late_cpu;
    for (int i = 0; i < changes; ++i) {
      for (int uid : {-1, 65534}) {
        if (uid >= 0 && !root) continue;
        const int late = farm.spawn("adbench-srv", uid);
        b.listen_and_wait(farm.spawn("adbench-srv"));  // a mapping that lists `late` as seen
        b.random_phase();
        late_cpu[uid < 0 ? "root" : "nobody"].push_back(b.listen_and_wait(late).second - idle_per_poll);
      }
    }

    // 6. Every listening child killed: every file removed.
    const auto listening = watch.written;
    for (const auto& [pid, at] : listening) farm.kill_one(pid);
    const bool all_removed = watch.wait([&] { return watch.written.empty(); }, interval * 5 + std::chrono::seconds(10));
    if (!all_removed) {
      std::cerr << "process: " << watch.written.size() << " config files left after their processes were killed\n";
      ++failures;
    }

    const summary lat(latency);
    const summary fresh(new_cpu);
    std::cout << fmt::format("{} processes on the host during the run ({} of them this program's children, {} listening), "
                             "{} fd links, {} lines in /proc/net/tcp*; interval {} ms.\n\n",
                             processes, extra, socket_count, host.links, host.socket_lines, interval.count());
    std::vector<std::vector<std::string>> rows;
    rows.push_back({fmt::format("listening port opened -> config file renamed into place, {} starts at a random phase", starts),
                    "ms p50 / p99 / max", ms_cell(lat), "p50 <= 600, p99 <= 1,100"});
    rows.push_back({fmt::format("idle, {} extra processes, {} listening sockets, {} s", extra, socket_count, fmt_num(idle_s)),
                    "CPU ms per minute", fmt_num(idle_cpu * 60.0 / idle_s), "<= 100"});
    rows.push_back({"idle: one poll (netlink dump of TCP LISTEN sockets, IPv4 + IPv6)", "CPU ms", fmt_num(idle_per_poll), ""});
    rows.push_back({"one change: a new process listens (new processes walked first)", "CPU ms p50 / p99 / max", ms_cell(fresh),
                    "<= 20"});
    for (const auto& [who, samples] : late_cpu) {
      const summary s(samples);
      rows.push_back({fmt::format("one change: a process seen by an earlier walk starts listening, as {}", who == "root"
                                      ? "root, like the 1,000 others (newest processes walked first)"
                                      : "nobody (its owner's processes walked first)"),
                      "CPU ms p50 / p99 / max", ms_cell(s), "<= 20"});
    }
    rows.push_back({"peers' method, one interval: /proc/net/tcp + tcp6 read, every /proc/PID/fd walked (this program, same host)",
                    "CPU ms p50 / max", fmt::format("{} / {}", fmt_num(peer.median()), fmt_num(peer.max())), ""});
    rows.push_back({"peers' per-interval cost / ours (idle poll)", "ratio", fmt_num(peer.median() / std::max(idle_per_poll, 1e-3)), ""});
    print_table({"figure", "unit", "value", "target"}, rows);
    std::cout << "\nCPU of one change = the daemon's CPU from the signal to listen until the file is in place, minus one "
                 "idle poll.\n";
  } catch (const std::exception& e) {
    std::cerr << "process: " << e.what() << "\nautodiscd log:\n" << daemon.log() << std::endl;
    ++failures;
  }
  daemon.signal(SIGTERM);
  if (!daemon.wait(std::chrono::seconds(20))) ++failures;
  return failures == 0 ? 0 : 1;
}

}  // namespace autodiscd::bench
