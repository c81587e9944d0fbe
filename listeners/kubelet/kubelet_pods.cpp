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

using annotation_map = std::map<std::string, std::string>;

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

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
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

/// One container of the pod spec, as read.
struct raw_container {
  std::string name;
  std::string image;
  std::vector<service_port> ports;
};

/// One entry of status.containerStatuses, as read.
struct raw_status {
  std::string name;
  std::string container_id;
  std::string image;
  std::string finished_at;  ///< state.terminated.finishedAt
};

/// The parts of one pod the mapping reads (kubelet_pod_shape.hpp), straight from the tokens.
/// A member's value that is absent or of another type reads as empty, and of keys given twice
/// the last counts, as for any JSON object.
struct raw_pod {
  std::string name, ns, uid;
  annotation_map annotations;  ///< only those autodiscovery reads, string values only
  std::vector<raw_container> containers;
  std::vector<std::string> init_names;
  std::string phase, pod_ip;
  std::optional<bool> ready;  ///< the first condition of type Ready: status "True"
  std::vector<raw_status> statuses;
};

/// Pods that finished longer than `expiration` ago are dropped.
bool pod_expired(const raw_pod& pod, const kubelet_pod_options& options) {
  if (pod.phase != "Succeeded" && pod.phase != "Failed") return false;
  std::optional<std::chrono::system_clock::time_point> finished;
  for (const auto& cs : pod.statuses) {
    const auto when = parse_rfc3339(cs.finished_at);
    if (when && (!finished || *when > *finished)) finished = when;
  }
  if (!finished) return false;
  if (options.now - *finished > options.pod_expiration) return true;
  if (auto* next = options.next_expiry) {
    const auto at = *finished + options.pod_expiration;
    if (!*next || at < **next) *next = at;
  }
  return false;
}

void add_tag(std::vector<std::string>& tags, std::string_view name, std::string_view value) {
  if (!value.empty()) tags.push_back(std::string(name) + ":" + std::string(value));
}

void map_pod(const raw_pod& pod, const kubelet_pod_options& options, service_map& out) {
  if (pod_expired(pod, options)) return;
  const auto& annotations = pod.annotations;
  if (annotation_true(annotations, "ad.datadoghq.com/exclude")) return;

  const std::string pod_where = pod.ns + "/" + pod.name;
  const auto* source = find_annotation(annotations, "kubernetes.io/config.source");
  const bool static_pod = source && *source != "api";
  const bool pod_ready = (pod.phase == "Running" && pod.ready.value_or(false)) ||
                         annotation_true(annotations, "ad.datadoghq.com/tolerate-unready") ||
                         (static_pod && pod.phase == "Pending");

  std::map<std::string, std::string> hosts;
  if (!pod.pod_ip.empty()) hosts.emplace("pod", pod.pod_ip);
  const std::map<std::string, std::string> extra{{"pod_name", pod.name}, {"namespace", pod.ns}, {"pod_uid", pod.uid}};
  const auto phase_tag = lower(pod.phase);

  // By name; of two containers with one name the first counts.
  std::map<std::string_view, const raw_container*> containers;
  for (const auto& c : pod.containers) containers.emplace(c.name, &c);
  std::set<std::string, std::less<>> targets;  // names an annotation may use
  for (const auto& [name, c] : containers) targets.emplace(name);
  for (const auto& name : pod.init_names) targets.insert(name);
  std::map<std::string, std::string, std::less<>> check_ids;  // container -> check.id
  for (const auto& [name, c] : containers) {
    for (const auto prefix : {ad_prefix, legacy_prefix}) {
      if (const auto* id = find_annotation(annotations, std::string(prefix).append(name).append(".check.id")); id && !id->empty()) {
        check_ids.emplace(name, *id);
        targets.insert(*id);
        break;
      }
    }
  }

  service pod_service;
  pod_service.id = "kubernetes_pod://" + pod.uid;
  pod_service.listener = options.listener_name;
  pod_service.ad_identifiers = {pod_service.id};
  pod_service.hosts = hosts;
  pod_service.ports.emplace();
  pod_service.extra = extra;
  add_tag(pod_service.tags, "kube_namespace", pod.ns);
  add_tag(pod_service.tags, "pod_name", pod.name);
  add_tag(pod_service.tags, "pod_phase", phase_tag);
  std::sort(pod_service.tags.begin(), pod_service.tags.end());
  check_annotation_targets(annotations, targets, pod_where, pod_service.label_templates.errors);

  for (const auto& cs : pod.statuses) {
    const auto& id = cs.container_id;
    if (id.empty()) continue;  // pending or creating: not a service yet
    const auto& name = cs.name;
    if (annotation_true(annotations, std::string(ad_prefix) + name + ".exclude")) continue;
    const auto spec_it = containers.find(name);
    const raw_container* sc = spec_it == containers.end() ? nullptr : spec_it->second;
    const std::string& image = sc ? sc->image : cs.image;
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
    add_tag(svc.tags, "kube_namespace", pod.ns);
    add_tag(svc.tags, "pod_name", pod.name);
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
  normalize_ports(*pod_service.ports);
  if (!pod.uid.empty()) put_service(out, std::move(pod_service));
}

/// A Boost.JSON basic_parser handler that maps a PodList as it is read: the values the mapping
/// reads (kubelet_pod_shape.hpp) go straight into a raw_pod, which is mapped to services when
/// its object closes. A /pods body is mostly managedFields, volumes, env and
/// last-applied-configuration: validated, never allocated. Strings arrive as views into the
/// body (in parts when escaped); only the kept ones are copied.
class pod_list_reader {
 public:
  using error_code = boost::json::error_code;
  using string_view = boost::json::string_view;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  pod_list_reader(const kubelet_pod_options& options, service_map& out) : options_(options), out_(out) {}

  /// Why the document read is not a PodList, if it is not.
  std::optional<std::string> shape_error() const {
    if (!root_object_) return "not a PodList: expected a JSON object";
    switch (items_) {
      case items_state::absent:
        return kind_ == "PodList" ? std::nullopt : std::optional<std::string>("not a PodList: no \"items\"");
      case items_state::other: return "not a PodList: \"items\" is not a list";
      default: return std::nullopt;  // a list, or null (a starting kubelet says "items": null)
    }
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    if (skip_depth_ > 0) return skip();
    if (frames_.empty()) {
      root_object_ = true;
      frames_.push_back({pod_node::root, false});
      return true;
    }
    const auto& top = frames_.back();
    const auto kind = top.array ? pod_element_kind(top.kind) : pending_kind_;
    if (!pod_node_is_object(kind)) {
      if (top.array) element_not_object(top.kind);
      return skip();
    }
    if (top.array) begin_element(kind);
    frames_.push_back({kind, false});
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    if (skip_depth_ > 0) return unskip();
    end_object(frames_.back().kind);
    frames_.pop_back();
    return true;
  }
  bool on_array_begin(error_code&) {
    if (skip_depth_ > 0 || frames_.empty()) return skip();
    const auto& top = frames_.back();
    if (top.array) {
      element_not_object(top.kind);
      return skip();
    }
    if (!pod_node_is_array(pending_kind_)) return skip();
    if (pending_kind_ == pod_node::items) items_ = items_state::list;
    frames_.push_back({pending_kind_, true});
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    if (skip_depth_ > 0) return unskip();
    frames_.pop_back();
    return true;
  }
  bool on_key_part(string_view part, std::size_t, error_code&) {
    if (skip_depth_ == 0) part_.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view last, std::size_t, error_code&) {
    if (skip_depth_ > 0) return true;
    std::string_view key(last.data(), last.size());
    if (!part_.empty()) key = part_.append(last.data(), last.size());
    begin_member(frames_.back().kind, key);
    part_.clear();
    return true;
  }
  bool on_string_part(string_view part, std::size_t, error_code&) {
    if (wants_string()) part_.append(part.data(), part.size());
    return true;
  }
  bool on_string(string_view last, std::size_t, error_code&) {
    if (!scalar() || !(target_ || annotation_)) return true;
    std::string_view text(last.data(), last.size());
    if (!part_.empty()) text = part_.append(last.data(), last.size());
    if (target_) target_->assign(text);
    else if (annotation_) pod_.annotations.insert_or_assign(key_, std::string(text));
    part_.clear();
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t v, string_view, error_code&) {
    if (scalar() && port_number_wanted_ && v >= 1 && v <= 65535) port_number_ = static_cast<int>(v);
    return true;
  }
  bool on_uint64(std::uint64_t v, string_view, error_code&) {
    if (scalar() && port_number_wanted_ && v >= 1 && v <= 65535) port_number_ = static_cast<int>(v);
    return true;
  }
  bool on_double(double v, string_view, error_code& ec) {
    // 1e400: nlohmann refused it, Boost.JSON reads infinity; kept refused.
    if (!std::isfinite(v)) {
      ec = boost::json::error::exponent_overflow;
      return false;
    }
    scalar();
    return true;
  }
  bool on_bool(bool, error_code&) {
    scalar();
    return true;
  }
  bool on_null(error_code&) {
    if (scalar() && frames_.back().kind == pod_node::root && pending_kind_ == pod_node::items) items_ = items_state::null;
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 private:
  struct frame {
    pod_node kind;
    bool array;
  };
  enum class items_state { absent, list, null, other };

  bool skip() {
    ++skip_depth_;
    return true;
  }
  bool unskip() {
    --skip_depth_;
    return true;
  }
  /// A scalar value is read: true when it is a member of a kept object (its target was set by
  /// begin_member); an element of a kept array that should hold objects counts as one whose
  /// fields are all empty.
  bool scalar() {
    if (skip_depth_ > 0 || frames_.empty()) return false;
    const auto& top = frames_.back();
    if (top.array) {
      element_not_object(top.kind);
      return false;
    }
    return true;
  }
  bool wants_string() const {
    return skip_depth_ == 0 && !frames_.empty() && !frames_.back().array && (target_ || annotation_);
  }
  raw_container& container() { return pod_.containers.back(); }
  raw_status& status() { return pod_.statuses.back(); }

  /// An element of an array that should hold objects is something else: a container or init
  /// container of that kind still counts, with empty fields (a name "" an annotation may use).
  void element_not_object(pod_node array) {
    if (array == pod_node::containers) pod_.containers.emplace_back();
    if (array == pod_node::init_containers) pod_.init_names.emplace_back();
  }
  void begin_element(pod_node kind) {
    switch (kind) {
      case pod_node::pod: pod_ = raw_pod{}; break;
      case pod_node::container: pod_.containers.emplace_back(); break;
      case pod_node::port: port_number_.reset(); port_name_.clear(); break;
      case pod_node::init_container: pod_.init_names.emplace_back(); break;
      case pod_node::condition: condition_type_.clear(); condition_status_.clear(); break;
      case pod_node::container_status: pod_.statuses.emplace_back(); break;
      default: break;
    }
  }
  void end_object(pod_node kind) {
    switch (kind) {
      case pod_node::pod: map_pod(pod_, options_, out_); break;
      case pod_node::container: normalize_ports(container().ports); break;
      case pod_node::port:
        if (port_number_) container().ports.push_back({*port_number_, port_name_});
        break;
      case pod_node::condition:
        if (!pod_.ready && condition_type_ == "Ready") pod_.ready = condition_status_ == "True";
        break;
      default: break;
    }
  }
  /// A key of a kept object: what its value is, and where a string value goes. The member's
  /// earlier value, if the key came before, is forgotten (the last one counts).
  void begin_member(pod_node object, std::string_view key) {
    pending_kind_ = pod_member_kind(object, key);
    target_ = nullptr;
    annotation_ = false;
    port_number_wanted_ = false;
    auto text = [this](std::string& field) {
      field.clear();
      target_ = &field;
    };
    switch (object) {
      case pod_node::root:
        if (key == "items") {
          out_.clear();
          items_ = items_state::other;  // until it turns out a list or null
        } else if (key == "kind") {
          text(kind_);
        }
        break;
      case pod_node::pod:
        if (key == "metadata") {
          pod_.name.clear(), pod_.ns.clear(), pod_.uid.clear(), pod_.annotations.clear();
        } else if (key == "spec") {
          pod_.containers.clear(), pod_.init_names.clear();
        } else if (key == "status") {
          pod_.phase.clear(), pod_.pod_ip.clear(), pod_.ready.reset(), pod_.statuses.clear();
        }
        break;
      case pod_node::metadata:
        if (key == "name") text(pod_.name);
        else if (key == "namespace") text(pod_.ns);
        else if (key == "uid") text(pod_.uid);
        else if (key == "annotations") pod_.annotations.clear();
        break;
      case pod_node::annotations:
        if (pending_kind_ != pod_node::skip) {
          key_.assign(key);
          pod_.annotations.erase(key_);
          annotation_ = true;
        }
        break;
      case pod_node::spec:
        if (key == "containers") pod_.containers.clear();
        else if (key == "initContainers") pod_.init_names.clear();
        break;
      case pod_node::container:
        if (key == "name") text(container().name);
        else if (key == "image") text(container().image);
        else if (key == "ports") container().ports.clear();
        break;
      case pod_node::port:
        if (key == "name") {
          text(port_name_);
        } else if (key == "containerPort") {
          port_number_.reset();
          port_number_wanted_ = true;
        }
        break;
      case pod_node::init_container:
        if (key == "name") text(pod_.init_names.back());
        break;
      case pod_node::status:
        if (key == "phase") text(pod_.phase);
        else if (key == "podIP") text(pod_.pod_ip);
        else if (key == "conditions") pod_.ready.reset();
        else if (key == "containerStatuses") pod_.statuses.clear();
        break;
      case pod_node::condition:
        if (key == "type") text(condition_type_);
        else if (key == "status") text(condition_status_);
        break;
      case pod_node::container_status:
        if (key == "name") text(status().name);
        else if (key == "containerID") text(status().container_id);
        else if (key == "image") text(status().image);
        else if (key == "state") status().finished_at.clear();
        break;
      case pod_node::state:
        if (key == "terminated") status().finished_at.clear();
        break;
      case pod_node::terminated:
        if (key == "finishedAt") text(status().finished_at);
        break;
      default:
        break;
    }
  }

  const kubelet_pod_options& options_;
  service_map& out_;
  std::vector<frame> frames_;
  int skip_depth_ = 0;
  bool root_object_ = false;
  items_state items_ = items_state::absent;
  std::string kind_;
  raw_pod pod_;  ///< the pod being read
  pod_node pending_kind_ = pod_node::skip;  ///< the kind of the current member's value
  std::string* target_ = nullptr;           ///< where the current member's string goes
  bool annotation_ = false;                 ///< the current member is a kept annotation (key_)
  bool port_number_wanted_ = false;         ///< the current member is a port's containerPort
  std::string key_;
  std::string part_;  ///< the parts of a key or a kept string read so far
  std::optional<int> port_number_;
  std::string port_name_;
  std::string condition_type_, condition_status_;
};

}  // namespace

std::optional<std::string> parse_pod_list(std::string_view body, const kubelet_pod_options& options,
                                          service_map& out) {
  out.clear();
  boost::json::parse_options limits;
  limits.max_depth = max_pod_list_depth;
  boost::json::basic_parser<pod_list_reader> parser(limits, options, out);
  boost::json::error_code ec;
  const auto read = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && read != body.size()) ec = boost::json::error::extra_data;
  if (ec) {
    out.clear();
    return "malformed JSON (" + std::to_string(body.size()) + " bytes): " + ec.message() + " (at byte " +
           std::to_string(read) + ")";
  }
  if (auto error = parser.handler().shape_error()) {
    out.clear();
    return error;
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
