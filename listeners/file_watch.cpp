#include "listeners/file_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cstdint>
#include <vector>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace autodiscd {

file_watch::file_watch(net::any_io_executor executor, callback on_change)
    : stream_(executor, ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), on_change_(std::move(on_change)) {}

file_watch::~file_watch() = default;

bool file_watch::add(const std::string& dir) {
  const int wd = ::inotify_add_watch(stream_.native_handle(), dir.c_str(),
                                     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                         IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
  if (wd < 0) return false;
  dirs_[wd] = dir;
  return true;
}

void file_watch::clear() {
  for (const auto& [wd, dir] : dirs_) ::inotify_rm_watch(stream_.native_handle(), wd);
  dirs_.clear();
}

void file_watch::start() {
  net::co_spawn(stream_.get_executor(), run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("file watch stopped: {}", ex.what());
    }
  });
}

void file_watch::stop() {
  boost::system::error_code ignored;
  stream_.cancel(ignored);
}

namespace {

/// One inotify record, copied out of the read buffer.
struct watch_event {
  int wd;
  std::uint32_t mask;
  std::string name;
};

std::vector<watch_event> parse_events(const char* data, std::size_t n) {
  std::vector<watch_event> events;
  std::size_t offset = 0;
  while (offset + sizeof(inotify_event) <= n) {
    inotify_event header{};
    std::memcpy(&header, data + offset, sizeof(inotify_event));
    const char* name = data + offset + sizeof(inotify_event);
    events.push_back({header.wd, header.mask, header.len > 0 ? std::string(name) : std::string()});
    offset += sizeof(inotify_event) + header.len;
  }
  return events;
}

}  // namespace

net::awaitable<void> file_watch::run() {
  std::vector<char> buffer(16 * 1024);
  while (true) {
    auto [ec, n] = co_await stream_.async_read_some(net::buffer(buffer), net::as_tuple(net::use_awaitable));
    if (ec) co_return;  // cancelled
    for (const auto& event : parse_events(buffer.data(), n)) {
      const auto it = dirs_.find(event.wd);
      if (it == dirs_.end()) continue;
      const std::string dir = it->second;
      if (event.mask & IN_IGNORED) {
        dirs_.erase(it);
        continue;
      }
      // A created file is reported when it is closed; a created folder at once.
      if ((event.mask & IN_CREATE) && !(event.mask & IN_ISDIR)) continue;
      on_change_(dir, event.name);
    }
  }
}

}  // namespace autodiscd
