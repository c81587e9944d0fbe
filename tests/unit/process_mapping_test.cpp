// The pure half of the process listener: holders -> main process, rules, identifiers, the
// service, /proc text and container cgroups.
#include <catch2/catch.hpp>

#include "listeners/process/process_mapping.hpp"
#include "listeners/service_json.hpp"

using namespace autodiscd;
using namespace autodiscd::process;

namespace {

process_facts facts(int pid, std::string name, std::string cmdline = "", std::string exe = "") {
  process_facts f;
  f.pid = pid;
  f.name = std::move(name);
  f.cmdline = std::move(cmdline);
  f.exe = std::move(exe);
  f.user = "redis";
  return f;
}

listening_socket sock(std::string address, int port, transport proto = transport::tcp) {
  listening_socket s;
  s.address = std::move(address);
  s.port = port;
  s.proto = proto;
  return s;
}

process_rule rule(std::vector<std::string> ids, std::optional<std::string> name = {},
                  std::optional<std::string> cmdline = {}, std::optional<std::string> port = {},
                  std::optional<std::string> exe = {}) {
  process_rule r;
  if (name) r.name = std::regex(*name);
  if (cmdline) r.cmdline = std::regex(*cmdline);
  if (port) r.port = std::regex(*port);
  if (exe) r.exe = std::regex(*exe);
  r.ad_identifiers = std::move(ids);
  return r;
}

const std::string hex64 = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";

}  // namespace

TEST_CASE("process main_holders: the topmost holder, whose parent does not hold the socket", "[process][mapping]") {
  std::map<int, int> parents{{100, 1}, {101, 100}, {102, 100}, {200, 1}, {300, 1}, {500, 1},
                             {10, 9}, {11, 10}, {12, 11}, {700, 1}, {701, 700}};
  std::map<std::uint64_t, std::set<int>> holders{
      {1, {100, 101, 102}},  // nginx: master and two workers
      {2, {300, 200}},       // unrelated holders: the lowest pid
      {3, {1, 500}},         // socket activation: init and the service
      {4, {1}},              // only init
      {5, {12, 11, 10}},     // a chain
      {6, {701}},            // a worker alone (its parent does not hold it)
      {7, {900}},            // parent unknown
  };
  const auto mains = main_holders(holders, parents);
  CHECK(mains.at(1) == 100);
  CHECK(mains.at(2) == 200);
  CHECK(mains.at(3) == 500);
  CHECK(mains.at(4) == 1);
  CHECK(mains.at(5) == 10);
  CHECK(mains.at(6) == 701);
  CHECK(mains.at(7) == 900);
}

TEST_CASE("process rules: every given key must match", "[process][mapping]") {
  const auto java = facts(42, "java", "java -Xmx1g org.elasticsearch.bootstrap.Elasticsearch", "/usr/bin/java");
  const std::vector<int> ports{9200, 9300};
  CHECK(rule_matches(rule({"es"}, "^java$", "org\\.elasticsearch"), java, ports));
  CHECK_FALSE(rule_matches(rule({"es"}, "^java$", "kafka"), java, ports));
  CHECK_FALSE(rule_matches(rule({"es"}, "^jav$", "org\\.elasticsearch"), java, ports));
  CHECK(rule_matches(rule({"es"}, {}, {}, "^9300$"), java, ports));
  CHECK_FALSE(rule_matches(rule({"es"}, {}, {}, "^930$"), java, ports));
  CHECK_FALSE(rule_matches(rule({"es"}, {}, {}, "^9200$"), java, {}));
  CHECK(rule_matches(rule({"es"}, {}, {}, {}, "^/usr/bin/"), java, ports));
  CHECK_FALSE(rule_matches(rule({"es"}, "^java$", {}, {}, "^/opt/"), java, ports));
}

TEST_CASE("process identifiers: pid, name, rules in order, built-ins, no duplicates", "[process][mapping]") {
  const auto redis = facts(7, "redis-server", "/usr/bin/redis-server 127.0.0.1:6379");
  CHECK(process_identifiers(redis, {6379}, {}) == std::vector<std::string>{"process://7", "redis-server", "redis"});
  const std::vector<process_rule> rules{rule({"cache", "redis"}, "^redis"), rule({"never"}, "^nginx$"),
                                        rule({"redis-server", "sessions"}, {}, {}, "^6379$")};
  CHECK(process_identifiers(redis, {6379}, rules) ==
        std::vector<std::string>{"process://7", "redis-server", "cache", "redis", "sessions"});

  auto ids_of = [](const std::string& name) { return process_identifiers(facts(1, name), {}, {}); };
  CHECK(ids_of("mysqld") == std::vector<std::string>{"process://1", "mysqld", "mysql"});
  CHECK(ids_of("mariadbd") == std::vector<std::string>{"process://1", "mariadbd", "mysql"});
  CHECK(ids_of("mongod") == std::vector<std::string>{"process://1", "mongod", "mongo"});
  CHECK(ids_of("apache2") == std::vector<std::string>{"process://1", "apache2", "httpd"});
  CHECK(ids_of("httpd") == std::vector<std::string>{"process://1", "httpd"});
  CHECK(ids_of("postgres") == std::vector<std::string>{"process://1", "postgres"});
  CHECK(ids_of("postmaster") == std::vector<std::string>{"process://1", "postmaster", "postgres"});
  CHECK(ids_of("php-fpm8.2") == std::vector<std::string>{"process://1", "php-fpm8.2", "php-fpm"});
  CHECK(ids_of("nginx") == std::vector<std::string>{"process://1", "nginx"});
  CHECK(ids_of("memcached") == std::vector<std::string>{"process://1", "memcached"});
  CHECK(ids_of("redis-serverx") == std::vector<std::string>{"process://1", "redis-serverx"});
  for (const auto& b : builtin_identifiers()) {
    CAPTURE(b.name);
    CHECK_FALSE(b.identifier.empty());
    CHECK((b.prefix || b.identifier != b.name));  // a name that already is the identifier needs no entry
  }
}

TEST_CASE("process service: the services contract", "[process][mapping]") {
  auto f = facts(4242, "redis-server", "/usr/bin/redis-server *:6379 --requirepass SECRETPW", "/usr/bin/redis-server");
  const std::vector<listening_socket> sockets{sock("0.0.0.0", 6379), sock("::", 6379), sock("127.0.0.1", 26379),
                                              sock("0.0.0.0", 6379, transport::udp), sock("0.0.0.0", 5353, transport::udp)};
  const auto svc = build_process_service(f, sockets, {rule({"secure"}, {}, "requirepass")}, "process", "host-a");
  CHECK(svc.id == "process://4242");
  CHECK(svc.listener == "process");
  CHECK(svc.ad_identifiers == std::vector<std::string>{"process://4242", "redis-server", "secure", "redis"});
  REQUIRE(svc.hosts);
  CHECK(*svc.hosts == std::map<std::string, std::string>{{"host", "127.0.0.1"}});
  REQUIRE(svc.ports);
  CHECK(*svc.ports == std::vector<service_port>{{5353, "5353/udp"}, {6379, "6379/tcp"}, {26379, "26379/tcp"}});
  CHECK(svc.tags == std::vector<std::string>{"process_name:redis-server"});
  CHECK(svc.pid == 4242);
  CHECK(svc.hostname == "host-a");
  CHECK(svc.ready);
  CHECK(svc.extra == std::map<std::string, std::string>{{"exe", "/usr/bin/redis-server"}, {"user", "redis"}});
  // The command line decides rules only: it is nowhere in the service.
  const auto json = service_to_json(svc).dump();
  CHECK(json.find("SECRETPW") == std::string::npos);
  CHECK(json.find("requirepass") == std::string::npos);

  SECTION("an unreadable executable leaves extra.exe out") {
    f.exe.clear();
    const auto other = build_process_service(f, {sock("::1", 11211)}, {}, "proc", "h");
    CHECK_FALSE(other.extra.contains("exe"));
    CHECK(other.listener == "proc");
    CHECK(other.hosts->at("host") == "::1");
  }
}

TEST_CASE("process /proc text: stat, cmdline, fd links", "[process][mapping]") {
  const std::string fields = " S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000000 200";
  auto stat = parse_proc_stat("1234 (a) b) c)" + fields);
  REQUIRE(stat);
  CHECK(stat->ppid == 77);
  CHECK(stat->start_ticks == 98765);
  CHECK(parse_proc_stat("1234 (redis-server)" + fields)->ppid == 77);
  CHECK_FALSE(parse_proc_stat("1234 (x) S 77 1"));
  CHECK_FALSE(parse_proc_stat("garbage"));
  CHECK_FALSE(parse_proc_stat(""));

  CHECK(join_cmdline(std::string_view("redis-server\0--port\0" "6379\0", 25)) == "redis-server --port 6379");
  CHECK(join_cmdline("") == "");

  CHECK(socket_inode("socket:[123456]") == 123456);
  CHECK(socket_inode("pipe:[123]") == 0);
  CHECK(socket_inode("socket:[12a]") == 0);
  CHECK(socket_inode("socket:[]") == 0);
  CHECK(socket_inode("/dev/null") == 0);
}

TEST_CASE("process container cgroups: docker, containerd, podman, kubepods, cri-o, not the host's services",
          "[process][mapping]") {
  CHECK(in_container_cgroup("0::/system.slice/docker-" + hex64 + ".scope\n"));
  CHECK(in_container_cgroup("12:memory:/docker/" + hex64 + "\n11:cpu:/docker/" + hex64 + "\n"));
  CHECK(in_container_cgroup("0::/machine.slice/libpod-" + hex64 + ".scope/container\n"));
  CHECK(in_container_cgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hex64 + ".scope\n"));
  CHECK(in_container_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" +
                            hex64 + ".scope\n"));
  CHECK(in_container_cgroup("0::/kubepods/besteffort/pod1234/" + hex64 + "\n"));
  CHECK(in_container_cgroup("0::/system.slice/crio-" + hex64 + ".scope\n"));
  CHECK(in_container_cgroup("0::/default/" + hex64 + "\n"));
  CHECK(in_container_cgroup("0::/system.slice/nerdctl-" + hex64 + ".scope\n"));

  CHECK_FALSE(in_container_cgroup("0::/system.slice/redis-server.service\n"));
  CHECK_FALSE(in_container_cgroup("0::/system.slice/docker.service\n"));
  CHECK_FALSE(in_container_cgroup("0::/system.slice/containerd.service\n"));
  CHECK_FALSE(in_container_cgroup("0::/machine.slice/libpod-conmon-" + hex64 + ".scope\n"));
  CHECK_FALSE(in_container_cgroup("0::/system.slice/crio-conmon-" + hex64 + ".scope\n"));
  CHECK_FALSE(in_container_cgroup("0::/init.scope\n"));
  CHECK_FALSE(in_container_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"));
  CHECK_FALSE(in_container_cgroup("0::/\n"));
  CHECK_FALSE(in_container_cgroup(""));
  CHECK_FALSE(in_container_cgroup("garbage without colons " + hex64));
}

TEST_CASE("process removal grace: a gone service stays until its grace ends", "[process][mapping]") {
  using namespace std::chrono_literals;
  service a;
  a.id = "process://1";
  service b;
  b.id = "process://2";
  const auto pa = std::make_shared<const service>(a);
  const auto pb = std::make_shared<const service>(b);
  const service_map current{{a.id, pa}, {b.id, pb}};
  std::map<std::string, std::chrono::steady_clock::time_point> gone;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

  SECTION("no grace: removed at once") {
    service_map next{{a.id, pa}};
    keep_in_grace(current, next, gone, t0, 0ms);
    CHECK(next.size() == 1);
    CHECK(gone.empty());
  }
  SECTION("kept until the grace ends, then removed") {
    service_map next{{a.id, pa}};
    keep_in_grace(current, next, gone, t0, 2s);
    CHECK(next.contains(b.id));
    service_map later{{a.id, pa}};
    keep_in_grace(next, later, gone, t0 + 1999ms, 2s);
    CHECK(later.contains(b.id));
    service_map end{{a.id, pa}};
    keep_in_grace(later, end, gone, t0 + 2s, 2s);
    CHECK_FALSE(end.contains(b.id));
    CHECK(gone.empty());
  }
  SECTION("back within the grace: forgotten as gone") {
    service_map next{{a.id, pa}};
    keep_in_grace(current, next, gone, t0, 2s);
    CHECK(gone.contains(b.id));
    service_map back{{a.id, pa}, {b.id, pb}};
    keep_in_grace(next, back, gone, t0 + 1s, 2s);
    CHECK(gone.empty());
  }
}
