#include "scale_engine.hpp"

#include <future>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace autodiscd::bench {

std::string container_id(std::size_t n) { return fmt::format("{:064x}", n + 1); }

const char* const redis_template = R"(ad_identifiers:
  - redis
init_config:
instances:
  - host: '%%host%%'
    port: 6379
)";

namespace {
nlohmann::json make_container(std::size_t n) {
  auto ip = fmt::format("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
  return test::fake_engine::container(container_id(n), fmt::format("bench-{}", n), "redis:5", {}, ip);
}
}  // namespace

scale_engine::scale_engine() {
  // The work guard lives as long as the thread's run(); the thread ends when io_ is stopped.
  auto guard = std::make_shared<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
      io_.get_executor());
  thread_ = std::thread([this, guard] { io_.run(); });
  call([](test::fake_engine&) {});
}

scale_engine::~scale_engine() {
  std::promise<void> done;
  boost::asio::post(io_, [this, &done] {
    engine_.reset();
    done.set_value();
  });
  done.get_future().wait();
  io_.stop();
  thread_.join();
}

void scale_engine::call(const std::function<void(test::fake_engine&)>& fn) {
  std::promise<void> done;
  boost::asio::post(io_, [this, &fn, &done] {
    if (!engine_) {
      engine_ = std::make_unique<test::fake_engine>(io_.get_executor());
      url_ = engine_->url();
      socket_path_ = engine_->socket_path();
    }
    fn(*engine_);
    done.set_value();
  });
  done.get_future().wait();
}

void scale_engine::add_containers(std::size_t first, std::size_t count) {
  call([first, count](test::fake_engine& e) {
    for (std::size_t n = first; n < first + count; ++n) e.put_container(make_container(n));
  });
}

void scale_engine::set_inspect_delay(std::chrono::milliseconds delay) {
  call([delay](test::fake_engine& e) { e.inspect_delay = delay; });
}

std::size_t scale_engine::inspects() {
  std::size_t n = 0;
  call([&n](test::fake_engine& e) {
    for (const auto& [path, hits] : e.hits) {
      if (path.rfind("/containers/", 0) == 0 && path != "/containers/json") n += static_cast<std::size_t>(hits);
    }
  });
  return n;
}

void scale_engine::play(const std::vector<step>& script, double rate, std::vector<clock_type::time_point>& emitted) {
  emitted.assign(script.size(), {});
  const auto begin = clock_type::now();
  std::size_t next = 0;
  while (next < script.size()) {
    std::size_t due = script.size();
    if (rate > 0) {
      const double elapsed = std::chrono::duration<double>(clock_type::now() - begin).count();
      due = std::min(script.size(), static_cast<std::size_t>(elapsed * rate) + 1);
    }
    const std::size_t until = std::min(due, next + 64);
    if (until > next) {
      call([&](test::fake_engine& e) {
        for (; next < until; ++next) {
          const auto& s = script[next];
          const auto id = container_id(s.container);
          if (s.start) {
            e.put_container(make_container(s.container));
            emitted[next] = clock_type::now();
            e.emit_container_event("start", id);
          } else {
            e.remove_container(id);
            emitted[next] = clock_type::now();
            e.emit_container_event("destroy", id);
          }
        }
      });
    }
    if (rate > 0 && next < script.size()) {
      // Sleep until the next step is due (at most 1 ms: batches stay small and even).
      const auto next_due = begin + std::chrono::duration_cast<clock_type::duration>(
                                        std::chrono::duration<double>(static_cast<double>(next) / rate));
      const auto now = clock_type::now();
      if (next_due > now) std::this_thread::sleep_for(std::min<clock_type::duration>(next_due - now, std::chrono::milliseconds(1)));
    }
  }
}

}  // namespace autodiscd::bench
