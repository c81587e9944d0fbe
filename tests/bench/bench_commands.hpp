#pragma once
// The benchmark subcommands. Each prints its figures as a markdown table on stdout (progress
// on stderr) and returns the exit code: non-zero when a final state was wrong.

#include "bench_common.hpp"

namespace autodiscd::bench {

int run_sync(const options& opt);         ///< initial sync vs containers, fake engine
int run_events(const options& opt);       ///< sustained events/s, latency at a fraction of it
int run_fake_engine(const options& opt);  ///< a standalone fake engine for the footprint figures
int run_kubelet(const options& opt);      ///< parse + diff + resolve per poll
int run_writer(const options& opt);       ///< configs written/s
int run_real_docker(const options& opt);  ///< real dockerd: start -> file, floor, removal, Prometheus
int run_process(const options& opt);      ///< process listener: port open -> file, idle and change CPU, peers

}  // namespace autodiscd::bench
