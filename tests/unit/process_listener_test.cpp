// The process listener on a real io_context against this host's kernel: sockets this test
// opens (and processes it starts) become services, and stop being services.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include <boost/asio/io_context.hpp>

#include "config/daemon_config.hpp"
#include "listeners/process/process_listener.hpp"
#include "listeners/service_json.hpp"
#include "support/ops_process.hpp"
#include "support/support.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

namespace {

struct recording_sink : service_sink {
  service_map services;
  int syncs = 0;
  std::vector<std::string> errors;
  void on_delta(const std::string&, service_delta delta) override {
    for (auto& s : delta.added) {
      CHECK_FALSE(services.contains(s->id));
      services[s->id] = s;
    }
    for (auto& s : delta.changed) {
      CHECK(services.contains(s->id));
      services[s->id] = s;
    }
    for (auto& id : delta.removed) CHECK(services.erase(id) == 1);
  }
  void on_synced(const std::string&) override { ++syncs; }
  void on_error(const std::string&, const std::string& kind, const std::string& message) override {
    errors.push_back(kind + ": " + message);
  }
  void on_count(const std::string&, std::string_view) override {}

  const service* find(int pid) const {
    auto it = services.find("process://" + std::to_string(pid));
    return it == services.end() ? nullptr : it->second.get();
  }
  bool has_port(int pid, int port, const std::string& name) const {
    const auto* s = find(pid);
    if (!s || !s->ports) return false;
    return std::find(s->ports->begin(), s->ports->end(), service_port{port, name}) != s->ports->end();
  }
};

/// Runs the loop until `done` holds or `timeout` passes.
bool run_until(net::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(20ms);
  }
  return done();
}

/// A socket of this process on 127.0.0.1, port chosen by the kernel; inherited by children.
struct local_socket {
  explicit local_socket(int type) : fd(::socket(AF_INET, type, 0)) {
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~local_socket() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fd = -1;
  int port = 0;
};

process::process_settings settings_of(const std::string& listener_yaml) {
  daemon_config c;
  auto errors = parse_daemon_config("listeners:\n  - " + listener_yaml + "\ntemplates: {dirs: [t]}\noutput: {dir: out}\n",
                                    "test.yaml", "/tmp", c);
  INFO(to_string(errors));
  REQUIRE(errors.empty());
  return process::read_process_settings(c.listeners.at(0), errors);
}

std::string python3() {
  std::string out;
  if (test::run_command("test -x /usr/bin/python3", out) == 0) return "/usr/bin/python3";
  return "python3";
}

}  // namespace

TEST_CASE("process listener: this process's socket is a service until it closes", "[process][listener]") {
  net::io_context io(1);
  process_listener l(io.get_executor(), settings_of("{type: process, interval: 100ms}"));
  recording_sink sink;
  l.start(sink);
  REQUIRE(run_until(io, [&] { return sink.syncs >= 1; }));
  CHECK(sink.errors.empty());
  const int me = ::getpid();

  auto tcp = std::make_unique<local_socket>(SOCK_STREAM);
  REQUIRE(run_until(io, [&] { return sink.has_port(me, tcp->port, std::to_string(tcp->port) + "/tcp"); }));
  const auto& svc = *sink.find(me);
  CHECK(svc.listener == "process");
  CHECK(svc.pid == me);
  CHECK(svc.hosts->at("host") == "127.0.0.1");
  REQUIRE(svc.ad_identifiers.size() >= 2);
  CHECK(svc.ad_identifiers[0] == "process://" + std::to_string(me));
  CHECK(svc.ad_identifiers[1] == test::read_file("/proc/self/comm").substr(0, svc.ad_identifiers[1].size()));
  CHECK(svc.tags == std::vector<std::string>{"process_name:" + svc.ad_identifiers[1]});
  CHECK(svc.extra.at("exe") == std::filesystem::read_symlink("/proc/self/exe").string());
  CHECK(svc.extra.contains("user"));

  SECTION("a child that inherited it: still one service, the parent's") {
    test::child_process child({"sleep", "60"}, "/dev/null");
    // The child is new to the listener; the parent (this process) opened the socket first.
    auto second = std::make_unique<local_socket>(SOCK_STREAM);
    test::child_process child2({"sleep", "60"}, "/dev/null");
    REQUIRE(run_until(io, [&] { return sink.has_port(me, second->port, std::to_string(second->port) + "/tcp"); }));
    io.restart();
    io.run_for(300ms);
    CHECK(sink.find(child.pid()) == nullptr);
    CHECK(sink.find(child2.pid()) == nullptr);
    CHECK(sink.has_port(me, tcp->port, std::to_string(tcp->port) + "/tcp"));
  }
  SECTION("a second socket opened, then closed: the service follows its ports") {
    // A rebuild reuses a process's service only while its sockets are the same.
    auto second = std::make_unique<local_socket>(SOCK_STREAM);
    const int port2 = second->port;
    const auto name2 = std::to_string(port2) + "/tcp";
    REQUIRE(run_until(io, [&] { return sink.has_port(me, port2, name2); }));
    second.reset();
    CHECK(run_until(io, [&] { return sink.find(me) != nullptr && !sink.has_port(me, port2, name2); }));
    CHECK(sink.has_port(me, tcp->port, std::to_string(tcp->port) + "/tcp"));
  }
  SECTION("closed: the service ends") {
    tcp.reset();
    CHECK(run_until(io, [&] { return sink.find(me) == nullptr; }));
  }
  l.stop();
}

TEST_CASE("process listener: UDP sockets with udp: true only", "[process][listener]") {
  local_socket udp(SOCK_DGRAM);
  local_socket tcp(SOCK_STREAM);
  const int me = ::getpid();
  net::io_context io(1);
  recording_sink without;
  process_listener tcp_only(io.get_executor(), settings_of("{type: process, interval: 100ms}"));
  tcp_only.start(without);
  recording_sink with;
  process_listener both(io.get_executor(), settings_of("{type: process, name: both, interval: 100ms, udp: true}"));
  both.start(with);
  REQUIRE(run_until(io, [&] { return with.has_port(me, udp.port, std::to_string(udp.port) + "/udp") && without.find(me); }));
  CHECK(with.has_port(me, tcp.port, std::to_string(tcp.port) + "/tcp"));
  CHECK(with.find(me)->listener == "both");
  CHECK_FALSE(without.has_port(me, udp.port, std::to_string(udp.port) + "/udp"));
  tcp_only.stop();
  both.stop();
}

TEST_CASE("process listener: rules see the command line, the service never holds it, and min_age", "[process][listener]") {
  net::io_context io(1);
  process_listener l(io.get_executor(),
                     settings_of("{type: process, interval: 100ms, min_age: 1s, "
                                 "rules: [{match: {cmdline: 'requirepass SECRETPW'}, ad_identifiers: [guarded]}]}"));
  recording_sink sink;
  l.start(sink);
  REQUIRE(run_until(io, [&] { return sink.syncs >= 1; }));
  const auto started = std::chrono::steady_clock::now();
  test::temp_dir dir("autodiscd-process-listener");
  test::child_process server(
      {python3(), "-c",
       "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n"
       "print(s.getsockname()[1],flush=True)\ntime.sleep(60)\n",
       "--requirepass", "SECRETPW"},
      dir.str() + "/server.log");
  REQUIRE(test::eventually([&] { return !test::read_file(dir.str() + "/server.log").empty(); }, 10s));
  const int port = std::stoi(test::read_file(dir.str() + "/server.log"));
  REQUIRE(run_until(io, [&] { return sink.find(server.pid()) != nullptr; }));
  // min_age: not a service before it was a second old.
  CHECK(std::chrono::steady_clock::now() - started >= 990ms);
  const auto& svc = *sink.find(server.pid());
  CHECK(std::find(svc.ad_identifiers.begin(), svc.ad_identifiers.end(), "guarded") != svc.ad_identifiers.end());
  CHECK(sink.has_port(server.pid(), port, std::to_string(port) + "/tcp"));
  const auto json = service_to_json(svc).dump();
  INFO(json);
  CHECK(json.find("SECRETPW") == std::string::npos);
  CHECK(json.find("requirepass") == std::string::npos);

  SECTION("exited: the service ends") {
    server.signal(SIGKILL);
    server.wait(5s);
    CHECK(run_until(io, [&] { return sink.find(server.pid()) == nullptr; }));
  }
  l.stop();
}

TEST_CASE("process listener: removal_grace keeps an exited process's service", "[process][listener]") {
  net::io_context io(1);
  process_listener l(io.get_executor(), settings_of("{type: process, interval: 50ms, removal_grace: 700ms}"));
  recording_sink sink;
  l.start(sink);
  const int me = ::getpid();
  auto tcp = std::make_unique<local_socket>(SOCK_STREAM);
  REQUIRE(run_until(io, [&] { return sink.find(me) != nullptr; }));
  tcp.reset();
  const auto closed = std::chrono::steady_clock::now();
  REQUIRE(run_until(io, [&] { return sink.find(me) == nullptr; }));
  CHECK(std::chrono::steady_clock::now() - closed >= 700ms);
  l.stop();
}

TEST_CASE("process listener: stop ends reports at once", "[process][listener]") {
  net::io_context io(1);
  auto l = std::make_unique<process_listener>(io.get_executor(), settings_of("{type: process, interval: 10ms}"));
  recording_sink sink;
  l->start(sink);
  REQUIRE(run_until(io, [&] { return sink.syncs >= 2; }));
  l->stop();
  const auto syncs = sink.syncs;
  io.restart();
  io.run_for(100ms);
  CHECK(sink.syncs == syncs);
  l.reset();
  io.restart();
  io.run_for(50ms);
}
