#include "listeners/log.hpp"

#include <chrono>
#include <cstdlib>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace autodiscd {

std::function<void(std::exception_ptr)> log_task_end(std::string component, std::string name) {
  return [component = std::move(component), name = std::move(name)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& ex) {
      if (ex.code() != boost::asio::error::operation_aborted) {
        logger(component)->error("listener={} task stopped: {}", name, ex.what());
      }
    } catch (const std::exception& ex) {
      logger(component)->error("listener={} task stopped: {}", name, ex.what());
    }
  };
}


namespace {

/// `%*`: the message as the inside of a JSON string.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            constexpr char hex[] = "0123456789abcdef";
            const auto u = static_cast<unsigned char>(c);
            const char escaped[] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xf]};
            dest.append(escaped, escaped + sizeof(escaped));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& format, bool journal) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    formatter->add_flag<json_message_flag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","message":"%*"})");
  } else if (journal) {
    formatter->set_pattern("%l %n: %v");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %n: %v");
  }
  return formatter;
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  auto base = spdlog::default_logger();
  auto made = std::make_shared<spdlog::logger>(component, base->sinks().begin(), base->sinks().end());
  made->set_level(base->level());
  spdlog::register_logger(made);
  return made;
}

void trace_stage(std::string_view stage, std::string_view key) {
  static const auto log = logger("stages");
  if (!log->should_log(spdlog::level::trace)) return;
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  log->trace("stage={} key={} mono_us={}", stage, key, now.count());
}

void setup_logging(const std::string& level, const std::string& format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto root = std::make_shared<spdlog::logger>("autodiscd", sink);
  spdlog::set_default_logger(root);
  spdlog::set_level(spdlog::level::from_str(level == "warning" ? "warn" : level));
  spdlog::set_formatter(make_log_formatter(format, std::getenv("JOURNAL_STREAM") != nullptr));
  // Loggers made before this call keep working with the new sink and level.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    if (l == root) return;
    l->sinks() = root->sinks();
    l->set_level(root->level());
  });
}

}  // namespace autodiscd
