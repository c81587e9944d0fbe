#pragma once
// Pure parts of the Docker listener: Engine API JSON -> service, filters, events, the line
// splitter of the /events stream, API version negotiation. No I/O here: most tests go here.

#include <cstddef>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "listeners/service.hpp"

namespace autodiscd::docker {

/// `include` / `exclude` lists of regexes prefixed `name:` or `image:` (searched, not
/// anchored); a container matching an include is kept even if an exclude matches.
/// Pause containers (Kubernetes, ECS) are excluded unless `exclude_pause` is false.
class container_filter {
 public:
  /// Appends one message per bad entry ("exclude[1]: ...") to `errors`.
  container_filter(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
                   bool exclude_pause, std::vector<std::string>& errors);
  container_filter() = default;
  /// True when the container should not become a service. `name` without the leading '/'.
  bool excluded(std::string_view name, std::string_view image) const;

 private:
  struct rule {
    bool on_name = true;
    std::regex pattern;
  };
  static bool matches(const std::vector<rule>& rules, std::string_view name, std::string_view image);
  std::vector<rule> include_;
  std::vector<rule> exclude_;
  bool exclude_pause_ = true;
};

/// True for Kubernetes/ECS pause images (`registry.k8s.io/pause:3.9`, `amazon/amazon-ecs-pause`).
bool is_pause_image(std::string_view image);

/// Mapping options.
struct mapping_options {
  std::string listener_name = "docker";
  bool wait_for_healthy = false;
};

/// What became of one inspected container.
struct mapped_container {
  /// The service, when the container runs (not paused) and is not filtered out.
  std::optional<service> svc;
  bool running = false;
  bool filtered = false;
  std::string name;  ///< without the leading '/'
};

/// The image name to use for `inspect`: `Config.Image` unless it is an image id
/// (`sha256:...` or 64 hex), in which case "" (resolve it with image_name_from_image_inspect).
std::string image_name_of(const nlohmann::json& inspect);
/// The image id (`Image`, "sha256:...") of a container inspect.
std::string image_id_of(const nlohmann::json& inspect);
/// The best name of an image from `GET /images/{id}/json`: first sorted RepoTag, else the
/// first sorted RepoDigest, else "".
std::string image_name_from_image_inspect(const nlohmann::json& image_inspect);

/// Maps `GET /containers/{id}/json` to a service. `image` is the resolved image name ("" when
/// unknown). Pure; throws nothing (missing fields give empty values).
mapped_container map_container(const nlohmann::json& inspect, const std::string& image,
                               const mapping_options& options, const container_filter& filter);

/// Ports from `NetworkSettings.Ports` keys (ranges "22-25/tcp" expanded), else from
/// `Config.ExposedPorts`; sorted ascending.
std::vector<service_port> container_ports(const nlohmann::json& inspect);

/// One container event from /events.
struct event {
  std::string type;    ///< "container", "image", ...
  std::string action;  ///< "start", "health_status: healthy", ...
  std::string id;      ///< Actor.ID (or legacy "id")
};

/// Parses one /events line; nullopt when it is not a JSON object.
std::optional<event> parse_event(std::string_view line);

/// True when the event may change a container's service: start, unpause, rename, restart,
/// health_status*, die, stop, kill, pause, destroy, remove (Podman), oom, update.
bool event_needs_inspect(const event& ev);

/// True when the event may announce a health status that inspect does not show yet, so the
/// container is inspected once more a little later: Podman before 4.7 sends `health_status`
/// (and `exec_died`) while the check's exec ends, before it writes the result.
bool event_needs_late_inspect(const event& ev);

/// Splits the /events byte stream into lines, whatever the chunk boundaries.
class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line = 1u << 20) : max_line_(max_line) {}
  /// Appends `data`; complete non-empty lines (without '\n' / '\r') go to `lines`.
  /// Returns false when a line exceeds the limit (the stream must be dropped).
  bool feed(std::string_view data, std::vector<std::string>& lines);
  void reset() { partial_.clear(); }

 private:
  std::size_t max_line_;
  std::string partial_;
};

/// The API version to use: the engine's `Api-Version`, capped at the newest this client
/// knows; "" when the engine did not say (then no version prefix is used).
std::string negotiate_api_version(std::string_view engine_version);

/// Unix seconds from an HTTP Date header ("Thu, 26 Nov 2026 01:10:00 GMT"); nullopt if bad.
std::optional<long long> parse_http_date(std::string_view date);

}  // namespace autodiscd::docker
