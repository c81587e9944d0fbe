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

/// One owner's (service's) complete set of configs, for a batch apply.
struct owner_configs {
  std::string owner;
  std::vector<resolved_config> configs;
};

/// Writes each config atomically (hidden temp file in the same folder, fsync, rename,
/// fsync the folder), skips unchanged content, removes files of gone services, and keeps
/// a journal of the files it owns (`.autodiscd-owned`) so that a restart removes its own
/// stale files and never touches anyone else's.
///
/// A batch is written with few disk syncs whatever its size: the journal additions are
/// appended first, the temp files are written in chunks, the write-back of a whole chunk is
/// started before waiting for each file (so the disk writes overlap and are committed
/// together), the journal is synced once before the first rename, and each folder is synced
/// once at the end.
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
  /// The same for many owners at once, in order (a path one owner releases can be taken by
  /// a later one in the same batch).
  write_stats apply(const std::vector<owner_configs>& batch);

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
  /// A file to write: its relative path and content.
  using file_write = std::pair<std::string, const std::string*>;
  /// Writes `files` (whose new journal entries are `added`, not yet recorded): appends the
  /// journal, then temp files in chunks, one journal sync before the first rename.
  void write_files(const std::vector<file_write>& files, const std::vector<std::string>& added,
                   write_stats& stats, std::set<std::string>& dirs_to_sync);
  struct temp_file {
    std::string relative;
    std::string temp;
    std::uint64_t hash = 0;
    int fd = -1;
    bool failed = false;
  };
  /// Creates and fills the temp file for `relative`; nullopt when the content is unchanged
  /// or on failure (counted in `stats`).
  std::optional<temp_file> prepare(const std::string& relative, const std::string& content,
                                   write_stats& stats, std::set<std::string>& dirs_to_sync);
  bool fail(const std::string& relative, const std::string& content, const std::string& what,
            write_stats& stats);
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
  /// Configs refused because another owner has their path: path -> (owner, content), in
  /// the order refused. The first takes the path when its owner releases it.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> waiting_;
  /// The same, by owner: owner -> the paths it waits for. Keeps a batch's "forget what this
  /// owner waited for" at one lookup per owner instead of a scan of every waiting path.
  std::map<std::string, std::set<std::string>> waiting_by_owner_;
  /// Failed operations to retry: path -> content (nullopt = removal).
  std::map<std::string, std::optional<std::string>> failed_;
};

}  // namespace autodiscd
