// Fuzzes the status server's request handling: the input is the bytes a client sends on one
// connection. They go through beast's request_parser configured as the server configures it
// (status_header_limit, status_body_limit; up to 100 pipelined requests, fed whole and again
// in small chunks, which must give the same requests and the same verdict), and each request
// through handle_status_request on a running app. The first line, split at its first space,
// also goes to handle_status_request directly (method and target with bytes the parser refuses).
// Invariants: a known status; 405 with `Allow: GET, HEAD` exactly for methods other than GET
// and HEAD; 200/503 only for the six routes, 404 for anything else; JSON bodies parse; the
// response serializes; no secret (an env value a template uses, the kubelet token) in any
// response.
#include "fuzz_common.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>

#include "daemon/app.hpp"
#include "daemon/status_routes.hpp"

using namespace autodiscd;
namespace fs = std::filesystem;

namespace {

constexpr const char* env_secret = "fz-EnvSecret-5b1d0c77";
constexpr const char* token_secret = "fz-BearerToken-e90a4f12";
constexpr std::size_t max_requests_per_connection = 100;

/// Two apps, built once and never destroyed (their io_context is never run again):
/// one healthy (static listener, synced) and one with a kubelet listener that cannot connect.
struct fixture {
  std::string dir;
  net::io_context io{1};
  std::unique_ptr<app> healthy;
  std::unique_ptr<app> failing;
};
fixture* the_fixture = nullptr;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::unique_ptr<app> make_app(fixture& f, const std::string& config_text, const std::string& name) {
  const auto config_path = f.dir + "/" + name + ".yaml";
  write(config_path, config_text);
  daemon_config config;
  const auto errors = load_daemon_config(config_path, config);
  for (const auto& e : errors) std::fprintf(stderr, "fixture config: %s\n", e.to_string().c_str());
  fuzz::require(errors.empty(), "the fixture config is valid");
  env_lookup env = [](const std::string& key) -> std::optional<std::string> {
    if (key == "AUTODISCD_FUZZ_SECRET") return std::string(env_secret);
    return std::nullopt;
  };
  auto a = std::make_unique<app>(f.io, config, false, env);
  const auto start_error = a->start();
  fuzz::require(!start_error, "the fixture app starts", start_error.value_or(""));
  return a;
}

void remove_fixture() {
  if (the_fixture) {
    std::error_code ec;
    fs::remove_all(the_fixture->dir, ec);
  }
}

fixture& get_fixture() {
  if (the_fixture) return *the_fixture;
  auto* f = new fixture;
  std::string pattern = (fs::temp_directory_path() / "autodiscd-fuzz-status-XXXXXX").string();
  fuzz::require(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  f->dir = pattern;
  the_fixture = f;
  std::atexit(remove_fixture);
  // Templates that pull the secret in: one resolves, one is rejected after it, one puts it in
  // a file_sd label.
  write(f->dir + "/templates/secretive.d/conf.yaml",
        "ad_identifiers: [redis]\ninstances:\n  - host: \"%%host%%\"\n    password: \"%%env_AUTODISCD_FUZZ_SECRET%%\"\n");
  write(f->dir + "/templates/rejected.d/conf.yaml",
        "ad_identifiers: [redis]\ninstances:\n  - password: \"%%env_AUTODISCD_FUZZ_SECRET%%\"\n"
        "    url: \"http://%%host%%:%%port_7%%/%%env_AUTODISCD_FUZZ_SECRET%%\"\n");
  write(f->dir + "/templates/sd.d/conf.yaml",
        "ad_identifiers: [redis]\nfile_sd:\n  targets: [\"%%host%%:6379\"]\n"
        "  labels: {auth: \"%%env_AUTODISCD_FUZZ_SECRET%%\"}\n");
  write(f->dir + "/templates/broken.d/conf.yaml", "ad_identifiers: [\n");
  write(f->dir + "/services.yaml",
        "- id: \"static://redis-1\"\n  ad_identifiers: [redis]\n  hosts: {bridge: 10.0.0.5}\n"
        "  ports:\n    - {port: 6379, name: redis}\n  tags: [\"service:cache\"]\n"
        "- id: \"static://web-1\"\n  ad_identifiers: [nginx]\n  hosts: {bridge: 10.0.0.6}\n  ports: [80]\n");
  write(f->dir + "/token", std::string(token_secret) + "\n");
  const std::string common = "templates:\n  dirs: [templates]\noutput:\n  dir: out\nstatus:\n  listen: off\n";
  f->healthy = make_app(*f, "listeners:\n  - type: static\n    path: services.yaml\n" + common, "healthy");
  // Port 1 on loopback: refused at once; the error is recorded with the kubelet's url.
  f->failing = make_app(*f,
                        "listeners:\n  - type: static\n    path: services.yaml\n"
                        "  - type: kubelet\n    url: http://127.0.0.1:1\n    token_file: " + f->dir + "/token\n"
                        "    poll_interval: 1h\n" +
                            common,
                        "failing");
  for (int i = 0; i < 100 && !f->healthy->ready(); ++i) f->io.run_for(std::chrono::milliseconds(10));
  fuzz::require(f->healthy->ready(), "the healthy fixture app gets ready");
  f->io.run_for(std::chrono::milliseconds(200));
  return *f;
}

bool known_route(std::string_view path) {
  for (std::string_view r : {"/healthz", "/readyz", "/services", "/configs", "/status", "/metrics"}) {
    if (path == r) return true;
  }
  return false;
}

/// Checks one answer of handle_status_request against the request it answers.
void check_response(const status_response& r, std::string_view method, std::string_view target) {
  const std::string detail = "method '" + std::string(method) + "' target '" + std::string(target) +
                             "' -> " + std::to_string(r.status) + "\n" + r.body.substr(0, 2000);
  fuzz::require(r.status == 200 || r.status == 404 || r.status == 405 || r.status == 503, "unexpected status",
                detail);
  const bool allowed = method == "GET" || method == "HEAD";
  fuzz::require((r.status == 405) == !allowed, "405 exactly for methods other than GET and HEAD", detail);
  fuzz::require((r.allow == "GET, HEAD") == !allowed && (allowed == r.allow.empty()),
                "Allow header exactly on 405", detail);
  const auto path = target.substr(0, target.find('?'));
  if (allowed) {
    if (known_route(path)) {
      fuzz::require(r.status == 200 || (r.status == 503 && (path == "/healthz" || path == "/readyz")),
                    "a route answers 200 (or 503 for health and readiness)", detail);
    } else {
      fuzz::require(r.status == 404, "anything but the six routes is 404", detail);
    }
  }
  if (r.content_type == "application/json") {
    try {
      (void)json::parse(r.body);
    } catch (const json::exception& e) {
      fuzz::require(false, "a JSON response that does not parse", detail + "\n" + e.what());
    }
  } else {
    fuzz::require(path == "/metrics" && r.content_type.starts_with("text/plain"), "only /metrics is text",
                  detail);
  }
  for (const char* secret : {env_secret, token_secret}) {
    fuzz::require(r.body.find(secret) == std::string::npos, "a secret in a status response", detail);
  }
}

/// What the server sends for one parsed request, serialized (as make_response builds it).
std::string serialize(const http::request<http::string_body>& req, status_response answer) {
  const bool head = req.method() == http::verb::head;
  http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
  res.set(http::field::server, "autodiscd");
  res.set(http::field::content_type, answer.content_type);
  if (!answer.allow.empty()) res.set(http::field::allow, answer.allow);
  res.keep_alive(req.keep_alive());
  const auto size = answer.body.size();
  if (!head) res.body() = std::move(answer.body);
  res.content_length(size);
  std::ostringstream out;
  out << res;
  return out.str();
}

/// One request as parsed: enough to compare two parses of the same bytes.
struct parsed {
  std::string method;
  std::string target;
  unsigned version = 0;
  bool keep_alive = false;
  std::string body;
  bool operator==(const parsed&) const = default;
};

/// Parses every request on the connection the way the server's read loop does (a fresh
/// parser per request, the bytes after one request start the next, a chunked body refused
/// after its header), reading `chunk` bytes
/// at a time (0: all at once). Stops at the first error, as the server closes then.
std::vector<parsed> parse_connection(std::string_view bytes, std::size_t chunk, const app& a, bool answer,
                                     boost::system::error_code& last_error) {
  std::vector<parsed> out;
  std::string buffer;  // received, not yet consumed
  std::size_t offered = 0;
  const auto receive = [&]() {
    const auto n = chunk == 0 ? bytes.size() - offered : std::min(chunk, bytes.size() - offered);
    buffer.append(bytes.substr(offered, n));
    offered += n;
    return n;
  };
  last_error = {};
  for (std::size_t i = 0; i < max_requests_per_connection; ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(status_header_limit);
    parser.body_limit(status_body_limit);
    boost::system::error_code ec;
    std::size_t header_bytes = 0;
    for (;;) {
      if (buffer.empty() && receive() == 0) {
        // End of stream: a request not begun is a clean close; one begun is an error.
        if (parser.got_some()) parser.put_eof(ec);
        else ec = http::error::end_of_stream;
        break;
      }
      const bool in_header = !parser.is_header_done();
      const auto used = parser.put(net::buffer(buffer.data(), buffer.size()), ec);
      buffer.erase(0, used);
      if (in_header) header_bytes += used;
      // As the server: the header limit applies to the whole header however it arrived, and a
      // chunked body is refused once the header is read, never parsed.
      if (!ec && in_header && parser.is_header_done() && header_bytes > status_header_limit) {
        ec = http::error::header_limit;
        break;
      }
      if (!ec && parser.is_header_done() && parser.chunked()) {
        ec = http::error::bad_transfer_encoding;
        break;
      }
      if (ec == http::error::need_more) {
        ec = {};
        if (receive() == 0) {
          parser.put_eof(ec);
          break;
        }
        continue;
      }
      if (ec || parser.is_done()) break;
    }
    if (ec) {
      last_error = ec;
      return out;
    }
    fuzz::require(parser.is_done(), "the parser stopped without an error or a request");
    const auto& req = parser.get();
    fuzz::require(req.body().size() <= status_body_limit, "a body over the limit was accepted");
    out.push_back({std::string(req.method_string()), std::string(req.target()), req.version(), req.keep_alive(),
                   req.body()});
    if (answer) {
      auto res = handle_status_request(a, req.method_string(), req.target());
      check_response(res, req.method_string(), req.target());
      const auto status = res.status;
      const auto text = serialize(req, std::move(res));
      const auto expect = (req.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ") + std::to_string(status) + " ";
      fuzz::require(text.starts_with(expect), "the response's status line", text.substr(0, 200));
    }
    if (!req.keep_alive()) break;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& f = get_fixture();
  const auto bytes = fuzz::as_view(data, size);
  const app& a = (size % 2 == 0) ? *f.healthy : *f.failing;

  // Route dispatch with whatever bytes: the first line is "<method> <target>".
  {
    const auto line = bytes.substr(0, bytes.find('\n'));
    const auto space = line.find(' ');
    const auto method = line.substr(0, space);
    const auto target = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    check_response(handle_status_request(a, method, target), method, target);
  }

  // The bytes as a connection: all at once, answered; then in small reads, which must give
  // the same requests and the same verdict.
  boost::system::error_code whole_error;
  const auto whole = parse_connection(bytes, 0, a, true, whole_error);
  const std::size_t chunk = size == 0 ? 1 : 1 + data[size - 1] % 61;
  boost::system::error_code chunk_error;
  const auto chunked = parse_connection(bytes, chunk, a, false, chunk_error);
  fuzz::require(whole == chunked, "reading in chunks changed the requests", std::to_string(chunk));
  // Beast may name a malformed request's error differently by how the bytes arrived ("bad
  // target" whole, "partial message" at the end in pieces): both get a 400 or a close. What
  // must not change is whether the connection ended cleanly or in an error.
  const auto verdict = [](const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream ? 0 : ec ? 1 : 2;
  };
  fuzz::require(verdict(whole_error) == verdict(chunk_error), "reading in chunks changed the verdict",
                whole_error.message() + " vs " + chunk_error.message());
  return 0;
}
