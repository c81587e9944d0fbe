// Fuzzes the daemon's config file: parse_daemon_config (every listener's validation included).
// Input: the config file's text.
#include "fuzz_common.hpp"

#include "config/daemon_config.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::as_view(data, size));
  daemon_config out;
  const auto errors = parse_daemon_config(text, "/fuzz/autodiscd.yaml", "/fuzz", out);
  for (const auto& e : errors) (void)e.to_string();
  if (errors.empty()) {
    fuzz::require(!out.output_dir.empty(), "a valid config without an output folder");
  }
  return 0;
}
