#include "support/fake_engine.hpp"

#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace autodiscd::test {
namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using socket_type = net::local::stream_protocol::socket;
using njson = nlohmann::json;

std::string http_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

/// "/v1.41/containers/x/json?a=b" -> "/containers/x/json"
std::string strip(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  if (path.rfind("/v", 0) == 0) {
    auto slash = path.find('/', 1);
    if (slash != std::string::npos && path.find('.') < slash) path = path.substr(slash);
  }
  return path;
}
}  // namespace

struct fake_engine::impl : std::enable_shared_from_this<fake_engine::impl> {
  impl(net::any_io_executor ex, std::string path) : executor(ex), acceptor(ex), socket_path(std::move(path)) {}
  net::any_io_executor executor;
  net::local::stream_protocol::acceptor acceptor;
  std::string socket_path;
  fake_engine* owner = nullptr;
  bool stopped = false;
  std::map<std::string, njson> containers;
  std::map<std::string, njson> images;
  std::vector<std::shared_ptr<socket_type>> streams;
  std::vector<std::weak_ptr<socket_type>> all;

  fake_reply route(const std::string& method, const std::string& target) {
    auto path = strip(target);
    if (owner->hook) {
      if (auto r = owner->hook(method, path)) return *r;
    }
    fake_reply r;
    r.headers.emplace_back("Content-Type", "application/json");
    if (path == "/_ping") {
      r.body = "OK";
      r.headers = {{"Content-Type", "text/plain"}, {"Api-Version", owner->api_version}};
      if (owner->send_date) r.headers.emplace_back("Date", http_date());
      return r;
    }
    if (path == "/containers/json") {
      njson list = njson::array();
      for (const auto& [id, c] : containers) {
        if (!c["State"].value("Running", false)) continue;
        list.push_back({{"Id", id}, {"Names", {c.value("Name", "")}}, {"Image", c["Config"].value("Image", "")},
                        {"State", "running"}});
      }
      r.body = list.dump();
      return r;
    }
    const std::string containers_prefix = "/containers/", images_prefix = "/images/";
    auto json_suffix = [](const std::string& p) { return p.size() > 5 && p.compare(p.size() - 5, 5, "/json") == 0; };
    if (path.rfind(containers_prefix, 0) == 0 && json_suffix(path)) {
      auto id = path.substr(containers_prefix.size(), path.size() - containers_prefix.size() - 5);
      auto it = containers.find(id);
      if (it == containers.end()) {
        r.status = 404;
        r.body = njson{{"message", "No such container: " + id}}.dump();
        return r;
      }
      r.body = it->second.dump();
      if (r.body.size() < owner->inspect_padding) {
        r.body.pop_back();
        r.body += ",\"Padding\":\"" + std::string(owner->inspect_padding - r.body.size(), 'x') + "\"}";
      }
      return r;
    }
    if (path.rfind(images_prefix, 0) == 0 && json_suffix(path)) {
      auto id = path.substr(images_prefix.size(), path.size() - images_prefix.size() - 5);
      auto it = images.find(id);
      if (it == images.end()) {
        r.status = 404;
        r.body = njson{{"message", "No such image: " + id}}.dump();
        return r;
      }
      r.body = it->second.dump();
      return r;
    }
    r.status = 404;
    r.body = R"({"message":"page not found"})";
    return r;
  }

  void write_chunk(const std::string& bytes) {
    if (bytes.empty()) return;
    std::string chunk = fmt::format("{:x}\r\n", bytes.size()) + bytes + "\r\n";
    for (auto& s : streams) {
      boost::system::error_code ec;
      net::write(*s, net::buffer(chunk), ec);
    }
  }
};

namespace {

using impl_ptr = std::shared_ptr<fake_engine::impl>;

/// A fake's bug surfaces in the test's io_context.run_for() instead of vanishing.
struct rethrow {
  void operator()(const std::exception_ptr& e) const {
    if (e) std::rethrow_exception(e);
  }
};

net::awaitable<void> serve(impl_ptr st, std::shared_ptr<socket_type> sock) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(*sock, buffer, req, use_tuple);
    if (ec || st->stopped) co_return;
    std::string target(req.target());
    std::string method(req.method_string());
    st->owner->targets.push_back(target);
    st->owner->hits[strip(target)]++;
    if (st->owner->silent) {
      // Never answer; wait until the client goes away.
      char byte;
      for (;;) {
        auto [rec, got] = co_await sock->async_read_some(net::buffer(&byte, 1), use_tuple);
        if (rec) co_return;
      }
    }
    auto path = strip(target);
    if (path == "/events" && !st->owner->hook) {
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: " + st->owner->api_version +
          "\r\nTransfer-Encoding: chunked\r\n\r\n";
      auto [wec, wn] = co_await net::async_write(*sock, net::buffer(head), use_tuple);
      if (wec) co_return;
      st->streams.push_back(sock);
      char byte;
      for (;;) {
        auto [rec, got] = co_await sock->async_read_some(net::buffer(&byte, 1), use_tuple);
        if (rec) break;
      }
      std::erase(st->streams, sock);
      co_return;
    }
    if (path.rfind("/containers/", 0) == 0 && path != "/containers/json" && st->owner->inspect_delay.count() > 0) {
      net::steady_timer wait(st->executor, st->owner->inspect_delay);
      co_await wait.async_wait(use_tuple);
      if (st->stopped) co_return;
    }
    fake_reply reply = st->route(method, target);
    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    for (const auto& [k, v] : reply.headers) res.set(k, v);
    res.body() = reply.body;
    res.keep_alive(!st->owner->close_after_response && req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(*sock, res, use_tuple);
    if (wec || !res.keep_alive()) {
      boost::system::error_code ignored;
      sock->shutdown(net::socket_base::shutdown_both, ignored);
      sock->close(ignored);
      co_return;
    }
  }
}

net::awaitable<void> accept_loop(impl_ptr st) {
  for (;;) {
    auto sock = std::make_shared<socket_type>(st->executor);
    auto [ec] = co_await st->acceptor.async_accept(*sock, use_tuple);
    if (ec || st->stopped) co_return;
    st->owner->connections++;
    std::erase_if(st->all, [](const std::weak_ptr<socket_type>& w) { return w.expired(); });
    st->all.push_back(sock);
    net::co_spawn(st->executor, serve(st, sock), rethrow{});  // ends with its connection
  }
}

}  // namespace

fake_engine::fake_engine(net::any_io_executor executor)
    : dir_("autodiscd-fake-engine"), impl_(std::make_shared<impl>(executor, (dir_.path() / "docker.sock").string())) {
  impl_->owner = this;
  net::local::stream_protocol::endpoint ep(impl_->socket_path);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  net::co_spawn(executor, accept_loop(impl_), rethrow{});  // ends when stop() closes the acceptor
}

fake_engine::~fake_engine() { stop(); }

std::string fake_engine::url() const { return "unix://" + impl_->socket_path; }
std::string fake_engine::socket_path() const { return impl_->socket_path; }

void fake_engine::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& w : impl_->all) {
    if (auto s = w.lock()) {
      s->shutdown(net::socket_base::shutdown_both, ignored);
      s->close(ignored);
    }
  }
  impl_->streams.clear();
}

void fake_engine::put_container(nlohmann::json inspect) {
  auto id = inspect.at("Id").get<std::string>();
  impl_->containers[id] = std::move(inspect);
}

void fake_engine::remove_container(const std::string& id) { impl_->containers.erase(id); }

void fake_engine::put_image(const std::string& id, nlohmann::json inspect) { impl_->images[id] = std::move(inspect); }

nlohmann::json fake_engine::container(const std::string& id, const std::string& name, const std::string& image,
                                      const std::map<std::string, std::string>& labels, const std::string& ip) {
  njson l = njson::object();
  for (const auto& [k, v] : labels) l[k] = v;
  return njson{{"Id", id},
               {"Name", "/" + name},
               {"Image", "sha256:" + std::string(64, 'a')},
               {"State", {{"Status", "running"}, {"Running", true}, {"Paused", false}, {"Pid", 4242}}},
               {"Config", {{"Hostname", id.substr(0, 12)}, {"Image", image}, {"Labels", l},
                           {"ExposedPorts", {{"6379/tcp", njson::object()}}}}},
               {"NetworkSettings",
                {{"Ports", njson::object()}, {"Networks", {{"bridge", {{"IPAddress", ip}}}}}}}};
}

void fake_engine::emit(const nlohmann::json& event, std::size_t split_at) {
  std::string line = event.dump() + "\n";
  if (split_at == 0 || split_at >= line.size()) {
    impl_->write_chunk(line);
    return;
  }
  impl_->write_chunk(line.substr(0, split_at));
  impl_->write_chunk(line.substr(split_at));
}

void fake_engine::emit_raw(const std::string& bytes) { impl_->write_chunk(bytes); }

void fake_engine::emit_container_event(const std::string& action, const std::string& id) {
  emit(njson{{"Type", "container"}, {"Action", action}, {"status", action}, {"id", id},
             {"Actor", {{"ID", id}, {"Attributes", {{"name", "x"}}}}}, {"time", std::time(nullptr)}});
}

void fake_engine::cut_streams() {
  boost::system::error_code ignored;
  for (auto& s : impl_->streams) {
    s->shutdown(net::socket_base::shutdown_both, ignored);
    s->close(ignored);
  }
  impl_->streams.clear();
}

void fake_engine::drop_connections() {
  boost::system::error_code ignored;
  for (auto& w : impl_->all) {
    if (auto s = w.lock()) {
      s->shutdown(net::socket_base::shutdown_both, ignored);
      s->close(ignored);
    }
  }
  impl_->streams.clear();
}

std::size_t fake_engine::open_streams() const { return impl_->streams.size(); }

}  // namespace autodiscd::test

namespace autodiscd::test {

bool run_io_until(net::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace autodiscd::test
