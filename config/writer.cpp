#include "config/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

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
  // Replay the journal: "+path" adds, "-path" removes. Lines that are not a path this
  // writer could have written are ignored, so a tampered journal cannot point outside.
  std::ifstream in(journal_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2 || !valid_relative_path(std::string_view(line).substr(1))) continue;
    if (line[0] == '+') owned_[line.substr(1)] = owned_file{};
    if (line[0] == '-') owned_.erase(line.substr(1));
  }
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
  const auto path = dir_ + "/" + journal_name;
  const auto temp = dir_ + "/" + journal_name + temp_suffix;
  std::string text;
  for (const auto& [relative, file] : owned_) text += "+" + relative + "\n";
  ::unlink(temp.c_str());  // a leftover, or a planted link: never written through
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return false;
  }
  // Keep the lock on the new inode.
  const int new_fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (new_fd < 0) return false;
  ::flock(new_fd, LOCK_EX | LOCK_NB);
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = new_fd;
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
  std::string text;
  for (const auto& p : paths) text += std::string(1, op) + p + "\n";
  // Additions must be durable before the files exist; removals may be lost (the next
  // start then finds the file gone, which is harmless).
  return write_all(journal_fd_, text) && (op != '+' || ::fdatasync(journal_fd_) == 0);
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

bool config_writer::write_file(const std::string& relative, const std::string& content,
                               write_stats& stats, std::set<std::string>& dirs_to_sync) {
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
    return true;
  }
  const auto folder = parent_of(relative);
  const auto folder_path = dir_ + "/" + folder;
  auto fail = [&](const std::string& what) {
    ++stats.failed;
    stats.errors.push_back(path + ": " + what + ": " + errno_text());
    owned.hash.reset();
    failed_[relative] = content;
    return false;
  };
  // A file written without a journal that lists it would be foreign after a restart.
  if (!ensure_journal()) return fail("cannot record owned files");
  if (::mkdir(folder_path.c_str(), 0755) == 0) {
    dirs_to_sync.insert("");
  } else if (errno != EEXIST) {
    if (errno == ENOENT) {  // the output folder itself is gone: recreate it
      std::error_code ec;
      fs::create_directories(folder_path, ec);
      if (ec) return fail("cannot create folder");
    } else {
      return fail("cannot create folder");
    }
  }
  const auto file_name = relative.substr(folder.size() + 1);
  const auto temp = folder_path + "/." + file_name + temp_suffix;
  // Never follow a link planted in the output folder: the check folder must be a real
  // folder, and the temp file is created anew (a leftover or planted entry is removed first).
  struct stat folder_stat {};
  if (::lstat(folder_path.c_str(), &folder_stat) != 0) return fail("cannot read folder");
  if (!S_ISDIR(folder_stat.st_mode)) {
    errno = ENOTDIR;
    return fail("refused: not a real folder (a symlink?)");
  }
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot create temp file");
  if (!write_all(fd, content) || ::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    return fail("cannot write");
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    return fail("cannot rename into place");
  }
  owned.hash = hash;
  failed_.erase(relative);
  dirs_to_sync.insert(folder);
  ++stats.written;
  stats.changed_paths.push_back(path);
  return true;
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
  write_stats stats;
  std::set<std::string> dirs_to_sync;
  std::vector<std::string> now;
  std::vector<std::string> added;
  std::vector<const resolved_config*> accepted;
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
                             ": the same file is already written for " + it->second);
      continue;
    }
    if (std::find(now.begin(), now.end(), config.relative_path) != now.end()) continue;
    now.push_back(config.relative_path);
    accepted.push_back(&config);
    if (!owned_.contains(config.relative_path)) added.push_back(config.relative_path);
  }
  if (!journal('+', added)) {
    stats.failed += accepted.size();
    stats.errors.push_back(dir_ + "/" + journal_name + ": cannot record owned files: " + errno_text());
    for (const auto* config : accepted) failed_[config->relative_path] = config->content;
    for (const auto& p : added) owned_[p] = owned_file{};
    for (const auto& p : now) path_owner_[p] = owner;
    // The owner's old files that are no longer wanted: removals to retry as well.
    if (auto it = by_owner_.find(owner); it != by_owner_.end()) {
      for (const auto& old : it->second) {
        if (std::find(now.begin(), now.end(), old) != now.end()) continue;
        path_owner_.erase(old);
        failed_[old] = std::nullopt;
      }
    }
    by_owner_[owner] = now;
    return stats;
  }
  for (const auto* config : accepted) {
    write_file(config->relative_path, config->content, stats, dirs_to_sync);
    path_owner_[config->relative_path] = owner;
  }
  std::vector<std::string> gone;
  if (auto it = by_owner_.find(owner); it != by_owner_.end()) {
    for (const auto& old : it->second) {
      if (std::find(now.begin(), now.end(), old) != now.end()) continue;
      path_owner_.erase(old);
      if (remove_file(old, stats, dirs_to_sync)) gone.push_back(old);
    }
  }
  if (now.empty()) by_owner_.erase(owner);
  else by_owner_[owner] = std::move(now);
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
  auto pending = failed_;
  std::vector<std::string> gone;
  for (const auto& [relative, content] : pending) {
    if (content) {
      journal('+', {relative});
      write_file(relative, *content, stats, dirs_to_sync);
    } else if (remove_file(relative, stats, dirs_to_sync)) {
      gone.push_back(relative);
    }
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
