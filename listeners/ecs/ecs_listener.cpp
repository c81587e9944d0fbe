#include "listeners/ecs/ecs_listener.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "config/yaml_reader.hpp"
#include "listeners/http/http_client.hpp"
#include "listeners/log.hpp"
#include "listeners/poller.hpp"

namespace autodiscd {
namespace {

/// "http://host:port/a/b" -> {"http://host:port", "/a/b"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

std::string ecs_version_name(ecs_metadata_version v) {
  switch (v) {
    case ecs_metadata_version::v2: return "v2";
    case ecs_metadata_version::v3: return "v3";
    case ecs_metadata_version::v4: return "v4";
  }
  return "?";
}

}  // namespace

bool tags_not_offered(int status) { return status >= 400 && status < 500 && status != 408 && status != 429; }

struct ecs_listener::state : poller_core {
  state(net::any_io_executor ex, ecs_settings s, ecs_endpoint e, http_client c)
      : poller_core(std::move(ex), s.name, s.poll_interval, std::move(c)), settings(std::move(s)), endpoint(std::move(e)) {}
  ecs_settings settings;
  ecs_endpoint endpoint;
  std::string task_target;   ///< path of the task document
  std::string tags_target;   ///< path of taskWithTags; "" when not offered or not available

  void report_error(const std::string& kind, const std::string& message) {
    if (sink) sink->on_error(settings.name, kind, message);
  }
};

namespace {

net::awaitable<http_result> get(std::shared_ptr<ecs_listener::state> s, std::string target) {
  http_request req;
  req.target = std::move(target);
  req.timeout = s->settings.timeout;
  req.body_limit = s->settings.body_limit;
  auto call = s->client.request(std::move(req));
  co_return co_await std::move(call);
}

net::awaitable<void> poll_once(std::shared_ptr<ecs_listener::state> s) {
  s->sink->on_count(s->settings.name, "polls");
  std::string target = s->tags_target.empty() ? s->task_target : s->tags_target;
  auto first = get(s, target);
  http_result result = co_await std::move(first);
  if (s->stopped || !s->sink) co_return;
  const int status = result.response ? result.response->status : 0;
  if (!s->tags_target.empty() && result.error.kind == "http_status" && tags_not_offered(status)) {
    // No taskWithTags on this agent (or no permission): use /task from now on. A 5xx is an
    // outage like any other, not an answer about taskWithTags (falling back then lost the
    // task's tags for good).
    logger("listener.ecs")
        ->info("listener={} {} answered {}; using {} (no task tags)", s->settings.name, s->tags_target, status,
               s->task_target);
    s->tags_target.clear();
    target = s->task_target;
    auto second = get(s, target);
    result = co_await std::move(second);
    if (s->stopped || !s->sink) co_return;
  }
  const auto where = "GET " + s->client.endpoint().describe() + target;
  if (!result.ok()) {
    s->report_error(result.error.kind, where + ": " + result.error.message + " (keeping the known services)");
    co_return;
  }
  // The task metadata is byte-identical from poll to poll until something changes: the same
  // body is not parsed, diffed or resolved again.
  const auto body = fingerprint(result.response->body);
  if (s->last_body.unchanged(body, std::chrono::system_clock::now())) {
    s->report_unchanged();
    co_return;
  }
  ecs_task_options options;
  options.listener_name = s->settings.name;
  options.version = s->endpoint.version;
  options.wait_for_healthy = s->settings.wait_for_healthy;
  ecs_task_result task;
  if (auto error = parse_ecs_task(result.response->body, options, task)) {
    s->report_error("parse", where + ": " + *error + " (keeping the known services)");
    co_return;
  }
  if (!task.task_started) {
    s->report_error("task_not_running", where + ": the task is " + task.task_status + ", not RUNNING yet");
    co_return;
  }
  s->last_body.remember(body, std::nullopt);
  s->report(std::move(task.services));
}


}  // namespace

ecs_settings read_ecs_settings(const listener_config& config, config_errors& errors) {
  yaml_reader r(config.node, config.file, config.key_path, errors);
  r.allow("type");
  r.allow("name");
  ecs_settings s;
  s.name = config.name.empty() ? "ecs" : config.name;
  s.url = r.optional_string("url");
  if (s.url) {
    std::string error;
    if (!s.url->starts_with("http://") && !s.url->starts_with("https://")) {
      r.error("url", "expected an http:// URL of the task metadata, got \"" + *s.url + "\"");
    } else if (!parse_http_endpoint(split_url(*s.url).first, error)) {
      r.error("url", error);
    }
  }
  s.poll_interval = r.duration("poll_interval", s.poll_interval);
  if (s.poll_interval.count() <= 0) r.error("poll_interval", "expected a positive duration");
  s.timeout = r.duration("timeout", s.timeout);
  if (s.timeout.count() <= 0) r.error("timeout", "expected a positive duration");
  s.wait_for_healthy = r.boolean("wait_for_healthy", false);
  s.body_limit = static_cast<std::size_t>(r.integer("body_limit", static_cast<long long>(s.body_limit), 1024, 1LL << 30));
  r.finish();
  return s;
}

ecs_listener::ecs_listener(net::any_io_executor executor, ecs_settings settings, const env_lookup& env) {
  auto endpoint = choose_ecs_endpoint(settings.url, env);
  const auto [base, task_path] = split_url(endpoint.url);
  std::string error;
  auto http = parse_http_endpoint(base, error);
  if (!http) throw std::invalid_argument("ecs listener " + settings.name + ": " + endpoint.source + ": " + error);
  http_client_options client_options;
  client_options.max_idle = 1;
  http_client client(executor, *http, client_options);
  state_ = std::make_shared<state>(executor, std::move(settings), std::move(endpoint), std::move(client));
  state_->task_target = task_path;
  if (!state_->endpoint.tags_url.empty()) state_->tags_target = split_url(state_->endpoint.tags_url).second;
}

ecs_listener::~ecs_listener() { stop(); }

const ecs_endpoint& ecs_listener::endpoint() const { return state_->endpoint; }

void ecs_listener::validate(const listener_config& config, config_errors& errors) {
  read_ecs_settings(config, errors);
}

std::unique_ptr<listener> ecs_listener::create(net::any_io_executor executor, const listener_config& config) {
  config_errors errors;
  auto settings = read_ecs_settings(config, errors);
  return std::make_unique<ecs_listener>(std::move(executor), std::move(settings), process_environment());
}

void ecs_listener::start(service_sink& sink) {
  logger("listener.ecs")
      ->info("listener={} endpoint={} version={} from={} poll_interval={}ms", state_->settings.name,
             state_->endpoint.url, ecs_version_name(state_->endpoint.version), state_->endpoint.source,
             state_->settings.poll_interval.count());
  start_polling(state_, sink, "listener.ecs", &poll_once);
}

void ecs_listener::stop() {
  if (state_) state_->stop();
}

}  // namespace autodiscd
