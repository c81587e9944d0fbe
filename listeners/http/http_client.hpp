#pragma once
// A small HTTP/1.1 client for the listeners (Docker Engine API, kubelet, ECS metadata).
//
// How to use it
// -------------
//   std::string error;
//   auto endpoint = parse_http_endpoint("https://10.0.0.1:10250", error);   // or unix:///run/x.sock
//   if (!endpoint) { /* config error: `error` says why */ }
//   endpoint->tls.verify = false;                     // or ca_file / cert_file + key_file
//   http_client client(executor, *endpoint);
//
//   // inside a coroutine on the same executor:
//   http_request req;
//   req.target = "/pods";                              // the endpoint's base path is prepended
//   req.headers.emplace_back("Authorization", "Bearer " + token);   // never logged
//   req.timeout = std::chrono::seconds(5);             // whole exchange: connect .. last byte
//   req.body_limit = 16 << 20;
//   http_result r = co_await client.request(req);
//   if (!r.ok()) { log(r.error.kind, r.error.message); }   // kinds below; status in r.response
//   else use(r.response->body);
//
//   // streaming (Docker /events): on_data gets body bytes as they arrive (chunk boundaries are
//   // not line boundaries: buffer and split yourself). Ends with an error of kind "closed" when
//   // the peer cuts the stream without the last chunk, "" (ok) on a clean end.
//   http_result end = co_await client.stream(req, on_data);
//
// - Every call returns a value; only broken invariants throw. Error kinds are stable strings:
//   "connect", "timeout", "tls", "http_status" (response present, status not 2xx),
//   "body_limit", "protocol", "closed" (peer closed / stream cut / client closed).
// - Calls may run concurrently on one client: each takes an idle kept-alive connection or opens
//   a new one (at most `max_idle` are kept). A request that fails on a reused connection before
//   any response byte is retried once on a fresh connection (the peer closed the idle one).
// - close() closes every connection (idle and in use): pending calls end with "closed", later
//   calls fail at once. The client may be destroyed while calls are pending (they keep what
//   they need alive), but callbacks passed to stream() must stay valid until it returns.
// - All Beast/Asio/OpenSSL code lives in http_client.cpp; this header stays light.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "listeners/asio.hpp"

namespace autodiscd {

/// TLS settings of an endpoint. Used when `enabled` (https:// sets it; tcp:// leaves it to
/// the caller, e.g. DOCKER_TLS_VERIFY / DOCKER_CERT_PATH).
struct http_tls_options {
  bool enabled = false;
  /// Verify the peer's chain and name. Off accepts any certificate (kubelet's self-signed).
  bool verify = true;
  /// PEM CA bundle; empty: the system's default CA paths.
  std::string ca_file;
  /// PEM client certificate and key (both or neither).
  std::string cert_file;
  std::string key_file;
  /// Name for SNI and host-name verification; empty: the endpoint's host.
  std::string server_name;
};

/// Where to connect, parsed from a URL.
struct http_endpoint {
  enum class transport_kind { unix_socket, tcp };
  transport_kind transport = transport_kind::tcp;
  std::string socket_path;  ///< unix socket path
  std::string host;         ///< tcp host name or IP (IPv6 without brackets)
  std::string port;         ///< tcp port
  std::string base_path;    ///< "" or "/base" (no trailing slash), prepended to every target
  http_tls_options tls;

  /// Value for the Host header.
  std::string host_header() const;
  /// For logs and errors: "unix:///run/docker.sock", "https://10.0.0.1:10250/base".
  std::string describe() const;
};

/// Parses `unix:///path`, `tcp://host:port`, `http://host[:port][/base]`,
/// `https://host[:port][/base]` (https enables TLS; default ports 80/443; IPv6 as [::1]).
/// nullopt with `error` set when malformed. Pure.
std::optional<http_endpoint> parse_http_endpoint(std::string_view url, std::string& error);

/// One request. Header names and values are sent as given.
struct http_request {
  std::string method = "GET";
  std::string target = "/";  ///< path and query; the endpoint's base path is prepended
  std::vector<std::pair<std::string, std::string>> headers;  ///< values are never logged
  std::string body;          ///< sent with Content-Type `content_type` when not empty
  std::string content_type = "application/json";
  /// Whole exchange: connect, TLS, write, read of headers and body. For stream(): up to the
  /// response headers only.
  std::chrono::milliseconds timeout{10000};
  /// Largest accepted response body (bytes); larger ones fail with "body_limit".
  std::size_t body_limit = 8u << 20;
  /// stream() only: longest silence between two reads of the body; zero: no limit (Docker
  /// /events sends nothing until an event happens; TCP keep-alive still detects dead peers).
  std::chrono::milliseconds idle_timeout{0};
};

/// A response. Header names are lower-case.
struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// The first header named `name` (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

/// Why a call failed. `kind` is stable (see the top of this file); `message` is for people.
struct http_error {
  std::string kind;
  std::string message;
};

/// The outcome of a call: ok, or an error; `response` is set whenever a response was read
/// (also with kind "http_status", so callers can look at a 404).
struct http_result {
  std::optional<http_response> response;
  http_error error;
  bool ok() const { return error.kind.empty(); }
};

/// Client settings.
struct http_client_options {
  /// Kept-alive idle connections (0: close after each call).
  std::size_t max_idle = 4;
  /// Largest response header block (bytes).
  std::size_t header_limit = 64u << 10;
};

/// An HTTP/1.1 client for one endpoint. A cheap handle: copies share connections.
class http_client {
 public:
  http_client(net::any_io_executor executor, http_endpoint endpoint, http_client_options options = {});
  ~http_client();
  http_client(const http_client&) = default;
  http_client& operator=(const http_client&) = default;

  /// Sends `request` and reads the whole response (see http_request for limits).
  net::awaitable<http_result> request(http_request request);

  /// Sends `request` and hands body bytes to `on_data` as they arrive. A non-2xx status
  /// ends with "http_status" (its body read up to the limit, on_data not called).
  /// `on_headers`, when set, is called once with the status and headers before any data.
  net::awaitable<http_result> stream(http_request request,
                                     std::function<void(std::string_view)> on_data,
                                     std::function<void(const http_response&)> on_headers = {});

  /// Closes every connection; pending calls end with kind "closed", later calls fail at once.
  void close();

  /// Connections opened so far (for tests of keep-alive reuse).
  std::size_t connections_opened() const;
  /// Entries in the list of live connections close() reaches (for tests: it must not grow
  /// with the number of requests).
  std::size_t connections_tracked() const;

  const http_endpoint& endpoint() const;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace autodiscd
