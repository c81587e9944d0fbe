#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "listeners/http/http_client.hpp"
#include "support/fake_engine.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

/// Runs one request to completion on `io` (bounded).
http_result run_request(net::io_context& io, http_client& client, http_request req) {
  std::optional<http_result> out;
  auto store = [&out](std::exception_ptr e, http_result r) {
    if (e) std::rethrow_exception(e);
    out = std::move(r);
  };
  net::co_spawn(io, client.request(std::move(req)), store);
  REQUIRE(test::run_io_until(io, [&out] { return out.has_value(); }, 10s));
  return std::move(*out);
}

http_endpoint endpoint_of(const std::string& url) {
  std::string error;
  auto ep = parse_http_endpoint(url, error);
  REQUIRE(ep);
  return *ep;
}

}  // namespace

TEST_CASE("endpoints parse from URLs", "[http][endpoint]") {
  std::string error;
  auto ep = parse_http_endpoint("unix:///var/run/docker.sock", error);
  REQUIRE(ep);
  CHECK(ep->transport == http_endpoint::transport_kind::unix_socket);
  CHECK(ep->socket_path == "/var/run/docker.sock");

  ep = parse_http_endpoint("tcp://127.0.0.1:2376", error);
  REQUIRE(ep);
  CHECK(ep->host == "127.0.0.1");
  CHECK(ep->port == "2376");
  CHECK_FALSE(ep->tls.enabled);

  ep = parse_http_endpoint("https://node-1:10250/base/", error);
  REQUIRE(ep);
  CHECK(ep->tls.enabled);
  CHECK(ep->base_path == "/base");
  CHECK(ep->describe() == "https://node-1:10250/base");

  ep = parse_http_endpoint("http://169.254.170.2", error);
  REQUIRE(ep);
  CHECK(ep->port == "80");
  ep = parse_http_endpoint("https://[fd00::1]:8443", error);
  REQUIRE(ep);
  CHECK(ep->host == "fd00::1");
  CHECK(ep->host_header() == "[fd00::1]:8443");

  for (const char* bad : {"docker.sock", "unix://relative", "tcp://host", "ftp://x:1", "http://:80", "http://h:99999",
                          "http://h:80/p?q=1", "https://[::1"}) {
    error.clear();
    CHECK_FALSE(parse_http_endpoint(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("requests reuse one kept-alive connection", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  engine.put_container(test::fake_engine::container("abc", "web", "nginx:1"));
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  for (int i = 0; i < 3; ++i) {
    http_request req;
    req.target = "/v1.41/containers/abc/json";
    auto r = run_request(io, client, req);
    REQUIRE(r.ok());
    CHECK(r.response->status == 200);
    CHECK(r.response->body.find("/web") != std::string::npos);
  }
  http_request ping;
  ping.target = "/_ping";
  auto r = run_request(io, client, ping);
  REQUIRE(r.ok());
  CHECK(r.response->header("Api-Version") == "1.41");
  CHECK(engine.connections == 1);
  CHECK(client.connections_opened() == 1);
  // Many requests on the kept-alive connection: the list close() walks stays at one entry.
  for (int i = 0; i < 50; ++i) REQUIRE(run_request(io, client, ping).ok());
  CHECK(client.connections_tracked() == 1);
}

TEST_CASE("a server that closes after each response: every request still succeeds", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  engine.close_after_response = true;
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  for (int i = 0; i < 3; ++i) {
    http_request req;
    req.target = "/_ping";
    auto r = run_request(io, client, req);
    CHECK(r.ok());
  }
  CHECK(engine.connections == 3);
}

TEST_CASE("a kept-alive connection closed by the peer is reopened once", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  http_request req;
  req.target = "/_ping";
  REQUIRE(run_request(io, client, req).ok());
  CHECK(engine.connections == 1);
  // The server drops the idle connection; the next request fails on it and is retried once.
  engine.drop_connections();
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  auto r = run_request(io, client, req);
  CHECK(r.ok());
  CHECK(engine.connections == 2);
  CHECK(engine.hits["/_ping"] == 2);

  // A missing socket is a connect error naming it.
  test::temp_dir dir;
  const auto missing = dir.str() + "/gone.sock";
  http_client nowhere(io.get_executor(), endpoint_of("unix://" + missing));
  r = run_request(io, nowhere, req);
  CHECK(r.error.kind == "connect");
  CHECK(r.error.message.find(missing) != std::string::npos);
}

TEST_CASE("404 is an http_status error that keeps the response", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  http_request req;
  req.target = "/v1.41/containers/nope/json";
  auto r = run_request(io, client, req);
  CHECK(r.error.kind == "http_status");
  REQUIRE(r.response);
  CHECK(r.response->status == 404);
  CHECK(r.response->body.find("No such container") != std::string::npos);
  // The connection stays usable after a 404.
  req.target = "/_ping";
  CHECK(run_request(io, client, req).ok());
  CHECK(engine.connections == 1);
}

TEST_CASE("a silent server times out within the request's timeout", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  engine.silent = true;
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  http_request req;
  req.target = "/_ping";
  req.timeout = 200ms;
  auto start = std::chrono::steady_clock::now();
  auto r = run_request(io, client, req);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.error.kind == "timeout");
  CHECK(took >= 190ms);
  CHECK(took < 2s);
}

TEST_CASE("a slow answer beyond the timeout is a timeout, within it succeeds", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  engine.put_container(test::fake_engine::container("abc", "web", "nginx:1"));
  engine.inspect_delay = 300ms;
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  http_request req;
  req.target = "/containers/abc/json";
  req.timeout = 100ms;
  CHECK(run_request(io, client, req).error.kind == "timeout");
  req.timeout = 2s;
  CHECK(run_request(io, client, req).ok());
}

TEST_CASE("an oversize body fails with body_limit", "[http][fake]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  engine.put_container(test::fake_engine::container("abc", "web", "nginx:1"));
  engine.inspect_padding = 100000;
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  http_request req;
  req.target = "/containers/abc/json";
  req.body_limit = 50000;
  CHECK(run_request(io, client, req).error.kind == "body_limit");
  req.body_limit = 200000;
  CHECK(run_request(io, client, req).ok());
}

TEST_CASE("connect errors and bad TLS files are reported with their kind", "[http]") {
  net::io_context io(1);
  test::temp_dir dir;
  http_client client(io.get_executor(), endpoint_of("unix://" + dir.str() + "/missing.sock"));
  http_request req;
  auto r = run_request(io, client, req);
  CHECK(r.error.kind == "connect");

  auto ep = endpoint_of("https://127.0.0.1:1");
  ep.tls.ca_file = dir.str() + "/no-ca.pem";
  http_client tls(io.get_executor(), ep);
  r = run_request(io, tls, req);
  CHECK(r.error.kind == "tls");
  CHECK(r.error.message.find("no-ca.pem") != std::string::npos);

  http_client closed(io.get_executor(), endpoint_of("unix://" + dir.str() + "/missing.sock"));
  closed.close();
  CHECK(run_request(io, closed, req).error.kind == "closed");
}

TEST_CASE("streaming: bytes arrive as sent, split anywhere, a cut stream is 'closed'", "[http][fake][stream]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  std::string received;
  bool headers = false;
  std::optional<http_result> end;
  std::function<void(std::string_view)> on_data = [&received](std::string_view d) { received.append(d); };
  std::function<void(const http_response&)> on_headers = [&headers](const http_response& r) {
    headers = r.status == 200;
  };
  http_request req;
  req.target = "/v1.41/events";
  auto store = [&end](std::exception_ptr e, http_result r) {
    if (e) std::rethrow_exception(e);
    end = std::move(r);
  };
  net::co_spawn(io, client.stream(req, on_data, on_headers), store);
  REQUIRE(test::run_io_until(io, [&] { return engine.open_streams() == 1 && headers; }, 5s));
  const std::string line = R"({"Type":"container","Action":"start","id":"x"})";
  std::string expected;
  for (std::size_t split = 1; split < line.size(); ++split) {
    engine.emit_raw(line.substr(0, split));
    expected += line.substr(0, split);
    REQUIRE(test::run_io_until(io, [&] { return received == expected; }, 2s));  // delivered before the rest
    engine.emit_raw(line.substr(split) + "\n");
    expected += line.substr(split) + "\n";
    REQUIRE(test::run_io_until(io, [&] { return received == expected; }, 2s));
  }
  CHECK_FALSE(end);
  engine.cut_streams();
  REQUIRE(test::run_io_until(io, [&] { return end.has_value(); }, 5s));
  CHECK(end->error.kind == "closed");
  CHECK(end->error.message.find("cut") != std::string::npos);
}

TEST_CASE("streaming: close() ends a pending stream", "[http][fake][stream]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  std::optional<http_result> end;
  http_request req;
  req.target = "/events";
  auto store = [&end](std::exception_ptr e, http_result r) {
    if (e) std::rethrow_exception(e);
    end = std::move(r);
  };
  std::function<void(std::string_view)> ignore = [](std::string_view) {};
  net::co_spawn(io, client.stream(req, ignore), store);
  REQUIRE(test::run_io_until(io, [&] { return engine.open_streams() == 1; }, 5s));
  client.close();
  REQUIRE(test::run_io_until(io, [&] { return end.has_value(); }, 5s));
  CHECK(end->error.kind == "closed");
}

TEST_CASE("streaming: an idle timeout ends a silent stream", "[http][fake][stream]") {
  net::io_context io(1);
  test::fake_engine engine(io.get_executor());
  http_client client(io.get_executor(), endpoint_of(engine.url()));
  std::optional<http_result> end;
  http_request req;
  req.target = "/events";
  req.idle_timeout = 150ms;
  auto store = [&end](std::exception_ptr e, http_result r) {
    if (e) std::rethrow_exception(e);
    end = std::move(r);
  };
  std::function<void(std::string_view)> ignore = [](std::string_view) {};
  net::co_spawn(io, client.stream(req, ignore), store);
  REQUIRE(test::run_io_until(io, [&] { return end.has_value(); }, 5s));
  CHECK(end->error.kind == "timeout");
}
