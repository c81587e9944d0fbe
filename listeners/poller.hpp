#pragma once
// What the polling listeners (kubelet, ECS) share: the state every poller has, the report
// of a good poll (differences, then synced), the loop that polls every interval, and stop.
// Each listener writes only its own poll_once().

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "listeners/body_memo.hpp"
#include "listeners/http/http_client.hpp"
#include "listeners/listener.hpp"
#include "listeners/log.hpp"
#include "listeners/service_diff.hpp"

namespace autodiscd {

struct poller_core {
  poller_core(net::any_io_executor ex, std::string listener_name, std::chrono::milliseconds every, http_client c)
      : executor(std::move(ex)), name(std::move(listener_name)), interval(every), client(std::move(c)) {}
  net::any_io_executor executor;
  std::string name;
  std::chrono::milliseconds interval;
  http_client client;
  service_sink* sink = nullptr;
  bool stopped = false;
  service_map services;  ///< what the last good poll reported
  body_memo last_body;   ///< the body of the last good poll (an identical one is not parsed)
  net::cancellation_signal cancel;

  /// A good poll found `next`: reports the differences (if any), then that it synced.
  void report(service_map next) {
    auto delta = diff_services_sharing(services, next);
    services = std::move(next);
    if (!delta.empty()) sink->on_delta(name, std::move(delta));
    sink->on_synced(name);
  }
  /// A poll whose body is the last good one (body_memo): nothing changed, synced.
  void report_unchanged() {
    sink->on_count(name, "unchanged_polls");
    sink->on_synced(name);
  }

  /// No more reports; the request in flight and the wait are cancelled.
  void stop() {
    if (stopped) return;
    stopped = true;
    sink = nullptr;
    cancel.emit(net::cancellation_type::terminal);
    client.close();
  }
};

/// Polls now, then every interval, until stopped. `poll` is the listener's poll_once.
template <class State>
net::awaitable<void> poll_loop(std::shared_ptr<State> s, net::awaitable<void> (*poll)(std::shared_ptr<State>)) {
  net::steady_timer timer(s->executor);
  while (!s->stopped) {
    auto once = poll(s);
    co_await std::move(once);
    if (s->stopped) break;
    timer.expires_after(s->interval);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) break;
  }
}

/// Starts poll_loop on the state's executor; stop() cancels it. `component` names the logger.
template <class State>
void start_polling(const std::shared_ptr<State>& s, service_sink& sink, const std::string& component,
                   net::awaitable<void> (*poll)(std::shared_ptr<State>)) {
  s->sink = &sink;
  net::co_spawn(s->executor, poll_loop(s, poll),
                net::bind_cancellation_slot(s->cancel.slot(), log_task_end(component, s->name)));
}

}  // namespace autodiscd
