#include "daemon/change_hook.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "listeners/log.hpp"

extern char** environ;

namespace autodiscd {
namespace {

constexpr std::size_t max_logged_output = 64 * 1024;  ///< per run; the rest is dropped

}  // namespace

struct change_hook::run_state {
  explicit run_state(net::any_io_executor ex) : output(ex), exit_watch(ex), timeout(ex) {}
  pid_t pid = -1;
  net::posix::stream_descriptor output;      ///< the read end of the child's stdout+stderr
  net::posix::stream_descriptor exit_watch;  ///< pidfd: readable once the child exited
  net::steady_timer timeout;
  std::array<char, 4096> buffer{};
  std::string partial_line;
  std::size_t logged = 0;
  bool timed_out = false;
  bool done = false;
  std::size_t paths = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  void log_output(std::string_view data) {
    auto log = logger("hook");
    partial_line.append(data);
    std::size_t pos = 0;
    while (true) {
      const auto nl = partial_line.find('\n', pos);
      if (nl == std::string::npos) break;
      log_line(std::string_view(partial_line).substr(pos, nl - pos));
      pos = nl + 1;
    }
    partial_line.erase(0, pos);
    if (partial_line.size() > 4096) {
      log_line(partial_line);
      partial_line.clear();
    }
  }
  void log_line(std::string_view line) {
    if (logged >= max_logged_output) return;
    logged += line.size() + 1;
    if (logged >= max_logged_output) {
      logger("hook")->warn("pid={} output truncated after {} bytes", pid, max_logged_output);
      return;
    }
    logger("hook")->info("pid={} output: {}", pid, line);
  }
  /// Reads what is left in the pipe without blocking (the fd is non-blocking).
  void drain() {
    if (!output.is_open()) return;
    while (true) {
      const auto n = ::read(output.native_handle(), buffer.data(), buffer.size());
      if (n <= 0) break;
      log_output(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    }
    if (!partial_line.empty()) log_line(partial_line);
    partial_line.clear();
  }
};

change_hook::change_hook(net::any_io_executor executor, change_hook_config config, result_callback on_result)
    : executor_(executor), config_(std::move(config)), on_result_(std::move(on_result)), debounce_timer_(executor) {}

change_hook::~change_hook() { stop(); }

void change_hook::set_config(change_hook_config config) {
  config_ = std::move(config);
  if (config_.command.empty()) {
    pending_.clear();
    first_pending_.reset();
    debounce_timer_.cancel();
  }
}

void change_hook::notify(const std::vector<std::string>& paths) {
  if (stopped_ || config_.command.empty() || paths.empty()) return;
  pending_.insert(paths.begin(), paths.end());
  if (!first_pending_) first_pending_ = std::chrono::steady_clock::now();
  if (!run_) arm();
}

void change_hook::arm() {
  // Trailing debounce, bounded so that a steady stream of changes still runs the hook.
  const auto now = std::chrono::steady_clock::now();
  const auto latest = *first_pending_ + config_.debounce * 10;
  debounce_timer_.expires_at(std::min(now + config_.debounce, std::max(latest, now)));
  debounce_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec != net::error::operation_aborted) {
      logger("hook")->debug("debounce fired: ec={} running={} pending={}", ec.message(), static_cast<bool>(run_), pending_.size());
    }
    if (ec || stopped_ || run_ || pending_.empty()) return;
    start_run();
  });
}

void change_hook::start_run() {
  auto log = logger("hook");
  std::string paths;
  for (const auto& p : pending_) paths += p + "\n";
  const auto count = pending_.size();
  pending_.clear();
  first_pending_.reset();
  ++runs_started_;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    log->error("cannot run {}: pipe: {}", config_.command.front(), std::strerror(errno));
    if (on_result_) on_result_("failed");
    return;
  }
  ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);

  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    if (!std::string_view(*e).starts_with(std::string(changed_paths_env) + "=")) env_strings.emplace_back(*e);
  }
  env_strings.push_back(std::string(changed_paths_env) + "=" + paths);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = config_.command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills its children too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    log->error("cannot run {}: {}", config_.command.front(), std::strerror(rc));
    if (on_result_) on_result_("failed");
    if (!pending_.empty()) arm();
    return;
  }

  auto run = std::make_shared<run_state>(executor_);
  run->pid = pid;
  run->paths = count;
  run->output.assign(fds[0]);
  run_ = run;
  log->info("running command={} pid={} changed_paths={}", config_.command.front(), pid, count);

  // glibc 2.36 declares pidfd_open without C linkage for C++: use the system call.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // Cannot happen on Linux >= 5.3; without it we could not know when the child exits.
    log->error("pidfd_open failed: {}; killing pid={}", std::strerror(errno), pid);
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    run_.reset();
    if (on_result_) on_result_("failed");
    return;
  }
  run->exit_watch.assign(pidfd);
  run->exit_watch.async_wait(net::posix::descriptor_base::wait_read, [this, run](boost::system::error_code ec) {
    if (ec || run->done) return;
    on_exit(run);
  });
  run->timeout.expires_after(config_.timeout);
  run->timeout.async_wait([this, run](boost::system::error_code ec) {
    if (ec || run->done) return;
    run->timed_out = true;
    logger("hook")->error("pid={} timed out after {}ms: killing it", run->pid, config_.timeout.count());
    ::kill(-run->pid, SIGKILL);
  });
  read_output(run);
}

void change_hook::read_output(const std::shared_ptr<run_state>& run) {
  run->output.async_read_some(net::buffer(run->buffer), [this, run](boost::system::error_code ec, std::size_t n) {
    if (run->done) return;
    if (n > 0) run->log_output(std::string_view(run->buffer.data(), n));
    if (!ec) read_output(run);
  });
}

void change_hook::on_exit(const std::shared_ptr<run_state>& run) {
  int status = 0;
  ::waitpid(run->pid, &status, 0);
  run->drain();
  run->done = true;
  boost::system::error_code ignored;
  run->output.close(ignored);
  run->exit_watch.close(ignored);
  run->timeout.cancel();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - run->started);
  auto log = logger("hook");
  std::string_view result = "ok";
  if (run->timed_out) {
    result = "timeout";
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    log->info("pid={} done in {}ms", run->pid, ms.count());
  } else {
    result = "failed";
    if (WIFEXITED(status)) log->error("pid={} failed: exit status {} after {}ms", run->pid, WEXITSTATUS(status), ms.count());
    else log->error("pid={} failed: killed by signal {} after {}ms", run->pid, WTERMSIG(status), ms.count());
  }
  if (run_ == run) run_.reset();
  if (on_result_) on_result_(result);
  if (!stopped_ && !pending_.empty()) arm();
}

void change_hook::stop() {
  if (stopped_) return;
  stopped_ = true;
  debounce_timer_.cancel();
  pending_.clear();
  if (auto run = std::move(run_)) {
    run->done = true;
    ::kill(-run->pid, SIGKILL);
    ::waitpid(run->pid, nullptr, 0);
    boost::system::error_code ignored;
    run->output.close(ignored);
    run->exit_watch.close(ignored);
    run->timeout.cancel();
    logger("hook")->warn("pid={} killed: the daemon is stopping", run->pid);
  }
}

}  // namespace autodiscd
