#include "listeners/static/static_listener.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "config/yaml_reader.hpp"
#include "listeners/static/static_services.hpp"

namespace autodiscd {
namespace fs = std::filesystem;

static_listener::static_listener(net::any_io_executor executor, std::string name, std::string path)
    : name_(std::move(name)),
      path_(std::move(path)),
      dir_(fs::path(path_).parent_path().string()),
      file_name_(fs::path(path_).filename().string()),
      reload_timer_(executor),
      watch_(executor, [this](const std::string&, const std::string& changed) {
        if (changed == file_name_) schedule_reload();
      }) {
  if (dir_.empty()) dir_ = ".";
}

void static_listener::validate(const listener_config& config, config_errors& errors) {
  yaml_reader r(config.node, config.file, config.key_path, errors);
  r.allow("type");
  r.allow("name");
  if (r.string("path", "").empty()) r.error("path", "missing: the services file to read");
  r.finish();
}

std::unique_ptr<listener> static_listener::create(net::any_io_executor executor,
                                                  const listener_config& config) {
  return std::make_unique<static_listener>(executor, config.name, config.node["path"].Scalar());
}

void static_listener::start(service_sink& sink) {
  sink_ = &sink;
  if (!watch_.add(dir_)) {
    sink.on_error(name_, "watch", "cannot watch folder " + dir_ + ": changes to " + path_ + " will not be seen");
  }
  watch_.start();
  reload();
}

void static_listener::schedule_reload() {
  if (reload_pending_) return;
  reload_pending_ = true;
  // Expires at once: runs after every event of the current inotify read was seen.
  reload_timer_.expires_after(std::chrono::milliseconds(0));
  reload_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled by stop() or destruction: `this` may be gone
    reload_pending_ = false;
    reload();
  });
}

void static_listener::stop() {
  reload_timer_.cancel();
  watch_.stop();
  sink_ = nullptr;
}

void static_listener::reload() {
  if (!sink_) return;
  sink_->on_count(name_, "polls");
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    sink_->on_error(name_, "read", "cannot read services file " + path_ + "; keeping the last good services");
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  service_map next;
  auto errors = parse_static_services(text.str(), path_, name_, next);
  if (!errors.empty()) {
    sink_->on_error(name_, "parse", to_string(errors) + " (keeping the last good services)");
    return;
  }
  auto delta = diff_services_sharing(services_, next);
  services_ = std::move(next);
  if (!delta.empty()) sink_->on_delta(name_, std::move(delta));
  sink_->on_synced(name_);
}

}  // namespace autodiscd
