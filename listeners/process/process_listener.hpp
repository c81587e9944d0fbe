#pragma once
// The process listener: services of plain host processes, from their listening sockets.
// Every interval one NETLINK_SOCK_DIAG dump; /proc/PID/fd is read only when a listening
// socket appears that is not mapped to a process yet.

#include <memory>

#include "listeners/listener.hpp"
#include "listeners/process/process_config.hpp"
#include "listeners/registry.hpp"

namespace autodiscd {

/// Config `{type: process, interval, min_age, removal_grace, udp, include_containers, rules}`.
class process_listener : public listener {
 public:
  process_listener(net::any_io_executor executor, process::process_settings settings);
  ~process_listener() override;
  void start(service_sink& sink) override;
  void stop() override;

  static void validate(const listener_config& config, config_errors& errors);
  static std::unique_ptr<listener> create(net::any_io_executor executor, const listener_config& config);

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace autodiscd
