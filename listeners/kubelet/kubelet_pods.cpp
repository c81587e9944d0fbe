#include "listeners/kubelet/kubelet_pods.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include <boost/json/basic_parser_impl.hpp>

#include "listeners/ad_templates.hpp"
#include "listeners/container_ids.hpp"
#include "listeners/kubelet/kubelet_pod_shape.hpp"

namespace autodiscd {
namespace {

using input_json = nlohmann::json;

/// Nesting deeper than this is an error (Boost.JSON's default is 32; managedFields nest deeper,
/// and the parser keeps its own stack, not the call stack's).
constexpr std::size_t max_pod_list_depth = 10'000;

/// Per-container annotation keys (after "<prefix><container>.").
constexpr std::array<std::string_view, 12> container_keys = {
    "check_names", "init_configs", "instances", "logs", "checks", "check.id", "exclude", "tags",
    "ignore_autodiscovery_tags", "logs_exclude", "metrics_exclude", "check_tag_cardinality"};
/// The keys that define templates.
constexpr std::array<std::string_view, 5> template_keys = {"checks", "check_names", "init_configs", "instances",
                                                           "logs"};

/// A string member, "" when absent or not a string.
std::string_view str(const input_json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

/// A member, or a null value when absent.
const input_json& member(const input_json& object, const char* key) {
  static const input_json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

using annotation_map = std::map<std::string, std::string>;

/// The annotations autodiscovery reads (the others can be large: last-applied-configuration).
annotation_map ad_annotations(const input_json& annotations) {
  annotation_map out;
  if (!annotations.is_object()) return out;
  for (const auto& [key, value] : annotations.items()) {
    if (!value.is_string()) continue;
    if (key.starts_with(ad_prefix) || key.starts_with(legacy_prefix) || key == "kubernetes.io/config.source") {
      out.emplace(key, value.get<std::string>());
    }
  }
  return out;
}

const std::string* find_annotation(const annotation_map& annotations, std::string_view key) {
  const auto it = annotations.find(std::string(key));
  return it == annotations.end() ? nullptr : &it->second;
}

bool annotation_true(const annotation_map& annotations, std::string_view key) {
  const auto* value = find_annotation(annotations, key);
  return value && *value == "true";
}

/// Whether any template key exists under `prefix`.
bool has_templates(const annotation_map& annotations, const std::string& prefix) {
  for (auto it = annotations.lower_bound(prefix); it != annotations.end() && it->first.starts_with(prefix); ++it) {
    const std::string_view suffix = std::string_view(it->first).substr(prefix.size());
    if (std::find(template_keys.begin(), template_keys.end(), suffix) != template_keys.end()) return true;
  }
  return false;
}

/// One container of the pod spec.
struct spec_container {
  std::string image;
  std::vector<service_port> ports;
};

std::map<std::string, spec_container> spec_containers(const input_json& containers) {
  std::map<std::string, spec_container> out;
  if (!containers.is_array()) return out;
  for (const auto& c : containers) {
    spec_container sc;
    sc.image = std::string(str(c, "image"));
    if (const auto& ports = member(c, "ports"); ports.is_array()) {
      for (const auto& p : ports) {
        const auto& number = member(p, "containerPort");
        if (!number.is_number_integer()) continue;
        const auto value = number.get<long long>();
        if (value < 1 || value > 65535) continue;
        sc.ports.push_back({static_cast<int>(value), std::string(str(p, "name"))});
      }
      normalize_ports(sc.ports);
    }
    out.emplace(std::string(str(c, "name")), std::move(sc));
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

/// Pods that finished longer than `expiration` ago are dropped.
bool pod_expired(const input_json& status, std::string_view phase, const kubelet_pod_options& options) {
  if (phase != "Succeeded" && phase != "Failed") return false;
  std::optional<std::chrono::system_clock::time_point> finished;
  if (const auto& statuses = member(status, "containerStatuses"); statuses.is_array()) {
    for (const auto& cs : statuses) {
      const auto when = parse_rfc3339(str(member(member(cs, "state"), "terminated"), "finishedAt"));
      if (when && (!finished || *when > *finished)) finished = when;
    }
  }
  if (!finished) return false;
  if (options.now - *finished > options.pod_expiration) return true;
  if (auto* next = options.next_expiry) {
    const auto at = *finished + options.pod_expiration;
    if (!*next || at < **next) *next = at;
  }
  return false;
}

bool condition_true(const input_json& status, std::string_view type) {
  const auto& conditions = member(status, "conditions");
  if (!conditions.is_array()) return false;
  for (const auto& c : conditions) {
    if (str(c, "type") == type) return str(c, "status") == "True";
  }
  return false;
}

/// Checks that every per-container annotation names a container (or a check.id) of the pod.
void check_annotation_targets(const annotation_map& annotations, const std::set<std::string, std::less<>>& targets,
                              const std::string& pod_where, std::vector<std::string>& errors) {
  for (const auto& [key, value] : annotations) {
    std::string_view rest = key;
    if (rest.starts_with(ad_prefix)) rest.remove_prefix(ad_prefix.size());
    else if (rest.starts_with(legacy_prefix)) rest.remove_prefix(legacy_prefix.size());
    else continue;
    for (const auto suffix : container_keys) {
      if (rest.size() > suffix.size() + 1 && rest.ends_with(suffix) && rest[rest.size() - suffix.size() - 1] == '.') {
        const auto name = rest.substr(0, rest.size() - suffix.size() - 1);
        if (!targets.contains(name)) {
          errors.push_back(pod_where + ": annotation " + key + ": names no container of the pod (container \"" +
                           std::string(name) + "\")");
        }
        break;
      }
    }
  }
}

/// A Boost.JSON basic_parser handler building a document of only the parts of a PodList the
/// mapping reads (kubelet_pod_shape.hpp): a /pods body is mostly managedFields, volumes, env
/// and last-applied-configuration, which are validated but never allocated. Strings arrive as
/// views into the body (in parts when escaped); only the kept ones are copied.
class pruned_pod_list_builder {
 public:
  using error_code = boost::json::error_code;
  using string_view = boost::json::string_view;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit pruned_pod_list_builder(input_json& root) : root_(root) {}

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return open(input_json::object()); }
  bool on_object_end(std::size_t, error_code&) { return close(); }
  bool on_array_begin(error_code&) { return open(input_json::array()); }
  bool on_array_end(std::size_t, error_code&) { return close(); }
  bool on_key_part(string_view part, std::size_t, error_code&) {
    if (skip_depth_ == 0) part_.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view last, std::size_t, error_code&) {
    if (skip_depth_ > 0) return true;
    std::string_view key(last.data(), last.size());
    if (!part_.empty()) key = part_.append(last.data(), last.size());
    pending_kind_ = pod_member_kind(kinds_.back(), key);
    if (pending_kind_ != pod_node::skip) key_.assign(key);
    part_.clear();
    return true;
  }
  bool on_string_part(string_view part, std::size_t, error_code&) {
    if (keeps_next()) part_.append(part.data(), part.size());
    return true;
  }
  bool on_string(string_view last, std::size_t, error_code&) {
    if (!keeps_next()) return true;
    part_.append(last.data(), last.size());
    place(input_json(std::move(part_)));
    part_.clear();
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t v, string_view, error_code&) { return value(v); }
  bool on_uint64(std::uint64_t v, string_view, error_code&) { return value(v); }
  bool on_double(double v, string_view, error_code& ec) {
    // 1e400: nlohmann refused it, Boost.JSON reads infinity; kept refused.
    if (!std::isfinite(v)) {
      ec = boost::json::error::exponent_overflow;
      return false;
    }
    return value(v);
  }
  bool on_bool(bool v, error_code&) { return value(v); }
  bool on_null(error_code&) { return value(nullptr); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 private:
  /// The kind of the value about to be read.
  pod_node next_kind() const {
    if (stack_.empty()) return pod_node::root;
    return stack_.back()->is_array() ? pod_element_kind(kinds_.back()) : pending_kind_;
  }
  bool keeps_next() const { return skip_depth_ == 0 && next_kind() != pod_node::skip; }
  input_json* place(input_json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    auto* parent = stack_.back();
    if (parent->is_array()) {
      parent->push_back(std::move(v));
      return &parent->back();
    }
    auto& slot = (*parent)[key_];
    slot = std::move(v);
    return &slot;
  }
  template <class V>
  bool value(V&& v) {
    if (keeps_next()) place(input_json(std::forward<V>(v)));
    return true;
  }
  bool open(input_json&& container) {
    if (!keeps_next()) {
      ++skip_depth_;
      return true;
    }
    const auto kind = next_kind();
    stack_.push_back(place(std::move(container)));
    kinds_.push_back(kind);
    return true;
  }
  bool close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    stack_.pop_back();
    kinds_.pop_back();
    return true;
  }

  input_json& root_;
  std::vector<input_json*> stack_;
  std::vector<pod_node> kinds_;
  std::string key_;
  std::string part_;  ///< the parts of a key or a kept string read so far
  pod_node pending_kind_ = pod_node::skip;
  int skip_depth_ = 0;
};

void add_tag(std::vector<std::string>& tags, std::string_view name, std::string_view value) {
  if (!value.empty()) tags.push_back(std::string(name) + ":" + std::string(value));
}

void map_pod(const input_json& pod, const kubelet_pod_options& options, service_map& out) {
  const auto& metadata = member(pod, "metadata");
  const auto& spec = member(pod, "spec");
  const auto& status = member(pod, "status");
  const auto phase = str(status, "phase");
  if (pod_expired(status, phase, options)) return;

  const auto annotations = ad_annotations(member(metadata, "annotations"));
  if (annotation_true(annotations, "ad.datadoghq.com/exclude")) return;

  const std::string pod_name(str(metadata, "name"));
  const std::string ns(str(metadata, "namespace"));
  const std::string uid(str(metadata, "uid"));
  const std::string pod_ip(str(status, "podIP"));
  const std::string pod_where = ns + "/" + pod_name;

  const auto* source = find_annotation(annotations, "kubernetes.io/config.source");
  const bool static_pod = source && *source != "api";
  const bool pod_ready = (phase == "Running" && condition_true(status, "Ready")) ||
                         annotation_true(annotations, "ad.datadoghq.com/tolerate-unready") ||
                         (static_pod && phase == "Pending");

  std::map<std::string, std::string> hosts;
  if (!pod_ip.empty()) hosts.emplace("pod", pod_ip);
  const std::map<std::string, std::string> extra{{"pod_name", pod_name}, {"namespace", ns}, {"pod_uid", uid}};
  const auto phase_tag = lower(phase);

  const auto containers = spec_containers(member(spec, "containers"));
  std::set<std::string, std::less<>> targets;  // names an annotation may use
  for (const auto& [name, c] : containers) targets.insert(name);
  if (const auto& init = member(spec, "initContainers"); init.is_array()) {
    for (const auto& c : init) targets.insert(std::string(str(c, "name")));
  }
  std::map<std::string, std::string> check_ids;  // container -> check.id
  for (const auto& [name, c] : containers) {
    for (const auto prefix : {ad_prefix, legacy_prefix}) {
      if (const auto* id = find_annotation(annotations, std::string(prefix) + name + ".check.id"); id && !id->empty()) {
        check_ids.emplace(name, *id);
        targets.insert(*id);
        break;
      }
    }
  }

  service pod_service;
  pod_service.id = "kubernetes_pod://" + uid;
  pod_service.listener = options.listener_name;
  pod_service.ad_identifiers = {pod_service.id};
  pod_service.hosts = hosts;
  pod_service.ports.emplace();
  pod_service.extra = extra;
  add_tag(pod_service.tags, "kube_namespace", ns);
  add_tag(pod_service.tags, "pod_name", pod_name);
  add_tag(pod_service.tags, "pod_phase", phase_tag);
  std::sort(pod_service.tags.begin(), pod_service.tags.end());
  check_annotation_targets(annotations, targets, pod_where, pod_service.label_templates.errors);

  if (const auto& statuses = member(status, "containerStatuses"); statuses.is_array()) {
    for (const auto& cs : statuses) {
      const std::string id(str(cs, "containerID"));
      if (id.empty()) continue;  // pending or creating: not a service yet
      const std::string name(str(cs, "name"));
      if (annotation_true(annotations, std::string(ad_prefix) + name + ".exclude")) continue;
      const auto spec_it = containers.find(name);
      const spec_container* sc = spec_it == containers.end() ? nullptr : &spec_it->second;
      const std::string image = sc ? sc->image : std::string(str(cs, "image"));
      const auto image_parts = split_image_name(image);
      const auto check_id = check_ids.find(name);

      service svc;
      svc.id = id;
      svc.listener = options.listener_name;
      auto add_identifier = [&svc](const std::string& value) {
        if (!value.empty() && std::find(svc.ad_identifiers.begin(), svc.ad_identifiers.end(), value) ==
                                  svc.ad_identifiers.end()) {
          svc.ad_identifiers.push_back(value);
        }
      };
      if (check_id != check_ids.end()) add_identifier(check_id->second);
      add_identifier(id);
      add_identifier(image);
      add_identifier(image_parts.short_name);
      svc.hosts = hosts;
      svc.ports = sc ? sc->ports : std::vector<service_port>{};
      if (sc) pod_service.ports->insert(pod_service.ports->end(), sc->ports.begin(), sc->ports.end());
      svc.ready = pod_ready;
      svc.extra = extra;
      add_tag(svc.tags, "kube_namespace", ns);
      add_tag(svc.tags, "pod_name", pod_name);
      add_tag(svc.tags, "kube_container_name", name);
      add_tag(svc.tags, "image_name", image_parts.long_name);
      add_tag(svc.tags, "short_image", image_parts.short_name);
      add_tag(svc.tags, "image_tag", image_parts.tag);
      add_tag(svc.tags, "pod_phase", phase_tag);
      std::sort(svc.tags.begin(), svc.tags.end());

      // Templates under the container's name first, then under its check.id.
      std::vector<std::string> prefixes;
      for (const auto base : {ad_prefix, legacy_prefix}) {
        prefixes.push_back(std::string(base) + name + ".");
        if (check_id != check_ids.end()) prefixes.push_back(std::string(base) + check_id->second + ".");
      }
      for (const auto& prefix : prefixes) {
        if (has_templates(annotations, prefix)) {
          svc.label_templates = parse_ad_templates(annotations, prefix, pod_where + " container " + name);
          break;
        }
      }
      put_service(out, std::move(svc));
    }
  }
  normalize_ports(*pod_service.ports);
  if (!uid.empty()) put_service(out, std::move(pod_service));
}

}  // namespace

std::optional<std::string> parse_pod_list(std::string_view body, const kubelet_pod_options& options,
                                          service_map& out) {
  out.clear();
  input_json doc;
  if (auto error = parse_pod_list_json(body, doc)) return error;
  return pods_to_services(doc, options, out);
}

std::optional<std::string> parse_pod_list_json(std::string_view body, nlohmann::json& out) {
  out = nullptr;
  boost::json::parse_options limits;
  limits.max_depth = max_pod_list_depth;
  boost::json::basic_parser<pruned_pod_list_builder> parser(limits, out);
  boost::json::error_code ec;
  const auto read = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && read != body.size()) ec = boost::json::error::extra_data;
  if (ec) {
    out = nullptr;
    return "malformed JSON (" + std::to_string(body.size()) + " bytes): " + ec.message() + " (at byte " +
           std::to_string(read) + ")";
  }
  return std::nullopt;
}

std::optional<std::string> pods_to_services(const input_json& pod_list, const kubelet_pod_options& options,
                                            service_map& out) {
  out.clear();
  if (!pod_list.is_object()) return "not a PodList: expected a JSON object";
  const auto items = pod_list.find("items");
  if (items == pod_list.end()) {
    if (str(pod_list, "kind") == "PodList") return std::nullopt;
    return "not a PodList: no \"items\"";
  }
  if (items->is_null()) return std::nullopt;  // a starting kubelet says "items": null
  if (!items->is_array()) return "not a PodList: \"items\" is not a list";
  for (const auto& pod : *items) {
    if (pod.is_object()) map_pod(pod, options, out);
  }
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (text.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t pos, std::size_t count, int& value) {
    value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
      if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      value = value * 10 + (text[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' || !digits(8, 2, day) ||
      (text[10] != 'T' && text[10] != 't') || !digits(11, 2, hour) || text[13] != ':' || !digits(14, 2, minute) ||
      text[16] != ':' || !digits(17, 2, second)) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  int offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
    offset_seconds = 0;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') && text[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (!digits(pos + 1, 2, oh) || !digits(pos + 4, 2, om)) return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const auto epoch = ::timegm(&tm);
  return std::chrono::system_clock::from_time_t(epoch - offset_seconds);
}

}  // namespace autodiscd
