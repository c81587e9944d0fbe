#include "bench_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace autodiscd::bench {

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

namespace {
double cpu_ms(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}
}  // namespace

double process_cpu_ms() { return cpu_ms(CLOCK_PROCESS_CPUTIME_ID); }
double thread_cpu_ms() { return cpu_ms(CLOCK_THREAD_CPUTIME_ID); }

options::options(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument: " + arg);
    arg = arg.substr(2);
    if (auto eq = arg.find('='); eq != std::string::npos) {
      values_[arg.substr(0, eq)] = arg.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      values_[arg] = argv[++i];
    } else {
      values_[arg] = "";
    }
  }
}

std::string options::str(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}
long options::num(const std::string& key, long fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : std::stol(it->second);
}
double options::real(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : std::stod(it->second);
}
std::vector<long> options::nums(const std::string& key, const std::string& fallback) const {
  std::vector<long> out;
  std::stringstream in(str(key, fallback));
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::stol(item));
  }
  return out;
}
bool options::flag(const std::string& key) const { return values_.count(key) > 0; }

summary::summary(std::vector<double> samples) : v(std::move(samples)) { std::sort(v.begin(), v.end()); }
double summary::quantile(double q) const {
  if (v.empty()) return std::nan("");
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}
double summary::min() const { return v.empty() ? std::nan("") : v.front(); }
double summary::median() const { return quantile(0.5); }
double summary::p99() const { return quantile(0.99); }
double summary::max() const { return v.empty() ? std::nan("") : v.back(); }

std::string fmt_num(double value) {
  if (std::isnan(value)) return "n/a";
  const double a = std::fabs(value);
  if (a >= 100) return fmt::format("{:.0f}", value);
  if (a >= 10) return fmt::format("{:.1f}", value);
  if (a >= 1) return fmt::format("{:.2f}", value);
  return fmt::format("{:.3f}", value);
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string line = "|";
  std::string rule = "|";
  for (const auto& h : header) {
    line += " " + h + " |";
    rule += "---|";
  }
  std::cout << line << "\n" << rule << "\n";
  for (const auto& row : rows) {
    line = "|";
    for (const auto& cell : row) line += " " + cell + " |";
    std::cout << line << "\n";
  }
  std::cout << std::endl;
}

void progress(const std::string& text) { std::cerr << "bench: " << text << std::endl; }

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double schedstat_cpu_ms(int pid) {
  double ns = 0;
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
    std::ifstream in(task.path() / "schedstat");
    double run_ns = 0;
    if (in >> run_ns) ns += run_ns;
  }
  return ns / 1e6;
}

}  // namespace autodiscd::bench
