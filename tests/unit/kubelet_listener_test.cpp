// The kubelet listener against a fake kubelet: HTTPS with a test CA, a bearer token, the
// recorded /pods responses, and faults.

#include <catch2/catch.hpp>

#include <ctime>

#include <cstdio>
#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "config/resolver.hpp"
#include "listeners/kubelet/kubelet_listener.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_http_server.hpp"
#include "support/support.hpp"
#include "support/test_certs.hpp"

using namespace autodiscd;
using namespace autodiscd::test;
using namespace std::chrono_literals;

namespace {

const std::string redis_id = "docker://84adac90973fa1263ccf1e296cec72acb4128b6e19fd25bffe4fafb059adafc0";

std::string kubelet_fixture(const std::string& name) { return read_file(fixture("kubelet/" + name)); }

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

/// Replaces a file the way a projected volume does: write aside, rename into place.
void replace_file(const std::filesystem::path& path, const std::string& content) {
  const auto temp = path.string() + ".new";
  write_file(temp, content);
  std::filesystem::rename(temp, path);
}

/// A fake kubelet over HTTPS with a test CA, requiring a bearer token, and a listener on it.
struct kubelet_world {
  net::io_context io{1};
  temp_dir dir{"autodiscd-kubelet"};
  test_certs certs = make_test_certs(dir.path(), "kubelet");
  std::string token_file = (dir.path() / "token").string();
  std::unique_ptr<fake_http_server> server;
  sink_recorder sink;
  std::unique_ptr<kubelet_listener> listener;

  kubelet_world() {
    write_file(token_file, "  secret-1\n");
    fake_server_options o;
    o.tls = true;
    o.cert_file = certs.server_cert_file;
    o.key_file = certs.server_key_file;
    server = std::make_unique<fake_http_server>(io, o);
    server->require_token("secret-1");
    server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_ready.json")));
  }
  ~kubelet_world() {
    if (listener) listener->stop();
    server->stop();
    io.restart();
    io.run_for(50ms);
  }

  kubelet_settings settings() const {
    kubelet_settings s;
    s.name = "kubelet";
    s.url = server->url();
    s.ca_file = certs.ca_file;
    s.token_file = token_file;
    s.poll_interval = 30ms;
    s.timeout = 2s;
    return s;
  }
  void start(kubelet_settings s) {
    listener = std::make_unique<kubelet_listener>(io.get_executor(), std::move(s));
    listener->start(sink);
  }
  void start() { start(settings()); }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    return run_io_until(io, done, limit);
  }
  /// Waits for `n` more successful polls.
  bool more_syncs(int n) {
    const int target = sink.synced + n;
    return run_until([&] { return sink.synced >= target; });
  }
  std::size_t errors_of(std::string_view kind) const {
    return static_cast<std::size_t>(
        std::count_if(sink.errors.begin(), sink.errors.end(), [&](const auto& e) { return e.first == kind; }));
  }
  std::string last_error() const { return sink.errors.empty() ? "" : sink.errors.back().second; }
};

resolution resolve(const service& svc) { return resolve_service(svc, template_index{}, &no_env); }

}  // namespace

TEST_CASE("kubelet listener: HTTPS with a test CA and a bearer token, ready -> not ready -> ready",
          "[kubelet][listener]") {
  kubelet_world w;
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  CHECK(w.sink.errors.empty());
  CHECK(w.sink.services.size() == 10);
  REQUIRE(!w.server->requests().empty());
  CHECK(w.server->requests()[0].authorization == "Bearer secret-1");  // trimmed
  CHECK(w.server->requests()[0].target == "/pods");
  REQUIRE(w.sink.services.contains(redis_id));
  CHECK(resolve(*w.sink.services.at(redis_id)).configs.size() == 1);

  // An unchanged poll reports nothing.
  const auto deltas = w.sink.deltas.size();
  REQUIRE(w.more_syncs(3));
  CHECK(w.sink.deltas.size() == deltas);

  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_not_ready.json")));
  REQUIRE(w.run_until([&] { return !w.sink.services.at(redis_id)->ready; }));
  CHECK(resolve(*w.sink.services.at(redis_id)).configs.empty());
  CHECK(w.sink.deltas.back().changed.size() == 1);
  CHECK(w.sink.services.size() == 10);

  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_ready.json")));
  REQUIRE(w.run_until([&] { return w.sink.services.at(redis_id)->ready; }));
  const auto r = resolve(*w.sink.services.at(redis_id));
  REQUIRE(r.configs.size() == 1);
  CHECK_THAT(r.configs[0].content, Catch::Contains("port: 6379"));
  CHECK(w.sink.errors.empty());
}

/// A PodList with one pod that Succeeded at `finished` (seconds resolution, as the kubelet writes).
std::string finished_pod_list(std::chrono::system_clock::time_point finished) {
  const auto t = std::chrono::system_clock::to_time_t(finished);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char at[32];
  std::strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(R"({"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"job-1","namespace":"default",)"
                     R"("uid":"u-finished"},"spec":{"containers":[{"name":"work","image":"busybox"}]},)"
                     R"("status":{"phase":"Succeeded","podIP":"10.0.0.9","containerStatuses":[{"name":"work",)"
                     R"("containerID":"containerd://0123abcd","ready":false,"state":{"terminated":{"exitCode":0,)"
                     R"("finishedAt":")") +
         at + R"("}}}]}}]})";
}

TEST_CASE("kubelet listener: an unchanged body is not parsed again, and a finished pod in it still expires",
          "[kubelet][listener]") {
  kubelet_world w;
  // Finished at the next whole second (the kubelet writes seconds), expiring 4 s after: the
  // first poll has at least 4 s to see the pod, however slow this machine is right now.
  w.server->set_response("/pods", fake_response::ok(finished_pod_list(std::chrono::system_clock::now() + 1s)));
  auto s = w.settings();
  s.pod_expiration = 4s;
  w.start(s);
  REQUIRE(w.run_until([&] { return w.sink.services.contains("kubernetes_pod://u-finished"); }));
  const auto deltas = w.sink.deltas.size();
  REQUIRE(w.run_until([&] { return w.sink.counts["unchanged_polls"] >= 3; }));
  CHECK(w.sink.deltas.size() == deltas);
  CHECK(w.sink.services.contains("kubernetes_pod://u-finished"));
  // The body never changes, yet the pod expires (at most 5 s from now).
  CHECK(w.run_until([&] { return w.sink.services.empty(); }, 10s));
  CHECK(w.sink.errors.empty());
  // A changed body is parsed at once.
  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_ready.json")));
  CHECK(w.run_until([&] { return w.sink.services.contains(redis_id); }));
}

TEST_CASE("kubelet listener: init container running -> terminated, creating, items null", "[kubelet][listener]") {
  kubelet_world w;
  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_init_container_running.json")));
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  const std::string app_id = "containerd://aa4f77272e3407f4ba15cd14f885d3799f6373e8a2b2ef883f9acfccd3c73ba3";
  const std::string init_id = "containerd://922a2f3f14d1724d7eeb6cad2b5138bcbd85948c802fead1af2a1e5d79807e4e";
  CHECK(w.sink.services.size() == 9);
  CHECK_FALSE(w.sink.services.contains(app_id));

  w.server->set_response("/pods",
                         fake_response::ok(kubelet_fixture("kubelet_podlist_init_container_terminated.json")));
  REQUIRE(w.run_until([&] { return w.sink.services.contains(app_id); }));
  CHECK_FALSE(w.sink.services.contains(init_id));
  CHECK(w.sink.services.at(app_id)->ready);

  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_creating.json")));
  REQUIRE(w.run_until([&] { return w.sink.services.size() == 1; }));
  CHECK(w.sink.services.begin()->first == "kubernetes_pod://a7b2a624-3b27-11eb-bf0e-42010a8400c5");

  // A starting kubelet: no pods, a successful poll: everything goes.
  const int synced = w.sink.synced;
  w.server->set_response("/pods", fake_response::ok(R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":null})"));
  REQUIRE(w.run_until([&] { return w.sink.services.empty(); }));
  CHECK(w.sink.synced > synced);
  CHECK(w.sink.errors.empty());
}

TEST_CASE("kubelet listener: 500s, truncated and malformed bodies and timeouts keep the services",
          "[kubelet][listener]") {
  kubelet_world w;
  auto s = w.settings();
  s.timeout = 300ms;
  w.start(s);
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  const auto before = w.sink.services;
  REQUIRE(before.size() == 10);
  const auto body = kubelet_fixture("kubelet_podlist_container_ready.json");

  SECTION("500") {
    w.server->set_response("/pods", fake_response::status_only(500, "internal error"));
    REQUIRE(w.run_until([&] { return w.errors_of("http_status") >= 3; }));
    CHECK_THAT(w.last_error(), Catch::Contains("500"));
  }
  SECTION("truncated body") {
    w.server->set_response("/pods", fake_response::truncated(body, body.size() / 2));
    REQUIRE(w.run_until([&] { return w.sink.errors.size() >= 3; }));
    for (const auto& [kind, message] : w.sink.errors) CHECK(kind != "parse");  // the client saw the cut
  }
  SECTION("malformed JSON") {
    w.server->set_response("/pods", fake_response::ok(body.substr(0, body.size() / 2)));
    REQUIRE(w.run_until([&] { return w.errors_of("parse") >= 3; }));
    CHECK_THAT(w.last_error(), Catch::Contains("malformed JSON"));
  }
  SECTION("connection reset") {
    w.server->set_response("/pods", fake_response::with(fake_response::action::reset));
    REQUIRE(w.run_until([&] { return w.sink.errors.size() >= 3; }));
  }
  SECTION("silence: timeout") {
    w.server->set_response("/pods", fake_response::with(fake_response::action::silent));
    REQUIRE(w.run_until([&] { return w.errors_of("timeout") >= 2; }));
  }
  CHECK(w.sink.services == before);
  for (const auto& d : w.sink.deltas) CHECK(d.removed.empty());
  CHECK_THAT(w.last_error(), Catch::Contains("keeping the known services"));

  // Recovery: the next good poll syncs without a delta.
  const auto deltas = w.sink.deltas.size();
  w.server->set_response("/pods", fake_response::ok(body));
  REQUIRE(w.more_syncs(1));
  CHECK(w.sink.deltas.size() == deltas);
}

TEST_CASE("kubelet listener: a body over the limit keeps the services", "[kubelet][listener]") {
  kubelet_world w;
  const auto small = kubelet_fixture("kubelet_podlist_container_creating.json");
  const auto large = kubelet_fixture("kubelet_podlist_container_ready.json");
  REQUIRE(small.size() < 8192);
  REQUIRE(large.size() > 8192);
  w.server->set_response("/pods", fake_response::ok(small));
  auto s = w.settings();
  s.body_limit = 8192;
  w.start(s);
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  REQUIRE(w.sink.services.size() == 1);
  w.server->set_response("/pods", fake_response::ok(large));
  REQUIRE(w.run_until([&] { return w.errors_of("body_limit") >= 2; }));
  CHECK(w.sink.services.size() == 1);
  CHECK(w.sink.deltas.size() == 1);
}

TEST_CASE("kubelet listener: token rotation, 401 with a hint, never logging the token", "[kubelet][listener]") {
  kubelet_world w;
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));

  // The kubelet moves to a new token before the file rotates: 401, services kept.
  w.server->require_token("secret-2");
  REQUIRE(w.run_until([&] { return w.errors_of("auth") >= 1; }));
  const auto message = w.last_error();
  CHECK_THAT(message, Catch::Contains("401"));
  CHECK_THAT(message, Catch::Contains(w.token_file));
  CHECK_THAT(message, Catch::Contains("nodes/proxy"));
  CHECK_THAT(message, !Catch::Contains("secret"));
  CHECK(w.sink.services.size() == 10);

  // The file rotates (rename into place, as a projected volume does): the new token is used.
  replace_file(w.token_file, "secret-2\n");
  const auto synced = w.sink.synced;
  REQUIRE(w.run_until([&] { return w.sink.synced > synced; }));
  CHECK(w.server->requests().back().authorization == "Bearer secret-2");
  CHECK(w.sink.services.size() == 10);
  for (const auto& [kind, text] : w.sink.errors) CHECK_THAT(text, !Catch::Contains("secret-"));

  // 403 names the credential too.
  w.server->set_response("/pods", fake_response::status_only(403, "Forbidden (user=system:serviceaccount:x:y, verb=get, resource=nodes, subresource=proxy)"));
  REQUIRE(w.run_until([&] { return w.errors_of("auth") >= 2; }));
  CHECK_THAT(w.last_error(), Catch::Contains("403"));
  CHECK_THAT(w.last_error(), Catch::Contains("get"));
  CHECK_THAT(w.last_error(), Catch::Contains("nodes/proxy"));
}

TEST_CASE("kubelet listener: a missing token file is an error, an empty token_file sends none",
          "[kubelet][listener]") {
  kubelet_world w;
  SECTION("missing") {
    auto s = w.settings();
    s.token_file = (w.dir.path() / "nope").string();
    w.start(s);
    REQUIRE(w.run_until([&] { return w.errors_of("token") >= 1; }));
    CHECK_THAT(w.last_error(), Catch::Contains("nope"));
    CHECK(w.server->requests().empty());
  }
  SECTION("no token") {
    w.server->require_token(std::nullopt);
    auto s = w.settings();
    s.token_file = "";
    w.start(s);
    REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
    CHECK(w.server->requests()[0].authorization.empty());
  }
}

TEST_CASE("kubelet listener: wrong CA is a clear TLS error and keeps the services", "[kubelet][listener]") {
  kubelet_world w;
  w.start();
  REQUIRE(w.run_until([&] { return w.sink.synced >= 1; }));
  const auto before = w.sink.services;

  // The kubelet comes back on the same port with a certificate from another CA.
  const auto port = w.server->port();
  w.server->stop();
  const auto other = make_test_certs(w.dir.path(), "other");
  fake_server_options o;
  o.tls = true;
  o.cert_file = other.server_cert_file;
  o.key_file = other.server_key_file;
  o.port = port;
  w.server = std::make_unique<fake_http_server>(w.io, o);
  w.server->set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_creating.json")));
  REQUIRE(w.run_until([&] { return w.errors_of("tls") >= 2; }));
  const auto message = w.last_error();
  INFO(message);
  CHECK_THAT(message, Catch::Contains(w.certs.ca_file));
  CHECK_THAT(message, Catch::Contains("127.0.0.1"));
  CHECK_THAT(message, Catch::Contains("tls_verify"));
  CHECK(w.sink.services == before);
  CHECK(w.server->requests().empty());

  // With tls_verify off the same server is accepted.
  w.listener->stop();
  auto s = w.settings();
  s.tls_verify = false;
  w.server->require_token("secret-1");
  w.start(s);
  REQUIRE(w.run_until(
      [&] { return w.sink.services.contains("kubernetes_pod://a7b2a624-3b27-11eb-bf0e-42010a8400c5"); }));
}

TEST_CASE("kubelet listener: client certificate, plain http", "[kubelet][listener]") {
  net::io_context io{1};
  temp_dir dir{"autodiscd-kubelet"};
  const auto certs = make_test_certs(dir.path(), "mtls");
  sink_recorder sink;
  SECTION("client certificate required") {
    fake_server_options o;
    o.tls = true;
    o.cert_file = certs.server_cert_file;
    o.key_file = certs.server_key_file;
    o.client_ca_file = certs.ca_file;
    fake_http_server server(io, o);
    server.set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_ready.json")));
    kubelet_settings s;
    s.url = server.url();
    s.ca_file = certs.ca_file;
    s.client_cert = certs.client_cert_file;
    s.client_key = certs.client_key_file;
    s.poll_interval = 50ms;
    kubelet_listener listener(io.get_executor(), s);
    listener.start(sink);
    REQUIRE(run_io_until(io, [&] { return sink.synced >= 1; }, 5s));
    CHECK(server.requests()[0].client_cert_cn == "autodiscd-test-client");
    listener.stop();
  }
  SECTION("plain http when the url says so") {
    fake_http_server server(io);
    server.set_response("/pods", fake_response::ok(kubelet_fixture("kubelet_podlist_container_ready.json")));
    kubelet_settings s;
    s.url = server.url();
    s.poll_interval = 50ms;
    kubelet_listener listener(io.get_executor(), s);
    listener.start(sink);
    REQUIRE(run_io_until(io, [&] { return sink.synced >= 1; }, 5s));
    CHECK(sink.services.size() == 10);
    listener.stop();
  }
  io.restart();
  io.run_for(20ms);
}

TEST_CASE("kubelet listener: no sink call after stop", "[kubelet][listener]") {
  kubelet_world w;
  w.server->set_response("/pods", fake_response::with(fake_response::action::silent));
  w.start();
  REQUIRE(w.run_until([&] { return w.server->requests().size() >= 1; }));
  w.listener->stop();
  const auto calls = w.sink.errors.size() + static_cast<std::size_t>(w.sink.synced) + w.sink.deltas.size();
  w.io.restart();
  w.io.run_for(300ms);
  CHECK(w.sink.errors.size() + static_cast<std::size_t>(w.sink.synced) + w.sink.deltas.size() == calls);
  CHECK(w.server->requests().size() == 1);
}

TEST_CASE("kubelet settings: defaults, KUBELET_HOST, service account files, errors", "[kubelet][config]") {
  auto config_of = [](const std::string& yaml) {
    listener_config c;
    c.type = "kubelet";
    c.name = "kubelet";
    c.file = "autodiscd.yaml";
    c.key_path = "listeners[0]";
    c.node = YAML::Load(yaml);
    return c;
  };
  std::map<std::string, std::string> vars;
  auto env = [&vars](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  bool sa_files = false;
  auto exists = [&sa_files](const std::string&) { return sa_files; };

  config_errors errors;
  auto s = read_kubelet_settings(config_of("{type: kubelet}"), env, exists, errors);
  CHECK(errors.empty());
  CHECK(s.url == "https://localhost:10250");
  CHECK(s.tls_verify);
  CHECK(s.ca_file.empty());
  CHECK(s.token_file.empty());
  CHECK(s.poll_interval == 5s);
  CHECK(s.timeout == 5s);
  CHECK(s.pod_expiration == 15min);

  vars["KUBELET_HOST"] = "10.1.2.3";
  sa_files = true;
  s = read_kubelet_settings(config_of("{type: kubelet}"), env, exists, errors);
  CHECK(s.url == "https://10.1.2.3:10250");
  CHECK(s.ca_file == service_account_ca);
  CHECK(s.token_file == service_account_token);
  vars["KUBELET_HOST"] = "fd00::1";
  CHECK(read_kubelet_settings(config_of("{type: kubelet}"), env, exists, errors).url == "https://[fd00::1]:10250");

  s = read_kubelet_settings(config_of("{type: kubelet, url: 'http://127.0.0.1:10255', token_file: '', poll_interval: 250ms, "
                                      "timeout: 1s, tls_verify: false, pod_expiration: 1m}"),
                            env, exists, errors);
  CHECK(errors.empty());
  CHECK(s.url == "http://127.0.0.1:10255");
  CHECK(s.token_file.empty());
  CHECK(s.poll_interval == 250ms);
  CHECK_FALSE(s.tls_verify);

  read_kubelet_settings(config_of("{type: kubelet, url: 'ftp://x', client_cert: /a.pem, poll_interval: 0s, tokenfile: x}"),
                        env, exists, errors);
  const auto text = to_string(errors);
  CHECK_THAT(text, Catch::Contains("listeners[0].url"));
  CHECK_THAT(text, Catch::Contains("client_key"));
  CHECK_THAT(text, Catch::Contains("poll_interval"));
  CHECK_THAT(text, Catch::Contains("tokenfile"));
}

TEST_CASE("kubelet error hints", "[kubelet]") {
  kubelet_settings s;
  s.url = "https://10.0.0.1:10250";
  s.ca_file = "/ca.pem";
  s.token_file = "/token";
  CHECK_THAT(kubelet_error_hint(s, "tls", 0, true), Catch::Contains("/ca.pem"));
  CHECK_THAT(kubelet_error_hint(s, "tls", 0, true), Catch::Contains("10.0.0.1"));
  CHECK_THAT(kubelet_error_hint(s, "auth", 401, true), Catch::Contains("bearer token from /token"));
  CHECK_THAT(kubelet_error_hint(s, "auth", 403, false), Catch::Contains("no bearer token"));
  CHECK_THAT(kubelet_error_hint(s, "auth", 403, false), Catch::Contains("`get` on `nodes/proxy`"));
  CHECK(kubelet_error_hint(s, "timeout", 0, true).empty());
  CHECK(trim_token(" \n\tabc.def \r\n") == "abc.def");
  CHECK(trim_token(" \n").empty());
}
