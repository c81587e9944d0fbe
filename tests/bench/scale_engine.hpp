#pragma once
// A fake Docker engine for scale benchmarks: tests/support's fake_engine (unix socket, Engine
// API routes, chunked /events) running on its own thread, with N containers, a per-inspect
// latency and generators of container events at a given rate.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "bench_common.hpp"
#include "support/fake_engine.hpp"

namespace autodiscd::bench {

/// The 64-hex container id of container number `n`.
std::string container_id(std::size_t n);

/// The template the benchmarks and the soak give the daemon (redisdb.d/auto_conf.yaml):
/// identifier `redis`, `host: '%%host%%'`, port 6379.
extern const char* const redis_template;

class scale_engine {
 public:
  scale_engine();
  ~scale_engine();
  scale_engine(const scale_engine&) = delete;
  scale_engine& operator=(const scale_engine&) = delete;

  std::string url() const { return url_; }
  std::string socket_path() const { return socket_path_; }

  /// Runs `fn` on the engine's thread and waits for it.
  void call(const std::function<void(test::fake_engine&)>& fn);

  /// Adds running containers [first, first + count) (image "redis:5", one bridge IP each).
  void add_containers(std::size_t first, std::size_t count);
  void set_inspect_delay(std::chrono::milliseconds delay);

  /// One step of an event script: container `n` starts (added, then a `start` event) or is
  /// destroyed (removed, then a `destroy` event).
  struct step {
    std::size_t container = 0;
    bool start = true;
  };
  /// Plays `script` at `rate` events/s (0: as fast as the engine can write, in batches of
  /// 64); the emit time of each step goes to `emitted` (same order). Returns when all are
  /// written.
  void play(const std::vector<step>& script, double rate, std::vector<clock_type::time_point>& emitted);

  /// Inspect requests answered so far.
  std::size_t inspects();

 private:
  boost::asio::io_context io_;
  std::unique_ptr<test::fake_engine> engine_;
  std::thread thread_;
  std::string url_;
  std::string socket_path_;
};

}  // namespace autodiscd::bench
