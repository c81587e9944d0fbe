#pragma once
// A private dockerd for engine tests, driven through tests/engine/dockerd-harness.sh: its own
// network namespace, socket, data-root and exec-root under a fresh /tmp folder. Everything it
// started (containers, dockerd, containerd, mounts, the netns, the folder) goes on destruction.

#include <string>

namespace autodiscd::test {

class dockerd_harness {
 public:
  /// Names the folder /tmp/<prefix>-XXXXXX and the netns <prefix>-<pid>; starts nothing.
  /// Short prefixes: unix socket paths are limited to 108 bytes.
  explicit dockerd_harness(const std::string& prefix);
  ~dockerd_harness();
  dockerd_harness(const dockerd_harness&) = delete;
  dockerd_harness& operator=(const dockerd_harness&) = delete;

  /// Starts dockerd and waits until it answers; `extra_args` are kept for restarts.
  /// "" on success, else what went wrong (with the log tail).
  std::string start(const std::string& extra_args = "");
  /// Starts it again with the arguments of the first start.
  std::string restart();
  /// SIGKILLs dockerd and its containerd (an engine crash).
  std::string kill();
  /// TERM, then KILL after 20 s.
  std::string stop();
  /// Imports localtest/busybox:latest from busybox-static.
  std::string import_busybox();

  /// Runs the docker CLI on this engine: exit code, and stdout+stderr without the last newline.
  int docker(const std::string& args, std::string& output) const;

  const std::string& base() const { return base_; }
  const std::string& netns() const { return netns_; }
  std::string socket_url() const { return "unix://" + base_ + "/docker.sock"; }

 private:
  std::string harness(const std::string& verb_and_args) const;
  std::string base_, netns_, start_args_;
};

}  // namespace autodiscd::test
