#include "listeners/docker/docker_listener.hpp"

#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <nlohmann/json.hpp>

#include "listeners/docker/backoff.hpp"
#include "listeners/docker/docker_mapping.hpp"
#include "listeners/http/http_client.hpp"
#include "listeners/log.hpp"

namespace autodiscd {

using djson = nlohmann::json;
using namespace docker;

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// How long after a health event its container is inspected again (Podman < 4.7 writes the
/// result after the event; the write follows the check's exec within milliseconds).
constexpr auto late_inspect_delay = std::chrono::seconds(1);

/// `{"type":["container"]}`, URL-encoded.
constexpr std::string_view container_filter_query = "filters=%7B%22type%22%3A%5B%22container%22%5D%7D";

/// What one inspect said.
struct inspect_outcome {
  bool ok = false;
  bool gone = false;  ///< 404: the container no longer exists
  std::optional<service> svc;
  http_error error;
};
}  // namespace

struct docker_listener::core : std::enable_shared_from_this<docker_listener::core> {
  core(net::any_io_executor ex, docker_settings s)
      : executor(ex),
        settings(std::move(s)),
        api(ex, settings.endpoint, http_client_options{static_cast<std::size_t>(settings.inspect_concurrency), 64u << 10}),
        backoff_timer(ex),
        delay(settings.backoff_initial, settings.backoff_max),
        random(std::random_device{}()),
        log(logger("listener.docker")) {
    std::vector<std::string> errors;  // already validated
    filter = container_filter(settings.include, settings.exclude, settings.exclude_pause_containers, errors);
    mapping.listener_name = settings.name;
    mapping.wait_for_healthy = settings.wait_for_healthy;
  }

  net::any_io_executor executor;
  docker_settings settings;
  container_filter filter;
  mapping_options mapping;
  service_sink* sink = nullptr;
  bool stopped = false;

  http_client api;                    ///< ping, list, inspect (kept-alive pool)
  std::optional<http_client> events;  ///< one per connection cycle
  std::string prefix;                 ///< "/v1.41"
  std::uint64_t cycle = 0;            ///< connection cycle; a resync of an old cycle stops
  bool absent = false;                ///< optional engine whose socket does not exist (reported synced)
  bool resync_started = false;
  bool syncing = false;
  std::set<std::string> pending;      ///< container ids named by events during a resync
  std::set<std::string> inflight;     ///< ids being inspected for an event
  std::set<std::string> dirty;        ///< ids named again while being inspected
  /// Ids named by events while inspect_concurrency inspects were already running, in order
  /// (a burst of events must not open a connection per container).
  std::deque<std::string> queued;
  std::set<std::string> queued_ids;
  std::map<std::string, std::string> image_names;  ///< image id -> name
  std::map<std::string, std::shared_ptr<net::steady_timer>> removals;  ///< service id -> grace timer
  std::map<std::string, std::shared_ptr<net::steady_timer>> late_inspects;  ///< container id -> timer
  service_map services;               ///< what was reported
  line_splitter splitter;
  net::steady_timer backoff_timer;
  backoff delay;
  std::mt19937 random;
  std::shared_ptr<spdlog::logger> log;

  // --- reporting -------------------------------------------------------------------------
  /// The app logs an error once when it starts, changes kind or ends; every retry is debug.
  void report_error(const std::string& kind, const std::string& message) {
    log->debug("listener={} kind={} {}", settings.name, kind, message);
    if (sink) sink->on_error(settings.name, kind, message);
  }
  void count(std::string_view what) {
    if (sink) sink->on_count(settings.name, what);
  }

  void upsert(service_ptr svc) {
    if (auto r = removals.find(svc->id); r != removals.end()) {
      r->second->cancel();
      removals.erase(r);
    }
    auto it = services.find(svc->id);
    auto delta = diff_one(it == services.end() ? nullptr : it->second, svc);
    if (delta.empty()) return;  // an equal snapshot: the one the app holds stays
    services[svc->id] = std::move(svc);
    if (sink) sink->on_delta(settings.name, std::move(delta));
  }

  void remove_now(const std::string& sid) {
    if (auto r = removals.find(sid); r != removals.end()) {
      r->second->cancel();
      removals.erase(r);
    }
    auto it = services.find(sid);
    if (it == services.end()) return;
    auto delta = diff_one(it->second, nullptr);
    services.erase(it);
    if (sink) sink->on_delta(settings.name, std::move(delta));
  }

  void schedule_removal(const std::string& sid) {
    if (!services.count(sid)) return;
    if (settings.removal_grace.count() <= 0) {
      remove_now(sid);
      return;
    }
    if (removals.count(sid)) return;
    auto timer = std::make_shared<net::steady_timer>(executor, settings.removal_grace);
    removals[sid] = timer;
    std::weak_ptr<core> weak = weak_from_this();
    timer->async_wait([weak, sid, timer](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped) return;
      auto r = self->removals.find(sid);
      if (r == self->removals.end() || r->second != timer) return;  // cancelled meanwhile
      self->remove_now(sid);
    });
  }

  http_request get(std::string target) const {
    http_request r;
    r.target = prefix + target;
    r.timeout = settings.timeout;
    r.body_limit = settings.body_limit;
    return r;
  }
};

namespace {

using core_ptr = std::shared_ptr<docker_listener::core>;

/// Completion handler for spawned coroutines: logs what escaped (a broken invariant).
struct log_exception {
  std::shared_ptr<spdlog::logger> log;
  void operator()(const std::exception_ptr& e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log->error("listener.docker task failed: {}", ex.what());
    }
  }
};

net::awaitable<inspect_outcome> inspect_container(core_ptr c, std::string id) {
  inspect_outcome out;
  auto req = c->get("/containers/" + id + "/json");
  trace_stage("inspect_sent", id);
  auto op = c->api.request(std::move(req));
  http_result r = co_await std::move(op);
  if (r.response && r.response->status == 404) {
    out.ok = true;
    out.gone = true;
    co_return out;
  }
  if (!r.ok()) {
    out.error = r.error;
    co_return out;
  }
  auto inspect = djson::parse(r.response->body, nullptr, false);
  if (inspect.is_discarded() || !inspect.is_object()) {
    out.error = {"parse", "inspect of container " + id + ": not a JSON object"};
    co_return out;
  }
  std::string image = image_name_of(inspect);
  const std::string image_id = image_id_of(inspect);
  if (image.empty() && !image_id.empty()) {
    if (auto cached = c->image_names.find(image_id); cached != c->image_names.end()) {
      image = cached->second;
    } else {
      auto image_req = c->get("/images/" + image_id + "/json");
      auto image_op = c->api.request(std::move(image_req));
      http_result ir = co_await std::move(image_op);
      if (ir.ok()) {
        auto image_json = djson::parse(ir.response->body, nullptr, false);
        if (!image_json.is_discarded()) {
          image = image_name_from_image_inspect(image_json);
          c->image_names[image_id] = image;
        }
      } else if (ir.response && ir.response->status == 404) {
        c->image_names[image_id] = "";
      }
      // Other errors: map without an image name now, retry the lookup next time.
    }
  }
  auto mapped = map_container(inspect, image, c->mapping, c->filter);
  trace_stage("inspect_parsed", id);
  out.ok = true;
  out.svc = std::move(mapped.svc);
  co_return out;
}

// --- one container, on an event ------------------------------------------------------------

void refresh(const core_ptr& c, const std::string& id);

net::awaitable<void> refresh_loop(core_ptr c, std::string id) {
  int failures = 0;
  while (!c->stopped) {
    c->dirty.erase(id);
    auto op = inspect_container(c, id);
    inspect_outcome out = co_await std::move(op);
    if (c->stopped) break;
    if (!out.ok) {
      // Transient: retry a few times; a resync after reconnecting fixes the rest.
      if (++failures <= 3) {
        net::steady_timer wait(c->executor, std::chrono::milliseconds(50 << failures));
        co_await wait.async_wait(use_tuple);
        c->dirty.insert(id);
        continue;
      }
      // The container's state is unknown and no event may name it again: without a re-list it
      // would stay stale (or missing) until some later reconnect. Reconnect as a failed sync does.
      c->report_error(out.error.kind, "inspect of container " + id + ": " + out.error.message + "; reconnecting");
      if (c->events) c->events->close();
      break;
    } else if (c->syncing) {
      c->pending.insert(id);  // the resync's own result comes later; look again after it
    } else if (out.svc) {
      c->upsert(std::make_shared<const service>(std::move(*out.svc)));
    } else {
      c->schedule_removal("docker://" + id);
    }
    if (!c->dirty.count(id)) break;
  }
  c->inflight.erase(id);
  c->dirty.erase(id);
  // A slot is free: the oldest queued container is next.
  if (!c->stopped && !c->queued.empty()) {
    auto next = std::move(c->queued.front());
    c->queued.pop_front();
    c->queued_ids.erase(next);
    refresh(c, next);
  }
}

void refresh(const core_ptr& c, const std::string& id) {
  if (c->stopped) return;
  if (c->syncing) {
    c->pending.insert(id);
    return;
  }
  if (c->inflight.count(id)) {
    c->dirty.insert(id);
    return;
  }
  if (c->inflight.size() >= static_cast<std::size_t>(c->settings.inspect_concurrency)) {
    if (c->queued_ids.insert(id).second) c->queued.push_back(id);
    return;
  }
  c->inflight.insert(id);
  net::co_spawn(c->executor, refresh_loop(c, id), log_exception{c->log});
}

/// One more inspect of `id` after late_inspect_delay (one pending at a time per container).
void refresh_later(const core_ptr& c, const std::string& id) {
  if (c->stopped || c->late_inspects.count(id)) return;
  auto timer = std::make_shared<net::steady_timer>(c->executor, late_inspect_delay);
  c->late_inspects[id] = timer;
  std::weak_ptr<docker_listener::core> weak = c;
  timer->async_wait([weak, id, timer](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped) return;
    self->late_inspects.erase(id);
    refresh(self, id);
  });
}

void on_event_bytes(const core_ptr& c, std::string_view data) {
  std::vector<std::string> lines;
  if (!c->splitter.feed(data, lines)) {
    c->report_error("protocol", "an /events line exceeds the limit; reconnecting");
    if (c->events) c->events->close();
    return;
  }
  for (const auto& line : lines) {
    auto ev = parse_event(line);
    if (!ev) {
      c->log->debug("listener={} ignoring a non-JSON event line", c->settings.name);
      continue;
    }
    c->count("events");
    if (event_needs_inspect(*ev)) {
      trace_stage("event", ev->id);
      refresh(c, ev->id);
    }
    // Health only matters for readiness with wait_for_healthy.
    if (c->mapping.wait_for_healthy && event_needs_late_inspect(*ev)) refresh_later(c, ev->id);
  }
}

// --- full (re)sync -------------------------------------------------------------------------

struct sync_state {
  explicit sync_state(net::any_io_executor ex) : done(ex, net::steady_timer::time_point::max()) {}
  std::vector<std::string> ids;
  std::size_t next = 0;
  std::size_t running = 0;
  service_map found;
  std::optional<http_error> failure;
  net::steady_timer done;
};

net::awaitable<void> inspect_worker(core_ptr c, std::shared_ptr<sync_state> s, std::uint64_t cycle) {
  while (s->next < s->ids.size() && !s->failure && !c->stopped && c->cycle == cycle) {
    std::string id = s->ids[s->next++];
    auto op = inspect_container(c, id);
    inspect_outcome out = co_await std::move(op);
    if (!out.ok) {
      if (!s->failure) s->failure = http_error{out.error.kind, "inspect of container " + id + ": " + out.error.message};
    } else if (out.svc) {
      put_service(s->found, std::move(*out.svc));
    }
  }
}

net::awaitable<void> resync(core_ptr c, std::uint64_t cycle) {
  c->syncing = true;
  auto list_req = c->get("/containers/json");
  auto op = c->api.request(std::move(list_req));
  http_result r = co_await std::move(op);
  if (c->stopped || c->cycle != cycle) co_return;
  auto fail = [&c](const std::string& kind, const std::string& message) {
    c->syncing = false;
    c->report_error(kind, message + "; reconnecting");
    if (c->events) c->events->close();  // the main loop backs off, reconnects and re-lists
  };
  if (!r.ok()) {
    fail(r.error.kind, "listing containers: " + r.error.message);
    co_return;
  }
  auto list = djson::parse(r.response->body, nullptr, false);
  if (list.is_discarded() || !list.is_array()) {
    fail("parse", "listing containers: not a JSON array");
    co_return;
  }
  auto s = std::make_shared<sync_state>(c->executor);
  for (const auto& entry : list) {
    if (entry.is_object() && entry.contains("Id") && entry["Id"].is_string()) s->ids.push_back(entry["Id"].get<std::string>());
  }
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(c->settings.inspect_concurrency), s->ids.size());
  for (std::size_t i = 0; i < workers; ++i) {
    ++s->running;
    auto on_done = [s, log = c->log](const std::exception_ptr& e) {
      log_exception{log}(e);
      if (--s->running == 0) s->done.cancel();
    };
    net::co_spawn(c->executor, inspect_worker(c, s, cycle), std::move(on_done));
  }
  if (s->running > 0) co_await s->done.async_wait(use_tuple);
  if (c->stopped || c->cycle != cycle) co_return;
  if (s->failure) {
    fail(s->failure->kind, s->failure->message);
    co_return;
  }
  // Report the differences: what vanished goes (after the grace period), the rest is upserted.
  std::vector<std::string> gone;
  for (const auto& [sid, svc] : c->services) {
    if (!s->found.count(sid)) gone.push_back(sid);
  }
  for (const auto& sid : gone) c->schedule_removal(sid);
  for (auto& [sid, svc] : s->found) c->upsert(std::move(svc));
  c->syncing = false;
  c->delay.reset();
  c->count("resyncs");
  c->log->info("listener={} synced services={} engine={}", c->settings.name, c->services.size(),
               c->settings.endpoint.describe());
  if (c->sink) c->sink->on_synced(c->settings.name);
  auto again = std::move(c->pending);
  c->pending.clear();
  for (const auto& id : again) refresh(c, id);
}

void start_resync(const core_ptr& c) {
  if (c->resync_started || c->stopped) return;
  c->resync_started = true;
  net::co_spawn(c->executor, resync(c, c->cycle), log_exception{c->log});
}

// --- the connection loop -------------------------------------------------------------------

/// An optional engine that is not there: its unix socket does not exist, and no container of
/// it is known (once containers were seen, a vanished socket is an outage, not an absence).
bool engine_absent(const docker_listener::core& c) {
  if (!c.settings.optional || !c.services.empty()) return false;
  if (c.settings.endpoint.transport != http_endpoint::transport_kind::unix_socket) return false;
  std::error_code ec;
  return !std::filesystem::exists(c.settings.endpoint.socket_path, ec) && !ec;
}

/// What to do about a failed connect, for the one log line the failure gets.
std::string connect_hint(const docker_listener::core& c, const http_error& error) {
  if (error.kind != "connect" || c.settings.endpoint.transport != http_endpoint::transport_kind::unix_socket) return "";
  if (error.message.find("ermission denied") != std::string::npos) {
    return " (hint: the daemon's user needs read-write access to the socket, usually through the docker group)";
  }
  if (error.message.find("No such file") != std::string::npos || error.message.find("refused") != std::string::npos) {
    return " (hint: is the engine running? On a host that may have none, set optional: true)";
  }
  return "";
}

net::awaitable<void> run(core_ptr c) {
  bool first = true;
  while (!c->stopped) {
    if (!first) {
      c->count("reconnects");
      auto wait = c->delay.next(c->random);
      c->backoff_timer.expires_after(wait);
      co_await c->backoff_timer.async_wait(use_tuple);
      if (c->stopped) break;
    }
    first = false;
    if (engine_absent(*c)) {
      if (!c->absent) {
        c->absent = true;
        c->log->info("listener={} engine={} is absent (no such socket): no containers here; watching for it "
                     "(optional: true)", c->settings.name, c->settings.endpoint.describe());
        if (c->sink) c->sink->on_synced(c->settings.name);
      }
      continue;
    }
    if (c->absent) {
      c->absent = false;
      c->log->info("listener={} engine={} appeared; connecting", c->settings.name, c->settings.endpoint.describe());
    }
    ++c->cycle;
    c->resync_started = false;
    c->syncing = false;
    c->pending.clear();

    http_request ping;
    ping.target = "/_ping";
    ping.timeout = c->settings.timeout;
    ping.body_limit = 4096;
    auto ping_op = c->api.request(std::move(ping));
    http_result pong = co_await std::move(ping_op);
    if (c->stopped) break;
    if (!pong.ok()) {
      c->report_error(pong.error.kind, "ping: " + pong.error.message + connect_hint(*c, pong.error));
      continue;
    }
    auto version = negotiate_api_version(pong.response->header("api-version"));
    c->prefix = version.empty() ? "" : "/v" + version;
    auto engine_now = parse_http_date(pong.response->header("date"));

    // Subscribe first. With the engine's clock, `since` replays what happens from now on even
    // before the subscription is active, so the list can start at once; without it, the list
    // starts when the stream's headers arrive.
    c->events.emplace(c->executor, c->settings.endpoint, http_client_options{0, 64u << 10});
    c->splitter.reset();
    auto events_req = c->get("/events?" + std::string(container_filter_query));
    if (engine_now) events_req.target += "&since=" + std::to_string(*engine_now - 1);
    std::weak_ptr<docker_listener::core> weak = c;
    std::function<void(std::string_view)> on_data = [weak](std::string_view data) {
      if (auto self = weak.lock(); self && !self->stopped) on_event_bytes(self, data);
    };
    std::function<void(const http_response&)> on_headers = [weak](const http_response&) {
      if (auto self = weak.lock(); self && !self->stopped) start_resync(self);
    };
    if (engine_now) start_resync(c);
    http_client events = *c->events;
    auto stream_op = events.stream(std::move(events_req), std::move(on_data), std::move(on_headers));
    http_result end = co_await std::move(stream_op);
    if (c->stopped) break;
    c->events->close();
    if (end.ok()) {
      c->report_error("closed", "the event stream ended; reconnecting");
    } else {
      c->report_error(end.error.kind, "event stream: " + end.error.message);
    }
  }
}

}  // namespace

// --- the listener ------------------------------------------------------------------------------

docker_listener::docker_listener(net::any_io_executor executor, docker_settings settings)
    : core_(std::make_shared<core>(executor, std::move(settings))) {}

docker_listener::~docker_listener() { stop(); }

void docker_listener::start(service_sink& sink) {
  core_->sink = &sink;
  core_->log->info("listener={} engine={}", core_->settings.name, core_->settings.endpoint.describe());
  net::co_spawn(core_->executor, run(core_), log_exception{core_->log});
}

void docker_listener::stop() {
  auto& c = *core_;
  if (c.stopped) return;
  c.stopped = true;
  c.sink = nullptr;
  c.api.close();
  if (c.events) c.events->close();
  c.backoff_timer.cancel();
  for (auto& [sid, timer] : c.removals) timer->cancel();
  c.removals.clear();
  for (auto& [id, timer] : c.late_inspects) timer->cancel();
  c.late_inspects.clear();
}

void docker_listener::validate(const listener_config& config, config_errors& errors) {
  read_docker_settings(config, process_environment(), errors);
}

std::unique_ptr<listener> docker_listener::create(net::any_io_executor executor, const listener_config& config) {
  config_errors errors;
  auto settings = read_docker_settings(config, process_environment(), errors);
  return std::make_unique<docker_listener>(executor, std::move(settings));
}

}  // namespace autodiscd
