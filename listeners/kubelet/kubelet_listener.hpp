#pragma once
// The kubelet listener: polls the kubelet's /pods (it has no watch) and reports the
// containers and pods of this node as services.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "config/template_vars.hpp"
#include "listeners/listener.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// The service account files a pod gets.
inline constexpr const char* service_account_ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
inline constexpr const char* service_account_token = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Settings of one kubelet listener (config keys in parentheses).
struct kubelet_settings {
  std::string name = "kubelet";
  /// (url) `https://${KUBELET_HOST}:10250`, `localhost` when KUBELET_HOST is unset. Plain
  /// HTTP (read-only port 10255) only when the url says http.
  std::string url;
  /// (tls_verify) Verify the kubelet's certificate chain and name.
  bool tls_verify = true;
  /// (ca_file) CA bundle; "" = the system's CAs. Default: the service-account CA when it exists.
  std::string ca_file;
  /// (client_cert, client_key) Client certificate, both or neither.
  std::string client_cert;
  std::string client_key;
  /// (token_file) Bearer token file, re-read when it changes; "" = no token. Default: the
  /// service-account token when it exists.
  std::string token_file;
  /// (poll_interval) Time between two polls.
  std::chrono::milliseconds poll_interval{5000};
  /// (timeout) Whole request: connect, TLS, response.
  std::chrono::milliseconds timeout{5000};
  /// (pod_expiration) Finished pods older than this are dropped.
  std::chrono::milliseconds pod_expiration = std::chrono::minutes(15);
  /// (body_limit) Largest accepted /pods body, bytes.
  std::size_t body_limit = 64u << 20;
};

/// Reads a listener's config into settings; appends every error (file, key path, reason).
/// `env` gives KUBELET_HOST; `file_exists` decides the service-account defaults. Pure given
/// those two.
kubelet_settings read_kubelet_settings(const listener_config& config, const env_lookup& env,
                                       const std::function<bool(const std::string&)>& file_exists,
                                       config_errors& errors);

/// Trims the whitespace around a token file's content.
std::string trim_token(std::string_view text);

/// Adds what to check to a failure's message: CA and name for TLS failures; the credential
/// used and the `get nodes/proxy` RBAC need for 401/403. Never includes the token. Pure.
std::string kubelet_error_hint(const kubelet_settings& settings, const std::string& kind, int status,
                               bool sent_token);

class kubelet_listener : public listener {
 public:
  kubelet_listener(net::any_io_executor executor, kubelet_settings settings);
  ~kubelet_listener() override;
  void start(service_sink& sink) override;
  void stop() override;

  static void validate(const listener_config& config, config_errors& errors);
  static std::unique_ptr<listener> create(net::any_io_executor executor, const listener_config& config);

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace autodiscd
