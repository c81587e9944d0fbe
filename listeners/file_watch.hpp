#pragma once
// Watches folders with inotify and reports which names changed, on the event loop.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "listeners/asio.hpp"

namespace autodiscd {

/// Reports complete writes (closed after writing, renamed into place), creations of
/// folders, and removals in the watched folders. No polling: the loop sleeps in read().
class file_watch {
 public:
  /// Called with the folder and the name of the entry that changed.
  using callback = std::function<void(const std::string& dir, const std::string& name)>;

  file_watch(net::any_io_executor executor, callback on_change);
  ~file_watch();
  file_watch(const file_watch&) = delete;
  file_watch& operator=(const file_watch&) = delete;

  /// Watches `dir` (not recursively); false when it cannot be watched.
  bool add(const std::string& dir);
  /// Stops watching every folder.
  void clear();
  /// Starts reading events; stop() cancels.
  void start();
  void stop();

 private:
  net::awaitable<void> run();
  net::posix::stream_descriptor stream_;
  callback on_change_;
  std::map<int, std::string> dirs_;  ///< watch descriptor -> folder
};

}  // namespace autodiscd
