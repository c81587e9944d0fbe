#include "daemon/status_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <array>
#include <filesystem>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "daemon/app.hpp"
#include "listeners/log.hpp"

namespace autodiscd {
namespace {

using protocol = net::generic::stream_protocol;
using stream_type = beast::basic_stream<protocol, net::any_io_executor, beast::unlimited_rate_policy>;
using acceptor_type = net::basic_socket_acceptor<protocol, net::any_io_executor>;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

constexpr std::size_t header_limit = status_header_limit;
constexpr std::size_t body_limit = status_body_limit;
constexpr std::size_t max_connections = 64;
constexpr std::size_t max_requests_per_connection = 100;
constexpr std::chrono::seconds read_timeout{10};
constexpr std::chrono::seconds write_timeout{10};

protocol::endpoint to_endpoint(const listen_address& address) {
  if (address.type == listen_address::kind::unix_socket) {
    return protocol::endpoint(net::local::stream_protocol::endpoint(address.path));
  }
  return protocol::endpoint(net::ip::tcp::endpoint(net::ip::make_address(address.host), address.port));
}

std::string describe(const listen_address& address, const acceptor_type& acceptor) {
  if (address.type == listen_address::kind::unix_socket) return "unix:" + address.path;
  boost::system::error_code ec;
  const auto local = acceptor.local_endpoint(ec);
  if (ec) return address.host + ":" + std::to_string(address.port);
  net::ip::tcp::endpoint tcp;
  tcp.resize(local.size());
  std::memcpy(tcp.data(), local.data(), local.size());
  const auto ip = tcp.address();
  return (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(tcp.port());
}

/// A unix socket file left by a dead daemon blocks bind; one a live daemon serves must stay.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  net::io_context probe_io;
  net::local::stream_protocol::socket probe(probe_io);
  boost::system::error_code ec;
  probe.connect(net::local::stream_protocol::endpoint(path), ec);
  if (ec == boost::system::errc::connection_refused) ::unlink(path.c_str());
}

http::response<http::string_body> make_response(unsigned version, bool keep_alive, bool head,
                                                status_response answer) {
  http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
  res.set(http::field::server, "autodiscd");
  res.set(http::field::content_type, answer.content_type);
  res.set(http::field::cache_control, "no-store");
  if (!answer.allow.empty()) res.set(http::field::allow, answer.allow);
  res.keep_alive(keep_alive);
  const auto size = answer.body.size();
  if (!head) res.body() = std::move(answer.body);
  res.content_length(size);
  return res;
}

}  // namespace

struct status_server::impl : std::enable_shared_from_this<impl> {
  impl(net::any_io_executor ex, const app& a) : executor(ex), the_app(a), acceptor(ex), retry_timer(ex) {}

  net::any_io_executor executor;
  const app& the_app;
  acceptor_type acceptor;
  net::steady_timer retry_timer;
  net::cancellation_signal cancel;
  listen_address address;
  std::optional<std::string> bound;
  /// Open sessions -> when the one waiting for its next request started waiting (nullopt
  /// while it answers).
  std::map<stream_type*, std::optional<std::chrono::steady_clock::time_point>> sessions;
  std::chrono::milliseconds retry_interval{5'000};
  bool stopped = false;

  /// Opens, binds and listens; the error message on failure.
  std::optional<std::string> try_bind() {
    boost::system::error_code ec;
    if (address.type == listen_address::kind::unix_socket) remove_stale_socket(address.path);
    const auto endpoint = to_endpoint(address);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec && address.type == listen_address::kind::tcp) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      boost::system::error_code ignored;
      acceptor.close(ignored);
      return ec.message();
    }
    return std::nullopt;
  }

  /// At the connection limit: closes the session that has waited longest for a request
  /// (slow or idle clients must not lock out a health check). False when every session is
  /// busy answering.
  bool evict_oldest_waiting() {
    stream_type* oldest = nullptr;
    std::chrono::steady_clock::time_point since{};
    for (auto& [s, waiting] : sessions) {
      if (waiting && (!oldest || *waiting < since)) {
        oldest = s;
        since = *waiting;
      }
    }
    if (!oldest) return false;
    boost::system::error_code ignored;
    oldest->socket().close(ignored);
    sessions[oldest].reset();  // closing: not a candidate again
    return true;
  }

  void close_all() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    retry_timer.cancel();
    for (auto& [s, waiting] : sessions) s->socket().close(ignored);
    if (bound && address.type == listen_address::kind::unix_socket) ::unlink(address.path.c_str());
    bound.reset();
  }
};

namespace {

net::awaitable<void> session(std::shared_ptr<status_server::impl> self, stream_type stream) {
  auto& waiting_since = self->sessions[&stream];
  beast::flat_buffer buffer(header_limit + body_limit);
  for (std::size_t i = 0; i < max_requests_per_connection && !self->stopped; ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    stream.expires_after(read_timeout);
    waiting_since = std::chrono::steady_clock::now();
    auto [read_ec, read_n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    // Beast applies header_limit to the whole header when it arrives in pieces, but to the
    // request line and the fields apart when it arrives at once: the same rule both ways.
    if (!read_ec && read_n > header_limit) read_ec = http::error::header_limit;
    // Only GET and HEAD are served: a chunked body is refused before Beast's chunk parser
    // reads it (Boost 1.81 asserts on some splits of a valid last chunk, Beast PR #2861:
    // found by fuzz_status_request). A Content-Length body is read (bounded) and answered.
    if (!read_ec && parser.chunked()) read_ec = http::error::bad_transfer_encoding;
    if (!read_ec && !parser.is_done()) {
      auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      (void)body_n;
      read_ec = body_ec;
    }
    waiting_since.reset();
    if (self->stopped || !stream.socket().is_open()) break;  // stopped, or evicted
    if (read_ec == http::error::end_of_stream || read_ec == beast::error::timeout ||
        read_ec == net::error::operation_aborted || read_ec == net::error::connection_reset) {
      break;
    }
    if (read_ec) {
      // Malformed or too large: say so and close.
      unsigned status = 400;
      if (read_ec == http::error::header_limit || read_ec == http::error::buffer_overflow) status = 431;
      if (read_ec == http::error::body_limit) status = 413;
      status_response answer;
      answer.status = status;
      answer.body = "{\"error\": \"bad request\"}\n";
      auto res = make_response(11, false, false, std::move(answer));
      stream.expires_after(write_timeout);
      co_await http::async_write(stream, res, use_tuple);
      logger("status")->debug("bad request: status={} reason={}", status, read_ec.message());
      // Lingering close: read and drop what the client still sends (bounded), so that
      // closing with unread data does not reset the connection before it read our answer.
      boost::system::error_code ignored;
      stream.socket().shutdown(net::socket_base::shutdown_send, ignored);
      std::array<char, 4096> scratch{};
      std::size_t dropped = 0;
      stream.expires_after(std::chrono::seconds(1));
      while (dropped < 256 * 1024 && !self->stopped) {
        auto [drop_ec, n] = co_await stream.async_read_some(net::buffer(scratch), use_tuple);
        if (drop_ec) break;
        dropped += n;
      }
      break;
    }
    const auto& req = parser.get();
    const bool head = req.method() == http::verb::head;
    auto answer = handle_status_request(self->the_app, req.method_string(), req.target());
    auto res = make_response(req.version(), req.keep_alive(), head, std::move(answer));
    stream.expires_after(write_timeout);
    auto [write_ec, write_n] = co_await http::async_write(stream, res, use_tuple);
    (void)write_n;
    if (write_ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(net::socket_base::shutdown_send, ignored);
  self->sessions.erase(&stream);
}

void log_exception(const char* what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    if (se.code() == net::error::operation_aborted) return;
    logger("status")->error("{} failed: {}", what, se.what());
  } catch (const std::exception& ex) {
    logger("status")->error("{} failed: {}", what, ex.what());
  }
}

net::awaitable<void> serve(std::shared_ptr<status_server::impl> self) {
  auto log = logger("status");
  std::string last_error;
  while (!self->stopped) {
    auto error = self->try_bind();
    if (!error) break;
    if (*error != last_error) {
      log->error("cannot listen on {}: {}; retrying every {}ms (discovery keeps running)",
                 self->address.type == listen_address::kind::unix_socket ? "unix:" + self->address.path
                                                                          : self->address.host + ":" + std::to_string(self->address.port),
                 *error, self->retry_interval.count());
      last_error = *error;
    }
    self->retry_timer.expires_after(self->retry_interval);
    auto [ec] = co_await self->retry_timer.async_wait(use_tuple);
    if (ec) co_return;
  }
  if (self->stopped) co_return;
  self->bound = describe(self->address, self->acceptor);
  log->info("listening on {}", *self->bound);
  while (!self->stopped) {
    auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
    if (self->stopped || ec == net::error::operation_aborted) break;
    if (ec) {
      // EMFILE and friends: do not spin.
      log->warn("accept failed: {}", ec.message());
      self->retry_timer.expires_after(std::chrono::milliseconds(100));
      co_await self->retry_timer.async_wait(use_tuple);
      continue;
    }
    if (self->sessions.size() >= max_connections && !self->evict_oldest_waiting()) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto session_task = session(self, stream_type(std::move(socket)));
    net::co_spawn(self->executor, std::move(session_task),
                  [](std::exception_ptr e) { log_exception("status session", e); });
  }
}

}  // namespace

status_server::status_server(net::any_io_executor executor, const app& a)
    : impl_(std::make_shared<impl>(executor, a)) {}

status_server::~status_server() { stop(); }

std::optional<std::string> status_server::start(const std::string& listen) {
  std::string error;
  auto address = parse_listen_address(listen, error);
  if (!address) return "status.listen: " + error;
  impl_->address = *address;
  impl_->stopped = false;
  impl_->retry_interval = retry_interval;
  if (address->type == listen_address::kind::off) {
    logger("status")->info("status server off");
    return std::nullopt;
  }
  auto task = serve(impl_);
  net::co_spawn(impl_->executor, std::move(task),
                net::bind_cancellation_slot(impl_->cancel.slot(),
                                            [](std::exception_ptr e) { log_exception("status server", e); }));
  return std::nullopt;
}

void status_server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->cancel.emit(net::cancellation_type::all);
  impl_->close_all();
}

std::optional<std::string> status_server::bound_address() const { return impl_->bound; }

namespace {

net::awaitable<void> fetch(protocol::endpoint endpoint, std::string target, std::chrono::milliseconds timeout,
                           status_fetch_result& out) {
  auto executor = co_await net::this_coro::executor;
  stream_type stream(executor);
  stream.expires_after(timeout);
  auto [connect_ec] = co_await stream.async_connect(endpoint, use_tuple);
  if (connect_ec) {
    out.error = "cannot connect: " + connect_ec.message();
    co_return;
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "autodiscd-status");
  req.keep_alive(false);
  auto [write_ec, write_n] = co_await http::async_write(stream, req, use_tuple);
  (void)write_n;
  if (write_ec) {
    out.error = "cannot send the request: " + write_ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  (void)read_n;
  if (read_ec) {
    out.error = "no answer: " + read_ec.message();
    co_return;
  }
  out.status = parser.get().result_int();
  out.body = parser.get().body();
}

}  // namespace

status_fetch_result fetch_status(const std::string& listen, const std::string& target,
                                 std::chrono::milliseconds timeout) {
  status_fetch_result out;
  std::string error;
  auto address = parse_listen_address(listen, error);
  if (!address) {
    out.error = "status.listen: " + error;
    return out;
  }
  if (address->type == listen_address::kind::off) {
    out.error = "the status server is off (status.listen: off)";
    return out;
  }
  if (address->type == listen_address::kind::tcp && address->host == "0.0.0.0") address->host = "127.0.0.1";
  if (address->type == listen_address::kind::tcp && address->host == "::") address->host = "::1";
  net::io_context io(1);
  auto task = fetch(to_endpoint(*address), target, timeout, out);
  net::co_spawn(io, std::move(task), [&out](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      out.error = ex.what();
    }
  });
  io.run_for(timeout + std::chrono::milliseconds(500));
  if (out.status == 0 && out.error.empty()) out.error = "timed out";
  return out;
}

}  // namespace autodiscd
