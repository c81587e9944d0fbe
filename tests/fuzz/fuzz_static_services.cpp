// Fuzzes the static listener's services file: parse_static_services.
// Input: the file's text.
#include "fuzz_common.hpp"

#include "listeners/service_json.hpp"
#include "listeners/static/static_services.hpp"

using namespace autodiscd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::as_view(data, size));
  service_map out;
  const auto errors = parse_static_services(text, "/fuzz/services.yaml", "static", out);
  if (!errors.empty()) {
    fuzz::require(out.empty(), "services kept from a file with errors");
    for (const auto& e : errors) fuzz::require(e.file == "/fuzz/services.yaml", "error does not name the file");
    return 0;
  }
  for (const auto& [id, snapshot] : out) {
    const service& svc = *snapshot;
    fuzz::require(!id.empty() && id == svc.id, "service id");
    fuzz::require(!svc.ad_identifiers.empty(), "service without ad_identifiers", id);
    if (svc.ports) {
      for (std::size_t i = 0; i < svc.ports->size(); ++i) {
        const auto& p = (*svc.ports)[i];
        fuzz::require(p.port >= 1 && p.port <= 65535, "port out of range", id);
        if (i > 0) fuzz::require((*svc.ports)[i - 1].port <= p.port, "ports not sorted", id);
      }
    }
    (void)service_to_json(svc).dump();  // what `autodiscd services` and /services print
  }
  return 0;
}
