#include "support/support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace autodiscd::test {

temp_dir::temp_dir(const std::string& prefix) {
  // TMPDIR when set (a benchmark on tmpfs, say), else /tmp.
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

void copy_fixture_dir(const std::string& relative, const std::filesystem::path& to) {
  const std::filesystem::path from = fixture(relative);
  std::filesystem::create_directories(to);
  for (const auto& e : std::filesystem::recursive_directory_iterator(from)) {
    const auto target = to / std::filesystem::relative(e.path(), from);
    if (e.is_directory()) {
      std::filesystem::create_directories(target);
    } else {
      write_file(target, read_file(e.path()));
    }
  }
}

std::string fixture(const std::string& relative) { return std::string(AUTODISCD_FIXTURES) + "/" + relative; }

}  // namespace autodiscd::test
