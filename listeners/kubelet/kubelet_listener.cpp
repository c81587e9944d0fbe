#include "listeners/kubelet/kubelet_listener.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "config/yaml_reader.hpp"
#include "listeners/http/http_client.hpp"
#include "listeners/kubelet/kubelet_pods.hpp"
#include "listeners/log.hpp"
#include "listeners/poller.hpp"

namespace autodiscd {
namespace {

/// A token file, re-read only when it changes (bound tokens rotate; a projected volume swaps
/// a symlink, which changes the inode seen through it).
class token_file_cache {
 public:
  /// The trimmed token, or nullopt with `error` set. Never puts the token in `error`.
  std::optional<std::string> get(const std::string& path, std::string& error) {
    struct ::stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      error = "cannot read token_file " + path + ": " + std::strerror(errno);
      return std::nullopt;
    }
    const identity id{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    if (loaded_ && id == id_) return token_;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      // An empty file makes operator<< fail too; that is an empty token, not an error.
      if (!in.is_open()) {
        error = "cannot read token_file " + path;
        return std::nullopt;
      }
    }
    token_ = trim_token(text.str());
    id_ = id;
    loaded_ = true;
    ++reads_;
    return token_;
  }
  std::size_t reads() const { return reads_; }

 private:
  struct identity {
    dev_t dev;
    ino_t ino;
    off_t size;
    time_t sec;
    long nsec;
    friend bool operator==(const identity&, const identity&) = default;
  };
  identity id_{};
  bool loaded_ = false;
  std::string token_;
  std::size_t reads_ = 0;
};

bool regular_file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

struct kubelet_listener::state : poller_core {
  state(net::any_io_executor ex, kubelet_settings s, http_client c)
      : poller_core(std::move(ex), s.name, s.poll_interval, std::move(c)), settings(std::move(s)) {}
  kubelet_settings settings;
  token_file_cache tokens;

  void report_error(const std::string& kind, const std::string& message) {
    if (sink) sink->on_error(settings.name, kind, message + " (keeping the known services)");
  }
};

namespace {

net::awaitable<void> poll_once(std::shared_ptr<kubelet_listener::state> s) {
  s->sink->on_count(s->settings.name, "polls");
  http_request req;
  req.target = "/pods";
  req.timeout = s->settings.timeout;
  req.body_limit = s->settings.body_limit;
  req.headers.emplace_back("Accept", "application/json");
  bool sent_token = false;
  if (!s->settings.token_file.empty()) {
    std::string error;
    const auto token = s->tokens.get(s->settings.token_file, error);
    if (!token) {
      s->report_error("token", error);
      co_return;
    }
    if (!token->empty()) {
      req.headers.emplace_back("Authorization", "Bearer " + *token);
      sent_token = true;
    }
  }
  auto call = s->client.request(std::move(req));
  const http_result result = co_await std::move(call);
  if (s->stopped || !s->sink) co_return;
  if (!result.ok()) {
    const int status = result.response ? result.response->status : 0;
    const std::string kind =
        result.error.kind == "http_status" && (status == 401 || status == 403) ? "auth" : result.error.kind;
    s->report_error(kind, "GET " + s->client.endpoint().describe() + "/pods: " + result.error.message +
                              kubelet_error_hint(s->settings, kind, status, sent_token));
    co_return;
  }
  // A node's /pods is byte-identical from poll to poll until something changes: the same
  // body is not parsed, diffed or resolved again (until a finished pod in it expires).
  const auto body = fingerprint(result.response->body);
  const auto now = std::chrono::system_clock::now();
  if (s->last_body.unchanged(body, now)) {
    s->report_unchanged();
    co_return;
  }
  std::optional<std::chrono::system_clock::time_point> expires;
  kubelet_pod_options options;
  options.listener_name = s->settings.name;
  options.pod_expiration = s->settings.pod_expiration;
  options.now = now;
  options.next_expiry = &expires;
  service_map next;
  if (auto error = parse_pod_list(result.response->body, options, next)) {
    s->report_error("parse", "GET " + s->client.endpoint().describe() + "/pods: " + *error);
    co_return;
  }
  s->last_body.remember(body, expires);
  s->report(std::move(next));
}


}  // namespace

std::string trim_token(std::string_view text) {
  constexpr std::string_view space = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(space);
  return std::string(text.substr(first, last - first + 1));
}

std::string kubelet_error_hint(const kubelet_settings& settings, const std::string& kind, int status,
                               bool sent_token) {
  if (kind == "tls") {
    if (!settings.tls_verify) return "";
    return " (hint: the kubelet's certificate must be signed by " +
           (settings.ca_file.empty() ? std::string("a CA of the system's store") : "ca_file " + settings.ca_file) +
           " and name the host of url " + settings.url +
           "; many kubelets serve a self-signed certificate: set ca_file to the CA that signed it, or tls_verify: "
           "false)";
  }
  if (status == 401 || status == 403) {
    std::string credential = sent_token ? "the bearer token from " + settings.token_file : "no bearer token";
    if (!settings.client_cert.empty()) credential += " and client certificate " + settings.client_cert;
    return " (hint: the kubelet answered " + std::to_string(status) + " to a request with " + credential +
           (status == 401 ? "; the credential was not accepted" : "; the credential is not allowed") +
           ". The service account needs RBAC `get` on `nodes/proxy` (a ClusterRole bound to it))";
  }
  return "";
}

kubelet_settings read_kubelet_settings(const listener_config& config, const env_lookup& env,
                                       const std::function<bool(const std::string&)>& file_exists,
                                       config_errors& errors) {
  yaml_reader r(config.node, config.file, config.key_path, errors);
  r.allow("type");
  r.allow("name");
  kubelet_settings s;
  s.name = config.name.empty() ? "kubelet" : config.name;

  std::string host = env("KUBELET_HOST").value_or("");
  if (host.empty()) host = "localhost";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";  // IPv6
  s.url = r.string("url", "https://" + host + ":10250");
  if (!s.url.starts_with("https://") && !s.url.starts_with("http://")) {
    r.error("url", "expected an https:// (or http:// for the read-only port) URL, got \"" + s.url + "\"");
  } else if (std::string error; !parse_http_endpoint(s.url, error)) {
    r.error("url", error);
  }
  s.tls_verify = r.boolean("tls_verify", true);
  if (auto ca = r.optional_string("ca_file")) {
    s.ca_file = *ca;
  } else if (file_exists(service_account_ca)) {
    s.ca_file = service_account_ca;
  }
  s.client_cert = r.string("client_cert", "");
  s.client_key = r.string("client_key", "");
  if (s.client_cert.empty() != s.client_key.empty()) {
    r.error(s.client_cert.empty() ? "client_cert" : "client_key", "client_cert and client_key go together");
  }
  if (auto token = r.optional_string("token_file")) {
    s.token_file = *token;
  } else if (file_exists(service_account_token)) {
    s.token_file = service_account_token;
  }
  s.poll_interval = r.duration("poll_interval", s.poll_interval);
  if (s.poll_interval.count() <= 0) r.error("poll_interval", "expected a positive duration");
  s.timeout = r.duration("timeout", s.timeout);
  if (s.timeout.count() <= 0) r.error("timeout", "expected a positive duration");
  s.pod_expiration = r.duration("pod_expiration", s.pod_expiration);
  s.body_limit = static_cast<std::size_t>(r.integer("body_limit", static_cast<long long>(s.body_limit), 1024, 1LL << 30));
  r.finish();
  return s;
}

kubelet_listener::kubelet_listener(net::any_io_executor executor, kubelet_settings settings) {
  std::string error;
  auto endpoint = parse_http_endpoint(settings.url, error);
  if (!endpoint) throw std::invalid_argument("kubelet listener " + settings.name + ": url: " + error);
  endpoint->tls.verify = settings.tls_verify;
  endpoint->tls.ca_file = settings.ca_file;
  endpoint->tls.cert_file = settings.client_cert;
  endpoint->tls.key_file = settings.client_key;
  http_client_options client_options;
  client_options.max_idle = 1;
  http_client client(executor, *endpoint, client_options);
  state_ = std::make_shared<state>(executor, std::move(settings), std::move(client));
}

kubelet_listener::~kubelet_listener() { stop(); }

void kubelet_listener::validate(const listener_config& config, config_errors& errors) {
  read_kubelet_settings(config, process_environment(), &regular_file_exists, errors);
}

std::unique_ptr<listener> kubelet_listener::create(net::any_io_executor executor, const listener_config& config) {
  config_errors errors;
  auto settings = read_kubelet_settings(config, process_environment(), &regular_file_exists, errors);
  return std::make_unique<kubelet_listener>(std::move(executor), std::move(settings));
}

void kubelet_listener::start(service_sink& sink) {
  const auto& s = state_->settings;
  logger("listener.kubelet")
      ->info("listener={} url={} tls_verify={} ca_file={} token_file={} client_cert={} poll_interval={}ms", s.name,
             s.url, s.tls_verify, s.ca_file.empty() ? "(system)" : s.ca_file,
             s.token_file.empty() ? "(none)" : s.token_file, s.client_cert.empty() ? "(none)" : s.client_cert,
             s.poll_interval.count());
  start_polling(state_, sink, "listener.kubelet", &poll_once);
}

void kubelet_listener::stop() {
  if (state_) state_->stop();
}

}  // namespace autodiscd
