#include "listeners/process/process_listener.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <set>

#include "listeners/log.hpp"
#include "listeners/poller.hpp"
#include "listeners/process/process_sockets.hpp"

namespace autodiscd {

using namespace process;

namespace {

/// How often sockets that a complete walk could not map are looked for again (when a process
/// was created since).
constexpr std::chrono::seconds unmapped_retry{60};

/// A file descriptor closed on scope exit.
struct unique_fd {
  int fd = -1;
  explicit unique_fd(int f) : fd(f) {}
  ~unique_fd() {
    if (fd >= 0) ::close(fd);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
};

/// A whole small file (/proc text); nullopt when it cannot be opened or read.
std::optional<std::string> read_small_file(const std::string& path, std::size_t limit = 1u << 17) {
  unique_fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) return std::nullopt;
  std::string out;
  std::array<char, 4096> buf{};
  while (out.size() < limit) {
    const auto n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_link(const std::string& path) {
  std::array<char, 4096> buf{};
  const auto n = ::readlink(path.c_str(), buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
}

/// One sock_diag dump of `family`/`proto` sockets in `states` (a fresh socket per dump:
/// nothing of an earlier, failed dump can be read by a later one). The kernel answers at once;
/// a receive timeout keeps a wedged kernel from blocking the event loop for long.
std::optional<std::string> dump_sockets(int family, transport proto, std::vector<listening_socket>& out) {
  unique_fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (nl.fd < 0) return std::string("cannot open a NETLINK_SOCK_DIAG socket: ") + std::strerror(errno);
  timeval timeout{1, 0};
  ::setsockopt(nl.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = static_cast<std::uint8_t>(family);
  message.request.sdiag_protocol = proto == transport::tcp ? IPPROTO_TCP : IPPROTO_UDP;
  // Filtered in the kernel: TCP_LISTEN (10) for TCP; for UDP, TCP_CLOSE (7, unconnected) and
  // TCP_ESTABLISHED (1, which parse_sock_diag drops unless it has no peer).
  message.request.idiag_states = proto == transport::tcp ? (1u << 10) : ((1u << 7) | (1u << 1));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.fd, &message, sizeof(message), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return std::string("sock_diag request failed: ") + std::strerror(errno);
  }
  std::vector<std::byte> buffer(64 * 1024);
  while (true) {
    const auto n = ::recv(nl.fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("sock_diag dump failed: ") + std::strerror(errno);
    if (n == 0) return std::string("sock_diag dump ended early");
    const auto chunk = parse_sock_diag(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)), proto, out);
    if (chunk.error) return chunk.error;
    if (chunk.done) return std::nullopt;
  }
}

/// Every pid in /proc.
std::set<int> list_pids() {
  std::set<int> pids;
  DIR* dir = ::opendir("/proc");
  if (!dir) return pids;
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0' && pid > 0) pids.insert(static_cast<int>(pid));
  }
  ::closedir(dir);
  return pids;
}

/// The last pid the kernel handed out (/proc/loadavg's fifth field): unchanged means no
/// process was created since, so there is nothing new to walk. 0 when unreadable.
long last_pid() {
  const auto text = read_small_file("/proc/loadavg", 256).value_or("");
  const auto at = text.rfind(' ');
  return at == std::string::npos ? 0 : std::strtol(text.c_str() + at + 1, nullptr, 10);
}

std::chrono::milliseconds since_boot() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(now.tv_nsec));
}

}  // namespace

struct process_listener::state {
  state(net::any_io_executor ex, process_settings s)
      : executor(std::move(ex)), name(s.name), interval(s.interval), settings(std::move(s)),
        log(logger("listener.process")) {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) == 0) hostname = host.data();
    ticks_per_second = ::sysconf(_SC_CLK_TCK);
    if (ticks_per_second <= 0) ticks_per_second = 100;
  }

  // What poll_loop / start_polling use.
  net::any_io_executor executor;
  std::string name;
  std::chrono::milliseconds interval;
  service_sink* sink = nullptr;
  bool stopped = false;
  net::cancellation_signal cancel;

  process_settings settings;
  std::shared_ptr<spdlog::logger> log;
  std::string hostname;
  long ticks_per_second = 100;

  std::map<std::uint64_t, listening_socket> sockets;  ///< the last dump, by inode
  std::map<std::uint64_t, std::set<int>> holders;      ///< inode -> pids holding it
  std::map<int, int> parent_of;                        ///< pid -> ppid, for holders and walked pids
  std::set<int> seen_pids;                             ///< /proc at the last mapping
  long last_pid_mapped = 0;                            ///< last_pid() just before that listing
  std::chrono::steady_clock::time_point last_mapping;  ///< when map_inodes last ran
  std::set<std::uint64_t> unmappable;                  ///< not found by a full walk; retried for new pids
  std::size_t logged_unmapped = 0;
  std::optional<std::string> failing;  ///< the dump's error while it repeats
  bool rebuild_pending = false;        ///< a young process or a removal grace is waiting
  std::map<int, std::string> user_names;
  service_map services;
  /// What each main process was built into at the last rebuild, and from which sockets; no
  /// service for one in a container that is skipped.
  struct built_process {
    std::vector<listening_socket> owned;
    service_ptr svc;  ///< shared with `services` and the app
  };
  std::map<int, built_process> built;
  std::map<std::string, std::chrono::steady_clock::time_point> gone_since;

  std::size_t fd_dirs_read = 0;    ///< since start
  std::size_t fd_dirs_denied = 0;  ///< in the last mapping
  std::size_t guided_walks = 0;    ///< mappings that needed more than the new processes
  std::size_t full_walks = 0;      ///< ...and of those, the ones that went beyond the likely holders

  void stop() {
    if (stopped) return;
    stopped = true;
    sink = nullptr;
    cancel.emit(net::cancellation_type::terminal);
  }

  /// One poll: dump, map what is new, rebuild when something changed.
  void poll() {
    sink->on_count(name, "polls");
    std::vector<listening_socket> dumped;
    std::optional<std::string> error;
    for (int family : {AF_INET, AF_INET6}) {
      if (!error) error = dump_sockets(family, transport::tcp, dumped);
      if (!error && settings.udp) error = dump_sockets(family, transport::udp, dumped);
    }
    if (error) {
      if (failing != error) log->debug("listener={} {}", name, *error);
      failing = error;
      sink->on_error(name, "netlink", *error + " (keeping the known services)");
      return;
    }
    failing.reset();
    std::map<std::uint64_t, listening_socket> next;
    for (auto& s : dumped) next.emplace(s.inode, std::move(s));
    bool changed = next != sockets;
    sockets = std::move(next);

    // A vanished inode just ends its service; a main holder that exited hands over to the rest.
    std::erase_if(holders, [&](const auto& h) { return !sockets.contains(h.first); });
    std::erase_if(unmappable, [&](std::uint64_t inode) { return !sockets.contains(inode); });
    std::set<int> mains;
    for (const auto& [inode, main] : main_holders(holders, parent_of)) mains.insert(main);
    for (int main : mains) {
      if (process_exists(main)) continue;
      for (auto& [inode, pids] : holders) pids.erase(main);
      parent_of.erase(main);
      changed = true;
    }
    std::erase_if(holders, [](const auto& h) { return h.second.empty(); });

    std::set<std::uint64_t> unmapped;
    for (const auto& [inode, s] : sockets) {
      if (!holders.contains(inode)) unmapped.insert(inode);
    }
    // Sockets no complete walk could map (another user's, a kernel socket, one held outside
    // this pid namespace) are retried at most once a minute, and only when a process was
    // created since: on a busy host new processes come every second, and each retry lists /proc.
    const bool all_tried = std::all_of(unmapped.begin(), unmapped.end(), [&](auto i) { return unmappable.contains(i); });
    const auto now = std::chrono::steady_clock::now();
    if (!unmapped.empty() &&
        (!all_tried || (now - last_mapping >= unmapped_retry && last_pid() != last_pid_mapped))) {
      last_mapping = now;
      if (map_inodes(unmapped)) changed = true;
    }
    log_unmapped();
    if (changed || rebuild_pending) rebuild();
    else sink->on_synced(name);
  }

  /// kill(pid, 0): one syscall without a path lookup (an idle poll asks it of every main
  /// process); EPERM means it exists but belongs to someone else.
  static bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

  /// Reads /proc/PID/fd and records PID as a holder of every listening inode it holds.
  /// Returns true when it holds one.
  bool walk(int pid) {
    const auto dir_path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = ::opendir(dir_path.c_str());
    ++fd_dirs_read;
    if (!dir) {
      if (errno == EACCES || errno == EPERM) ++fd_dirs_denied;
      return false;
    }
    bool holds = false;
    std::array<char, 64> link{};
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      const auto n = ::readlinkat(::dirfd(dir), entry->d_name, link.data(), link.size());
      if (n <= 0 || static_cast<std::size_t>(n) >= link.size()) continue;
      const auto inode = socket_inode(std::string_view(link.data(), static_cast<std::size_t>(n)));
      if (inode == 0 || !sockets.contains(inode)) continue;
      holders[inode].insert(pid);
      holds = true;
    }
    ::closedir(dir);
    if (holds) {
      if (auto stat = read_small_file("/proc/" + std::to_string(pid) + "/stat")) {
        if (auto fields = parse_proc_stat(*stat)) parent_of[pid] = fields->ppid;
      }
    }
    return holds;
  }

  /// Finds the holders of `unmapped`, cheapest guesses first:
  ///   1. every process not seen at the last mapping (a new server: a listing of /proc and its
  ///      own fd folder);
  ///   2. while an inode no full walk has tried is left: the processes that already hold a
  ///      listening socket or run as the owner of such an inode (the socket's uid from the dump;
  ///      /proc/PID's owner is the process's uid), newest first, until none is left;
  ///   3. then every other process, newest first (a late listener is most often young), until
  ///      none is left; an inode not found by this complete walk is retried only for new
  ///      processes.
  /// Then the ancestors of each process found (a parent that opened the socket before forking
  /// is the main holder). True when any inode was mapped.
  bool map_inodes(const std::set<std::uint64_t>& unmapped) {
    last_pid_mapped = last_pid();
    const auto pids = list_pids();
    fd_dirs_denied = 0;
    std::set<int> walked;
    std::set<int> found_by;
    const auto visit = [&](int pid) {
      if (!walked.insert(pid).second || !walk(pid)) return false;
      found_by.insert(pid);
      return true;
    };
    const auto untried_owners = [&] {
      std::set<std::uint32_t> uids;
      for (auto inode : unmapped) {
        if (!holders.contains(inode) && !unmappable.contains(inode)) uids.insert(sockets.at(inode).uid);
      }
      return uids;
    };
    for (int pid : pids) {
      if (!seen_pids.contains(pid)) visit(pid);
    }
    seen_pids = pids;
    auto owners = untried_owners();
    bool complete = false;  // every process walked
    if (!owners.empty()) {
      ++guided_walks;
      std::set<int> known;
      for (const auto& [inode, pids_of] : holders) known.insert(pids_of.begin(), pids_of.end());
      for (auto pid = pids.rbegin(); pid != pids.rend() && !owners.empty(); ++pid) {
        struct ::stat st {};
        const bool likely = known.contains(*pid) ||
                            (::stat(("/proc/" + std::to_string(*pid)).c_str(), &st) == 0 && owners.contains(st.st_uid));
        if (likely && visit(*pid)) owners = untried_owners();
      }
      if (!owners.empty()) {
        ++full_walks;
        for (auto pid = pids.rbegin(); pid != pids.rend() && !owners.empty(); ++pid) {
          if (visit(*pid)) owners = untried_owners();
        }
        complete = !owners.empty();
      }
    }
    for (int pid : std::set<int>(found_by)) {
      for (int at = pid;;) {
        const auto parent = parent_of.find(at);
        if (parent == parent_of.end() || parent->second <= 1 || !pids.contains(parent->second)) break;
        at = parent->second;
        if (!found_by.contains(at) && !visit(at)) break;
      }
    }
    bool found = false;
    for (auto inode : unmapped) {
      if (holders.contains(inode)) {
        unmappable.erase(inode);
        found = true;
      } else if (complete) {
        unmappable.insert(inode);
      }
    }
    std::erase_if(parent_of, [&](const auto& p) { return !pids.contains(p.first); });
    log->debug("listener={} mapping: {} of {} processes' fd folders read ({} guided walks, {} walks beyond them since start)",
               name, walked.size(), pids.size(), guided_walks, full_walks);
    return found;
  }

  void log_unmapped() {
    std::size_t count = 0;
    for (const auto& [inode, s] : sockets) count += holders.contains(inode) ? 0 : 1;
    if (count == logged_unmapped) return;
    if (count == 0) {
      log->info("listener={} every listening socket is mapped to a process again", name);
    } else {
      log->warn("listener={} unmapped_sockets={} listening sockets could not be mapped to a process: their holders' "
                "/proc/PID/fd cannot be read (another user's process needs root, or CAP_SYS_PTRACE and "
                "CAP_DAC_READ_SEARCH; {} fd folders were denied in the last walk), or no process holds them (kernel sockets)",
                name, count, fd_dirs_denied);
    }
    logged_unmapped = count;
  }

  std::string user_name(unsigned uid) {
    auto it = user_names.find(static_cast<int>(uid));
    if (it != user_names.end()) return it->second;
    passwd entry{};
    passwd* result = nullptr;
    std::array<char, 4096> buf{};
    std::string name_of = std::to_string(uid);
    if (::getpwuid_r(uid, &entry, buf.data(), buf.size(), &result) == 0 && result) name_of = result->pw_name;
    return user_names[static_cast<int>(uid)] = name_of;
  }

  /// What /proc says about `pid`; nullopt when it is gone.
  std::optional<process_facts> read_facts(int pid) {
    const auto dir = "/proc/" + std::to_string(pid);
    auto stat_text = read_small_file(dir + "/stat");
    auto comm = read_small_file(dir + "/comm");
    struct ::stat st {};
    if (!stat_text || !comm || ::stat(dir.c_str(), &st) != 0) return std::nullopt;
    const auto fields = parse_proc_stat(*stat_text);
    if (!fields) return std::nullopt;
    process_facts facts;
    facts.pid = pid;
    facts.ppid = fields->ppid;
    if (!comm->empty() && comm->back() == '\n') comm->pop_back();
    facts.name = std::move(*comm);
    facts.exe = read_link(dir + "/exe");
    facts.cmdline = join_cmdline(read_small_file(dir + "/cmdline").value_or(""));
    facts.user = user_name(st.st_uid);
    facts.in_container = in_container_cgroup(read_small_file(dir + "/cgroup").value_or(""));
    const auto started = std::chrono::milliseconds(fields->start_ticks * 1000 / static_cast<std::uint64_t>(ticks_per_second));
    facts.age = since_boot() - started;
    return facts;
  }

  void rebuild() {
    rebuild_pending = false;
    std::map<int, std::vector<listening_socket>> by_process;
    for (const auto& [inode, main] : main_holders(holders, parent_of)) {
      if (auto s = sockets.find(inode); s != sockets.end()) by_process[main].push_back(s->second);
    }
    // A main process whose sockets are the same as at the last rebuild keeps what it was built
    // into (its /proc files are not read again): a change then reads only the processes it
    // touched. A reused pid comes with other sockets, so it is read afresh.
    service_map next;
    std::map<int, built_process> now_built;
    for (auto& [pid, owned] : by_process) {
      if (auto it = built.find(pid); it != built.end() && it->second.owned == owned) {
        if (it->second.svc) next.emplace(it->second.svc->id, it->second.svc);
        now_built.insert(built.extract(it));
        continue;
      }
      auto facts = read_facts(pid);
      if (!facts) continue;  // exited since: its sockets vanish from the next dump
      if (facts->in_container && !settings.include_containers) {
        now_built.emplace(pid, built_process{std::move(owned), nullptr});
        continue;
      }
      if (facts->age < settings.min_age) {
        rebuild_pending = true;
        continue;
      }
      service_ptr svc =
          std::make_shared<const service>(build_process_service(*facts, owned, settings.rules, name, hostname));
      next.emplace(svc->id, svc);
      now_built.emplace(pid, built_process{std::move(owned), std::move(svc)});
    }
    built = std::move(now_built);
    keep_in_grace(services, next, gone_since, std::chrono::steady_clock::now(), settings.removal_grace);
    if (!gone_since.empty()) rebuild_pending = true;
    auto delta = diff_services_sharing(services, next);
    services = std::move(next);
    // A process read again into an equal service keeps the snapshot the app already holds.
    for (auto& [pid, b] : built) {
      if (!b.svc) continue;
      const auto it = services.find(b.svc->id);
      if (it != services.end() && it->second != b.svc && *it->second == *b.svc) b.svc = it->second;
    }
    if (!delta.empty()) sink->on_delta(name, std::move(delta));
    sink->on_synced(name);
  }
};

namespace {

net::awaitable<void> poll_once(std::shared_ptr<process_listener::state> s) {
  // Synchronous and short: one netlink dump (the kernel answers at once) and, only when a
  // socket is new, reads of /proc. Files have no asynchronous reads in Asio without io_uring.
  if (s->sink) s->poll();
  co_return;
}

}  // namespace

process_listener::process_listener(net::any_io_executor executor, process_settings settings)
    : state_(std::make_shared<state>(std::move(executor), std::move(settings))) {}

process_listener::~process_listener() { stop(); }

void process_listener::validate(const listener_config& config, config_errors& errors) {
  read_process_settings(config, errors);
}

std::unique_ptr<listener> process_listener::create(net::any_io_executor executor, const listener_config& config) {
  config_errors errors;
  auto settings = read_process_settings(config, errors);
  return std::make_unique<process_listener>(std::move(executor), std::move(settings));
}

void process_listener::start(service_sink& sink) {
  const auto& s = state_->settings;
  state_->log->info("listener={} interval={}ms min_age={}ms removal_grace={}ms udp={} include_containers={} rules={}",
                    s.name, s.interval.count(), s.min_age.count(), s.removal_grace.count(), s.udp,
                    s.include_containers, s.rules.size());
  start_polling(state_, sink, "listener.process", &poll_once);
}

void process_listener::stop() {
  if (state_) state_->stop();
}

}  // namespace autodiscd
