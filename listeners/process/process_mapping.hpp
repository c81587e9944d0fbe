#pragma once
// The pure half of the process listener: /proc text -> facts, socket holders -> the main
// process, rules and built-in identifiers, and the service of one process.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "listeners/process/process_sockets.hpp"
#include "listeners/service_diff.hpp"

namespace autodiscd::process {

/// A `rules` entry: every given regex must find a match; then its identifiers apply.
struct process_rule {
  std::optional<std::regex> name;     ///< on the process name (/proc/PID/comm)
  std::optional<std::regex> exe;      ///< on the executable's path
  std::optional<std::regex> cmdline;  ///< on the arguments joined by spaces
  std::optional<std::regex> port;     ///< on any listening port number, e.g. "^(80|443)$"
  std::vector<std::string> ad_identifiers;
};

/// What /proc says about one process that holds a listening socket.
struct process_facts {
  int pid = 0;
  int ppid = 0;
  std::string name;     ///< comm (at most 15 characters)
  std::string exe;      ///< "" when unreadable
  std::string cmdline;  ///< for rule matching only: never stored in a service, never logged
  std::string user;     ///< user name, or the uid as a number
  bool in_container = false;
  std::chrono::milliseconds age{0};  ///< since the process started
};

/// A built-in identifier: a daemon's process name -> the identifier Datadog's auto_conf
/// templates use.
struct builtin_identifier {
  std::string_view name;
  std::string_view identifier;
  bool prefix = false;  ///< `name` is a prefix (php-fpm8.2)
};

/// The built-in table (documented in listeners/process/README.md).
std::span<const builtin_identifier> builtin_identifiers();

/// Every rule whose given keys all match, in rule order; `ports` are the process's ports.
bool rule_matches(const process_rule& rule, const process_facts& facts, const std::vector<int>& ports);

/// `process://<pid>`, the name, the identifiers of matching rules, then the built-in ones;
/// no duplicates, first place kept.
std::vector<std::string> process_identifiers(const process_facts& facts, const std::vector<int>& ports,
                                             const std::vector<process_rule>& rules);

/// The service of a process with its listening sockets (not empty). The command line is
/// used for rules only.
service build_process_service(const process_facts& facts, const std::vector<listening_socket>& sockets,
                              const std::vector<process_rule>& rules, const std::string& listener_name,
                              const std::string& hostname);

/// The main process of each inode: the topmost holder, whose parent does not hold it (the
/// lowest pid when several are). PID 1 (systemd socket activation) only when it is the sole
/// holder. `parent_of` maps pid -> ppid for the holders.
std::map<std::uint64_t, int> main_holders(const std::map<std::uint64_t, std::set<int>>& holders,
                                          const std::map<int, int>& parent_of);

// ---- /proc text ----

/// From /proc/PID/stat: ppid and start time (clock ticks after boot). nullopt if malformed.
struct stat_fields {
  int ppid = 0;
  std::uint64_t start_ticks = 0;
};
std::optional<stat_fields> parse_proc_stat(std::string_view text);

/// /proc/PID/cmdline (NUL-separated) -> arguments joined by spaces.
std::string join_cmdline(std::string_view raw);

/// The inode of a "socket:[12345]" fd link, 0 for anything else.
std::uint64_t socket_inode(std::string_view link);

/// True when /proc/PID/cgroup puts the process in a container: docker, containerd (cri,
/// nerdctl), podman/libpod, cri-o, or a kubepods slice. The runtimes' monitors (conmon) and
/// the engines themselves (docker.service) are not containers.
bool in_container_cgroup(std::string_view cgroup_text);

/// Keeps in `next` the services of `current` gone less than `grace` ago; `gone_since`
/// remembers when each went (entries of services back or removed are dropped).
void keep_in_grace(const service_map& current, service_map& next,
                   std::map<std::string, std::chrono::steady_clock::time_point>& gone_since,
                   std::chrono::steady_clock::time_point now, std::chrono::milliseconds grace);

}  // namespace autodiscd::process
