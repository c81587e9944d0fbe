#pragma once
// The status server's routes as pure functions: address parsing and request -> response.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace autodiscd {

class app;

/// Where the status server listens: `host:port` (IP literal or `localhost`, `[v6]:port`),
/// `unix:/path`, or `off`.
struct listen_address {
  enum class kind { off, tcp, unix_socket };
  kind type = kind::off;
  std::string host;  ///< IP literal (tcp)
  std::uint16_t port = 0;
  std::string path;  ///< unix socket path
};

/// Parses `status.listen`; nullopt with `error` set when malformed.
std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error);

/// Bounds on one request to the status server (its parser is configured with these; the
/// fuzz target tests/fuzz/fuzz_status_request.cpp parses with the same).
inline constexpr std::size_t status_header_limit = 8 * 1024;
inline constexpr std::size_t status_body_limit = 4 * 1024;

/// A listener in error for longer than this makes /healthz answer 503.
inline constexpr std::chrono::seconds unhealthy_after{30};

/// One answer of the status server.
struct status_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  ///< the Allow header for 405
};

/// Answers one request. Pure: reads only the app's state. Only GET and HEAD are allowed;
/// a query string is ignored.
status_response handle_status_request(const app& a, std::string_view method, std::string_view target,
                                      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

}  // namespace autodiscd
