#pragma once
// Small helpers shared by tests.

#include <filesystem>
#include <string>

namespace autodiscd::test {

/// A fresh folder under /tmp, unique to this run, removed when the object goes away.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "autodiscd-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

/// Reads a whole file ("" when missing).
std::string read_file(const std::filesystem::path& path);
/// Writes a whole file (not atomically).
void write_file(const std::filesystem::path& path, const std::string& content);
/// Copies a fixture folder (tests/fixtures/<relative>) into `to`, writable (the fixtures
/// themselves may be read-only).
void copy_fixture_dir(const std::string& relative, const std::filesystem::path& to);
/// Path of a fixture under tests/fixtures.
std::string fixture(const std::string& relative);

}  // namespace autodiscd::test
