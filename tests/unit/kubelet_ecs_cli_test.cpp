// `autodiscd services` / `configs` (the real binary) with kubelet and ecs listeners pointed at
// fake servers running on this test's io_context.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "support/fake_http_server.hpp"
#include "support/support.hpp"
#include "support/test_certs.hpp"

using namespace autodiscd;
using namespace autodiscd::test;
using namespace std::chrono_literals;

namespace {

struct cli_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the autodiscd binary with `args` and extra environment, running `io` (the fake
/// servers) until it exits; killed after `limit`.
cli_result run_autodiscd(net::io_context& io, const temp_dir& dir, const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, std::chrono::milliseconds limit = 20s) {
  const auto out_file = (dir.path() / "cli.out").string();
  const auto err_file = (dir.path() / "cli.err").string();
  std::vector<std::string> argv{AUTODISCD_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  cli_result result;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("autodiscd did not exit within " << limit.count() << "ms");
    }
    io.restart();
    io.run_for(5ms);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out_file);
  result.err = read_file(err_file);
  return result;
}

const nlohmann::json* find_service(const nlohmann::json& services, const std::string& id) {
  for (const auto& s : services) {
    if (s.value("id", "") == id) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("autodiscd services/configs with kubelet (HTTPS, token) and ecs (v4 env) listeners", "[kubelet][ecs][cli]") {
  net::io_context io{1};
  temp_dir dir{"autodiscd-kube-cli"};
  const auto certs = make_test_certs(dir.path(), "kubelet");
  write_file(dir.path() / "token", "cli-token\n");

  fake_server_options o;
  o.tls = true;
  o.cert_file = certs.server_cert_file;
  o.key_file = certs.server_key_file;
  fake_http_server kubelet(io, o);
  kubelet.require_token("cli-token");
  kubelet.set_response("/pods",
                       fake_response::ok(read_file(fixture("kubelet/kubelet_podlist_container_ready.json"))));
  fake_http_server ecs(io);
  ecs.set_response("/v4/task-1/task", fake_response::ok(read_file(fixture("ecs/ecs_v4_task_fargate_redis.json"))));

  std::filesystem::create_directories(dir.path() / "templates" / "coredns.d");
  write_file(dir.path() / "templates" / "coredns.d" / "auto_conf.yaml",
             read_file(fixture("auto_conf/coredns.d/auto_conf.yaml")));
  const auto config = (dir.path() / "autodiscd.yaml").string();
  write_file(config, "listeners:\n"
                     "  - type: kubelet\n"
                     "    url: " + kubelet.url() + "\n"
                     "    ca_file: " + certs.ca_file + "\n"
                     "    token_file: " + (dir.path() / "token").string() + "\n"
                     "  - type: ecs\n"
                     "templates:\n  dirs: [templates]\n"
                     "output:\n  dir: out\n"
                     "status:\n  listen: off\n");
  const std::map<std::string, std::string> env{{"ECS_CONTAINER_METADATA_URI_V4", ecs.url() + "/v4/task-1"}};

  const auto r = run_autodiscd(io, dir, {"services", "--config", config, "--timeout", "10s"}, env);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto services = nlohmann::json::parse(r.out);
  REQUIRE(services.is_array());
  CHECK(services.size() == 13);  // kubelet: 5 containers + 5 pods; ecs: 3 containers

  const auto* coredns =
      find_service(services, "docker://3698873b7d4ebc30f230d15fdfd46cca6ab6b312be4f6c23b8860a2522f5f90b");
  REQUIRE(coredns);
  CHECK((*coredns)["listener"] == "kubelet");
  CHECK((*coredns)["hosts"] == nlohmann::json{{"pod", "192.168.253.2"}});
  CHECK((*coredns)["ports"] == nlohmann::json::parse(
                                   R"([{"port":53,"name":"dns"},{"port":53,"name":"dns-tcp"},{"port":9153,"name":"metrics"}])"));
  CHECK((*coredns)["pid"].is_null());
  CHECK((*coredns)["hostname"].is_null());
  CHECK((*coredns)["ready"] == true);
  CHECK((*coredns)["extra"]["pod_name"] == "coredns-747dbcf5df-ks57g");

  const auto* redis = find_service(services, "docker://938f6d263c464aa5985dc67ab7f38a7e-3054012820");
  REQUIRE(redis);
  CHECK((*redis)["listener"] == "ecs");
  CHECK((*redis)["hosts"] == nlohmann::json{{"awsvpc", "172.31.115.18"}});
  CHECK((*redis)["ports"] == nlohmann::json::array());
  CHECK(kubelet.requests().at(0).authorization == "Bearer cli-token");

  // configs: the coredns file template and redis-unready's annotation template resolve.
  const auto c = run_autodiscd(io, dir, {"configs", "--config", config, "--timeout", "10s"}, env);
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  CHECK_THAT(c.out, Catch::Contains("192.168.253.2:9153"));  // the coredns file template
  CHECK_THAT(c.out, Catch::Contains("192.168.253.15"));      // redis-unready annotations
  CHECK_THAT(c.out, !Catch::Contains("cli-token"));
}

TEST_CASE("autodiscd services reports a kubelet that cannot sync, with the 401 hint", "[kubelet][cli]") {
  net::io_context io{1};
  temp_dir dir{"autodiscd-kube-cli"};
  fake_http_server kubelet(io);
  kubelet.require_token("expected");
  write_file(dir.path() / "token", "wrong-token");
  std::filesystem::create_directories(dir.path() / "templates");
  const auto config = (dir.path() / "autodiscd.yaml").string();
  write_file(config, "listeners:\n"
                     "  - type: kubelet\n"
                     "    url: " + kubelet.url() + "\n"
                     "    token_file: " + (dir.path() / "token").string() + "\n"
                     "    poll_interval: 200ms\n"
                     "templates:\n  dirs: [templates]\n"
                     "output:\n  dir: out\n"
                     "status:\n  listen: off\n");
  const auto r = run_autodiscd(io, dir, {"services", "--config", config, "--timeout", "1s"}, {});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("kubelet"));
  CHECK_THAT(r.err, Catch::Contains("401"));
  CHECK_THAT(r.err, Catch::Contains("nodes/proxy"));
  CHECK_THAT(r.err, !Catch::Contains("wrong-token"));
  CHECK(nlohmann::json::parse(r.out) == nlohmann::json::array());
}
