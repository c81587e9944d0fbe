#pragma once
// A scripted HTTP/HTTPS server for tests, on 127.0.0.1:0, running as coroutines on the test's
// io_context. It serves per-path responses (status, body, delay, silence, truncation, reset),
// checks a bearer token, and records every request.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "listeners/asio.hpp"

namespace autodiscd::test {

/// What the server does with one request.
struct fake_response {
  enum class action {
    respond,   ///< send the response
    silent,    ///< read the request, never answer (the client's timeout fires)
    truncate,  ///< announce the whole body (Content-Length), send `truncate_at` bytes, close
    reset,     ///< close the connection with a TCP reset before answering
    reset_mid_body,  ///< announce the whole body, send `truncate_at` bytes, then a TCP reset
    stall_mid_body,  ///< announce the whole body, send `truncate_at` bytes, then nothing more
  };
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  ///< wait this long before acting
  action what = action::respond;
  std::size_t truncate_at = 0;

  static fake_response ok(std::string body) {
    fake_response r;
    r.body = std::move(body);
    return r;
  }
  static fake_response status_only(int status, std::string body = "") {
    fake_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static fake_response truncated(std::string body, std::size_t at) {
    fake_response r;
    r.body = std::move(body);
    r.what = action::truncate;
    r.truncate_at = at;
    return r;
  }
  static fake_response reset_mid_body(std::string body, std::size_t at) {
    fake_response r = truncated(std::move(body), at);
    r.what = action::reset_mid_body;
    return r;
  }
  static fake_response stall_mid_body(std::string body, std::size_t at) {
    fake_response r = truncated(std::move(body), at);
    r.what = action::stall_mid_body;
    return r;
  }
  static fake_response with(action what) {
    fake_response r;
    r.what = what;
    return r;
  }
};

/// One request the server read.
struct fake_request {
  std::string method;
  std::string target;         ///< as sent, query included
  std::string authorization;  ///< the Authorization header ("" when absent)
  std::string client_cert_cn; ///< TLS: the client certificate's CN ("" when none)
};

struct fake_server_options {
  bool tls = false;
  std::string cert_file;       ///< tls: server certificate chain (PEM)
  std::string key_file;        ///< tls: server key (PEM)
  std::string client_ca_file;  ///< tls: when set, a client certificate signed by it is required
  unsigned short port = 0;     ///< 0: any free port (a fixed one lets a test replace a server)
};

class fake_http_server {
 public:
  /// Starts listening at once on 127.0.0.1 with a free port.
  explicit fake_http_server(net::io_context& io, fake_server_options options = {});
  ~fake_http_server();
  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  unsigned short port() const;
  /// "http://127.0.0.1:<port>" or "https://...".
  std::string url() const;

  /// The standing response for `path` (the target without its query). Other paths get 404.
  void set_response(const std::string& path, fake_response response);
  /// A one-shot response for `path`, used (in order) before the standing one.
  void push_response(const std::string& path, fake_response response);
  /// Requests whose Authorization is not "Bearer <token>" get 401 (nullopt: no check).
  void require_token(std::optional<std::string> token);
  /// TLS: serves this certificate chain and key from the next handshake on, and closes every
  /// open connection (so that no kept-alive connection skips the new handshake).
  void set_certificate(const std::string& cert_file, const std::string& key_file);

  const std::vector<fake_request>& requests() const;
  /// Requests read so far for `path`.
  std::size_t count(const std::string& path) const;

  /// Closes the listener and every connection.
  void stop();

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace autodiscd::test
