#pragma once
// The real app (in this process, on a test-owned io_context) on an ops_setup world: the static
// listener, the real templates, out/. Started and ready on construction, stopped on destruction.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/daemon_config.hpp"
#include "daemon/app.hpp"
#include "support/ops_process.hpp"

namespace autodiscd::test {

struct running_app {
  explicit running_app(const std::string& services_yaml) {
    using namespace std::chrono_literals;
    setup.write_services(services_yaml);
    auto errors = load_daemon_config(setup.config, config);
    REQUIRE(errors.empty());
    the_app = std::make_unique<app>(io, config, true);
    REQUIRE_FALSE(the_app->start().has_value());
    for (int i = 0; i < 200 && !the_app->ready(); ++i) io.run_for(10ms);
    REQUIRE(the_app->ready());
  }
  ~running_app() {
    the_app->stop();
    io.run_for(std::chrono::milliseconds(20));
  }
  running_app(const running_app&) = delete;
  running_app& operator=(const running_app&) = delete;

  ops_setup setup;
  daemon_config config;
  boost::asio::io_context io{1};
  std::unique_ptr<app> the_app;
};

}  // namespace autodiscd::test
