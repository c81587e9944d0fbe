#include "listeners/process/process_mapping.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace autodiscd::process {
namespace {

constexpr std::array builtins{
    builtin_identifier{"redis-server", "redis"},
    builtin_identifier{"valkey-server", "redis"},
    builtin_identifier{"mysqld", "mysql"},
    builtin_identifier{"mariadbd", "mysql"},
    builtin_identifier{"mongod", "mongo"},
    builtin_identifier{"mongos", "mongo"},
    builtin_identifier{"apache2", "httpd"},
    builtin_identifier{"postmaster", "postgres"},
    builtin_identifier{"php-fpm", "php-fpm", true},
};

/// Searches without letting a pathological pattern's regex_error escape (std::regex may throw
/// error_complexity or error_stack while matching).
bool search(const std::regex& re, const std::string& text) {
  try {
    return std::regex_search(text, re);
  } catch (const std::regex_error&) {
    return false;
  }
}

void add_unique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

bool all_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// A cgroup path component naming a container: a 64-hex id, bare (`/docker/<id>`,
/// `/default/<id>`) or as `<runtime>-<id>.scope` (docker, libpod, crio, cri-containerd, nerdctl).
bool container_component(std::string_view c) {
  if (c.ends_with(".scope")) c.remove_suffix(6);
  std::string_view prefix;
  if (auto dash = c.rfind('-'); dash != std::string_view::npos) {
    prefix = c.substr(0, dash);
    c = c.substr(dash + 1);
  }
  if (c.size() != 64 || !all_hex(c)) return false;
  return prefix.find("conmon") == std::string_view::npos;  // podman's and cri-o's monitors
}

}  // namespace

std::span<const builtin_identifier> builtin_identifiers() { return builtins; }

bool rule_matches(const process_rule& rule, const process_facts& facts, const std::vector<int>& ports) {
  if (rule.name && !search(*rule.name, facts.name)) return false;
  if (rule.exe && !search(*rule.exe, facts.exe)) return false;
  if (rule.cmdline && !search(*rule.cmdline, facts.cmdline)) return false;
  if (rule.port) {
    const bool any = std::any_of(ports.begin(), ports.end(), [&](int p) { return search(*rule.port, std::to_string(p)); });
    if (!any) return false;
  }
  return true;
}

std::vector<std::string> process_identifiers(const process_facts& facts, const std::vector<int>& ports,
                                             const std::vector<process_rule>& rules) {
  std::vector<std::string> ids;
  add_unique(ids, "process://" + std::to_string(facts.pid));
  add_unique(ids, facts.name);
  for (const auto& rule : rules) {
    if (!rule_matches(rule, facts, ports)) continue;
    for (const auto& id : rule.ad_identifiers) add_unique(ids, id);
  }
  for (const auto& b : builtins) {
    if (b.prefix ? facts.name.starts_with(b.name) : facts.name == b.name) add_unique(ids, std::string(b.identifier));
  }
  return ids;
}

service build_process_service(const process_facts& facts, const std::vector<listening_socket>& sockets,
                              const std::vector<process_rule>& rules, const std::string& listener_name,
                              const std::string& hostname) {
  service svc;
  svc.id = "process://" + std::to_string(facts.pid);
  svc.listener = listener_name;
  std::vector<service_port> ports;
  for (const auto& s : sockets) {
    ports.push_back({s.port, std::to_string(s.port) + (s.proto == transport::tcp ? "/tcp" : "/udp")});
  }
  normalize_ports(ports);
  // Each number once: "/tcp" sorts before "/udp", so TCP wins when a port is both.
  ports.erase(std::unique(ports.begin(), ports.end(),
                          [](const service_port& a, const service_port& b) { return a.port == b.port; }),
              ports.end());
  std::vector<int> numbers;
  for (const auto& p : ports) numbers.push_back(p.port);
  svc.ad_identifiers = process_identifiers(facts, numbers, rules);
  svc.hosts = std::map<std::string, std::string>{{"host", local_host(sockets)}};
  svc.ports = std::move(ports);
  svc.tags = {"process_name:" + facts.name};
  svc.pid = facts.pid;
  svc.hostname = hostname;
  if (!facts.exe.empty()) svc.extra["exe"] = facts.exe;
  svc.extra["user"] = facts.user;
  return svc;
}

std::map<std::uint64_t, int> main_holders(const std::map<std::uint64_t, std::set<int>>& holders,
                                          const std::map<int, int>& parent_of) {
  std::map<std::uint64_t, int> mains;
  for (const auto& [inode, all] : holders) {
    if (all.empty()) continue;
    auto pids = all;
    if (pids.size() > 1) pids.erase(1);  // init holds activated sockets for its services
    for (int pid : pids) {  // ascending: the first top holder is the lowest pid
      auto parent = parent_of.find(pid);
      if (parent == parent_of.end() || !pids.contains(parent->second)) {
        mains[inode] = pid;
        break;
      }
    }
    if (!mains.contains(inode)) mains[inode] = *pids.begin();  // a cycle: cannot happen, but stay total
  }
  return mains;
}

std::optional<stat_fields> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ... starttime(22nd field)": comm may hold spaces and parentheses.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(close + 1);
  std::vector<std::string_view> fields;
  while (!rest.empty() && fields.size() < 20) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find(' ');
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  // fields[0] is the state (3rd field), fields[1] the ppid (4th), fields[19] starttime (22nd).
  if (fields.size() < 20) return std::nullopt;
  stat_fields out;
  auto number = [](std::string_view f, auto& value) {
    const auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
    return ec == std::errc() && p == f.data() + f.size();
  };
  if (!number(fields[1], out.ppid) || !number(fields[19], out.start_ticks)) return std::nullopt;
  return out;
}

std::string join_cmdline(std::string_view raw) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out(raw);
  std::replace(out.begin(), out.end(), '\0', ' ');
  return out;
}

std::uint64_t socket_inode(std::string_view link) {
  constexpr std::string_view prefix = "socket:[";
  if (!link.starts_with(prefix) || !link.ends_with(']')) return 0;
  const auto digits = link.substr(prefix.size(), link.size() - prefix.size() - 1);
  std::uint64_t inode = 0;
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), inode);
  return ec == std::errc() && p == digits.data() + digits.size() ? inode : 0;
}

bool in_container_cgroup(std::string_view cgroup_text) {
  while (!cgroup_text.empty()) {
    const auto end = cgroup_text.find('\n');
    auto line = cgroup_text.substr(0, end);
    cgroup_text.remove_prefix(end == std::string_view::npos ? cgroup_text.size() : end + 1);
    // "hierarchy-ID:controllers:path"
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    auto path = line.substr(second + 1);
    while (!path.empty()) {
      const auto slash = path.find('/');
      const auto component = path.substr(0, slash);
      path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
      if (component.starts_with("kubepods")) return true;
      if (container_component(component)) return true;
    }
  }
  return false;
}

void keep_in_grace(const service_map& current, service_map& next,
                   std::map<std::string, std::chrono::steady_clock::time_point>& gone_since,
                   std::chrono::steady_clock::time_point now, std::chrono::milliseconds grace) {
  for (auto it = gone_since.begin(); it != gone_since.end();) {
    it = next.contains(it->first) || !current.contains(it->first) ? gone_since.erase(it) : std::next(it);
  }
  if (grace.count() <= 0) return;
  for (const auto& [id, svc] : current) {
    if (next.contains(id)) continue;
    const auto since = gone_since.try_emplace(id, now).first->second;
    if (now - since < grace) {
      next.emplace(id, svc);
    } else {
      gone_since.erase(id);
    }
  }
}

}  // namespace autodiscd::process
