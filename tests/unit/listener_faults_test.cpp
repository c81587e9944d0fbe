// Faults on the kubelet and ECS fakes, through the whole daemon (app: listener -> resolver ->
// writer -> output folder), one table row per (listener, fault). Each row runs the same
// script (run_fault_case):
//   good poll: the output folder equals the truth of the first document;
//   the fault for at least two polls: the services view is unchanged, the output folder is
//     byte-, inode- and mtime-identical (hidden journal and folders included), nothing was
//     written or removed, the error is counted under its kind (app state and /metrics), and
//     /healthz would turn 503 naming the kind once the error outlasts `unhealthy_after`;
//   heal, and a good poll of a changed document: the output equals the truth of the changed
//     document within two polls, the listener is synced again, /healthz 200;
//   the bearer tokens never appear in the log, /metrics or the status routes.
// The truth is computed from the served document with the pure parser and resolver, so a
// recovery that kept stale files or lost tags shows as a difference.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "config/daemon_config.hpp"
#include "config/resolver.hpp"
#include "config/template_loader.hpp"
#include "daemon/app.hpp"
#include "daemon/metrics.hpp"
#include "daemon/status_routes.hpp"
#include "listeners/ecs/ecs_task.hpp"
#include "listeners/kubelet/kubelet_pods.hpp"
#include "listeners/log.hpp"
#include "support/fake_engine.hpp"
#include "support/fake_http_server.hpp"
#include "support/support.hpp"
#include "support/test_certs.hpp"

using namespace autodiscd;
using namespace autodiscd::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

enum class source { kubelet, ecs };

enum class fault {
  http_500,
  http_503,
  hang,             ///< read the request, never answer: the client's timeout fires
  stall_mid_body,   ///< Content-Length of the whole body, half sent, then nothing
  closed_mid_body,  ///< Content-Length of the whole body, half sent, FIN
  reset_mid_body,   ///< Content-Length of the whole body, half sent, RST
  truncated_json,   ///< a complete 200 whose body is the first half of the document
  malformed_json,   ///< a complete 200 with a syntax error at the start
  wrong_shape,      ///< valid JSON that is not a PodList / task
  oversize,         ///< the document padded past body_limit
  wrong_ca,         ///< the server's certificate is signed by another CA (kubelet: https)
  token_expired,    ///< the kubelet wants a newer token than the file holds: 401
  forbidden,        ///< 403 (RBAC)
};

struct fault_row {
  fault what;
  const char* name;
  const char* kind;  ///< the error kind counted (listener_errors_total{kind=...})
  bool kubelet_only;
};

constexpr std::chrono::milliseconds poll_interval{20};
constexpr std::chrono::milliseconds poll_timeout{300};  // a poll takes a few ms, also under ASan
constexpr std::size_t body_limit = 256u << 10;
constexpr std::chrono::milliseconds wait_limit{5000};

const std::string token_1 = "lfaults-token-one-4f1c9e";
const std::string token_2 = "lfaults-token-two-8b27d0";

/// Captures everything every logger writes (debug and up) while it lives.
class log_capture {
 public:
  log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    // apply_all holds the registry's lock: no spdlog:: registry call inside it.
    const auto root = spdlog::default_logger();
    level_ = root->level();
    root->sinks().push_back(sink_);
    root->set_level(spdlog::level::debug);
    spdlog::apply_all([this, &root](const std::shared_ptr<spdlog::logger>& l) {
      if (l != root) l->sinks().push_back(sink_);
      l->set_level(spdlog::level::debug);
    });
  }
  ~log_capture() {
    auto forget = [this](const std::shared_ptr<spdlog::logger>& l) {
      auto& sinks = l->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
      l->set_level(level_);
    };
    forget(spdlog::default_logger());
    spdlog::apply_all(forget);
  }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum level_ = spdlog::level::info;
};

/// Sets an environment variable for the object's lifetime.
class scoped_env {
 public:
  scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// Every entry under `dir` (hidden files and folders included): inode, mtime, size and,
/// for files, the bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  auto record = [&out](const fs::path& path, const std::string& key) {
    struct ::stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    std::string entry = std::to_string(st.st_ino) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                        std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_size);
    if (S_ISREG(st.st_mode)) entry += "\n" + read_file(path);
    out[key] = entry;
  };
  record(dir, ".");
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    record(e.path(), fs::relative(e.path(), dir).string());
  }
  return out;
}

/// The config files a consumer sees (not hidden): relative path -> bytes.
std::map<std::string, std::string> visible_files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename().string().starts_with(".")) continue;
    out[fs::relative(e.path(), dir).string()] = read_file(e.path());
  }
  return out;
}

/// The value of a metrics sample line `<name>{<labels>} <value>`, -1 when absent.
double metric(const std::string& text, const std::string& name_and_labels) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name_and_labels + " ")) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

/// Documents a fake serves: the first good one, the changed one, and what the fake
/// answers on paths it does not fault.
struct documents {
  std::string first;    ///< the document of the first good polls
  std::string changed;  ///< the document served once the fault is healed
  std::string not_a_document;
};

std::string kubelet_doc(const std::string& redis_ip) {
  auto doc = nlohmann::json::parse(read_file(fixture("kubelet/kubelet_podlist_container_ready.json")));
  for (auto& pod : doc["items"]) {
    if (pod["metadata"]["name"].get<std::string>().starts_with("redis")) pod["status"]["podIP"] = redis_ip;
  }
  return doc.dump(2);
}

/// The v4 taskWithTags document (`with_tags`) or the /task one.
std::string ecs_doc(const std::string& team, bool with_tags) {
  auto doc = nlohmann::json::parse(read_file(fixture("ecs/ecs_v4_task_fargate_redis.json")));
  if (with_tags) doc["TaskTags"] = {{"team", team}};
  return doc.dump(2);
}

/// One daemon (app) with one listener on a fake, in a fresh folder.
struct fault_world {
  explicit fault_world(source which) : listener(which) {
    templates = dir.str() + "/templates";
    out = dir.str() + "/out";
    fs::create_directories(templates + "/redisdb.d");
    fs::copy_file(fixture("auto_conf/redisdb.d/auto_conf.yaml"), templates + "/redisdb.d/auto_conf.yaml");
    // One more config per listener, from a container that does not change.
    write_file(templates + "/coredns.yaml",
               "ad_identifiers: [coredns]\ninstances:\n  - prometheus_url: http://%%host%%:9153/metrics\n");
    write_file(templates + "/fluentbit.yaml",
               "ad_identifiers: [aws-for-fluent-bit]\ninstances:\n  - metrics_endpoint: http://%%host%%:2020/api/v1/metrics\n");

    std::string listener_yaml;
    if (listener == source::kubelet) {
      certs = make_test_certs(dir.path(), "good");
      token_file = dir.str() + "/token";
      write_file(token_file, token_1 + "\n");
      fake_server_options o;
      o.tls = true;
      o.cert_file = certs.server_cert_file;
      o.key_file = certs.server_key_file;
      server = std::make_unique<fake_http_server>(io, o);
      server->require_token(token_1);
      paths = {"/pods"};
      listener_yaml = "  - type: kubelet\n    url: " + server->url() + "\n    ca_file: " + certs.ca_file +
                      "\n    token_file: " + token_file + "\n";
    } else {
      server = std::make_unique<fake_http_server>(io);
      ecs_base = server->url() + "/v4/lfaults";
      ecs_env.emplace("ECS_CONTAINER_METADATA_URI_V4", ecs_base);
      paths = {"/v4/lfaults/taskWithTags", "/v4/lfaults/task"};
      listener_yaml = "  - type: ecs\n";
    }
    listener_yaml += "    poll_interval: " + std::to_string(poll_interval.count()) + "ms\n    timeout: " +
                     std::to_string(poll_timeout.count()) + "ms\n    body_limit: " + std::to_string(body_limit) + "\n";
    serve_good(false);

    const auto config_file = dir.str() + "/autodiscd.yaml";
    write_file(config_file, "listeners:\n" + listener_yaml +
                                "templates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: \"off\"\n");
    daemon_config config;
    const auto errors = load_daemon_config(config_file, config);
    INFO(to_string(errors));
    REQUIRE(errors.empty());
    name = config.listeners.at(0).name;
    type = config.listeners.at(0).type;
    daemon = std::make_unique<app>(io, config, true);
    daemon->on_files_changed = [this](const std::vector<std::string>& changed) { files_changed += changed.size(); };
  }

  ~fault_world() {
    daemon->stop();
    server->stop();
    io.restart();
    io.run_for(50ms);
  }

  fault_world(const fault_world&) = delete;
  fault_world& operator=(const fault_world&) = delete;

  documents docs() const {
    if (listener == source::kubelet) {
      return {kubelet_doc("192.168.253.2"), kubelet_doc("192.168.253.99"),
              R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no pods","code":500})"};
    }
    return {ecs_doc("storage", true), ecs_doc("search", true), R"({"Message":"task metadata not available"})"};
  }

  /// Good answers on every path: the first or the changed document.
  void serve_good(bool changed) {
    const auto d = docs();
    if (listener == source::kubelet) {
      server->set_response("/pods", fake_response::ok(changed ? d.changed : d.first));
    } else {
      const auto team = changed ? "search" : "storage";
      server->set_response("/v4/lfaults/taskWithTags", fake_response::ok(ecs_doc(team, true)));
      server->set_response("/v4/lfaults/task", fake_response::ok(ecs_doc(team, false)));
    }
  }

  /// The files a fresh daemon writes for `document` (pure parser and resolver).
  std::map<std::string, std::string> truth(const std::string& document) const {
    service_map services;
    if (listener == source::kubelet) {
      kubelet_pod_options options;
      options.listener_name = name;
      REQUIRE_FALSE(parse_pod_list(document, options, services).has_value());
    } else {
      ecs_task_options options;
      options.listener_name = name;
      options.version = ecs_metadata_version::v4;
      ecs_task_result task;
      REQUIRE_FALSE(parse_ecs_task(document, options, task).has_value());
      services = std::move(task.services);
    }
    const template_index index(load_templates({templates}).templates);
    std::map<std::string, std::string> files;
    for (const auto& [id, svc] : services) {
      for (const auto& c : resolve_service(*svc, index, process_environment()).configs) files[c.relative_path] = c.content;
    }
    return files;
  }

  const listener_state& state() const { return daemon->listener_states().at(0); }
  std::uint64_t errors_of(const std::string& kind) const {
    const auto it = state().errors_by_kind.find(kind);
    return it == state().errors_by_kind.end() ? 0 : it->second;
  }
  std::uint64_t polls() const {
    const auto it = state().counters.find("polls");
    return it == state().counters.end() ? 0 : it->second;
  }
  std::string route(std::string_view path, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const {
    return handle_status_request(*daemon, "GET", path, now).body;
  }
  unsigned route_status(std::string_view path, std::chrono::steady_clock::time_point now) const {
    return handle_status_request(*daemon, "GET", path, now).status;
  }
  std::string labels() const { return "listener=\"" + name + "\",type=\"" + type + "\""; }
  bool run_until(const std::function<bool()>& done) { return run_io_until(io, done, wait_limit); }

  void inject(fault what) {
    const auto d = docs();
    fake_response r;
    switch (what) {
      case fault::http_500: r = fake_response::status_only(500, "internal error"); break;
      case fault::http_503: r = fake_response::status_only(503, "service unavailable"); break;
      case fault::hang: r = fake_response::with(fake_response::action::silent); break;
      case fault::stall_mid_body: r = fake_response::stall_mid_body(d.first, d.first.size() / 2); break;
      case fault::closed_mid_body: r = fake_response::truncated(d.first, d.first.size() / 2); break;
      case fault::reset_mid_body: r = fake_response::reset_mid_body(d.first, d.first.size() / 2); break;
      case fault::truncated_json: r = fake_response::ok(d.first.substr(0, d.first.size() / 2)); break;
      case fault::malformed_json: {
        std::string body = d.first;
        body[body.find('{')] = '[';
        r = fake_response::ok(body);
        break;
      }
      case fault::wrong_shape: r = fake_response::ok(d.not_a_document); break;
      case fault::oversize: r = fake_response::ok(d.first + std::string(body_limit, ' ')); break;
      case fault::wrong_ca: {
        other_certs = make_test_certs(dir.path(), "other");
        server->set_certificate(other_certs.server_cert_file, other_certs.server_key_file);
        return;
      }
      case fault::token_expired: server->require_token(token_2); return;
      case fault::forbidden:
        r = fake_response::status_only(
            403, "Forbidden (user=system:serviceaccount:default:autodiscd, verb=get, resource=nodes, subresource=proxy)");
        break;
    }
    for (const auto& p : paths) server->set_response(p, r);
  }

  /// Ends the fault and serves the changed document.
  void heal(fault what) {
    if (what == fault::wrong_ca) server->set_certificate(certs.server_cert_file, certs.server_key_file);
    if (what == fault::token_expired) {
      // The file rotates the way a projected volume does: written aside, renamed into place.
      write_file(token_file + ".new", token_2 + "\n");
      fs::rename(token_file + ".new", token_file);
    }
    serve_good(true);
  }

  log_capture logs;  ///< first: outlives the daemon's last words
  source listener;
  net::io_context io{1};
  temp_dir dir{"autodiscd-lfaults"};
  std::string templates;
  std::string out;
  test_certs certs;
  test_certs other_certs;
  std::string token_file;
  std::string ecs_base;
  std::optional<scoped_env> ecs_env;
  std::unique_ptr<fake_http_server> server;
  std::vector<std::string> paths;  ///< the paths the listener polls
  std::string name;
  std::string type;
  std::unique_ptr<app> daemon;
  std::size_t files_changed = 0;
};

/// The script every row runs (see the top of the file).
void run_fault_case(source listener, const fault_row& row) {
  fault_world w(listener);
  const auto docs = w.docs();
  const auto truth_first = w.truth(docs.first);
  const auto truth_changed = w.truth(docs.changed);
  REQUIRE(truth_first.size() >= 2);
  REQUIRE(truth_first != truth_changed);  // else recovery would be invisible

  // Good poll: the output is the truth.
  REQUIRE_FALSE(w.daemon->start().has_value());
  REQUIRE(w.run_until([&] { return w.daemon->ready(); }));
  REQUIRE(visible_files(w.out) == truth_first);
  const auto services_before = w.route("/services");
  const auto count_before = w.daemon->services().size();
  REQUIRE(count_before > 0);
  const auto before = snapshot(w.out);
  const auto writes = w.daemon->totals().writes;
  const auto files_changed = w.files_changed;
  const auto errors_before = w.errors_of(row.kind);
  const auto polls_before = w.polls();

  // The fault, for at least two polls.
  w.inject(row.what);
  const bool counted = w.run_until([&] { return w.errors_of(row.kind) >= errors_before + 2; });
  INFO("error kinds: " << nlohmann::json(w.state().errors_by_kind).dump() << "; last error: " << w.state().last_error);
  REQUIRE(counted);
  CHECK(w.polls() >= polls_before + 2);
  for (const auto& [kind, n] : w.state().errors_by_kind) CHECK(kind == row.kind);  // no other kind
  CHECK(w.state().last_error_kind == row.kind);
  CHECK_THAT(w.state().last_error, Catch::Contains("keeping the known services"));
  // Services kept, nothing written.
  CHECK(w.route("/services") == services_before);
  CHECK(w.daemon->services().size() == count_before);
  CHECK(w.state().services == count_before);
  CHECK(snapshot(w.out) == before);
  CHECK(w.files_changed == files_changed);
  CHECK(w.daemon->totals().writes.written == writes.written);
  CHECK(w.daemon->totals().writes.removed == writes.removed);
  CHECK(w.daemon->totals().writes.failed == writes.failed);
  // Counted and reported.
  const auto metrics = render_metrics(*w.daemon);
  CHECK(metric(metrics, "autodiscd_listener_errors_total{" + w.labels() + ",kind=\"" + row.kind + "\"}") >=
        static_cast<double>(errors_before + 2));
  CHECK(metric(metrics, "autodiscd_listener_synced{" + w.labels() + "}") == 0);
  CHECK(metric(metrics, "autodiscd_services{" + w.labels() + "}") == static_cast<double>(count_before));
  const auto later = std::chrono::steady_clock::now() + unhealthy_after + 1s;
  CHECK(w.route_status("/healthz", std::chrono::steady_clock::now()) == 200);
  CHECK(w.route_status("/healthz", later) == 503);
  CHECK_THAT(w.route("/healthz", later), Catch::Contains(std::string("(") + row.kind + ")"));
  CHECK(w.route_status("/readyz", std::chrono::steady_clock::now()) == 200);

  // Heal, with a change: the output is the new truth within two polls.
  w.heal(row.what);
  const auto polls_healed = w.polls();
  const bool recovered = w.run_until([&] { return visible_files(w.out) == truth_changed && w.state().last_error_kind.empty(); });
  INFO("last error: " << w.state().last_error);
  CHECK(recovered);
  CHECK(visible_files(w.out) == truth_changed);
  CHECK(w.polls() <= polls_healed + 2);
  CHECK(metric(render_metrics(*w.daemon), "autodiscd_listener_synced{" + w.labels() + "}") == 1);
  CHECK(w.route_status("/healthz", later) == 200);

  // No token anywhere people look.
  for (const auto& text : {w.logs.text(), render_metrics(*w.daemon), w.route("/status"), w.route("/services"),
                           w.route("/healthz", later)}) {
    CHECK_THAT(text, !Catch::Contains(token_1) && !Catch::Contains(token_2));
  }
}

/// The table: every fault, for both listeners unless `kubelet_only` (the ECS metadata
/// endpoint is plain HTTP without credentials).
constexpr fault_row rows[] = {
    {fault::http_500, "HTTP 500", "http_status", false},
    {fault::http_503, "HTTP 503", "http_status", false},
    {fault::hang, "hang past the timeout", "timeout", false},
    {fault::stall_mid_body, "stall mid-body past the timeout", "timeout", false},
    {fault::closed_mid_body, "connection closed mid-body", "closed", false},
    {fault::reset_mid_body, "connection reset mid-body", "closed", false},
    {fault::truncated_json, "truncated JSON", "parse", false},
    {fault::malformed_json, "malformed JSON", "parse", false},
    {fault::wrong_shape, "valid JSON, not a PodList / task", "parse", false},
    {fault::oversize, "body over body_limit", "body_limit", false},
    {fault::wrong_ca, "certificate from another CA", "tls", true},
    {fault::token_expired, "expired token: 401", "auth", true},
    {fault::forbidden, "403", "auth", true},
};

}  // namespace

TEST_CASE("listener faults: kubelet fake, through the daemon", "[listener_faults][kubelet][fault]") {
  for (const auto& row : rows) {
    DYNAMIC_SECTION("kubelet: " << row.name) { run_fault_case(source::kubelet, row); }
  }
}

TEST_CASE("listener faults: ECS fake (v4, taskWithTags), through the daemon", "[listener_faults][ecs][fault]") {
  for (const auto& row : rows) {
    if (row.kubelet_only) continue;
    DYNAMIC_SECTION("ecs: " << row.name) { run_fault_case(source::ecs, row); }
  }
}
