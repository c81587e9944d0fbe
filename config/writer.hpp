#pragma once
// The writer: reconciles resolved configs with the files it owns in the output folder.
// Only the writer touches the output folder.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/resolver.hpp"

namespace autodiscd {

/// What one call to the writer did.
struct write_stats {
  std::size_t written = 0;
  std::size_t unchanged = 0;
  std::size_t removed = 0;
  std::size_t failed = 0;
  std::vector<std::string> changed_paths;  ///< absolute paths written or removed
  std::vector<std::string> errors;         ///< one line each, path and reason
  write_stats& operator+=(const write_stats& other);
};

/// Writes each config atomically (hidden temp file in the same folder, fsync, rename,
/// fsync the folder), skips unchanged content, removes files of gone services, and keeps
/// a journal of the files it owns (`.autodiscd-owned`) so that a restart removes its own
/// stale files and never touches anyone else's.
class config_writer {
 public:
  explicit config_writer(std::string dir);
  ~config_writer();
  config_writer(const config_writer&) = delete;
  config_writer& operator=(const config_writer&) = delete;

  /// Creates the folder, takes its lock, reads the journal, removes leftover temp files.
  /// Returns an error message on failure.
  std::optional<std::string> open();

  /// Makes `owner`'s files exactly `configs` (an empty list removes them all).
  write_stats apply(const std::string& owner, const std::vector<resolved_config>& configs);

  /// Removes every owned file that is not in `keep` (relative paths): the files a
  /// previous run left for services that are gone. Called once every listener synced.
  write_stats remove_stale(const std::set<std::string>& keep);

  /// Retries the writes and removals that failed (disk full, read-only folder...).
  write_stats retry();
  bool has_failures() const { return !failed_.empty(); }

  /// Forgets what is on disk, so that the next apply() of each owner writes its files again:
  /// for when the output folder was deleted or replaced behind the writer's back.
  void forget_written();

  /// Removes every file this daemon owns (for output.remove_on_exit).
  write_stats remove_all();

  const std::string& dir() const { return dir_; }
  /// Relative paths owned now.
  std::set<std::string> owned_paths() const;

  /// True when `relative` is a path the writer may own: "<safe>.d/<safe>" exactly.
  static bool valid_relative_path(std::string_view relative);

 private:
  struct owned_file {
    std::optional<std::uint64_t> hash;  ///< content hash; unknown for files from a past run
  };
  bool write_file(const std::string& relative, const std::string& content, write_stats& stats,
                  std::set<std::string>& dirs_to_sync);
  bool remove_file(const std::string& relative, write_stats& stats,
                   std::set<std::string>& dirs_to_sync);
  bool journal(char op, const std::vector<std::string>& paths);
  /// Recreates the folder and the journal when the folder was deleted under us.
  bool ensure_journal();
  bool rewrite_journal();
  void sync_dirs(const std::set<std::string>& dirs);

  std::string dir_;
  int journal_fd_ = -1;
  std::map<std::string, owned_file> owned_;
  std::map<std::string, std::vector<std::string>> by_owner_;
  /// Which owner each current path belongs to (refuses collisions between owners).
  std::map<std::string, std::string> path_owner_;
  /// Failed operations to retry: path -> content (nullopt = removal).
  std::map<std::string, std::optional<std::string>> failed_;
};

}  // namespace autodiscd
