// Fuzzes the Docker /events stream framing: line_splitter fed the input in fuzzed chunk
// sizes must give exactly the lines a plain split gives (or refuse an over-long line in
// every case), and parse_event on each line must not crash.
// Input: byte 0 picks chunk sizes, byte 1 the line limit; the rest is the stream.
#include "fuzz_common.hpp"

#include "listeners/docker/docker_mapping.hpp"

using namespace autodiscd;

namespace {

/// The reference: split at '\n', drop trailing '\r's, keep non-empty lines; false once a
/// line (as received, before dropping '\r') is longer than `max`.
bool reference_lines(std::string_view data, std::size_t max, std::vector<std::string>& lines) {
  for (;;) {
    const auto nl = data.find('\n');
    std::string line(data.substr(0, nl));
    if (line.size() > max) return false;
    if (nl == std::string_view::npos) return true;  // the partial last line waits for more
    while (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
    data.remove_prefix(nl + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned chunk_seed = data[0];
  const std::size_t max = 16 + data[1] * 4u;
  const auto stream = fuzz::as_view(data + 2, size - 2);

  std::vector<std::string> whole;
  docker::line_splitter one(max);
  const bool whole_ok = one.feed(stream, whole);

  std::vector<std::string> chunked;
  docker::line_splitter many(max);
  bool chunked_ok = true;
  std::size_t at = 0;
  unsigned step = chunk_seed;
  while (at < stream.size() && chunked_ok) {
    step = step * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + (step >> 16) % 64);
    chunked_ok = many.feed(stream.substr(at, n), chunked);
    at += n;
  }
  fuzz::require(whole_ok == chunked_ok, "chunking changes whether the stream is accepted");
  if (whole_ok) fuzz::require(whole == chunked, "chunking changes the lines");

  std::vector<std::string> expected;
  const bool ref_ok = reference_lines(stream, max, expected);
  fuzz::require(whole_ok == ref_ok, "the line limit differs from a plain split");
  if (whole_ok) fuzz::require(whole == expected, "lines differ from a plain split");
  for (const auto& line : whole) {
    fuzz::require(line.find('\n') == std::string::npos && line.back() != '\r', "a line holds its line end");
    if (auto ev = docker::parse_event(line)) (void)docker::event_needs_inspect(*ev);
  }
  return 0;
}
