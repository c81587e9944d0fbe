// The status server in the real binary: every endpoint over TCP and a unix socket, bad
// requests, slow clients, binding retried while discovery goes on, `autodiscd status`.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "daemon/status_server.hpp"
#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

int connect_tcp(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Sends raw bytes, reads until the server closes (or 5 s pass).
std::string raw_exchange(unsigned short port, const std::string& request) {
  const int fd = connect_tcp(port);
  if (fd < 0) return "";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string out;
  char buf[4096];
  while (true) {
    const auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

unsigned status_of(const std::string& response) {
  if (!response.starts_with("HTTP/1.1 ")) return 0;
  return static_cast<unsigned>(std::stoi(response.substr(9, 3)));
}

struct running_daemon {
  explicit running_daemon(const std::string& listen) : setup(listen) {
    setup.write_services(test::ops_setup::service_yaml("static://redis-1", "10.0.0.7"));
    daemon = std::make_unique<test::child_process>(
        std::vector<std::string>{test::autodiscd_binary(), "run", "--config", setup.config, "--log-level", "debug"},
        setup.dir.str() + "/daemon.log");
  }
  ~running_daemon() {
    daemon->signal(SIGTERM);
    daemon->wait(5s);
  }
  bool wait_ready(const std::string& listen) {
    return test::eventually([&] { return fetch_status(listen, "/readyz", 1s).status == 200; }, 10s);
  }
  test::ops_setup setup;
  std::unique_ptr<test::child_process> daemon;
};

}  // namespace

TEST_CASE("status server: endpoints over TCP", "[status_server]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  running_daemon d(listen);
  REQUIRE(d.wait_ready(listen));
  INFO(d.daemon->log());

  auto r = fetch_status(listen, "/healthz", 2s);
  CHECK(r.status == 200);
  r = fetch_status(listen, "/services", 2s);
  REQUIRE(r.status == 200);
  auto services = nlohmann::json::parse(r.body);
  REQUIRE(services.size() == 1);
  CHECK(services[0]["id"] == "static://redis-1");
  r = fetch_status(listen, "/configs", 2s);
  REQUIRE(r.status == 200);
  CHECK(nlohmann::json::parse(r.body)["configs"].size() == 2);
  r = fetch_status(listen, "/metrics", 2s);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("autodiscd_services{listener=\"static\",type=\"static\"} 1") != std::string::npos);
  CHECK(r.body.find("autodiscd_build_info{version=") != std::string::npos);
  r = fetch_status(listen, "/nothing-here", 2s);
  CHECK(r.status == 404);

  // Keep-alive: two requests on one connection.
  auto two = raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(status_of(two) == 200);
  CHECK(two.find("HTTP/1.1 200", 10) != std::string::npos);
}

TEST_CASE("status server: bad requests get 4xx and discovery goes on", "[status_server]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  running_daemon d(listen);
  REQUIRE(d.wait_ready(listen));

  CHECK(status_of(raw_exchange(port, "POST /services HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")) == 405);
  CHECK(status_of(raw_exchange(port, "BREW /coffee HTCPCP/1.0\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\x01\x02\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n")) == 431);
  CHECK(status_of(raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b'))) == 413);
  // The header limit (8 KiB) is for the whole header, sent at once as in pieces (Beast alone
  // applies it to the request line and the fields apart when they come at once).
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ";
  const std::string tail = "\r\nConnection: close\r\n\r\n";
  CHECK(status_of(raw_exchange(port, head + std::string(8192 - head.size() - tail.size(), 'a') + tail)) == 200);
  CHECK(status_of(raw_exchange(port, head + std::string(8193 - head.size() - tail.size(), 'a') + tail)) == 431);
  CHECK(status_of(raw_exchange(port, head + std::string(8200 - head.size() - tail.size(), 'a') + tail)) == 431);
  // A chunked body is refused after the header, never parsed (GET and HEAD need no body; and
  // Boost 1.81's chunk parser asserts on some splits of a valid last chunk).
  CHECK(status_of(raw_exchange(port, "PUT /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(port, "GET /services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) == 200);

  // Slow clients: many connections that send half a request and wait. Others are served at once.
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    ::send(fd, "GET /heal", 9, MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  const auto started = std::chrono::steady_clock::now();
  auto r = fetch_status(listen, "/healthz", 2s);
  CHECK(r.status == 200);
  CHECK(std::chrono::steady_clock::now() - started < 500ms);
  // Discovery keeps going meanwhile.
  d.setup.write_services(test::ops_setup::service_yaml("static://redis-2", "10.0.0.8"));
  CHECK(test::eventually([&] { return fs::exists(d.setup.out + "/redisdb.d/static___redis-2.yaml"); }, 5s));
  for (int fd : slow) ::close(fd);
  INFO(d.daemon->log());
  CHECK(d.daemon->running());
}

TEST_CASE("status server: a client sending one byte a second is cut off, a flood of slow clients does not lock "
          "out a health check",
          "[status_server][security]") {
  const auto port = test::free_port();
  const auto listen = "127.0.0.1:" + std::to_string(port);
  running_daemon d(listen);
  REQUIRE(d.wait_ready(listen));
  // More half-sent requests than the server's 64 connections.
  std::vector<int> flood;
  for (int i = 0; i < 80; ++i) {
    const int fd = connect_tcp(port);
    REQUIRE(fd >= 0);
    ::send(fd, "GET /heal", 9, MSG_NOSIGNAL);
    flood.push_back(fd);
  }
  // One client dribbles a request, one byte a second; it would need 35 s.
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const int dribbler = connect_tcp(port);
  REQUIRE(dribbler >= 0);
  const auto dribble_start = std::chrono::steady_clock::now();
  std::size_t sent = 0;
  bool closed = false;
  std::string answer;
  std::vector<std::chrono::milliseconds> health_took;
  while (!closed && sent < request.size()) {
    if (::send(dribbler, request.data() + sent, 1, MSG_NOSIGNAL) == 1) ++sent;
    else closed = true;
    // Meanwhile a health check is answered at once, every time.
    const auto started = std::chrono::steady_clock::now();
    const auto r = fetch_status(listen, "/healthz", 2s);
    CHECK(r.status == 200);
    health_took.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started));
    pollfd p{dribbler, POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      char buf[512];
      const auto n = ::recv(dribbler, buf, sizeof buf, 0);
      if (n > 0) answer.append(buf, static_cast<std::size_t>(n));
      else closed = true;
    }
  }
  const auto cut_after = std::chrono::steady_clock::now() - dribble_start;
  INFO("cut after " << std::chrono::duration_cast<std::chrono::milliseconds>(cut_after).count() << " ms, " << sent
                    << " bytes sent");
  CHECK(closed);
  CHECK(answer.empty());  // never served
  CHECK(sent < request.size());
  CHECK(cut_after < 13s);  // the 10 s request read deadline, plus this loop's 1 s steps
  CHECK(*std::max_element(health_took.begin(), health_took.end()) < 500ms);
  for (int fd : flood) ::close(fd);
  ::close(dribbler);
  INFO(d.daemon->log());
  CHECK(d.daemon->running());
}

TEST_CASE("status server: a unix socket, and `autodiscd status`", "[status_server]") {
  test::temp_dir sock_dir("autodiscd-sock");
  const auto listen = "unix:" + sock_dir.str() + "/status.sock";
  running_daemon d(listen);
  REQUIRE(d.wait_ready(listen));
  auto r = fetch_status(listen, "/services", 2s);
  CHECK(r.status == 200);

  std::string out;
  const auto base = test::autodiscd_binary() + " status --config " + d.setup.config;
  CHECK(test::run_command(base, out) == 0);
  INFO(out);
  CHECK(out.find("autodiscd: ready") != std::string::npos);
  CHECK(out.find("static (static): OK") != std::string::npos);
  CHECK(out.find("static___redis-1.yaml") != std::string::npos);
  CHECK(out.find("output folder: " + d.setup.out) != std::string::npos);
  CHECK(test::run_command(base + " --json", out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["services"] == 1);
  CHECK(j["listeners"][0]["synced"] == true);

  // The socket file goes away with the daemon; `status` then says it cannot reach it.
  d.daemon->signal(SIGTERM);
  CHECK(d.daemon->wait(3s) == 0);
  CHECK_FALSE(fs::exists(sock_dir.str() + "/status.sock"));
  CHECK(test::run_command(base, out) == 1);
  CHECK(out.find("cannot reach the daemon") != std::string::npos);
}

TEST_CASE("status server: an address in use is retried while discovery runs", "[status_server]") {
  // Hold the port.
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto port = ntohs(addr.sin_port);
  const auto listen = "127.0.0.1:" + std::to_string(port);

  running_daemon d(listen);
  // Discovery runs although the status address is taken.
  REQUIRE(test::eventually([&] { return fs::exists(d.setup.out + "/redisdb.d/static___redis-1.yaml"); }, 10s));
  CHECK(test::eventually([&] { return d.daemon->log().find("cannot listen on " + listen) != std::string::npos; }, 5s));
  ::close(holder);
  // Retried every 5 s.
  CHECK(test::eventually([&] { return fetch_status(listen, "/healthz", 1s).status == 200; }, 12s));
  CHECK(d.daemon->running());
}

TEST_CASE("status server: a malformed status.listen is a config error (exit 78)", "[status_server]") {
  test::ops_setup setup("somewhere:http");
  std::string out;
  CHECK(test::run_command(test::autodiscd_binary() + " check-config --config " + setup.config, out) == 78);
  CHECK(out.find("status.listen") != std::string::npos);
  CHECK(test::run_command(test::autodiscd_binary() + " run --config " + setup.config, out) == 78);
  CHECK(out.find("status.listen") != std::string::npos);
}
