#include "config/template_vars.hpp"

#include <charconv>
#include <cstdlib>

namespace autodiscd {
namespace {

variable_value not_supported(std::string_view name, const service& svc) {
  return {std::nullopt, "variable %%" + std::string(name) + "%% not supported by listener " + svc.listener};
}

variable_value failure(std::string message) { return {std::nullopt, std::move(message)}; }

variable_value host_fallback(std::string_view name, const service& svc) {
  if (!svc.hosts) return not_supported(name, svc);
  const auto& hosts = *svc.hosts;
  if (hosts.size() == 1) return {hosts.begin()->second, {}};
  if (auto it = hosts.find("bridge"); it != hosts.end()) return {it->second, {}};
  if (hosts.empty()) return failure("variable %%" + std::string(name) + "%%: the service has no network address");
  std::string names;
  for (const auto& [net, ip] : hosts) names += (names.empty() ? "" : ", ") + net;
  return failure("variable %%" + std::string(name) +
                 "%%: several networks and none named bridge (" + names + "); use %%host_<network>%%");
}

std::optional<std::size_t> parse_index(std::string_view text) {
  std::size_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

variable_value from_extra(std::string_view name, std::string_view key, const service& svc) {
  if (auto it = svc.extra.find(std::string(key)); it != svc.extra.end()) return {it->second, {}};
  return failure("variable %%" + std::string(name) + "%%: the service has no " + std::string(key));
}

}  // namespace

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
  };
}

variable_value resolve_variable(std::string_view name, const service& svc, const env_lookup& env) {
  if (name == "host") return host_fallback(name, svc);
  if (name.starts_with("host_")) {
    if (!svc.hosts) return not_supported(name, svc);
    if (auto it = svc.hosts->find(std::string(name.substr(5))); it != svc.hosts->end()) {
      return {it->second, {}};
    }
    return host_fallback(name, svc);
  }
  if (name == "port" || name.starts_with("port_")) {
    if (!svc.ports) return not_supported(name, svc);
    const auto& ports = *svc.ports;
    if (ports.empty()) return failure("variable %%" + std::string(name) + "%%: the service has no ports");
    if (name == "port") return {std::to_string(ports.back().port), {}};
    const auto suffix = name.substr(5);
    if (auto index = parse_index(suffix)) {
      if (*index >= ports.size()) {
        return failure("variable %%" + std::string(name) + "%%: index out of range (the service has " +
                       std::to_string(ports.size()) + " ports)");
      }
      return {std::to_string(ports[*index].port), {}};
    }
    for (const auto& port : ports) {
      if (port.name == suffix) return {std::to_string(port.port), {}};
    }
    return failure("variable %%" + std::string(name) + "%%: no port named " + std::string(suffix));
  }
  if (name == "pid") {
    if (!svc.pid) return not_supported(name, svc);
    return {std::to_string(*svc.pid), {}};
  }
  if (name == "hostname") {
    if (!svc.hostname) return not_supported(name, svc);
    return {*svc.hostname, {}};
  }
  if (name.starts_with("env_")) {
    const std::string var(name.substr(4));
    if (auto value = env(var)) return {std::move(*value), {}};
    return failure("variable %%" + std::string(name) + "%%: environment variable " + var + " is not set");
  }
  if (name.starts_with("kube_")) return from_extra(name, name.substr(5), svc);
  if (name.starts_with("extra_")) return from_extra(name, name.substr(6), svc);
  return failure("unknown variable %%" + std::string(name) + "%%");
}

namespace {

/// Substitutes in one string; sets `whole` when the string is exactly one variable.
std::optional<std::string> substitute_string(std::string& text, const service& svc,
                                             const env_lookup& env, bool& whole) {
  whole = false;
  if (text.find("%%") == std::string::npos) return std::nullopt;
  std::string out;
  std::size_t pos = 0;
  int variables = 0;
  while (true) {
    const auto start = text.find("%%", pos);
    if (start == std::string::npos) break;
    const auto end = text.find("%%", start + 2);
    if (end == std::string::npos) break;
    const auto name = std::string_view(text).substr(start + 2, end - start - 2);
    if (name.empty()) {  // "%%%%" is not a variable
      out.append(text, pos, end + 2 - pos);
      pos = end + 2;
      continue;
    }
    auto value = resolve_variable(name, svc, env);
    if (!value.value) return value.error;
    out.append(text, pos, start - pos);
    out += *value.value;
    pos = end + 2;
    ++variables;
  }
  whole = variables == 1 && text.starts_with("%%") && pos == text.size() &&
          text.find("%%", 2) == text.size() - 2;
  out.append(text, pos, std::string::npos);
  text = std::move(out);
  return std::nullopt;
}

/// The value a string that is exactly one variable takes: an integer (decimal, optional
/// sign, like Go's strconv.Atoi), a boolean, or nullopt to keep the string.
std::optional<json> typed(const std::string& text) {
  std::string_view digits = text;
  if (digits.starts_with('+')) digits.remove_prefix(1);
  long long number = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  const bool two_signs = text.starts_with('+') && digits.starts_with('-');
  if (!digits.empty() && !two_signs && ec == std::errc() &&
      ptr == digits.data() + digits.size()) {
    return json(number);
  }
  if (text == "true" || text == "True" || text == "TRUE") return json(true);
  if (text == "false" || text == "False" || text == "FALSE") return json(false);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> substitute_variables(json& tree, const service& svc, const env_lookup& env) {
  if (tree.is_string()) {
    auto& text = tree.get_ref<std::string&>();
    bool whole = false;
    if (auto error = substitute_string(text, svc, env, whole)) return error;
    if (whole) {
      if (auto value = typed(text)) tree = std::move(*value);
    }
    return std::nullopt;
  }
  if (tree.is_object() || tree.is_array()) {
    for (auto& child : tree) {
      if (auto error = substitute_variables(child, svc, env)) return error;
    }
  }
  return std::nullopt;
}

}  // namespace autodiscd
