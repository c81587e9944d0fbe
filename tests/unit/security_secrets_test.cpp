// Security: a secret (an env value a template pulls in with %%env_X%%) never appears in the
// daemon's log, even at debug level and when the config using it is rejected, nor in the
// status server's /services, /healthz, /readyz and /metrics. It does appear in the written
// check config: that is where the monitoring agent needs it.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/status_server.hpp"
#include "support/ops_process.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* secret = "s3cr3t-Pa55w0rd-7f0c2a91";

}  // namespace

TEST_CASE("security: an env secret never appears in logs or status output (/services, /healthz, /metrics)",
          "[security][secrets]") {
  const auto listen = "127.0.0.1:" + std::to_string(test::free_port());
  test::ops_setup s(listen, "log:\n  level: debug\n");
  // One template uses the secret and resolves; one uses it and is rejected (unknown
  // variable after it); one puts it in a file_sd label.
  fs::create_directories(s.templates + "/secretive.d");
  test::write_file(s.templates + "/secretive.d/conf.yaml",
                   "ad_identifiers: [redis]\ninstances:\n  - host: \"%%host%%\"\n    password: \"%%env_AUTODISCD_TEST_SECRET%%\"\n");
  fs::create_directories(s.templates + "/rejected.d");
  test::write_file(s.templates + "/rejected.d/conf.yaml",
                   "ad_identifiers: [redis]\ninstances:\n  - password: \"%%env_AUTODISCD_TEST_SECRET%%\"\n"
                   "    url: \"http://%%host%%:%%port_7%%/%%env_AUTODISCD_TEST_SECRET%%\"\n");
  fs::create_directories(s.templates + "/sd.d");
  test::write_file(s.templates + "/sd.d/conf.yaml",
                   "ad_identifiers: [redis]\nfile_sd:\n  targets: [\"%%host%%:6379\"]\n"
                   "  labels: {auth: \"%%env_AUTODISCD_TEST_SECRET%%\"}\n");
  s.write_services(test::ops_setup::service_yaml("svc-1", "10.0.0.1"));
  const auto log_file = s.dir.str() + "/daemon.log";
  test::child_process d({test::autodiscd_binary(), "run", "--config", s.config, "--log-level", "debug"}, log_file,
                        {{"AUTODISCD_TEST_SECRET", secret}});
  REQUIRE(test::eventually([&] { return fetch_status(listen, "/readyz", 1s).status == 200; }, 10s));
  REQUIRE(test::eventually([&] { return fs::exists(s.out + "/secretive.d/svc-1.yaml"); }, 5s));
  // The secret reaches the agent's config (and only the files).
  CHECK(test::read_file(s.out + "/secretive.d/svc-1.yaml").find(secret) != std::string::npos);
  // The status server shows the config's content with the secret masked.
  for (const auto* target : {"/configs", "/status"}) {
    const auto r = fetch_status(listen, target, 2s);
    INFO(target << " -> " << r.status << " " << r.error << " " << r.body);
    CHECK(r.status == 200);
    CHECK(r.body.find("secretive.d/svc-1.yaml") != std::string::npos);
    CHECK(r.body.find("********") != std::string::npos);
    CHECK(r.body.find(secret) == std::string::npos);
  }
  CHECK_FALSE(fs::exists(s.out + "/rejected.d/svc-1.yaml"));
  // A change, a removal and a reload: more log lines, still no secret.
  s.write_services(test::ops_setup::service_yaml("svc-1", "10.0.0.2"));
  REQUIRE(test::eventually([&] {
    return test::read_file(s.out + "/secretive.d/svc-1.yaml").find("10.0.0.2") != std::string::npos;
  }, 5s));
  d.signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  s.write_services("[]\n");
  REQUIRE(test::eventually([&] { return !fs::exists(s.out + "/secretive.d/svc-1.yaml"); }, 5s));
  for (const auto* target : {"/services", "/healthz", "/readyz", "/metrics"}) {
    const auto r = fetch_status(listen, target, 2s);
    INFO(target << " -> " << r.status << " " << r.error);
    CHECK(r.status != 0);
    CHECK(r.body.find(secret) == std::string::npos);
  }
  d.signal(SIGTERM);
  CHECK(d.wait(10s) == 0);
  const auto log = test::read_file(log_file);
  CHECK(log.find("rejected") != std::string::npos);  // the rejection was logged...
  CHECK(log.find("%%port_7%%") != std::string::npos);  // ...with its reason
  CHECK(log.find(secret) == std::string::npos);       // ...but not the secret
}
