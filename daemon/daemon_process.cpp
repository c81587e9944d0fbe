#include "daemon/daemon_process.hpp"

#include <signal.h>
#include <time.h>

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/app.hpp"
#include "daemon/change_hook.hpp"
#include "daemon/cli.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/status_server.hpp"
#include "daemon/version.hpp"
#include "listeners/log.hpp"

namespace autodiscd {

std::string status_summary(const app& a) {
  std::size_t synced = 0;
  for (const auto& s : a.listener_states()) synced += s.synced ? 1 : 0;
  std::size_t configs = 0;
  std::size_t rejected = 0;
  for (const auto& [id, r] : a.resolutions()) {
    configs += r.configs.size();
    rejected += r.rejected.size();
  }
  auto line = fmt::format("{}: listeners {}/{} synced, {} services, {} configs, {} rejected",
                          a.ready() ? "ready" : "starting", synced, a.listener_states().size(), a.services().size(),
                          configs, rejected);
  // The listeners that need attention, so `systemctl status` shows why.
  std::string trouble;
  for (const auto& s : a.listener_states()) {
    if (s.last_error_kind.empty() && s.synced) continue;
    trouble += trouble.empty() ? "; " : ", ";
    trouble += s.name + ": " + (s.last_error_kind.empty() ? "not synced yet" : s.last_error_kind + " error");
  }
  return line + trouble;
}

namespace {

sigset_t stop_signals() {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&set, sig);
  return set;
}

std::string monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u);
}

/// Everything `run` holds, so that signal and timer handlers can reach it.
class daemon_process {
 public:
  daemon_process(daemon_config config, std::optional<std::string> log_level)
      : log_level_(std::move(log_level)),
        config_(std::move(config)),
        notifier_(process_environment()),
        app_(io_, config_, /*write_output=*/true),
        hook_(io_.get_executor(), config_.on_change, [this](std::string_view result) { app_.record_hook_run(result); }),
        signals_(io_, SIGTERM, SIGINT, SIGHUP),
        watchdog_timer_(io_),
        status_timer_(io_),
        grace_timer_(io_) {
    // The handlers are in place: a stop held back during start-up is delivered now.
    const auto set = stop_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }

  int run() {
    auto log = logger("app");
    std::string error;
    if (!parse_listen_address(config_.status_listen, error)) {
      log->critical("config error: {}: status.listen: {}", config_.file, error);
      return exit_config_error;
    }
    app_.on_files_changed = [this](const std::vector<std::string>& paths) { hook_.notify(paths); };
    app_.on_ready = [this] { report_started(); };
    // Listening before the app starts: READY=1 (sent from app_.start() when every listener
    // syncs at once) promises that /healthz and /readyz answer.
    start_status_server();
    if (auto start_error = app_.start()) {
      log->critical("{}", *start_error);
      return 1;
    }
    log->info("started: version={} listeners={} output={} status={}", version, config_.listeners.size(),
              config_.output_dir, config_.status_listen);
    wait_signal();
    if (auto interval = notifier_.watchdog_interval()) {
      log->info("systemd watchdog: pinging every {}ms", std::chrono::duration_cast<std::chrono::milliseconds>(*interval).count());
      watchdog(*interval);
    }
    if (!app_.ready()) wait_startup_grace();
    if (notifier_.enabled()) update_status();
    io_.run();
    // Finish what the stop left pending (bounded: exit well within 2 s).
    io_.restart();
    io_.run_for(std::chrono::milliseconds(300));
    log->info("stopped");
    return 0;
  }

 private:
  void start_status_server() {
    server_ = std::make_unique<status_server>(io_.get_executor(), app_);
    if (auto error = server_->start(config_.status_listen)) logger("status")->error("{}", *error);
  }

  /// Started (READY=1) when every listener synced or when the start-up grace is over, whichever
  /// comes first: a consumer ordered after autodiscd gets the first configs when they come
  /// quickly, and an endpoint that is missing or slow never fails the start.
  void report_started() {
    const auto line = status_summary(app_);
    started_ = true;
    grace_timer_.cancel();
    notifier_.send("READY=1\n" + sd_status_line(line));
    last_status_ = line;
  }

  void wait_startup_grace() {
    grace_timer_.expires_after(config_.startup_grace);
    grace_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || started_) return;
      std::string waiting;
      for (const auto& s : app_.listener_states()) {
        if (!s.synced) waiting += (waiting.empty() ? "" : ",") + s.name;
      }
      logger("app")->warn("started without waiting further: startup_grace={}ms is over and listener(s) {} have not "
                          "synced; their configs follow when they do ({})",
                          config_.startup_grace.count(), waiting, status_summary(app_));
      report_started();
    });
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_signal();
        return;
      }
      shutdown(signal);
    });
  }

  void shutdown(int signal) {
    logger("app")->info("stopping: signal={}", signal);
    notifier_.send("STOPPING=1");
    signals_.cancel();
    watchdog_timer_.cancel();
    status_timer_.cancel();
    grace_timer_.cancel();
    hook_.stop();
    if (server_) server_->stop();
    app_.stop();
    io_.stop();
  }

  void reload() {
    auto log = logger("app");
    notifier_.send("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec());
    log->info("reloading: config={}", config_.file);
    daemon_config next;
    auto errors = load_daemon_config(config_.file, next);
    std::string listen_error;
    if (errors.empty() && !parse_listen_address(next.status_listen, listen_error)) {
      errors.push_back({config_.file, "status.listen", listen_error});
    }
    std::optional<std::string> failure;
    if (!errors.empty()) {
      for (const auto& e : errors) log->error("reload rejected: {}", e.to_string());
      failure = std::to_string(errors.size()) + " config error(s)";
    } else {
      if (log_level_) next.log_level = *log_level_;
      const auto old_listen = config_.status_listen;
      failure = app_.reload(next);
      if (failure) {
        log->error("reload rejected: {}", *failure);
      } else {
        config_ = next;
        setup_logging(config_.log_level, config_.log_format);
        hook_.set_config(config_.on_change);
        if (config_.status_listen != old_listen) {
          server_->stop();
          start_status_server();
        }
      }
    }
    app_.record_reload(!failure);
    if (failure) log->warn("reload failed ({}); the running config stays", *failure);
    else log->info("reload done");
    const auto line = failure ? "reload failed: " + *failure + "; " + status_summary(app_) : status_summary(app_);
    notifier_.send("READY=1\n" + sd_status_line(line));
    last_status_ = line;
    started_ = true;  // systemd takes this READY=1 as the start, too
  }

  void watchdog(std::chrono::microseconds interval) {
    // From the event loop itself: a stuck loop stops the pings and systemd restarts us.
    notifier_.send("WATCHDOG=1");
    watchdog_timer_.expires_after(interval);
    watchdog_timer_.async_wait([this, interval](boost::system::error_code ec) {
      if (!ec) watchdog(interval);
    });
  }

  void update_status() {
    const auto line = status_summary(app_);
    if (line != last_status_ && started_) {
      notifier_.send(sd_status_line(line));
      last_status_ = line;
    }
    status_timer_.expires_after(std::chrono::seconds(5));
    status_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) update_status();
    });
  }

  std::optional<std::string> log_level_;
  daemon_config config_;
  net::io_context io_{1};
  sd_notifier notifier_;
  app app_;
  change_hook hook_;
  std::unique_ptr<status_server> server_;
  net::signal_set signals_;
  net::steady_timer watchdog_timer_;
  net::steady_timer status_timer_;
  net::steady_timer grace_timer_;
  bool started_ = false;  ///< READY=1 sent (see report_started)
  std::string last_status_;
};

}  // namespace

void hold_stop_signals() {
  const auto set = stop_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int run_daemon_process(daemon_config config, std::optional<std::string> log_level) {
  setup_logging(config.log_level, config.log_format);
  daemon_process process(std::move(config), std::move(log_level));
  return process.run();
}

}  // namespace autodiscd
