#include "listeners/kubelet/kubelet_pod_shape.hpp"

namespace autodiscd {

pod_node pod_member_kind(pod_node parent, std::string_view key) {
  switch (parent) {
    case pod_node::root:
      return key == "items" ? pod_node::items : key == "kind" ? pod_node::keep_all : pod_node::skip;
    case pod_node::pod:
      return key == "metadata" ? pod_node::metadata
             : key == "spec"   ? pod_node::spec
             : key == "status" ? pod_node::status
                               : pod_node::skip;
    case pod_node::metadata:
      if (key == "annotations") return pod_node::annotations;
      return key == "name" || key == "namespace" || key == "uid" ? pod_node::keep_all : pod_node::skip;
    case pod_node::annotations:
      return key.starts_with(ad_prefix) || key.starts_with(legacy_prefix) || key == "kubernetes.io/config.source"
                 ? pod_node::keep_all
                 : pod_node::skip;
    case pod_node::spec:
      return key == "containers" ? pod_node::containers
             : key == "initContainers" ? pod_node::init_containers
                                       : pod_node::skip;
    case pod_node::container:
      if (key == "ports") return pod_node::ports;
      return key == "name" || key == "image" ? pod_node::keep_all : pod_node::skip;
    case pod_node::port:
      return key == "name" || key == "containerPort" ? pod_node::keep_all : pod_node::skip;
    case pod_node::init_container:
      return key == "name" ? pod_node::keep_all : pod_node::skip;
    case pod_node::status:
      if (key == "conditions") return pod_node::conditions;
      if (key == "containerStatuses") return pod_node::statuses;
      return key == "phase" || key == "podIP" ? pod_node::keep_all : pod_node::skip;
    case pod_node::condition:
      return key == "type" || key == "status" ? pod_node::keep_all : pod_node::skip;
    case pod_node::container_status:
      if (key == "state") return pod_node::state;
      return key == "name" || key == "containerID" || key == "image" ? pod_node::keep_all : pod_node::skip;
    case pod_node::state:
      return key == "terminated" ? pod_node::terminated : pod_node::skip;
    case pod_node::terminated:
      return key == "finishedAt" ? pod_node::keep_all : pod_node::skip;
    case pod_node::keep_all:
      return pod_node::keep_all;
    default:
      return pod_node::skip;
  }
}

pod_node pod_element_kind(pod_node parent) {
  switch (parent) {
    case pod_node::items: return pod_node::pod;
    case pod_node::containers: return pod_node::container;
    case pod_node::ports: return pod_node::port;
    case pod_node::init_containers: return pod_node::init_container;
    case pod_node::conditions: return pod_node::condition;
    case pod_node::statuses: return pod_node::container_status;
    case pod_node::keep_all: return pod_node::keep_all;
    default: return pod_node::skip;
  }
}

bool pod_node_is_object(pod_node kind) {
  switch (kind) {
    case pod_node::pod: case pod_node::metadata: case pod_node::annotations: case pod_node::spec:
    case pod_node::container: case pod_node::port: case pod_node::init_container: case pod_node::status:
    case pod_node::condition: case pod_node::container_status: case pod_node::state: case pod_node::terminated:
      return true;
    default:
      return false;
  }
}

bool pod_node_is_array(pod_node kind) {
  switch (kind) {
    case pod_node::items: case pod_node::containers: case pod_node::ports: case pod_node::init_containers:
    case pod_node::conditions: case pod_node::statuses:
      return true;
    default:
      return false;
  }
}

}  // namespace autodiscd
