#include "config/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "listeners/log.hpp"

namespace autodiscd {
namespace fs = std::filesystem;
namespace {

constexpr const char* journal_name = ".autodiscd-owned";
constexpr const char* temp_suffix = ".autodiscd.tmp";

std::uint64_t content_hash(std::string_view content) {
  return std::hash<std::string_view>{}(content);
}

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// The journal is compacted (rewritten as the owned paths) once it is larger than this: it
/// only grows between compactions, by one line per file written or removed (about 8 KB/s
/// at 100 container changes/s, 0.7 GB a day, before this limit existed).
std::uintmax_t journal_compact_size(std::size_t owned) { return std::max<std::uintmax_t>(256u << 10, owned * 512u); }

/// The paths a journal file says are owned: "+path" adds, "-path" removes. Lines that are
/// not a path the writer could have written are ignored, so a tampered journal cannot
/// point outside.
std::set<std::string> replay_journal(const std::string& path) {
  std::set<std::string> owned;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2 || !config_writer::valid_relative_path(std::string_view(line).substr(1))) continue;
    if (line[0] == '+') owned.insert(line.substr(1));
    if (line[0] == '-') owned.erase(line.substr(1));
  }
  return owned;
}

/// Replaces the journal of `dir` with `text` (temp file, fsync, rename); the new journal's
/// descriptor, locked, or -1 on failure. The caller syncs the folder.
int replace_journal(const std::string& dir, const std::string& text) {
  const auto path = dir + "/" + journal_name;
  const auto temp = dir + "/" + journal_name + temp_suffix;
  ::unlink(temp.c_str());  // a leftover, or a planted link: never written through
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return -1;
  }
  // Keep the lock on the new inode.
  const int new_fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (new_fd >= 0) ::flock(new_fd, LOCK_EX | LOCK_NB);
  return new_fd;
}

bool safe_component(std::string_view part) {
  if (part.empty() || part[0] == '.') return false;
  for (char c : part) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string parent_of(const std::string& relative) {
  return relative.substr(0, relative.find('/'));
}

}  // namespace

write_stats& write_stats::operator+=(const write_stats& other) {
  written += other.written;
  unchanged += other.unchanged;
  removed += other.removed;
  failed += other.failed;
  changed_paths.insert(changed_paths.end(), other.changed_paths.begin(), other.changed_paths.end());
  errors.insert(errors.end(), other.errors.begin(), other.errors.end());
  return *this;
}

bool config_writer::valid_relative_path(std::string_view relative) {
  const auto slash = relative.find('/');
  if (slash == std::string_view::npos) return false;
  const auto folder = relative.substr(0, slash);
  const auto file = relative.substr(slash + 1);
  return folder.size() > 2 && folder.ends_with(".d") && safe_component(folder) &&
         safe_component(file) && !file.ends_with(temp_suffix);
}

config_writer::config_writer(std::string dir) : dir_(std::move(dir)) {}

config_writer::~config_writer() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

std::optional<std::string> config_writer::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return "cannot create output folder " + dir_ + ": " + ec.message();
  const auto journal_path = dir_ + "/" + journal_name;
  journal_fd_ = ::open(journal_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (journal_fd_ < 0) return "cannot open " + journal_path + ": " + errno_text();
  if (::flock(journal_fd_, LOCK_EX | LOCK_NB) != 0) {
    return "output folder " + dir_ + " is in use by another autodiscd (lock on " + journal_path + ")";
  }
  for (auto& path : replay_journal(journal_path)) owned_[path] = owned_file{};
  // Temp files a killed run left behind carry our suffix: remove them.
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!entry.is_directory(ec)) continue;
    for (const auto& file : fs::directory_iterator(entry.path(), ec)) {
      const auto name = file.path().filename().string();
      if (name.starts_with(".") && name.ends_with(temp_suffix)) fs::remove(file.path(), ec);
    }
  }
  if (!rewrite_journal()) return "cannot write " + journal_path + ": " + errno_text();
  return std::nullopt;
}

bool config_writer::rewrite_journal() {
  std::string text;
  for (const auto& [relative, file] : owned_) text += "+" + relative + "\n";
  const int fd = replace_journal(dir_, text);
  if (fd < 0) return false;
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = fd;
  sync_dirs({""});
  return true;
}

bool config_writer::ensure_journal() {
  // The folder may have been deleted under us: start a fresh journal in the new one.
  struct stat st {};
  if (journal_fd_ >= 0 && ::fstat(journal_fd_, &st) == 0 && st.st_nlink > 0) return true;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  return rewrite_journal();
}

bool config_writer::journal(char op, const std::vector<std::string>& paths) {
  if (paths.empty()) return true;
  if (!ensure_journal()) return false;
  struct stat st {};
  if (::fstat(journal_fd_, &st) == 0 && static_cast<std::uintmax_t>(st.st_size) > journal_compact_size(owned_.size())) {
    // Compacted to what the journal itself says (not owned_, which can differ while a write
    // is retried): a restart reads the same set. On failure the old journal stays in use.
    std::string text;
    for (const auto& p : replay_journal(dir_ + "/" + journal_name)) text += "+" + p + "\n";
    if (const int fd = replace_journal(dir_, text); fd >= 0) {
      ::close(journal_fd_);
      journal_fd_ = fd;
      sync_dirs({""});
    }
    if (!ensure_journal()) return false;  // renamed but not reopened: a fresh one from owned_
  }
  std::string text;
  for (const auto& p : paths) text += std::string(1, op) + p + "\n";
  // Additions are synced by write_files() before the first file they cover is renamed
  // into place; removals may be lost (the next start then finds the file gone, harmless).
  return write_all(journal_fd_, text);
}

void config_writer::sync_dirs(const std::set<std::string>& dirs) {
  for (const auto& d : dirs) {
    const auto path = d.empty() ? dir_ : dir_ + "/" + d;
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fsync(fd);
    ::close(fd);
  }
}

bool config_writer::fail(const std::string& relative, const std::string& content, const std::string& what,
                         write_stats& stats) {
  ++stats.failed;
  stats.errors.push_back(dir_ + "/" + relative + ": " + what + ": " + errno_text());
  owned_[relative].hash.reset();
  failed_[relative] = content;
  return false;
}

std::optional<config_writer::temp_file> config_writer::prepare(const std::string& relative,
                                                               const std::string& content, write_stats& stats,
                                                               std::set<std::string>& dirs_to_sync) {
  const auto hash = content_hash(content);
  const auto path = dir_ + "/" + relative;
  auto& owned = owned_[relative];
  if (!owned.hash) {
    // A file from a past run: compare with what is on disk so unchanged files keep mtime.
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream existing;
      existing << in.rdbuf();
      if (existing.str() == content) owned.hash = hash;
    }
  }
  // The access() check notices a file or folder deleted behind our back.
  if (owned.hash == hash && !failed_.contains(relative) && ::access(path.c_str(), F_OK) == 0) {
    ++stats.unchanged;
    return std::nullopt;
  }
  // A file written without a journal that lists it would be foreign after a restart.
  if (!ensure_journal()) {
    fail(relative, content, "cannot record owned files", stats);
    return std::nullopt;
  }
  const auto folder = parent_of(relative);
  const auto folder_path = dir_ + "/" + folder;
  if (::mkdir(folder_path.c_str(), 0755) == 0) {
    dirs_to_sync.insert("");
  } else if (errno != EEXIST) {
    std::error_code ec;
    // The output folder itself is gone: recreate it.
    if (errno != ENOENT || (fs::create_directories(folder_path, ec), ec)) {
      fail(relative, content, "cannot create folder", stats);
      return std::nullopt;
    }
  }
  // Never follow a link planted in the output folder: the check folder must be a real
  // folder, and the temp file is created anew (a leftover or planted entry is removed first).
  struct stat folder_stat {};
  if (::lstat(folder_path.c_str(), &folder_stat) != 0) {
    fail(relative, content, "cannot read folder", stats);
    return std::nullopt;
  }
  if (!S_ISDIR(folder_stat.st_mode)) {
    errno = ENOTDIR;
    fail(relative, content, "refused: not a real folder (a symlink?)", stats);
    return std::nullopt;
  }
  temp_file t{relative, folder_path + "/." + relative.substr(folder.size() + 1) + temp_suffix, hash};
  ::unlink(t.temp.c_str());
  t.fd = ::open(t.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (t.fd < 0) {
    fail(relative, content, "cannot create temp file", stats);
    return std::nullopt;
  }
  if (!write_all(t.fd, content)) {
    const int saved = errno;
    ::close(t.fd);
    ::unlink(t.temp.c_str());
    errno = saved;
    fail(relative, content, "cannot write", stats);
    return std::nullopt;
  }
  return t;
}

void config_writer::write_files(const std::vector<file_write>& files, const std::vector<std::string>& added,
                                write_stats& stats, std::set<std::string>& dirs_to_sync) {
  // Chunks bound the open descriptors and the temp files in the folder at any time.
  constexpr std::size_t chunk = 128;
  bool journal_synced = added.empty();
  for (std::size_t begin = 0; begin < files.size(); begin += chunk) {
    const auto end = std::min(files.size(), begin + chunk);
    std::vector<std::pair<temp_file, const std::string*>> temps;
    for (auto i = begin; i < end; ++i) {
      if (auto t = prepare(files[i].first, *files[i].second, stats, dirs_to_sync)) {
        temps.emplace_back(std::move(*t), files[i].second);
      }
    }
    // Start the write-back of the whole chunk first, then wait for each file: the disk
    // writes overlap and the file system commits them together (about 4x faster than one
    // fsync after another on ext4; tests/bench `sync`).
    for (auto& [t, content] : temps) ::sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    // The journal's new lines go to the disk with them: its fdatasync below then waits for
    // little more than its size (one sync less on the path of a lone new file).
    if (!journal_synced && !temps.empty()) ::sync_file_range(journal_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
    for (auto& [t, content] : temps) {
      const bool ok = ::fdatasync(t.fd) == 0;
      const int saved = errno;
      ::close(t.fd);
      t.fd = -1;
      if (!ok) {
        ::unlink(t.temp.c_str());
        errno = saved;
        t.failed = true;
        fail(t.relative, *content, "cannot write", stats);
      }
    }
    // Ownership must be durable before any file it covers is in place.
    if (!journal_synced && !temps.empty()) {
      journal_synced = true;
      if (::fdatasync(journal_fd_) != 0) {
        const int saved = errno;
        for (auto& [t, content] : temps) {
          if (!t.failed) {
            ::unlink(t.temp.c_str());
            errno = saved;
            fail(t.relative, *content, "cannot record owned files", stats);
          }
        }
        // The journal is in doubt: every later file fails too, and is retried.
        for (auto i = end; i < files.size(); ++i) {
          errno = saved;
          fail(files[i].first, *files[i].second, "cannot record owned files", stats);
        }
        return;
      }
    }
    for (auto& [t, content] : temps) {
      if (t.failed) continue;
      const auto path = dir_ + "/" + t.relative;
      if (::rename(t.temp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(t.temp.c_str());
        errno = saved;
        fail(t.relative, *content, "cannot rename into place", stats);
        continue;
      }
      trace_stage("renamed", path);
      owned_[t.relative].hash = t.hash;
      failed_.erase(t.relative);
      dirs_to_sync.insert(parent_of(t.relative));
      ++stats.written;
      stats.changed_paths.push_back(path);
    }
  }
}

bool config_writer::remove_file(const std::string& relative, write_stats& stats,
                                std::set<std::string>& dirs_to_sync) {
  const auto path = dir_ + "/" + relative;
  // A check folder replaced by a link: the file behind it is not ours, leave it.
  struct stat folder_stat {};
  const bool real_folder = ::lstat((dir_ + "/" + parent_of(relative)).c_str(), &folder_stat) != 0 ||
                           S_ISDIR(folder_stat.st_mode);
  if (real_folder && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    ++stats.failed;
    stats.errors.push_back(path + ": cannot remove: " + errno_text());
    failed_[relative] = std::nullopt;
    return false;
  }
  failed_.erase(relative);
  owned_.erase(relative);
  dirs_to_sync.insert(parent_of(relative));
  ++stats.removed;
  stats.changed_paths.push_back(path);
  return true;
}

write_stats config_writer::apply(const std::string& owner, const std::vector<resolved_config>& configs) {
  return apply(std::vector<owner_configs>{owner_configs{owner, configs}});
}

write_stats config_writer::apply(const std::vector<owner_configs>& batch) {
  write_stats stats;
  std::set<std::string> dirs_to_sync;
  std::vector<file_write> writes;
  std::set<std::string> writing;
  std::vector<std::string> added;
  std::vector<std::string> releases;  ///< files of an owner that it no longer wants
  // Plan owner by owner, in order, as if each were applied alone.
  for (const auto& [owner, configs] : batch) {
    // What this owner waited for is replaced by what it asks now.
    if (auto waits = waiting_by_owner_.find(owner); waits != waiting_by_owner_.end()) {
      for (const auto& path : waits->second) {
        auto it = waiting_.find(path);
        if (it == waiting_.end()) continue;
        std::erase_if(it->second, [&who = owner](const auto& w) { return w.first == who; });
        if (it->second.empty()) waiting_.erase(it);
      }
      waiting_by_owner_.erase(waits);
    }
    std::vector<std::string> now;
    for (const auto& config : configs) {
      if (!valid_relative_path(config.relative_path)) {
        ++stats.failed;
        stats.errors.push_back(config.relative_path + ": refused: not a safe path inside the output folder");
        continue;
      }
      // Two owners whose ids map to the same safe name: the first keeps the file, so that
      // neither overwrites nor removes the other's.
      if (auto it = path_owner_.find(config.relative_path); it != path_owner_.end() && it->second != owner) {
        ++stats.failed;
        stats.errors.push_back(dir_ + "/" + config.relative_path + ": refused for " + owner +
                               ": the same file is already written for " + it->second +
                               " (written for " + owner + " when that one releases it)");
        waiting_[config.relative_path].emplace_back(owner, config.content);
        waiting_by_owner_[owner].insert(config.relative_path);
        continue;
      }
      if (std::find(now.begin(), now.end(), config.relative_path) != now.end()) continue;
      now.push_back(config.relative_path);
      path_owner_[config.relative_path] = owner;
      if (writing.insert(config.relative_path).second) writes.emplace_back(config.relative_path, &config.content);
      if (!owned_.contains(config.relative_path)) added.push_back(config.relative_path);
    }
    if (auto it = by_owner_.find(owner); it != by_owner_.end()) {
      for (const auto& old : it->second) {
        if (std::find(now.begin(), now.end(), old) != now.end()) continue;
        path_owner_.erase(old);
        releases.push_back(old);
      }
    }
    if (now.empty()) by_owner_.erase(owner);
    else by_owner_[owner] = std::move(now);
  }
  // A released path that another owner was refused: the first of them takes it now.
  std::deque<std::string> promoted;  // contents of those writes (stable addresses)
  for (const auto& path : releases) {
    auto it = waiting_.find(path);
    if (it == waiting_.end() || writing.contains(path) || path_owner_.contains(path)) continue;
    auto [owner, content] = std::move(it->second.front());
    it->second.erase(it->second.begin());
    if (it->second.empty()) waiting_.erase(it);
    if (auto waits = waiting_by_owner_.find(owner); waits != waiting_by_owner_.end()) {
      waits->second.erase(path);
      if (waits->second.empty()) waiting_by_owner_.erase(waits);
    }
    path_owner_[path] = owner;
    by_owner_[owner].push_back(path);
    promoted.push_back(std::move(content));
    writing.insert(path);
    writes.emplace_back(path, &promoted.back());
    if (!owned_.contains(path)) added.push_back(path);
  }
  // A released file that a later owner took is written, not removed.
  std::erase_if(releases, [&writing](const std::string& p) { return writing.contains(p); });
  if (!journal('+', added)) {
    stats.failed += writes.size();
    stats.errors.push_back(dir_ + "/" + journal_name + ": cannot record owned files: " + errno_text());
    for (const auto& [relative, content] : writes) failed_[relative] = *content;
    for (const auto& p : added) owned_[p] = owned_file{};
    for (const auto& p : releases) failed_[p] = std::nullopt;
    return stats;
  }
  write_files(writes, added, stats, dirs_to_sync);
  std::vector<std::string> gone;
  for (const auto& old : releases) {
    if (remove_file(old, stats, dirs_to_sync)) gone.push_back(old);
  }
  sync_dirs(dirs_to_sync);
  journal('-', gone);
  return stats;
}

write_stats config_writer::remove_stale(const std::set<std::string>& keep) {
  write_stats stats;
  std::set<std::string> dirs_to_sync;
  std::vector<std::string> stale;
  for (const auto& [relative, file] : owned_) {
    if (!keep.contains(relative)) stale.push_back(relative);
  }
  std::vector<std::string> gone;
  for (const auto& relative : stale) {
    if (remove_file(relative, stats, dirs_to_sync)) gone.push_back(relative);
  }
  sync_dirs(dirs_to_sync);
  journal('-', gone);
  return stats;
}

write_stats config_writer::retry() {
  write_stats stats;
  std::set<std::string> dirs_to_sync;
  const auto pending = failed_;
  std::vector<file_write> writes;
  std::vector<std::string> added;
  std::vector<std::string> gone;
  for (const auto& [relative, content] : pending) {
    if (content) {
      writes.emplace_back(relative, &*content);
      added.push_back(relative);  // it may never have reached the journal
    } else if (remove_file(relative, stats, dirs_to_sync)) {
      gone.push_back(relative);
    }
  }
  if (journal('+', added)) {
    write_files(writes, added, stats, dirs_to_sync);
  } else {
    stats.failed += writes.size();
    stats.errors.push_back(dir_ + "/" + journal_name + ": cannot record owned files: " + errno_text());
  }
  sync_dirs(dirs_to_sync);
  journal('-', gone);
  return stats;
}

void config_writer::forget_written() {
  for (auto& [relative, file] : owned_) file.hash.reset();
}

write_stats config_writer::remove_all() {
  by_owner_.clear();
  path_owner_.clear();
  failed_.clear();
  return remove_stale({});
}

std::set<std::string> config_writer::owned_paths() const {
  std::set<std::string> out;
  for (const auto& [relative, file] : owned_) out.insert(relative);
  return out;
}

}  // namespace autodiscd
