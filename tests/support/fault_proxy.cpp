#include "support/fault_proxy.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <stdexcept>

namespace autodiscd::test {

namespace {

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

fault_proxy::fault_proxy(std::string listen_path, std::string upstream_path)
    : listen_path_(std::move(listen_path)), upstream_path_(std::move(upstream_path)) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto addr = unix_address(listen_path_);
  ::unlink(listen_path_.c_str());
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("fault_proxy cannot listen on " + listen_path_ + ": " + std::strerror(errno));
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

fault_proxy::~fault_proxy() {
  const char byte = 'x';
  [[maybe_unused]] const auto n = ::write(wake_[1], &byte, 1);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (auto& t : threads_) t.join();
  }
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::unlink(listen_path_.c_str());
}

bool fault_proxy::pause(long ms) const {
  pollfd p{wake_[0], POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(ms)) == 0;
}

void fault_proxy::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) return;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::lock_guard lock(mutex_);
    threads_.emplace_back([this, client] { serve(client); });
  }
}

void fault_proxy::serve(int client) {
  const int upstream = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto addr = unix_address(upstream_path_);
  if (upstream < 0 || ::connect(upstream, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (upstream >= 0) ::close(upstream);
    ::close(client);
    return;
  }
  static const std::regex inspect_request(R"(GET [^ ]*/containers/[^/ ?]+/json[ ?])");
  bool events_stream = false;   // this connection carries GET .../events
  bool headers_passed = false;  // ... and its response headers went through
  bool delay_answer = false;    // the next answer on it is an inspect's
  char buffer[16384];
  for (;;) {
    pollfd fds[3] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) continue;
    if (fds[2].revents) break;
    if (fds[0].revents) {
      const auto n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      const std::string request(buffer, static_cast<std::size_t>(n));
      if (request.starts_with("GET ") && request.substr(0, request.find('\r')).find("/events") != std::string::npos) {
        events_stream = true;
      }
      if (std::regex_search(request, inspect_request)) delay_answer = true;
      if (!write_all(upstream, buffer, static_cast<std::size_t>(n))) break;
    }
    if (fds[1].revents) {
      const auto n = ::recv(upstream, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      auto size = static_cast<std::size_t>(n);
      if (delay_answer) {
        delay_answer = false;
        if (const long ms = inspect_delay_ms_; ms > 0) {
          ++delayed_;
          if (!pause(ms)) break;
        }
      }
      if (events_stream && !headers_passed) {
        const std::string text(buffer, size);
        const auto end = text.find("\r\n\r\n");
        if (end != std::string::npos) {
          headers_passed = true;
          // Headers and body in one read: pass the headers on their own first.
          if (end + 4 < size) {
            if (!write_all(client, buffer, end + 4)) break;
            std::memmove(buffer, buffer + end + 4, size - end - 4);
            size -= end + 4;
          } else {
            if (!write_all(client, buffer, size)) break;
            continue;
          }
        }
      }
      if (events_stream && headers_passed && size > 1 && cut_armed_.exchange(false)) {
        write_all(client, buffer, size / 2);
        ++cuts_;
        break;
      }
      if (!write_all(client, buffer, size)) break;
    }
  }
  ::close(upstream);
  ::close(client);
}

}  // namespace autodiscd::test
