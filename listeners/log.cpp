#include "listeners/log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_sinks.h>

namespace autodiscd {

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  auto base = spdlog::default_logger();
  auto made = std::make_shared<spdlog::logger>(component, base->sinks().begin(), base->sinks().end());
  made->set_level(base->level());
  spdlog::register_logger(made);
  return made;
}

void setup_logging(const std::string& level, const std::string& format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto root = std::make_shared<spdlog::logger>("autodiscd", sink);
  spdlog::set_default_logger(root);
  spdlog::set_level(spdlog::level::from_str(level == "warning" ? "warn" : level));
  if (format == "json") {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","message":"%v"})");
  } else if (std::getenv("JOURNAL_STREAM")) {
    spdlog::set_pattern("%l %n: %v");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %n: %v");
  }
  // Loggers made before this call keep working with the new sink and level.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    if (l == root) return;
    l->sinks() = root->sinks();
    l->set_level(root->level());
  });
}

}  // namespace autodiscd
