#pragma once
// The static listener: services listed in a YAML file, re-read when a write completes.

#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "listeners/file_watch.hpp"
#include "listeners/listener.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// Config `{type: static, path: FILE}`.
class static_listener : public listener {
 public:
  static_listener(net::any_io_executor executor, std::string name, std::string path);
  void start(service_sink& sink) override;
  void stop() override;

  static void validate(const listener_config& config, config_errors& errors);
  static std::unique_ptr<listener> create(net::any_io_executor executor, const listener_config& config);

 private:
  void reload();
  /// Coalesces a burst of file events into one reload after the burst's read.
  void schedule_reload();
  std::string name_;
  std::string path_;
  std::string dir_;
  std::string file_name_;
  service_sink* sink_ = nullptr;
  service_map services_;
  net::steady_timer reload_timer_;
  bool reload_pending_ = false;
  file_watch watch_;
};

}  // namespace autodiscd
