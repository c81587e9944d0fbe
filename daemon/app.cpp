#include "daemon/app.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <set>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <boost/asio/post.hpp>

#include "config/template_loader.hpp"
#include "listeners/log.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

namespace {
/// The most a batch waits for the previous write's rest (group commit); bounds the latency
/// it adds under a stream of changes.
constexpr std::chrono::milliseconds max_flush_wait{5};

/// A sync that follows this many resolved services gives the free heap back (see
/// release_free_heap); the syncs of a steady trickle of changes do not.
constexpr std::size_t release_after_services = 256;
/// Free heap below which nothing is given back.
constexpr std::size_t released_free_heap = 2 * 1024 * 1024;

/// A big sync frees far more than the daemon keeps: a first Docker sync parses every inspect,
/// a kubelet poll a whole pod list, and the writer's batch plans every file. glibc keeps freed
/// memory inside its heap, between the services made meanwhile, so without this the RSS stays
/// at the peak of the biggest sync. malloc_trim gives the free pages back: a walk of the free
/// chunks, no thread, no timer.
void release_free_heap() {
#ifdef __GLIBC__
  if (::mallinfo2().fordblks >= released_free_heap) ::malloc_trim(0);
#endif
}
}  // namespace

std::chrono::steady_clock::duration group_commit_wait(std::chrono::steady_clock::time_point now,
                                                      std::chrono::steady_clock::time_point last_end,
                                                      std::chrono::steady_clock::duration last_took,
                                                      std::chrono::steady_clock::duration max_wait) {
  const auto ready_at = last_end + std::min(last_took, max_wait);
  return now >= ready_at ? std::chrono::steady_clock::duration::zero() : ready_at - now;
}

app::app(net::io_context& io, daemon_config config, bool write_output, env_lookup env)
    : io_(io),
      config_(std::move(config)),
      write_output_(write_output),
      env_(std::move(env)),
      template_watch_(io.get_executor(), [this](const std::string& dir, const std::string& name) {
        const auto awaited = template_awaited_.find(dir);
        if (awaited != template_awaited_.end() && !awaited->second.contains(name)) return;
        schedule_template_reload();
      }),
      template_timer_(io),
      output_watch_(io.get_executor(), [this](const std::string& dir, const std::string& name) {
        // The output folder was deleted or moved away (seen from its parent, since an open
        // file inside pins the folder and delays its own delete event). Rewrite once it settles.
        const auto out = std::filesystem::path(config_.output_dir);
        if (stopped_ || dir != out.parent_path().string() || name != out.filename().string()) return;
        if (std::filesystem::exists(out)) return;
        output_timer_.expires_after(std::chrono::milliseconds(100));
        output_timer_.async_wait([this](boost::system::error_code ec) {
          if (!ec) restore_output();
        });
      }),
      output_timer_(io),
      retry_timer_(io),
      flush_timer_(io) {}

app::~app() { stop(); }

std::optional<std::string> app::start() {
  if (write_output_) {
    writer_ = std::make_unique<config_writer>(config_.output_dir);
    if (auto error = writer_->open()) return error;
    output_watch_.add(std::filesystem::path(config_.output_dir).parent_path().string());
    output_watch_.start();
  }
  reload_templates();
  template_watch_.start();
  for (const auto& lc : config_.listeners) {
    const auto* factory = find_listener_factory(lc.type);
    if (!factory) return "unknown listener type " + lc.type;
    listener_state state;
    state.name = lc.name;
    state.type = lc.type;
    states_.push_back(std::move(state));
    listeners_.push_back(factory->create(io_.get_executor(), lc));
  }
  for (auto& l : listeners_) l->start(*this);
  return std::nullopt;
}

void app::stop() {
  if (stopped_) return;
  // What the listeners reported last is written, not lost; the owner's callbacks may be
  // gone already (stop() also runs from the destructor), so they are not called.
  on_files_changed = nullptr;
  on_ready = nullptr;
  flush();
  stopped_ = true;
  for (auto& l : listeners_) l->stop();
  template_watch_.stop();
  output_watch_.stop();
  output_timer_.cancel();
  template_timer_.cancel();
  retry_timer_.cancel();
  flush_timer_.cancel();
  if (writer_ && config_.remove_output_on_exit) record(writer_->remove_all());
}

listener_state* app::state_of(const std::string& listener) {
  for (auto& s : states_) {
    if (s.name == listener) return &s;
  }
  return nullptr;
}

void app::record(const write_stats& stats) {
  totals_.writes.written += stats.written;
  totals_.writes.unchanged += stats.unchanged;
  totals_.writes.removed += stats.removed;
  totals_.writes.failed += stats.failed;
  auto log = logger("writer");
  for (const auto& error : stats.errors) log->error("{}", error);
  if (!stats.changed_paths.empty() && pending_since_) {
    totals_.discovery_to_disk.observe(std::chrono::steady_clock::now() - *pending_since_);
  }
  if (!stats.changed_paths.empty() && on_files_changed) on_files_changed(stats.changed_paths);
  if (writer_ && writer_->has_failures()) schedule_retry();
}

void app::restore_output() {
  if (!writer_ || stopped_) return;
  logger("writer")->warn("output folder {} was deleted or moved: writing every current config again",
                         config_.output_dir);
  writer_->forget_written();
  std::vector<owner_configs> batch;
  for (const auto& [id, result] : resolutions_) batch.push_back({id, result.configs});
  record(writer_->apply(batch));
}

void app::schedule_retry() {
  if (retry_pending_ || stopped_) return;
  retry_pending_ = true;
  retry_timer_.expires_after(std::chrono::seconds(1));
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    retry_pending_ = false;
    if (ec || !writer_) return;
    auto stats = writer_->retry();
    if (stats.failed == 0 && stats.written + stats.removed > 0) {
      logger("writer")->info("recovered: wrote={} removed={}", stats.written, stats.removed);
    }
    record(stats);
  });
}

void app::resolve_and_write(const std::vector<std::string>& ids) {
  std::vector<owner_configs> batch;
  for (const auto& id : ids) {
    const auto it = services_.find(id);
    resolution result;
    if (it != services_.end()) result = resolve_service(*it->second, templates_, env_);
    trace_stage("resolved", id);
    auto& previous = resolutions_[id];
    // Log new rejections only once.
    for (const auto& r : result.rejected) {
      if (std::find(previous.rejected.begin(), previous.rejected.end(), r) == previous.rejected.end()) {
        logger("resolver")->warn("rejected config: service={} check={} template={} reason={}",
                                 r.service_id, r.check_name, r.template_source, r.reason);
      }
    }
    const bool changed = !(previous == result);
    if (changed) {
      totals_.configs_resolved += result.configs.size();
      totals_.configs_rejected += result.rejected.size();
    }
    if (writer_ && (changed || writer_->has_failures())) batch.push_back({id, result.configs});
    if (it == services_.end()) resolutions_.erase(id);
    else previous = std::move(result);
  }
  if (!batch.empty()) record(writer_->apply(batch));
}

void app::flush() {
  if (dirty_.empty()) return;
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> ids(dirty_.begin(), dirty_.end());
  dirty_.clear();
  resolve_and_write(ids);
  resolved_since_release_ += ids.size();
  ++totals_.write_batches;
  pending_since_.reset();
  last_flush_end_ = std::chrono::steady_clock::now();
  last_flush_took_ = last_flush_end_ - started;
  totals_.write_time += last_flush_took_;
}

void app::on_delta(const std::string& listener, service_delta delta) {
  if (stopped_) return;
  if (!pending_since_) pending_since_ = std::chrono::steady_clock::now();
  auto* state = state_of(listener);
  // The per-listener count is kept as services come and go (a recount would make a sync
  // that reports N services one by one cost O(N^2)).
  for (auto* list : {&delta.added, &delta.changed}) {
    for (auto& svc : *list) {
      dirty_.insert(svc->id);
      const auto& id = svc->id;  // the snapshot stays put when the pointer moves
      const bool inserted = services_.insert_or_assign(id, std::move(svc)).second;
      if (state && inserted) ++state->services;
    }
  }
  for (auto& id : delta.removed) {
    dirty_.insert(id);
    if (services_.erase(id) > 0 && state && state->services > 0) --state->services;
  }
  // Resolve and write once the loop has run what is already queued: every delta of this
  // burst joins the batch, and a lone delta is written right after this handler. Right after
  // a write, wait as long as it took (group commit, see flush_timer_).
  if (flush_posted_) return;
  flush_posted_ = true;
  const auto now = std::chrono::steady_clock::now();
  const auto wait = group_commit_wait(now, last_flush_end_, last_flush_took_, max_flush_wait);
  auto run_flush = [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    flush_posted_ = false;
    if (!stopped_) flush();
  };
  if (wait <= std::chrono::steady_clock::duration::zero()) {
    net::post(io_, std::move(run_flush));
    return;
  }
  flush_timer_.expires_at(now + wait);
  flush_timer_.async_wait([run_flush = std::move(run_flush)](boost::system::error_code ec) {
    if (!ec) run_flush();
  });
}

void app::on_synced(const std::string& listener) {
  auto* state = state_of(listener);
  if (!state) return;
  flush();  // the synced picture is complete only once its deltas are resolved
  state->synced = true;
  state->last_sync = std::chrono::system_clock::now();
  if (!state->last_error_kind.empty()) {
    logger("listener." + state->type)->info("listener={} recovered", listener);
  }
  state->last_error_kind.clear();
  state->last_error.clear();
  state->error_since.reset();
  if (!ready_ && std::all_of(states_.begin(), states_.end(), [](const listener_state& s) { return s.synced; })) {
    become_ready();
  }
  // Once the listener's sync has unwound (its list and maps are freed when the call
  // returns), what the sync freed goes back.
  if (resolved_since_release_ >= release_after_services) {
    resolved_since_release_ = 0;
    net::post(io_, release_free_heap);
  }
}

void app::become_ready() {
  // First full picture: the files a past run left for services now gone are stale.
  if (writer_) {
    std::set<std::string> keep;
    for (const auto& [id, result] : resolutions_) {
      for (const auto& c : result.configs) keep.insert(c.relative_path);
    }
    record(writer_->remove_stale(keep));
  }
  ready_ = true;
  logger("app")->info("ready: services={} configs={}", services_.size(),
                      std::accumulate(resolutions_.begin(), resolutions_.end(), std::size_t{0},
                                      [](std::size_t n, const auto& r) { return n + r.second.configs.size(); }));
  if (on_ready) on_ready();
}

void app::on_error(const std::string& listener, const std::string& kind, const std::string& message) {
  auto* state = state_of(listener);
  if (!state) return;
  ++state->errors_by_kind[kind];
  // Log once per kind until it changes or recovers.
  if (state->last_error_kind != kind) {
    logger("listener." + state->type)->error("listener={} kind={} {}", listener, kind, message);
  }
  state->last_error_kind = kind;
  state->last_error = message;
  if (!state->error_since) state->error_since = std::chrono::steady_clock::now();
}

void app::on_count(const std::string& listener, std::string_view counter) {
  if (auto* state = state_of(listener)) {
    auto it = state->counters.find(counter);
    if (it == state->counters.end()) state->counters.emplace(std::string(counter), 1);
    else ++it->second;
  }
}

void app::schedule_template_reload() {
  // Editors write several events per save: reload once they settle.
  template_timer_.expires_after(std::chrono::milliseconds(100));
  template_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) reload_templates();
  });
}

void app::reload_templates() {
  auto loaded = load_templates(config_.template_dirs);
  auto log = logger("templates");
  // Report only errors that are new since the last load.
  for (const auto& e : loaded.errors) {
    const bool known = std::any_of(template_errors_.begin(), template_errors_.end(), [&](const config_error& old) {
      return old.to_string() == e.to_string();
    });
    if (!known) {
      log->error("{}", e.to_string());
      ++totals_.template_errors;
    }
  }
  template_errors_ = loaded.errors;
  // Identifiers of templates that appeared, vanished or changed.
  std::set<std::string> touched;
  const auto& before = templates_.all();
  for (const auto& t : loaded.templates) {
    if (std::find(before.begin(), before.end(), t) == before.end()) touched.insert(t.ad_identifiers.begin(), t.ad_identifiers.end());
  }
  for (const auto& t : before) {
    if (std::find(loaded.templates.begin(), loaded.templates.end(), t) == loaded.templates.end()) {
      touched.insert(t.ad_identifiers.begin(), t.ad_identifiers.end());
    }
  }
  templates_ = template_index(std::move(loaded.templates));
  template_watch_.clear();
  template_awaited_.clear();
  for (const auto& dir : loaded.watched_dirs) template_watch_.add(dir);
  for (const auto& [dir, name] : loaded.awaited) {
    if (std::find(loaded.watched_dirs.begin(), loaded.watched_dirs.end(), dir) != loaded.watched_dirs.end()) continue;
    if (template_awaited_[dir].insert(name).second && template_awaited_[dir].size() == 1) template_watch_.add(dir);
  }
  if (touched.empty()) return;
  log->info("templates changed: templates={} identifiers={}", templates_.all().size(), touched.size());
  std::vector<std::string> affected;
  for (const auto& [id, svc] : services_) {
    if (std::any_of(svc->ad_identifiers.begin(), svc->ad_identifiers.end(),
                    [&](const std::string& i) { return touched.contains(i); })) {
      affected.push_back(id);
    }
  }
  resolve_and_write(affected);
}

}  // namespace autodiscd

namespace autodiscd {

void app::record_hook_run(std::string_view result) {
  auto it = totals_.hook_runs.find(result);
  if (it == totals_.hook_runs.end()) totals_.hook_runs.emplace(std::string(result), 1);
  else ++it->second;
}

std::optional<std::string> app::reload(daemon_config next) {
  if (stopped_) return "the daemon is stopping";
  if (next.output_dir != config_.output_dir) {
    return "output.dir cannot change on reload (" + config_.output_dir + " -> " + next.output_dir +
           "): restart the daemon";
  }
  for (const auto& lc : next.listeners) {
    if (!find_listener_factory(lc.type)) return "unknown listener type " + lc.type;
  }
  auto log = logger("app");
  // Keep listeners whose settings did not change; stop the others.
  std::vector<std::unique_ptr<listener>> kept(next.listeners.size());
  std::vector<listener_state> kept_states(next.listeners.size());
  std::vector<bool> is_kept(next.listeners.size(), false);
  std::vector<std::string> dropped;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    const auto& old = config_.listeners[i];
    std::size_t match = next.listeners.size();
    for (std::size_t j = 0; j < next.listeners.size(); ++j) {
      if (!is_kept[j] && next.listeners[j].name == old.name && next.listeners[j].canonical == old.canonical) match = j;
    }
    if (match < next.listeners.size()) {
      kept[match] = std::move(listeners_[i]);
      kept_states[match] = std::move(states_[i]);
      is_kept[match] = true;
    } else {
      listeners_[i]->stop();
      retired_listeners_.push_back(std::move(listeners_[i]));
      dropped.push_back(old.name);
      log->info("reload: listener={} stopped (settings changed or removed)", old.name);
    }
  }
  // Services of stopped listeners are gone (their replacements report them again).
  std::vector<std::string> gone;
  for (auto it = services_.begin(); it != services_.end();) {
    if (std::find(dropped.begin(), dropped.end(), it->second->listener) != dropped.end()) {
      gone.push_back(it->first);
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
  for (std::size_t j = 0; j < next.listeners.size(); ++j) {
    if (is_kept[j]) continue;
    const auto& lc = next.listeners[j];
    kept[j] = find_listener_factory(lc.type)->create(io_.get_executor(), lc);
    kept_states[j].name = lc.name;
    kept_states[j].type = lc.type;
  }
  listeners_ = std::move(kept);
  states_ = std::move(kept_states);
  const auto file = config_.file;
  config_ = std::move(next);
  if (config_.file.empty()) config_.file = file;

  flush();
  resolve_and_write(gone);
  // Templates may have changed even when their folders did not: resolve everything again;
  // the writer leaves unchanged files alone.
  reload_templates();
  std::vector<std::string> ids;
  for (const auto& [id, svc] : services_) ids.push_back(id);
  resolve_and_write(ids);
  for (std::size_t j = 0; j < listeners_.size(); ++j) {
    if (!is_kept[j]) {
      log->info("reload: listener={} type={} started", states_[j].name, states_[j].type);
      listeners_[j]->start(*this);
    }
  }
  log->info("reloaded: listeners={} kept={} services={}", listeners_.size(),
            std::count(is_kept.begin(), is_kept.end(), true), services_.size());
  return std::nullopt;
}

}  // namespace autodiscd
