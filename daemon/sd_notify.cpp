#include "daemon/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstring>

namespace autodiscd {

sd_notifier::sd_notifier(const env_lookup& env) {
  if (auto path = env("NOTIFY_SOCKET"); path && (path->starts_with("/") || path->starts_with("@"))) {
    socket_path_ = *path;
  }
  auto usec = env("WATCHDOG_USEC");
  if (!usec) return;
  // WATCHDOG_PID, when set, names the process the watchdog is meant for.
  if (auto pid = env("WATCHDOG_PID"); pid && *pid != std::to_string(::getpid())) return;
  std::uint64_t value = 0;
  const auto* end = usec->data() + usec->size();
  if (std::from_chars(usec->data(), end, value).ptr != end || value == 0) return;
  watchdog_interval_ = std::chrono::microseconds(value / 2);
}

bool sd_notifier::send(std::string_view message) const {
  if (!enabled()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const auto sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
  return sent == static_cast<ssize_t>(message.size());
}

std::string sd_status_line(std::string_view status) {
  std::string out = "STATUS=";
  for (char c : status) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

}  // namespace autodiscd
