#include "listeners/service.hpp"

#include <algorithm>
#include <tuple>

namespace autodiscd {

void normalize_ports(std::vector<service_port>& ports) {
  std::sort(ports.begin(), ports.end(), [](const service_port& a, const service_port& b) {
    return std::tie(a.port, a.name) < std::tie(b.port, b.name);
  });
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
}

}  // namespace autodiscd
