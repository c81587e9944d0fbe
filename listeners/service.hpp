#pragma once
// The service snapshot every listener produces and the resolver consumes.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/check_template.hpp"

namespace autodiscd {

/// One port a service listens on.
struct service_port {
  int port = 0;
  std::string name;  ///< e.g. "redis", "6379/tcp"; may be empty
  friend bool operator==(const service_port&, const service_port&) = default;
};

/// Templates that travel with the service (container labels, pod annotations).
struct service_templates {
  /// Templates defined by the service itself (apply to this service only).
  std::vector<check_template> templates;
  /// True when the labels say `check_names: []`: no file template applies.
  bool disable_file_templates = false;
  /// Errors in the labels/annotations, e.g. "label com.datadoghq.ad.instances: bad JSON".
  /// They reject the label templates of this service only.
  std::vector<std::string> errors;
  friend bool operator==(const service_templates&, const service_templates&) = default;
};

/// An immutable snapshot of one running service (a container).
/// std::nullopt on an optional field means "the listener does not support it",
/// which is distinct from an empty value.
struct service {
  std::string id;        ///< "docker://<id>", "containerd://<id>", ...
  std::string listener;  ///< name of the listener that reported it
  std::vector<std::string> ad_identifiers;
  std::optional<std::map<std::string, std::string>> hosts;  ///< network name -> IP
  std::optional<std::vector<service_port>> ports;            ///< sorted ascending by number
  std::vector<std::string> tags;
  std::optional<std::int64_t> pid;
  std::optional<std::string> hostname;
  bool ready = true;
  std::map<std::string, std::string> extra;  ///< pod_name, namespace, pod_uid, ...
  service_templates label_templates;

  friend bool operator==(const service&, const service&) = default;
};

/// A service as it is held: one immutable snapshot that the listener, the app and the resolver
/// share (a change is a new snapshot, never an edit), so each service lives once in memory.
using service_ptr = std::shared_ptr<const service>;

/// Sorts ports ascending by number (then name) and drops exact duplicates.
void normalize_ports(std::vector<service_port>& ports);

}  // namespace autodiscd
