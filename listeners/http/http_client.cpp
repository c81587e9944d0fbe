// The HTTP client: all Beast/Asio/OpenSSL code of the listeners' HTTP layer lives here.
#include "listeners/http/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace autodiscd {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

using socket_type = net::generic::stream_protocol::socket;
using tls_stream_type = net::ssl::stream<socket_type>;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

http_result fail(std::string kind, std::string message) {
  http_result r;
  r.error = http_error{std::move(kind), std::move(message)};
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Endpoint parsing (pure).

std::string http_endpoint::host_header() const {
  if (transport == transport_kind::unix_socket) return "localhost";
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + port;
}

std::string http_endpoint::describe() const {
  if (transport == transport_kind::unix_socket) return "unix://" + socket_path;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls.enabled ? "https://" : "http://") + h + ":" + port + base_path;
}

std::optional<http_endpoint> parse_http_endpoint(std::string_view url, std::string& error) {
  http_endpoint ep;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    error = fmt::format("endpoint '{}': expected unix://, tcp://, http:// or https://", url);
    return std::nullopt;
  }
  std::string scheme = lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  if (scheme == "unix") {
    if (rest.empty() || rest.front() != '/') {
      error = fmt::format("endpoint '{}': unix:// needs an absolute socket path (unix:///path)", url);
      return std::nullopt;
    }
    ep.transport = http_endpoint::transport_kind::unix_socket;
    ep.socket_path = std::string(rest);
    return ep;
  }
  std::string default_port;
  if (scheme == "http") {
    default_port = "80";
  } else if (scheme == "https") {
    default_port = "443";
    ep.tls.enabled = true;
  } else if (scheme != "tcp") {
    error = fmt::format("endpoint '{}': unknown scheme '{}' (expected unix, tcp, http or https)", url, scheme);
    return std::nullopt;
  }
  auto path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (path.find_first_of("?#") != std::string_view::npos) {
    error = fmt::format("endpoint '{}': a query or fragment is not allowed", url);
    return std::nullopt;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  ep.base_path = std::string(path);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = fmt::format("endpoint '{}': unterminated IPv6 address", url);
      return std::nullopt;
    }
    ep.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = fmt::format("endpoint '{}': unexpected text after the IPv6 address", url);
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (ep.host.empty()) {
    error = fmt::format("endpoint '{}': missing host", url);
    return std::nullopt;
  }
  if (port.empty()) {
    if (default_port.empty()) {
      error = fmt::format("endpoint '{}': tcp:// needs a port (tcp://host:port)", url);
      return std::nullopt;
    }
    ep.port = default_port;
  } else {
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(),
                                                  [](unsigned char c) { return std::isdigit(c) != 0; });
    if (!digits || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535) {
      error = fmt::format("endpoint '{}': bad port '{}'", url, port);
      return std::nullopt;
    }
    ep.port = std::string(port);
  }
  return ep;
}

std::string http_response::header(std::string_view name) const {
  auto wanted = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == wanted) return v;
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// Connections.

namespace {

/// One connection: plain or TLS, with a deadline timer that closes the socket on expiry.
struct connection : std::enable_shared_from_this<connection> {
  explicit connection(const net::any_io_executor& ex) : timer(ex) {}

  std::optional<socket_type> plain;
  std::optional<tls_stream_type> tls;
  std::optional<net::ip::tcp::resolver> resolver;
  beast::flat_buffer buffer;
  net::steady_timer timer;
  std::uint64_t generation = 0;
  bool timed_out = false;
  bool closed = false;
  std::string tls_failure;  ///< what the verify callback saw (subject, depth, reason)

  socket_type* lowest() {
    if (tls) return &tls->next_layer();
    if (plain) return &*plain;
    return nullptr;
  }

  void shut() {
    if (resolver) resolver->cancel();
    if (auto* s = lowest()) {
      error_code ignored;
      s->shutdown(net::socket_base::shutdown_both, ignored);
      s->close(ignored);
    }
  }

  void close() {
    closed = true;
    shut();
    timer.cancel();
  }

  /// Closes the socket at `deadline` unless re-armed or disarmed before.
  void arm(clock_type::time_point deadline) {
    timed_out = false;
    auto gen = ++generation;
    timer.expires_at(deadline);
    std::weak_ptr<connection> weak = weak_from_this();
    timer.async_wait([weak, gen](error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->generation != gen) return;
      self->timed_out = true;
      self->shut();
    });
  }

  void disarm() {
    ++generation;
    timer.cancel();
  }
};

bool is_disconnect(const error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == net::ssl::error::stream_truncated ||
         ec == net::error::bad_descriptor || ec == net::error::not_connected;
}

}  // namespace

struct http_client::state {
  state(net::any_io_executor ex, http_endpoint ep, http_client_options opts)
      : executor(std::move(ex)), endpoint(std::move(ep)), options(opts) {
    if (!endpoint.tls.enabled) return;
    tls_context.emplace(net::ssl::context::tls_client);
    auto& ctx = *tls_context;
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                    net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    error_code ec;
    if (endpoint.tls.verify) {
      ctx.set_verify_mode(net::ssl::verify_peer, ec);
      if (!endpoint.tls.ca_file.empty()) {
        ctx.load_verify_file(endpoint.tls.ca_file, ec);
        if (ec) {
          tls_setup_error = fmt::format("cannot load CA file {}: {}", endpoint.tls.ca_file, ec.message());
          return;
        }
      } else {
        ctx.set_default_verify_paths(ec);
      }
    } else {
      ctx.set_verify_mode(net::ssl::verify_none, ec);
    }
    if (endpoint.tls.cert_file.empty() != endpoint.tls.key_file.empty()) {
      tls_setup_error = "a client certificate needs both a certificate file and a key file";
      return;
    }
    if (!endpoint.tls.cert_file.empty()) {
      ctx.use_certificate_chain_file(endpoint.tls.cert_file, ec);
      if (ec) {
        tls_setup_error = fmt::format("cannot load client certificate {}: {}", endpoint.tls.cert_file, ec.message());
        return;
      }
      ctx.use_private_key_file(endpoint.tls.key_file, net::ssl::context::pem, ec);
      if (ec) {
        // The key's content is never printed, only its path and OpenSSL's reason.
        tls_setup_error = fmt::format("cannot load client key {}: {}", endpoint.tls.key_file, ec.message());
        return;
      }
    }
  }

  ~state() {
    for (auto& c : idle) c->close();
  }

  std::shared_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (c->lowest() && c->lowest()->is_open()) return c;
    }
    return nullptr;
  }

  void track(const std::shared_ptr<connection>& c) {
    std::erase_if(busy, [](const std::weak_ptr<connection>& w) { return w.expired(); });
    busy.push_back(c);
  }

  void give_back(std::shared_ptr<connection> c) {
    c->disarm();
    if (closed || idle.size() >= options.max_idle || !c->lowest() || !c->lowest()->is_open()) {
      c->close();
      return;
    }
    idle.push_back(std::move(c));
  }

  std::string verify_name() const {
    return endpoint.tls.server_name.empty() ? endpoint.host : endpoint.tls.server_name;
  }

  http_error error_for(const connection& c, const error_code& ec, std::string_view phase,
                       std::chrono::milliseconds timeout) const {
    auto where = endpoint.describe();
    if (c.closed || closed) return {"closed", fmt::format("{}: connection closed by the client", where)};
    if (c.timed_out) {
      return {"timeout", fmt::format("{}: no answer within {} ms ({})", where, timeout.count(), phase)};
    }
    if (ec == http::error::body_limit) {
      return {"body_limit", fmt::format("{}: response body larger than the limit ({})", where, phase)};
    }
    if (ec == http::error::header_limit) {
      return {"body_limit", fmt::format("{}: response headers larger than the limit", where)};
    }
    if (ec == net::error::operation_aborted) return {"closed", fmt::format("{}: cancelled ({})", where, phase)};
    if (phase == "connecting" || phase == "resolving") {
      return {"connect", fmt::format("{}: {} failed: {}", where, phase, ec.message())};
    }
    if (phase == "tls handshake" || ec.category() == net::error::get_ssl_category()) {
      std::string detail = ec.message();
      if (!c.tls_failure.empty()) detail += ": " + c.tls_failure;
      if (endpoint.tls.verify) {
        detail += fmt::format(" (expected name {}, CA {})", verify_name(),
                              endpoint.tls.ca_file.empty() ? "system default" : endpoint.tls.ca_file);
      }
      return {"tls", fmt::format("{}: {}: {}", where, phase, detail)};
    }
    if (is_disconnect(ec)) return {"closed", fmt::format("{}: peer closed the connection ({}: {})", where, phase, ec.message())};
    return {"protocol", fmt::format("{}: {} failed: {}", where, phase, ec.message())};
  }

  net::any_io_executor executor;
  http_endpoint endpoint;
  http_client_options options;
  std::optional<net::ssl::context> tls_context;
  std::string tls_setup_error;
  std::vector<std::shared_ptr<connection>> idle;
  std::vector<std::weak_ptr<connection>> busy;
  bool closed = false;
  std::size_t opened = 0;
};

namespace {

using state_ptr = std::shared_ptr<http_client::state>;

/// Opens `c` (resolve, connect, TLS handshake). Deadline already armed.
// Parameters are references: callers co_await at once and own what they pass (no temporaries
// inside co_await expressions, see STYLE.md about GCC 12).
net::awaitable<std::optional<http_error>> open_connection(const state_ptr& st, const std::shared_ptr<connection>& c,
                                                          std::chrono::milliseconds timeout) {
  const auto& ep = st->endpoint;
  ++st->opened;
  if (ep.transport == http_endpoint::transport_kind::unix_socket) {
    net::generic::stream_protocol::endpoint target{net::local::stream_protocol::endpoint(ep.socket_path)};
    c->plain.emplace(st->executor);
    error_code ec;
    c->plain->open(target.protocol(), ec);
    if (!ec) std::tie(ec) = co_await c->plain->async_connect(target, use_tuple);
    if (ec) co_return st->error_for(*c, ec, "connecting", timeout);
    co_return std::nullopt;
  }

  c->resolver.emplace(st->executor);
  auto [rec, results] = co_await c->resolver->async_resolve(ep.host, ep.port, use_tuple);
  c->resolver.reset();
  if (rec) co_return st->error_for(*c, rec, "resolving", timeout);
  error_code ec = net::error::host_not_found;
  for (const auto& entry : results) {
    if (c->closed || c->timed_out) break;
    net::generic::stream_protocol::endpoint target{entry.endpoint()};
    c->plain.emplace(st->executor);
    c->plain->open(target.protocol(), ec);
    if (ec) continue;
    std::tie(ec) = co_await c->plain->async_connect(target, use_tuple);
    if (!ec) break;
  }
  if (ec) co_return st->error_for(*c, ec, "connecting", timeout);
  error_code ignored;
  c->plain->set_option(net::ip::tcp::no_delay(true), ignored);
  c->plain->set_option(net::socket_base::keep_alive(true), ignored);

  if (!ep.tls.enabled) co_return std::nullopt;
  c->tls.emplace(std::move(*c->plain), *st->tls_context);
  c->plain.reset();
  SSL* ssl = c->tls->native_handle();
  auto name = st->verify_name();
  bool ip = is_ip_literal(name);
  if (!ip) {
    // SNI carries names only, never IPs. (SSL_set_tlsext_host_name is a macro with a C cast.)
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
  }
  if (ep.tls.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
    connection* raw = c.get();  // the stream is a member of the connection: it outlives this
    c->tls->set_verify_callback([raw](bool preverified, net::ssl::verify_context& vc) {
      if (!preverified && raw->tls_failure.empty()) {
        X509_STORE_CTX* store = vc.native_handle();
        int err = X509_STORE_CTX_get_error(store);
        int depth = X509_STORE_CTX_get_error_depth(store);
        std::string subject = "?";
        if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
          char buf[512];
          X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
          subject = buf;
        }
        raw->tls_failure = fmt::format("{} (certificate {} at depth {})", X509_verify_cert_error_string(err),
                                       subject, depth);
      }
      return preverified;
    });
  }
  auto [hec] = co_await c->tls->async_handshake(net::ssl::stream_base::client, use_tuple);
  if (hec) co_return st->error_for(*c, hec, "tls handshake", timeout);
  co_return std::nullopt;
}

http::request<http::string_body> build_request(const http_client::state& st, const http_request& req,
                                               bool& bad_method) {
  http::request<http::string_body> r;
  auto verb = http::string_to_verb(req.method);
  bad_method = verb == http::verb::unknown;
  r.method(verb);
  r.target(st.endpoint.base_path + req.target);
  r.version(11);
  r.set(http::field::host, st.endpoint.host_header());
  r.set(http::field::user_agent, "autodiscd");
  r.set(http::field::accept, "application/json");
  for (const auto& [k, v] : req.headers) r.set(k, v);
  if (!req.body.empty()) {
    r.set(http::field::content_type, req.content_type);
    r.body() = req.body;
  }
  r.prepare_payload();
  r.keep_alive(true);
  return r;
}

template <class Fields>
void copy_headers(const Fields& fields, http_response& out) {
  for (const auto& f : fields) out.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
}

/// The error for a non-2xx answer: the endpoint, the request and the start of the body.
http_error status_error(const http_client::state& st, const http_request& req, int status, const std::string& body) {
  std::string snippet = body.substr(0, 200);
  std::replace(snippet.begin(), snippet.end(), '\n', ' ');
  return {"http_status", fmt::format("{}: {} {} answered {}: {}", st.endpoint.describe(), req.method, req.target,
                                     status, snippet)};
}

/// Why a call cannot start at all (client closed, TLS context unusable); nullopt when it can.
std::optional<http_result> refusal(const http_client::state& st) {
  if (st.closed) return fail("closed", st.endpoint.describe() + ": client closed");
  if (!st.tls_setup_error.empty()) return fail("tls", st.endpoint.describe() + ": " + st.tls_setup_error);
  return std::nullopt;
}

/// Opens a fresh connection `c`; on failure closes it and returns the result to report.
net::awaitable<std::optional<http_result>> open_or_fail(const state_ptr& st, const std::shared_ptr<connection>& c,
                                                         std::chrono::milliseconds timeout) {
  auto err = co_await open_connection(st, c, timeout);
  if (!err) co_return std::nullopt;
  c->close();
  http_result r;
  r.error = std::move(*err);
  co_return r;
}

struct exchange_outcome {
  http_result result;
  bool retry = false;  ///< failed before any response byte on a reused connection
  bool keep = false;   ///< connection may be reused
};

template <class Stream>
net::awaitable<exchange_outcome> exchange(Stream& stream, const state_ptr& st, const std::shared_ptr<connection>& c,
                                          const http_request& req, bool reused) {
  exchange_outcome out;
  bool bad_method = false;
  auto r = build_request(*st, req, bad_method);
  if (bad_method) {
    out.result = fail("protocol", fmt::format("unknown HTTP method '{}'", req.method));
    co_return out;
  }
  auto [wec, written] = co_await http::async_write(stream, r, use_tuple);
  if (wec) {
    out.retry = reused && is_disconnect(wec) && !c->timed_out && !c->closed;
    out.result.error = st->error_for(*c, wec, "sending the request", req.timeout);
    co_return out;
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(st->options.header_limit));
  parser.body_limit(req.body_limit);
  // Beast reads at most the buffer's free capacity (512 bytes while it is small): a 750 KiB
  // /pods body took ~1,500 recv calls, 8 ms of CPU per poll (issue 15). 64 KiB reads take 12.
  c->buffer.reserve(64 * 1024);
  auto [rec, read] = co_await http::async_read(stream, c->buffer, parser, use_tuple);
  if (rec) {
    out.retry = reused && !parser.got_some() && is_disconnect(rec) && !c->timed_out && !c->closed;
    out.result.error = st->error_for(*c, rec, "reading the response", req.timeout);
    co_return out;
  }
  auto& msg = parser.get();
  http_response resp;
  resp.status = static_cast<int>(msg.result_int());
  copy_headers(msg.base(), resp);
  resp.body = std::move(msg.body());
  out.keep = msg.keep_alive() && !parser.need_eof();
  if (resp.status < 200 || resp.status > 299) out.result.error = status_error(*st, req, resp.status, resp.body);
  out.result.response = std::move(resp);
  co_return out;
}

net::awaitable<http_result> run_request(state_ptr st, http_request req) {
  if (auto refused = refusal(*st)) co_return std::move(*refused);
  const auto deadline = clock_type::now() + req.timeout;
  for (int attempt = 0;; ++attempt) {
    auto c = st->take_idle();
    bool reused = c != nullptr;
    if (!c) c = std::make_shared<connection>(st->executor);
    // A kept-alive connection is tracked once, when opened (tracking it on every request
    // grew the list by an entry per request: +3 MB in 30 minutes of the soak).
    if (!reused) st->track(c);
    c->arm(deadline);
    if (!reused) {
      auto failed = co_await open_or_fail(st, c, req.timeout);
      if (failed) co_return std::move(*failed);
    }
    // Never `co_await` inside ?: (GCC 12 miscompiles it): two plain statements.
    exchange_outcome out;
    if (c->tls) {
      out = co_await exchange(*c->tls, st, c, req, reused);
    } else {
      out = co_await exchange(*c->plain, st, c, req, reused);
    }
    if (out.retry && attempt == 0) {
      c->close();
      continue;
    }
    if (out.keep && (out.result.ok() || out.result.error.kind == "http_status")) {
      st->give_back(std::move(c));
    } else {
      c->close();
    }
    co_return std::move(out.result);
  }
}

template <class Stream>
net::awaitable<http_result> stream_body(Stream& stream, const state_ptr& st, const std::shared_ptr<connection>& c,
                                        const http_request& req,
                                        const std::function<void(std::string_view)>& on_data,
                                        const std::function<void(const http_response&)>& on_headers) {
  bool bad_method = false;
  auto r = build_request(*st, req, bad_method);
  if (bad_method) co_return fail("protocol", fmt::format("unknown HTTP method '{}'", req.method));
  auto [wec, written] = co_await http::async_write(stream, r, use_tuple);
  if (wec) {
    http_result res;
    res.error = st->error_for(*c, wec, "sending the request", req.timeout);
    co_return res;
  }
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(st->options.header_limit));
  parser.body_limit(boost::none);  // a stream has no total size; consumers limit their lines
  auto [hec, hn] = co_await http::async_read_header(stream, c->buffer, parser, use_tuple);
  if (hec) {
    http_result res;
    res.error = st->error_for(*c, hec, "reading the response headers", req.timeout);
    co_return res;
  }
  http_result res;
  res.response.emplace();
  res.response->status = static_cast<int>(parser.get().result_int());
  copy_headers(parser.get().base(), *res.response);
  const bool success = res.response->status >= 200 && res.response->status <= 299;
  if (success && on_headers) on_headers(*res.response);

  char buf[16384];
  std::string error_body;
  while (!parser.is_done()) {
    if (success) {
      if (req.idle_timeout.count() > 0) {
        c->arm(clock_type::now() + req.idle_timeout);
      } else {
        c->disarm();
      }
    }
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    auto [ec, n] = co_await http::async_read_some(stream, c->buffer, parser, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    std::size_t got = sizeof buf - parser.get().body().size;
    if (got > 0) {
      if (success) {
        on_data(std::string_view(buf, got));
      } else if (error_body.size() < req.body_limit) {
        error_body.append(buf, std::min(got, req.body_limit - error_body.size()));
      }
    }
    if (ec) {
      auto timeout = success ? req.idle_timeout : req.timeout;
      res.error = st->error_for(*c, ec, success ? "reading the stream" : "reading the response", timeout);
      if (res.error.kind == "closed" && !c->closed && !st->closed) {
        res.error.message = st->endpoint.describe() + ": the stream was cut before its end (" + ec.message() + ")";
      }
      co_return res;
    }
  }
  if (!success) {
    res.response->body = error_body;
    res.error = status_error(*st, req, res.response->status, error_body);
  }
  co_return res;
}

net::awaitable<http_result> run_stream(state_ptr st, http_request req, std::function<void(std::string_view)> on_data,
                                       std::function<void(const http_response&)> on_headers) {
  if (auto refused = refusal(*st)) co_return std::move(*refused);
  // A stream always gets its own fresh connection, closed at the end.
  auto c = std::make_shared<connection>(st->executor);
  st->track(c);
  c->arm(clock_type::now() + req.timeout);
  auto failed = co_await open_or_fail(st, c, req.timeout);
  if (failed) co_return std::move(*failed);
  http_result r;
  if (c->tls) {
    r = co_await stream_body(*c->tls, st, c, req, on_data, on_headers);
  } else {
    r = co_await stream_body(*c->plain, st, c, req, on_data, on_headers);
  }
  c->close();
  co_return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The handle.

http_client::http_client(net::any_io_executor executor, http_endpoint endpoint, http_client_options options)
    : state_(std::make_shared<state>(std::move(executor), std::move(endpoint), options)) {}

http_client::~http_client() = default;

// Plain functions (not coroutines): the state is copied now, so the client may go away.
net::awaitable<http_result> http_client::request(http_request request) {
  return run_request(state_, std::move(request));
}

net::awaitable<http_result> http_client::stream(http_request request, std::function<void(std::string_view)> on_data,
                                                std::function<void(const http_response&)> on_headers) {
  return run_stream(state_, std::move(request), std::move(on_data), std::move(on_headers));
}

void http_client::close() {
  state_->closed = true;
  for (auto& c : state_->idle) c->close();
  state_->idle.clear();
  for (auto& w : state_->busy) {
    if (auto c = w.lock()) c->close();
  }
  state_->busy.clear();
}

std::size_t http_client::connections_opened() const { return state_->opened; }

std::size_t http_client::connections_tracked() const { return state_->busy.size(); }

const http_endpoint& http_client::endpoint() const { return state_->endpoint; }

}  // namespace autodiscd
