#include "daemon/status_routes.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "daemon/app.hpp"
#include "daemon/metrics.hpp"
#include "daemon/report.hpp"

namespace autodiscd {
namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

status_response json_response(unsigned status, const json& body) {
  status_response r;
  r.status = status;
  // File names and template values are bytes: never let one make dump() throw.
  r.body = body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

status_response error_response(unsigned status, std::string_view message) {
  return json_response(status, {{"error", message}});
}

}  // namespace

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  listen_address out;
  if (text == "off") return out;
  if (text.starts_with("unix:")) {
    out.type = listen_address::kind::unix_socket;
    out.path = std::string(text.substr(5));
    if (!out.path.starts_with("/")) {
      error = "expected unix:/absolute/path, got '" + std::string(text) + "'";
      return std::nullopt;
    }
    if (out.path.size() >= 108) {
      error = "unix socket path longer than 107 bytes";
      return std::nullopt;
    }
    return out;
  }
  out.type = listen_address::kind::tcp;
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    error = "expected host:port, unix:/path or off, got '" + std::string(text) + "'";
    return std::nullopt;
  }
  auto host = text.substr(0, colon);
  if (host.starts_with("[") && host.ends_with("]")) host = host.substr(1, host.size() - 2);
  out.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  const auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  if (port_text.empty() || std::from_chars(port_text.data(), end, port).ptr != end || port > 65535) {
    error = "expected a port number 0-65535 after ':', got '" + std::string(port_text) + "'";
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(port);
  if (!is_ip_literal(out.host)) {
    error = "expected an IP address (or localhost) before ':', got '" + std::string(host) + "'";
    return std::nullopt;
  }
  return out;
}

status_response handle_status_request(const app& a, std::string_view method, std::string_view target,
                                      std::chrono::steady_clock::time_point now) {
  if (method != "GET" && method != "HEAD") {
    auto r = error_response(405, "method not allowed: use GET");
    r.allow = "GET, HEAD";
    return r;
  }
  const auto path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    json problems = json::array();
    for (const auto& s : a.listener_states()) {
      if (!s.synced) {
        problems.push_back({{"listener", s.name}, {"reason", "no full sync yet"}, {"error", s.last_error}});
      } else if (s.error_since && now - *s.error_since > unhealthy_after) {
        problems.push_back({{"listener", s.name},
                            {"reason", "failing for " +
                                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - *s.error_since).count()) +
                                           "s (" + s.last_error_kind + ")"},
                            {"error", s.last_error}});
      }
    }
    json output = nullptr;
    if (a.writer() && a.writer()->has_failures()) {
      output = {{"dir", a.config().output_dir},
                {"reason", "writes or removals are failing; retrying every second (see the log)"}};
    }
    if (problems.empty() && output.is_null()) return json_response(200, {{"status", "ok"}});
    json body = {{"status", "unhealthy"}, {"listeners", problems}};
    if (!output.is_null()) body["output"] = output;
    return json_response(503, body);
  }
  if (path == "/readyz") {
    json waiting = json::array();
    for (const auto& s : a.listener_states()) {
      if (!s.synced) waiting.push_back(s.name);
    }
    if (a.ready() && waiting.empty()) return json_response(200, {{"status", "ready"}});
    return json_response(503, {{"status", "not ready"}, {"waiting_for", waiting}});
  }
  if (path == "/services") return json_response(200, services_report(a));
  if (path == "/configs") return json_response(200, configs_report(a, /*redact_env=*/true));
  if (path == "/status") {
    auto body = status_report(a);
    body["configs_report"] = configs_report(a, /*redact_env=*/true);
    return json_response(200, body);
  }
  if (path == "/metrics") {
    status_response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(a);
    return r;
  }
  return error_response(404, "not found: try /healthz, /readyz, /services, /configs, /status or /metrics");
}

}  // namespace autodiscd
