#include "listeners/registry.hpp"

#include <array>

#include "listeners/docker/docker_listener.hpp"
#include "listeners/ecs/ecs_listener.hpp"
#include "listeners/kubelet/kubelet_listener.hpp"
#include "listeners/process/process_listener.hpp"
#include "listeners/static/static_listener.hpp"

namespace autodiscd {

std::span<const listener_factory> listener_factories() {
  // Every listener type, in one place. A new listener is one line here.
  static const std::array factories{
      listener_factory{"static", &static_listener::validate, &static_listener::create},
      listener_factory{"docker", &docker_listener::validate, &docker_listener::create},
      listener_factory{"kubelet", &kubelet_listener::validate, &kubelet_listener::create},
      listener_factory{"ecs", &ecs_listener::validate, &ecs_listener::create},
      listener_factory{"process", &process_listener::validate, &process_listener::create},
  };
  return factories;
}

const listener_factory* find_listener_factory(std::string_view type) {
  for (const auto& f : listener_factories()) {
    if (f.type == type) return &f;
  }
  return nullptr;
}

}  // namespace autodiscd
