#pragma once
// A network namespace for tests that run real daemons (the process listener's tests): unique
// to the run, lo up, and on destruction whatever still runs in it is killed and it is deleted.
// Plus the small shell helpers those tests share.

#include <atomic>
#include <string>
#include <vector>

namespace autodiscd::test {

class network_namespace {
 public:
  /// Creates adproc-<pid>-<n> with lo up; REQUIREs success (needs root).
  network_namespace();
  ~network_namespace();
  network_namespace(const network_namespace&) = delete;
  network_namespace& operator=(const network_namespace&) = delete;

  const std::string& name() const { return name_; }
  /// `argv` run inside the namespace (ip netns exec execs it: the pid stays the program's).
  std::vector<std::string> in(std::vector<std::string> argv) const;
  /// A shell command run inside the namespace.
  std::string shell(const std::string& command) const { return "ip netns exec " + name_ + " " + command; }

 private:
  std::string name_;
  bool created_ = false;
  static inline std::atomic<int> counter_{0};
};

/// Whether `program` is on PATH.
bool have_program(const std::string& program);

/// The programs of `programs` not on PATH, comma-separated ("" when all are there).
std::string missing_programs(const std::vector<std::string>& programs);

/// `s` quoted for /bin/sh.
std::string shell_quote(const std::string& s);

/// Children of `pid` now (from /proc/*/stat).
std::vector<int> children_of(int pid);

}  // namespace autodiscd::test
