#pragma once
// The app: wires listeners -> service store -> resolver -> writer on one io_context.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/daemon_config.hpp"
#include "config/resolver.hpp"
#include "config/writer.hpp"
#include "daemon/metrics.hpp"
#include "listeners/file_watch.hpp"
#include "listeners/listener.hpp"

namespace autodiscd {

/// What the app knows about one listener (for status, healthz and the CLI).
struct listener_state {
  std::string name;
  std::string type;
  bool synced = false;  ///< completed at least one full sync
  std::optional<std::chrono::system_clock::time_point> last_sync;
  std::string last_error_kind;  ///< "" when the last attempt succeeded
  std::string last_error;
  std::optional<std::chrono::steady_clock::time_point> error_since;  ///< when the current error began
  std::size_t services = 0;
  std::map<std::string, std::uint64_t, std::less<>> counters;  ///< events, polls, reconnects, ...
  std::map<std::string, std::uint64_t> errors_by_kind;
};

/// Running totals for metrics.
struct app_totals {
  write_stats writes;  ///< changed_paths and errors are not kept here
  std::uint64_t configs_resolved = 0;
  std::uint64_t configs_rejected = 0;
  std::uint64_t template_errors = 0;
  std::chrono::system_clock::time_point start_time = std::chrono::system_clock::now();
  /// From a listener's report entering the app to the changed files being on disk.
  latency_histogram discovery_to_disk;
  /// Batches resolved and written (each a writer batch; see group_commit_wait).
  std::uint64_t write_batches = 0;
  /// Time the event loop spent resolving and writing those batches (it reads no event and
  /// sends no inspect meanwhile: the writes are synchronous).
  std::chrono::steady_clock::duration write_time{};
  std::map<std::string, std::uint64_t, std::less<>> hook_runs;  ///< by result: ok, failed, timeout
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
};

/// Group commit: how long a batch that becomes due at `now` waits, when the previous write
/// ended at `last_end` and took `last_took`: until the output has rested as long as it
/// worked, at most `max_wait`; 0 after a quiet spell. Pure.
std::chrono::steady_clock::duration group_commit_wait(std::chrono::steady_clock::time_point now,
                                                      std::chrono::steady_clock::time_point last_end,
                                                      std::chrono::steady_clock::duration last_took,
                                                      std::chrono::steady_clock::duration max_wait);

class app : public service_sink {
 public:
  /// `write_output` false: resolve only, never touch the output folder (CLI commands).
  app(net::io_context& io, daemon_config config, bool write_output, env_lookup env = process_environment());
  ~app() override;

  /// Opens the output folder, loads templates and starts every listener.
  /// Returns an error message when the daemon cannot run.
  std::optional<std::string> start();
  /// Stops every listener and timer; with output.remove_on_exit, removes owned files.
  void stop();

  /// Called once, when every listener has finished its first sync and its configs are written.
  std::function<void()> on_ready;
  /// Called after each batch of file changes with the changed paths.
  std::function<void(const std::vector<std::string>&)> on_files_changed;

  // service_sink
  void on_delta(const std::string& listener, service_delta delta) override;
  void on_synced(const std::string& listener) override;
  void on_error(const std::string& listener, const std::string& kind, const std::string& message) override;
  void on_count(const std::string& listener, std::string_view counter) override;

  /// Re-reads the template folders and re-resolves the services they affect.
  void reload_templates();

  /// Applies a new, already validated config (SIGHUP): listeners whose settings
  /// (`listener_config::canonical`) did not change keep running with their services;
  /// others are stopped (their services removed) or started; templates are re-read and
  /// every service resolved again, writing only what changed. Returns an error (and
  /// changes nothing) when the new config cannot be applied without a restart.
  std::optional<std::string> reload(daemon_config next);

  /// Counts a run of the change hook by result ("ok", "failed", "timeout").
  void record_hook_run(std::string_view result);
  /// Counts a reload attempt.
  void record_reload(bool ok) { ++(ok ? totals_.reloads_ok : totals_.reloads_failed); }

  bool ready() const { return ready_; }
  const daemon_config& config() const { return config_; }
  const service_map& services() const { return services_; }
  const std::map<std::string, resolution>& resolutions() const { return resolutions_; }
  const std::vector<listener_state>& listener_states() const { return states_; }
  const config_errors& template_errors() const { return template_errors_; }
  const app_totals& totals() const { return totals_; }
  const config_writer* writer() const { return writer_.get(); }

 private:
  listener_state* state_of(const std::string& listener);
  /// Every listener synced for the first time: removes stale files, then calls on_ready.
  void become_ready();
  /// Resolves `ids` again and writes what changed, as one writer batch.
  void resolve_and_write(const std::vector<std::string>& ids);
  /// Resolves and writes the services changed by the deltas received since the last flush.
  void flush();
  void record(const write_stats& stats);
  void schedule_retry();
  void schedule_template_reload();
  /// Rewrites every current file after the output folder was deleted or moved away.
  void restore_output();

  net::io_context& io_;
  daemon_config config_;
  bool write_output_;
  env_lookup env_;
  template_index templates_;
  config_errors template_errors_;
  std::vector<std::unique_ptr<listener>> listeners_;
  /// Listeners stopped by a reload: kept alive until the app goes, because their cancelled
  /// operations still complete on the loop.
  std::vector<std::unique_ptr<listener>> retired_listeners_;
  std::vector<listener_state> states_;
  /// The listeners' snapshots, shared with them (not copies).
  service_map services_;
  std::map<std::string, resolution> resolutions_;
  std::unique_ptr<config_writer> writer_;
  file_watch template_watch_;
  /// Folders watched only because a template folder under them is missing: the names there
  /// that lead to one (other changes in them are not ours).
  std::map<std::string, std::set<std::string>> template_awaited_;
  net::steady_timer template_timer_;
  /// Watches the output folder itself, to notice it being deleted or moved away.
  file_watch output_watch_;
  net::steady_timer output_timer_;
  net::steady_timer retry_timer_;
  bool retry_pending_ = false;
  bool ready_ = false;
  bool stopped_ = false;
  /// Services changed by deltas and not yet resolved: the deltas that arrive in one turn of
  /// the event loop (a resync, a burst of events) are written as one batch.
  std::set<std::string> dirty_;
  bool flush_posted_ = false;
  /// Services resolved since the free heap was last given back to the system.
  std::size_t resolved_since_release_ = 0;
  /// Group commit: after a write that took W, the next batch waits until the output has
  /// rested for W (at most max_flush_wait), so under a stream of changes batches grow with
  /// the rate instead of paying the syncs per few files; a change after a quiet spell is
  /// written at once.
  net::steady_timer flush_timer_;
  std::chrono::steady_clock::time_point last_flush_end_{};
  std::chrono::steady_clock::duration last_flush_took_{};
  /// When the oldest delta of the pending batch entered the app.
  std::optional<std::chrono::steady_clock::time_point> pending_since_;
  /// Guards the posted flush against running after the app is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  app_totals totals_;
};

}  // namespace autodiscd
