#include "listeners/docker/docker_config.hpp"

#include <filesystem>

#include "config/yaml_reader.hpp"
#include "listeners/docker/docker_mapping.hpp"

namespace autodiscd::docker {

docker_settings read_docker_settings(const listener_config& config, const env_lookup& env, config_errors& errors) {
  docker_settings s;
  s.name = config.name.empty() ? "docker" : config.name;
  yaml_reader r(config.node, config.file, config.key_path, errors);
  r.allow("type");
  r.allow("name");
  auto from_env = [&env](const char* var) -> std::string {
    auto v = env ? env(var) : std::nullopt;
    return v ? *v : std::string();
  };

  std::string host = r.string("host", from_env("DOCKER_HOST"));
  if (host.empty()) host = "unix:///var/run/docker.sock";
  const std::string env_verify = from_env("DOCKER_TLS_VERIFY");
  // As the docker CLI: any non-empty DOCKER_TLS_VERIFY turns verification on.
  bool tls_verify = r.boolean("tls_verify", !env_verify.empty());
  std::string cert_path = r.string("cert_path", from_env("DOCKER_CERT_PATH"));
  if (cert_path.empty()) {
    auto home = from_env("HOME");
    cert_path = (home.empty() ? std::string("/root") : home) + "/.docker";
  }
  s.timeout = r.duration("timeout", s.timeout);
  if (s.timeout.count() <= 0) r.error("timeout", "must be greater than 0");
  s.inspect_concurrency = static_cast<int>(r.integer("inspect_concurrency", s.inspect_concurrency, 1, 64));
  s.removal_grace = r.duration("removal_grace", s.removal_grace);
  s.wait_for_healthy = r.boolean("wait_for_healthy", false);
  s.include = r.string_list("include");
  s.exclude = r.string_list("exclude");
  s.exclude_pause_containers = r.boolean("exclude_pause_containers", true);
  s.backoff_initial = r.duration("backoff_initial", s.backoff_initial);
  s.backoff_max = r.duration("backoff_max", s.backoff_max);
  if (s.backoff_initial.count() <= 0) r.error("backoff_initial", "must be greater than 0");
  if (s.backoff_max < s.backoff_initial) r.error("backoff_max", "must not be smaller than backoff_initial");
  s.optional = r.boolean("optional", false);
  r.finish();

  // tcp://host without a port: the docker CLI's defaults.
  if (host.rfind("tcp://", 0) == 0) {
    auto authority = host.substr(6);
    authority = authority.substr(0, authority.find('/'));
    bool has_port = authority.find(':') != std::string::npos &&
                    (authority.front() != '[' || authority.find("]:") != std::string::npos);
    if (!has_port) {
      auto slash = host.find('/', 6);
      host.insert(slash == std::string::npos ? host.size() : slash, tls_verify ? ":2376" : ":2375");
    }
  }
  std::string parse_error;
  auto ep = parse_http_endpoint(host, parse_error);
  if (!ep) {
    errors.push_back({config.file, r.path("host"), parse_error});
  } else {
    if (tls_verify) {
      if (ep->transport == http_endpoint::transport_kind::unix_socket) {
        errors.push_back({config.file, r.path("tls_verify"), "TLS needs a tcp:// host, not a unix socket"});
      }
      namespace fs = std::filesystem;
      ep->tls.enabled = true;
      ep->tls.verify = true;
      ep->tls.ca_file = (fs::path(cert_path) / "ca.pem").string();
      auto cert = fs::path(cert_path) / "cert.pem";
      auto key = fs::path(cert_path) / "key.pem";
      std::error_code ec;
      if (fs::exists(cert, ec) && fs::exists(key, ec)) {
        ep->tls.cert_file = cert.string();
        ep->tls.key_file = key.string();
      }
    }
    if (s.optional && ep->transport != http_endpoint::transport_kind::unix_socket) {
      errors.push_back({config.file, r.path("optional"),
                        "only a unix socket host can be optional (its absence is what says no engine runs here)"});
    }
    s.endpoint = std::move(*ep);
  }

  std::vector<std::string> filter_errors;
  container_filter check(s.include, s.exclude, s.exclude_pause_containers, filter_errors);
  for (auto& e : filter_errors) errors.push_back({config.file, config.key_path + "." + e.substr(0, e.find(':')), e.substr(e.find(':') + 2)});
  return s;
}

}  // namespace autodiscd::docker
