#pragma once
// A unix-socket proxy between autodiscd and a real engine's socket that injects faults into
// what the engine says: it cuts an events stream in the middle of an event, and holds inspect
// answers back. Everything else is passed through byte for byte. Each connection is served by
// its own thread (test code: simple and blocking); all stop on destruction.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace autodiscd::test {

class fault_proxy {
 public:
  /// Listens on `listen_path` and connects each client to `upstream_path`. Throws when it
  /// cannot listen.
  fault_proxy(std::string listen_path, std::string upstream_path);
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  std::string url() const { return "unix://" + listen_path_; }

  /// The next bytes of an event on an events stream (GET .../events) are passed on only in
  /// part (half of what was read, so the cut is inside the event's line), then the stream is
  /// closed on both sides.
  void cut_next_event() { cut_armed_ = true; }
  /// Each inspect answer (GET .../containers/<id>/json) is held back this long (0: none).
  void set_inspect_delay(std::chrono::milliseconds delay) { inspect_delay_ms_ = delay.count(); }

  int cuts_done() const { return cuts_; }
  int inspects_delayed() const { return delayed_; }

 private:
  void accept_loop();
  void serve(int client);
  /// Sleeps `ms` unless the proxy stops first; false when it stopped.
  bool pause(long ms) const;

  std::string listen_path_, upstream_path_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  ///< readable once the proxy stops (never read)
  std::atomic<bool> cut_armed_{false};
  std::atomic<long> inspect_delay_ms_{0};
  std::atomic<int> cuts_{0}, delayed_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace autodiscd::test
