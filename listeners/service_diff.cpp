#include "listeners/service_diff.hpp"

namespace autodiscd {

service_delta diff_services(const service_map& before, const service_map& after) {
  service_delta delta;
  auto b = before.begin();
  auto a = after.begin();
  // Both maps are sorted by id: one merge pass.
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      delta.removed.push_back(b->first);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      delta.added.push_back(a->second);
      ++a;
    } else {
      if (!(b->second == a->second)) delta.changed.push_back(a->second);
      ++a;
      ++b;
    }
  }
  return delta;
}

service_delta diff_one(const service* before, const service* after) {
  service_delta delta;
  if (before && !after) {
    delta.removed.push_back(before->id);
  } else if (!before && after) {
    delta.added.push_back(*after);
  } else if (before && after && !(*before == *after)) {
    delta.changed.push_back(*after);
  }
  return delta;
}

}  // namespace autodiscd
