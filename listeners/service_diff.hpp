#pragma once
// The pure difference between two sets of services: what every listener reports.

#include <map>
#include <string>
#include <vector>

#include "listeners/service.hpp"

namespace autodiscd {

/// Services keyed by id; every value is non-null.
using service_map = std::map<std::string, service_ptr>;

/// What changed between two snapshots of a listener's services. The snapshots are shared,
/// not copied: the receiver keeps the same pointers.
struct service_delta {
  std::vector<service_ptr> added;
  std::vector<service_ptr> changed;  ///< same id, different snapshot (the new one)
  std::vector<std::string> removed;
  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

/// Puts `svc` in `services` under its id (replacing what was there) as a new snapshot.
void put_service(service_map& services, service svc);

/// Computes what turns `before` into `after`. Snapshots are compared by value; the same
/// pointer is unchanged without a look. Pure.
service_delta diff_services(const service_map& before, const service_map& after);

/// The same, and each service of `after` equal to its snapshot in `before` is replaced by that
/// snapshot: a listener that maps everything afresh keeps sharing the unchanged services with
/// the app instead of holding equal copies.
service_delta diff_services_sharing(const service_map& before, service_map& after);

/// The delta for one service id: `after` null means it is gone.
service_delta diff_one(const service_ptr& before, const service_ptr& after);

}  // namespace autodiscd
