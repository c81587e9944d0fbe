#pragma once
// A fake Docker Engine for protocol tests: a coroutine HTTP/1.1 server on a unix socket in a
// fresh temp folder, on the test's io_context. It serves /_ping, /containers/json,
// /containers/{id}/json, /images/{id}/json and a chunked /events stream the test writes to
// byte by byte, and can be slow, silent, oversize or cut its streams.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>

#include "listeners/asio.hpp"
#include "listeners/listener.hpp"
#include "support/support.hpp"

namespace autodiscd::test {

/// What the fake answers for one request, when a test overrides it.
struct fake_reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A service_sink that applies deltas to a map and records everything, for listener tests.
struct sink_recorder : service_sink {
  service_map services;
  std::vector<service_delta> deltas;
  int synced = 0;
  std::vector<std::pair<std::string, std::string>> errors;  ///< kind, message
  std::map<std::string, int, std::less<>> counts;

  void on_delta(const std::string&, service_delta delta) override {
    for (const auto& s : delta.added) services[s->id] = s;
    for (const auto& s : delta.changed) services[s->id] = s;
    for (const auto& id : delta.removed) services.erase(id);
    deltas.push_back(std::move(delta));
  }
  void on_synced(const std::string&) override { ++synced; }
  void on_error(const std::string&, const std::string& kind, const std::string& message) override {
    errors.emplace_back(kind, message);
  }
  void on_count(const std::string&, std::string_view counter) override { counts[std::string(counter)]++; }
  bool has_error(std::string_view kind) const {
    for (const auto& e : errors) {
      if (e.first == kind) return true;
    }
    return false;
  }
};

/// Runs `io` in small slices until `done()` or `limit` passes; false on timeout.
bool run_io_until(net::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit);

class fake_engine {
 public:
  explicit fake_engine(net::any_io_executor executor);
  ~fake_engine();
  fake_engine(const fake_engine&) = delete;
  fake_engine& operator=(const fake_engine&) = delete;

  /// "unix:///tmp/.../docker.sock"
  std::string url() const;
  std::string socket_path() const;
  /// Closes the listening socket and every connection (event streams cut).
  void stop();

  // Behaviour, changeable at any time.
  std::string api_version = "1.41";
  bool send_date = true;
  /// Accept connections and read requests, never answer.
  bool silent = false;
  /// Delay before each inspect answer.
  std::chrono::milliseconds inspect_delay{0};
  /// Answer with "Connection: close" and close after each response.
  bool close_after_response = false;
  /// Pad inspect bodies to at least this many bytes (0: no padding).
  std::size_t inspect_padding = 0;
  /// Seen before the built-in routes; return a reply to override one.
  std::function<std::optional<fake_reply>(const std::string& method, const std::string& path)> hook;

  // Engine state.
  /// Adds or replaces a container (an inspect document with at least Id, Name, State).
  void put_container(nlohmann::json inspect);
  void remove_container(const std::string& id);
  void put_image(const std::string& id, nlohmann::json inspect);
  /// A minimal running container's inspect document.
  static nlohmann::json container(const std::string& id, const std::string& name, const std::string& image,
                                  const std::map<std::string, std::string>& labels = {},
                                  const std::string& ip = "172.17.0.2");

  // Events: written to every open /events stream.
  /// One event line as one chunk, or as two chunks split at byte `split_at` (0: no split).
  void emit(const nlohmann::json& event, std::size_t split_at = 0);
  /// Raw body bytes as one chunk (may hold partial lines).
  void emit_raw(const std::string& bytes);
  /// A container event {"Type":"container","Action":action,"Actor":{"ID":id}}.
  void emit_container_event(const std::string& action, const std::string& id);
  /// Closes the event streams without the last chunk (what an engine shutdown does).
  void cut_streams();
  std::size_t open_streams() const;
  /// Closes every accepted connection (idle kept-alive ones too); keeps accepting new ones.
  void drop_connections();

  // What happened.
  std::size_t connections = 0;
  /// Requests by path without the version prefix and query: "/containers/ID/json" -> n.
  std::map<std::string, int> hits;
  /// Full targets of every request, in order.
  std::vector<std::string> targets;

  struct impl;

 private:
  temp_dir dir_;
  std::shared_ptr<impl> impl_;
};

}  // namespace autodiscd::test
