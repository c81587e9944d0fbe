#pragma once
// output.on_change: runs a command once per batch of file changes, never two at once.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "config/daemon_config.hpp"
#include "listeners/asio.hpp"

namespace autodiscd {

/// Name of the environment variable holding the changed paths, one per line.
inline constexpr const char* changed_paths_env = "AUTODISCD_CHANGED_PATHS";

/// Collects changed paths; once no change came for `debounce` (or at the latest
/// 10 x debounce after the first), runs the command asynchronously (a child process
/// in its own process group, stdin /dev/null, stdout+stderr read by the event loop and
/// logged line by line), with AUTODISCD_CHANGED_PATHS set. A run that outlives `timeout`
/// is killed (its whole process group). Changes that arrive during a run are batched
/// into one next run: never two at once.
class change_hook {
 public:
  /// Called after each run with "ok", "failed" (exit status != 0, killed by a signal,
  /// or could not start) or "timeout".
  using result_callback = std::function<void(std::string_view result)>;

  change_hook(net::any_io_executor executor, change_hook_config config, result_callback on_result);
  ~change_hook();
  change_hook(const change_hook&) = delete;
  change_hook& operator=(const change_hook&) = delete;

  /// New settings (reload); a run in progress finishes under the old ones.
  void set_config(change_hook_config config);
  /// Files changed. Does nothing when no command is configured.
  void notify(const std::vector<std::string>& paths);
  /// Cancels the pending batch and kills a running command.
  void stop();

  bool running() const { return static_cast<bool>(run_); }
  std::size_t runs_started() const { return runs_started_; }

 private:
  struct run_state;
  void arm();
  void start_run();
  void on_exit(const std::shared_ptr<run_state>& run);
  void read_output(const std::shared_ptr<run_state>& run);

  net::any_io_executor executor_;
  change_hook_config config_;
  result_callback on_result_;
  net::steady_timer debounce_timer_;
  std::set<std::string> pending_;
  std::optional<std::chrono::steady_clock::time_point> first_pending_;
  std::shared_ptr<run_state> run_;
  std::size_t runs_started_ = 0;
  bool stopped_ = false;
};

}  // namespace autodiscd
