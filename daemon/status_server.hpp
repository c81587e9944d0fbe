#pragma once
// The status server (Beast): /healthz, /readyz, /services, /configs, /status, /metrics.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/status_routes.hpp"
#include "listeners/asio.hpp"

namespace autodiscd {

/// Serves the app's state over HTTP/1.1 on the event loop. Requests are bounded
/// (8 KiB of headers, 4 KiB of body, 10 s to arrive, 10 s to be written, 64 connections):
/// a slow or hostile client costs a socket, never the loop. When the address cannot be
/// bound, the error is logged and binding is retried every few seconds while discovery
/// goes on.
class status_server {
 public:
  status_server(net::any_io_executor executor, const app& a);
  ~status_server();
  status_server(const status_server&) = delete;
  status_server& operator=(const status_server&) = delete;

  /// Starts serving on `listen` (see listen_address); "off" serves nothing.
  /// Returns an error when `listen` is malformed.
  std::optional<std::string> start(const std::string& listen);
  /// Closes the listening socket and every connection (removes a unix socket file).
  void stop();
  /// The address being served ("127.0.0.1:5009", "unix:/run/x.sock"); nullopt while not bound.
  std::optional<std::string> bound_address() const;

  /// Seconds between attempts to bind an address in use (tests shorten it).
  std::chrono::milliseconds retry_interval{5'000};

  struct impl;  ///< the sockets and coroutines (status_server.cpp)

 private:
  std::shared_ptr<impl> impl_;
};

/// What `autodiscd status` gets from a running daemon.
struct status_fetch_result {
  unsigned status = 0;  ///< 0 when no answer came
  std::string body;
  std::string error;  ///< why no answer came
};

/// GETs `target` from the status server at `listen` (blocking, bounded by `timeout`).
status_fetch_result fetch_status(const std::string& listen, const std::string& target,
                                 std::chrono::milliseconds timeout);

}  // namespace autodiscd
