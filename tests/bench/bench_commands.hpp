#pragma once
// The benchmark subcommands. Each prints its figures as a markdown table on stdout (progress
// on stderr) and returns the exit code: non-zero when a final state was wrong.

#include "bench_common.hpp"

namespace autodiscd::bench {

int run_sync(const options& opt);         ///< initial sync vs containers, fake engine
int run_events(const options& opt);       ///< sustained events/s, latency at a fraction of it
int run_fake_engine(const options& opt);  ///< a standalone fake engine for the footprint figures
int run_kubelet(const options& opt);      ///< parse + diff + resolve per poll
int run_kubelet_poll(const options& opt); ///< the build's autodiscd polling a fake kubelet: CPU per poll
int run_writer(const options& opt);       ///< configs written/s
int run_real_docker(const options& opt);  ///< real dockerd: start -> file, floor, removal, Prometheus
int run_process(const options& opt);      ///< process listener: port open -> file, idle and change CPU, peers
int run_parsers(const options& opt);      ///< JSON parsers' MB/s on /pods bodies (needs libsimdjson-dev)

}  // namespace autodiscd::bench
