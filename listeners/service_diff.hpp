#pragma once
// The pure difference between two sets of services: what every listener reports.

#include <map>
#include <string>
#include <vector>

#include "listeners/service.hpp"

namespace autodiscd {

/// Services keyed by id.
using service_map = std::map<std::string, service>;

/// What changed between two snapshots of a listener's services.
struct service_delta {
  std::vector<service> added;
  std::vector<service> changed;  ///< same id, different snapshot (the new one)
  std::vector<std::string> removed;
  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

/// Computes what turns `before` into `after`.
service_delta diff_services(const service_map& before, const service_map& after);

/// The delta for one service id: `after` absent means it is gone.
service_delta diff_one(const service* before, const service* after);

}  // namespace autodiscd
