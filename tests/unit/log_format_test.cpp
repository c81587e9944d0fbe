// log.format json: one valid JSON object per line whatever the message holds.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>

#include "listeners/log.hpp"

using namespace autodiscd;

namespace {

std::string format_line(const std::string& format, bool journal, const std::string& message) {
  auto formatter = make_log_formatter(format, journal);
  spdlog::details::log_msg msg("listener.docker", spdlog::level::warn, message);
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return std::string(out.data(), out.size());
}

}  // namespace

TEST_CASE("json log lines stay valid JSON with quotes, backslashes and control characters", "[log]") {
  const std::string nasty = "file \"a\\b.yaml\": key 'x'\nnext line\ttab \x01 end {\"inject\": 1}";
  const auto line = format_line("json", false, nasty);
  REQUIRE(line.ends_with("\n"));
  auto j = nlohmann::json::parse(line);
  CHECK(j["message"] == nasty);
  CHECK(j["level"] == "warning");
  CHECK(j["logger"] == "listener.docker");
  CHECK(j["time"].get<std::string>().size() >= 23);
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
}

TEST_CASE("text logs drop the timestamp under journald", "[log]") {
  CHECK(format_line("text", true, "hello") == "warning listener.docker: hello\n");
  const auto with_time = format_line("text", false, "hello");
  CHECK(with_time.ends_with(" warning listener.docker: hello\n"));
  CHECK(with_time.size() > std::string("warning listener.docker: hello\n").size() + 20);
}
