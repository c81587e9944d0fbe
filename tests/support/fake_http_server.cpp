#include "support/fake_http_server.hpp"

#include <cstdio>
#include <deque>
#include <map>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace autodiscd::test {
namespace {
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}  // namespace

struct fake_http_server::state {
  state(net::io_context& context, fake_server_options opts)
      : io(context), options(std::move(opts)), acceptor(context), ssl_ctx(ssl::context::tls_server) {}

  net::io_context& io;
  fake_server_options options;
  tcp::acceptor acceptor;
  ssl::context ssl_ctx;
  std::map<std::string, fake_response> standing;
  std::map<std::string, std::deque<fake_response>> queued;
  std::optional<std::string> token;
  std::vector<fake_request> requests;
  std::set<tcp::socket*> open_sockets;  ///< sockets of live sessions, closed by stop()
  bool stopped = false;

  /// The response to `request`: 401 on a bad token, else queued, standing, or 404.
  fake_response respond_to(const fake_request& request) {
    if (token && request.authorization != "Bearer " + *token) {
      return fake_response::status_only(
          401, R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","code":401})");
    }
    const auto path = request.target.substr(0, request.target.find('?'));
    if (auto q = queued.find(path); q != queued.end() && !q->second.empty()) {
      auto r = std::move(q->second.front());
      q->second.pop_front();
      return r;
    }
    if (auto s = standing.find(path); s != standing.end()) return s->second;
    return fake_response::status_only(404, "404 page not found\n");
  }
};

namespace {

/// Keeps a session's socket in the server's set while the session runs.
class socket_registration {
 public:
  socket_registration(std::shared_ptr<fake_http_server::state> s, tcp::socket& socket)
      : state_(std::move(s)), socket_(&socket) {
    state_->open_sockets.insert(socket_);
  }
  ~socket_registration() { state_->open_sockets.erase(socket_); }
  socket_registration(const socket_registration&) = delete;
  socket_registration& operator=(const socket_registration&) = delete;

 private:
  std::shared_ptr<fake_http_server::state> state_;
  tcp::socket* socket_;
};

/// Holds the connection, sending nothing, until the client gives up (or stop() closes it).
template <class Stream>
net::awaitable<void> hold(Stream& stream) {
  beast::get_lowest_layer(stream).expires_never();
  char byte = 0;
  co_await stream.async_read_some(net::buffer(&byte, 1), use_tuple);
}

template <class Stream>
net::awaitable<void> serve(std::shared_ptr<fake_http_server::state> s, Stream& stream, std::string client_cn) {
  auto& socket = beast::get_lowest_layer(stream).socket();
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    auto [read_ec, read_n] = co_await http::async_read(stream, buffer, req, use_tuple);
    if (read_ec || s->stopped) co_return;
    fake_request request{std::string(req.method_string()), std::string(req.target()),
                         std::string(req[http::field::authorization]), client_cn};
    s->requests.push_back(request);
    const fake_response resp = s->respond_to(request);

    if (resp.delay.count() > 0) {
      net::steady_timer timer(co_await net::this_coro::executor);
      timer.expires_after(resp.delay);
      co_await timer.async_wait(use_tuple);
      if (s->stopped || !socket.is_open()) co_return;
    }
    beast::error_code ignored;
    switch (resp.what) {
      case fake_response::action::silent:
        co_await hold(stream);
        co_return;
      case fake_response::action::reset:
        socket.set_option(net::socket_base::linger(true, 0), ignored);
        socket.close(ignored);
        co_return;
      case fake_response::action::truncate:
      case fake_response::action::reset_mid_body:
      case fake_response::action::stall_mid_body: {
        const auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(resp.status)));
        std::string raw = "HTTP/1.1 " + std::to_string(resp.status) + " " + std::string(reason) +
                          "\r\nContent-Type: " + resp.content_type +
                          "\r\nContent-Length: " + std::to_string(resp.body.size()) + "\r\n\r\n" +
                          resp.body.substr(0, std::min(resp.truncate_at, resp.body.size()));
        co_await net::async_write(stream, net::buffer(raw), use_tuple);
        if (resp.what == fake_response::action::stall_mid_body) {
          co_await hold(stream);
          co_return;
        }
        if (resp.what == fake_response::action::reset_mid_body) {
          // Let the bytes leave before the reset (a reset discards unsent data).
          net::steady_timer pause(co_await net::this_coro::executor);
          pause.expires_after(std::chrono::milliseconds(20));
          co_await pause.async_wait(use_tuple);
          socket.set_option(net::socket_base::linger(true, 0), ignored);
          socket.close(ignored);
          co_return;
        }
        // No TLS close_notify, no more bytes: the client sees the body end early.
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        co_return;
      }
      case fake_response::action::respond:
        break;
    }
    http::response<http::string_body> res;
    res.version(req.version());
    res.result(static_cast<unsigned>(resp.status));
    res.set(http::field::server, "autodiscd-fake");
    res.set(http::field::content_type, resp.content_type);
    for (const auto& [name, value] : resp.headers) res.set(name, value);
    res.body() = resp.body;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [write_ec, write_n] = co_await http::async_write(stream, res, use_tuple);
    if (write_ec || !req.keep_alive()) {
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      co_return;
    }
  }
}

net::awaitable<void> plain_session(std::shared_ptr<fake_http_server::state> s, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  socket_registration registration(s, stream.socket());
  co_await serve(s, stream, "");
}

std::string peer_common_name(SSL* handle) {
  X509* cert = SSL_get1_peer_certificate(handle);
  if (!cert) return "";
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  X509_free(cert);
  return name;
}

net::awaitable<void> tls_session(std::shared_ptr<fake_http_server::state> s, tcp::socket socket) {
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), s->ssl_ctx);
  socket_registration registration(s, beast::get_lowest_layer(stream).socket());
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
  if (ec) co_return;  // e.g. the client rejected our certificate
  co_await serve(s, stream, peer_common_name(stream.native_handle()));
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "fake_http_server: session failed: %s\n", ex.what());
  }
}

net::awaitable<void> accept_loop(std::shared_ptr<fake_http_server::state> s) {
  for (;;) {
    auto [ec, socket] = co_await s->acceptor.async_accept(use_tuple);
    if (s->stopped || !s->acceptor.is_open()) co_return;
    if (ec) continue;
    if (s->options.tls) {
      net::co_spawn(s->io, tls_session(s, std::move(socket)), &log_exception);
    } else {
      net::co_spawn(s->io, plain_session(s, std::move(socket)), &log_exception);
    }
  }
}

}  // namespace

fake_http_server::fake_http_server(net::io_context& io, fake_server_options options)
    : state_(std::make_shared<state>(io, std::move(options))) {
  if (state_->options.tls) {
    state_->ssl_ctx.use_certificate_chain_file(state_->options.cert_file);
    state_->ssl_ctx.use_private_key_file(state_->options.key_file, ssl::context::pem);
    if (!state_->options.client_ca_file.empty()) {
      state_->ssl_ctx.load_verify_file(state_->options.client_ca_file);
      state_->ssl_ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  }
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), state_->options.port);
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.set_option(net::socket_base::reuse_address(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen();
  net::co_spawn(io, accept_loop(state_), &log_exception);
}

fake_http_server::~fake_http_server() { stop(); }

unsigned short fake_http_server::port() const { return state_->acceptor.local_endpoint().port(); }

std::string fake_http_server::url() const {
  return std::string(state_->options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}

void fake_http_server::set_response(const std::string& path, fake_response response) {
  state_->standing[path] = std::move(response);
}

void fake_http_server::push_response(const std::string& path, fake_response response) {
  state_->queued[path].push_back(std::move(response));
}

void fake_http_server::require_token(std::optional<std::string> token) { state_->token = std::move(token); }

void fake_http_server::set_certificate(const std::string& cert_file, const std::string& key_file) {
  state_->ssl_ctx.use_certificate_chain_file(cert_file);
  state_->ssl_ctx.use_private_key_file(key_file, ssl::context::pem);
  beast::error_code ignored;
  const auto sockets = state_->open_sockets;
  for (auto* socket : sockets) socket->close(ignored);
}

const std::vector<fake_request>& fake_http_server::requests() const { return state_->requests; }

std::size_t fake_http_server::count(const std::string& path) const {
  std::size_t n = 0;
  for (const auto& r : state_->requests) {
    if (r.target.substr(0, r.target.find('?')) == path) ++n;
  }
  return n;
}

void fake_http_server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  // Closing a socket completes its pending operations; each session then ends.
  const auto sockets = state_->open_sockets;
  for (auto* socket : sockets) socket->close(ignored);
}

}  // namespace autodiscd::test
