// autodiscd_bench: benchmark programs for docs/benchmarks.md (run them all with
// tests/bench/run.sh). `autodiscd_bench smoke` runs every in-process figure with tiny sizes
// and checks the final states (the ctest that keeps this program from rotting).

#include <exception>
#include <iostream>
#include <string>

#include "bench_commands.hpp"
#include "listeners/log.hpp"

namespace {

constexpr const char* usage = R"(usage: autodiscd_bench COMMAND [--option value]...
  sync        --containers 100,1000,10000 --repeat 3 [--repeat-large 1] --inspect-delay-ms 1 --concurrency 4
  events      --containers 2000 --load 0.5 --duration-s 4 --repeat 3
  kubelet     --pods 250,1000,5000 --repeat 20 [--changed-percent 10] [--memo 0: parse every body] [--first-repeat 3]
  kubelet-poll --pods 212 --interval-ms 100 --polls 300 --changing-polls 50   (the build's autodiscd
              polling a fake kubelet: daemon CPU per unchanged poll, HTTP read included)
  writer      --configs 2000 --repeat 3 [--dir /path/on/the/disk/to/measure] [--waiting 0]
  fake-engine --containers 1000 --inspect-delay-ms 1 --socket-link PATH [--events-per-s M]
  real-docker --socket PATH --output DIR --containers 200 --image localtest/busybox:latest
              [--prometheus-port P --prometheus-containers 20]
  process     --interval-ms 1000 --starts 50 --processes 1000 --sockets 100 --idle-s 60 --changes 10
              --peers-repeat 20   (the build's autodiscd with a process listener, on this host)
  parsers     --pods 250,1000,5000 --repeat 7 [--sample-mb 8]   (JSON parsers' MB/s on /pods bodies;
              built only where libsimdjson-dev is installed)
  smoke       every in-process figure with tiny sizes; fails when a final state is wrong
)";

int smoke() {
  using autodiscd::bench::options;
  const char* sync_args[] = {"x", "--containers", "20,40", "--repeat", "2", "--inspect-delay-ms", "1"};
  const char* event_args[] = {"x", "--containers", "300", "--load", "0.5", "--duration-s", "0.3", "--repeat", "1"};
  const char* kubelet_args[] = {"x", "--pods", "10,20", "--repeat", "3"};
  const char* writer_args[] = {"x", "--configs", "30", "--repeat", "1"};
  int rc = 0;
  rc |= autodiscd::bench::run_sync(options(7, const_cast<char**>(sync_args), 1));
  rc |= autodiscd::bench::run_events(options(9, const_cast<char**>(event_args), 1));
  rc |= autodiscd::bench::run_kubelet(options(5, const_cast<char**>(kubelet_args), 1));
  rc |= autodiscd::bench::run_writer(options(5, const_cast<char**>(writer_args), 1));
  std::cout << (rc == 0 ? "smoke: ok" : "smoke: FAILED") << std::endl;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 64;
  }
  const std::string command = argv[1];
  try {
    autodiscd::setup_logging("warn", "text");
    autodiscd::bench::options opt(argc, argv, 2);
    if (command == "sync") return autodiscd::bench::run_sync(opt);
    if (command == "events") return autodiscd::bench::run_events(opt);
    if (command == "fake-engine") return autodiscd::bench::run_fake_engine(opt);
    if (command == "kubelet") return autodiscd::bench::run_kubelet(opt);
    if (command == "kubelet-poll") return autodiscd::bench::run_kubelet_poll(opt);
    if (command == "writer") return autodiscd::bench::run_writer(opt);
    if (command == "real-docker") return autodiscd::bench::run_real_docker(opt);
    if (command == "process") return autodiscd::bench::run_process(opt);
    if (command == "parsers") {
#ifdef AUTODISCD_BENCH_PARSERS
      return autodiscd::bench::run_parsers(opt);
#else
      std::cerr << "autodiscd_bench parsers: not built (libsimdjson-dev was not found)\n";
      return 69;
#endif
    }
    if (command == "smoke") return smoke();
  } catch (const std::exception& e) {
    std::cerr << "autodiscd_bench " << command << ": " << e.what() << std::endl;
    return 1;
  }
  std::cerr << usage;
  return 64;
}
