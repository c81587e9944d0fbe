#include "listeners/service_diff.hpp"

#include <type_traits>

namespace autodiscd {
namespace {

bool same(const service_ptr& a, const service_ptr& b) { return a == b || *a == *b; }

/// Both maps are sorted by id: one merge pass. With `share`, unchanged entries of `after`
/// take the snapshot of `before`.
template <class AfterMap>
service_delta merge_diff(const service_map& before, AfterMap& after, bool share) {
  service_delta delta;
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      delta.removed.push_back(b->first);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      delta.added.push_back(a->second);
      ++a;
    } else {
      if (!same(b->second, a->second)) {
        delta.changed.push_back(a->second);
      } else if constexpr (!std::is_const_v<AfterMap>) {
        if (share) a->second = b->second;
      }
      ++a;
      ++b;
    }
  }
  return delta;
}

}  // namespace

void put_service(service_map& services, service svc) {
  auto snapshot = std::make_shared<const service>(std::move(svc));
  const auto& id = snapshot->id;  // the pointee stays where it is when the pointer moves
  services.insert_or_assign(id, std::move(snapshot));
}

service_delta diff_services(const service_map& before, const service_map& after) {
  return merge_diff(before, after, false);
}

service_delta diff_services_sharing(const service_map& before, service_map& after) {
  return merge_diff(before, after, true);
}

service_delta diff_one(const service_ptr& before, const service_ptr& after) {
  service_delta delta;
  if (before && !after) {
    delta.removed.push_back(before->id);
  } else if (!before && after) {
    delta.added.push_back(after);
  } else if (before && after && !same(before, after)) {
    delta.changed.push_back(after);
  }
  return delta;
}

}  // namespace autodiscd
