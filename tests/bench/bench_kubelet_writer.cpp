// Kubelet: parse + diff + resolve (+ write) per poll on synthetic /pods responses; and the
// writer's configs/s with fsync, unchanged content and removals.

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "bench_commands.hpp"
#include "listeners/body_memo.hpp"
#include "config/resolver.hpp"
#include "config/template_loader.hpp"
#include "config/writer.hpp"
#include "listeners/kubelet/kubelet_pods.hpp"
#include "pods_gen.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

/// What one poll cost (CPU of this thread, ms) and did.
struct poll_cost {
  double parse = 0, diff = 0, resolve = 0, write = 0;
  std::size_t services = 0, changed = 0, files_written = 0;
  double total_no_write() const { return parse + diff + resolve; }
};

/// The Kubelet listener's poll (parse_pod_list, diff_services) and the app's reaction
/// (resolve_service for each changed service, writer.apply when the result changed), as
/// kubelet_listener.cpp and app.cpp do them, timed step by step.
struct kubelet_pipeline {
  explicit kubelet_pipeline(const std::string& out_dir) : writer(out_dir) {
    auto loaded = load_templates({test::fixture("auto_conf")});
    templates = template_index(std::move(loaded.templates));
    if (auto error = writer.open()) throw std::runtime_error(*error);
  }
  /// `memo`: skip a body identical to the last one, as the listener does (false: parse every
  /// body, as before issue 15). `write` false: stop after the resolve.
  poll_cost poll(const std::string& body, bool memo = true, bool write = true) {
    poll_cost c;
    kubelet_pod_options options;
    double t = thread_cpu_ms();
    const auto fp = fingerprint(body);
    if (memo && last_body.unchanged(fp, options.now)) {
      c.parse = thread_cpu_ms() - t;
      c.services = services.size();
      return c;
    }
    std::optional<std::chrono::system_clock::time_point> expires;
    options.next_expiry = &expires;
    service_map next;
    if (auto error = parse_pod_list(body, options, next)) throw std::runtime_error(*error);
    last_body.remember(fp, expires);
    double t1 = thread_cpu_ms();
    c.parse = t1 - t;
    auto delta = diff_services_sharing(services, next);
    services = std::move(next);
    double t2 = thread_cpu_ms();
    c.diff = t2 - t1;
    c.services = services.size();
    std::vector<std::pair<std::string, resolution>> changed;
    auto resolve = [&](const service& svc) { changed.emplace_back(svc.id, resolve_service(svc, templates, env)); };
    for (const auto& s : delta.added) resolve(*s);
    for (const auto& s : delta.changed) resolve(*s);
    for (const auto& id : delta.removed) changed.emplace_back(id, resolution{});
    double t3 = thread_cpu_ms();
    c.resolve = t3 - t2;
    c.changed = changed.size();
    if (!write) return c;
    const auto w0 = clock_type::now();
    for (auto& [id, result] : changed) {
      auto& previous = resolutions[id];
      if (previous == result) continue;
      auto stats = writer.apply(id, result.configs);
      c.files_written += stats.written + stats.removed;
      previous = std::move(result);
    }
    c.write = ms_between(w0, clock_type::now());  // wall: mostly fsync waits
    return c;
  }
  config_writer writer;
  template_index templates;
  env_lookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  service_map services;
  body_memo last_body;
  std::map<std::string, resolution> resolutions;
};

}  // namespace

int run_kubelet(const options& opt) {
  const auto sizes = opt.nums("pods", "250,1000,5000");
  const long repeat = opt.num("repeat", 20);
  const long changed_percent = opt.num("changed-percent", 10);
  // The first poll is timed on this many fresh pipelines (the median one is shown; only the
  // first writes its files, the others stop after the resolve).
  const long first_repeat = std::max<long>(1, opt.num("first-repeat", 3));
  // --memo 0: every poll parses its body (the callgrind figures of run.sh count those polls).
  const bool memo = opt.num("memo", 1) != 0;
  int rc = 0;
  std::vector<std::vector<std::string>> rows;
  for (long n : sizes) {
    test::temp_dir dir("autodiscd-bench-kubelet");
    kubelet_pipeline pipe((dir.path() / "out").string());
    const auto pods = static_cast<std::size_t>(n);
    const std::string body = synthetic_pod_list(pods).dump();
    // First poll: every service is new.
    auto first = pipe.poll(body);
    std::vector<poll_cost> firsts{first};
    for (long r = 1; r < first_repeat; ++r) {
      test::temp_dir other("autodiscd-bench-kubelet");
      kubelet_pipeline fresh((other.path() / "out").string());
      firsts.push_back(fresh.poll(body, true, false));
    }
    std::sort(firsts.begin(), firsts.end(),
              [](const poll_cost& a, const poll_cost& b) { return a.total_no_write() < b.total_no_write(); });
    const auto median_first = firsts[firsts.size() / 2];
    first.parse = median_first.parse;
    first.diff = median_first.diff;
    first.resolve = median_first.resolve;
    // Unchanged polls: the same body again; and the same parsed again (before issue 15).
    std::vector<double> unchanged, reparsed;
    std::size_t unchanged_files = 0;
    for (long r = 0; r < repeat; ++r) {
      auto c = pipe.poll(body, memo);
      unchanged.push_back(c.total_no_write() + c.write);
      unchanged_files += c.files_written;
      if (!memo) continue;
      auto p = pipe.poll(body, false);
      reparsed.push_back(p.total_no_write() + p.write);
      unchanged_files += p.files_written;
    }
    if (reparsed.empty()) reparsed = unchanged;
    if (unchanged_files != 0) rc = 1;
    // Polls where `changed_percent` of the pods restarted (new container ids), alternating.
    const auto changed = pods * static_cast<std::size_t>(changed_percent) / 100;
    std::vector<double> some, some_write;
    std::size_t some_files = 0;
    for (long r = 0; r < std::max<long>(3, repeat / 4); ++r) {
      const std::string next = synthetic_pod_list(pods, changed, static_cast<int>(r % 2 + 1)).dump();
      auto c = pipe.poll(next, memo);
      some.push_back(c.total_no_write());
      some_write.push_back(c.write);
      some_files = c.files_written;
    }
    summary u(unchanged), rp(reparsed), s(some), sw(some_write);
    progress(fmt::format("kubelet pods={} services={} body_kib={} first: parse={:.2f} diff={:.2f} resolve={:.2f} write={:.2f} files={}",
                         n, first.services, body.size() / 1024, first.parse, first.diff, first.resolve, first.write,
                         first.files_written));
    rows.push_back({std::to_string(n), std::to_string(first.services), std::to_string(body.size() / 1024),
                    fmt::format("{} + {} + {} = {}", fmt_num(first.parse), fmt_num(first.diff), fmt_num(first.resolve),
                                fmt_num(first.total_no_write())),
                    fmt::format("{} ({} files)", fmt_num(first.write), first.files_written),
                    fmt::format("{} / {}", fmt_num(u.median()), fmt_num(u.p99())),
                    fmt::format("{} / {}", fmt_num(rp.median()), fmt_num(rp.p99())), std::to_string(unchanged_files),
                    fmt::format("{} / {} (+{} write, {} files)", fmt_num(s.median()), fmt_num(s.max()),
                                fmt_num(sw.median()), some_files)});
  }
  print_table({"pods", "services", "body KiB",
               fmt::format("first poll: parse + diff + resolve ms (median of {} fresh starts)", first_repeat),
               "first poll: write ms (wall, fsync)",
               fmt::format("unchanged poll ms p50 / p99 ({} polls; same body: not parsed)", repeat),
               "before: unchanged poll parsed and diffed, ms p50 / p99", "files written on unchanged polls",
               fmt::format("{}% pods restarted: parse+diff+resolve ms p50 / max", changed_percent)},
              rows);
  std::cout << "CPU time of the benchmark's thread (CLOCK_THREAD_CPUTIME_ID); the HTTP read of the body is not included.\n\n";
  return rc;
}

int run_writer(const options& opt) {
  const auto configs = static_cast<std::size_t>(opt.num("configs", 2000));
  const long repeat = opt.num("repeat", 3);
  const std::string where = opt.str("dir", "");
  // Configs refused because their file is taken (two ids with one safe name), waiting for it:
  // every apply of every owner must not grow with their number.
  const auto waiting = static_cast<std::size_t>(opt.num("waiting", 0));
  std::vector<double> fresh, same, rewrite, removal;
  int rc = 0;
  for (long r = 0; r < repeat; ++r) {
    std::optional<test::temp_dir> tmp;
    std::string out;
    if (where.empty()) {
      tmp.emplace("autodiscd-bench-writer");
      out = (tmp->path() / "out").string();
    } else {
      out = where + fmt::format("/autodiscd-bench-writer-{}-{}", ::getpid(), r);
    }
    {
      config_writer writer(out);
      if (auto error = writer.open()) throw std::runtime_error(*error);
      auto make = [&](std::size_t i, int version) {
        resolved_config c;
        c.service_id = fmt::format("docker://{:064x}", i);
        c.check_name = "redisdb";
        c.template_source = "bench";
        c.relative_path = fmt::format("redisdb.d/docker___{:064x}.yaml", i);
        c.content = fmt::format("init_config: {{}}\ninstances:\n  - host: 10.0.{}.{}\n    port: 6379\n    version: {}\n",
                                (i >> 8) & 255, i & 255, version);
        return c;
      };
      auto phase = [&](int version, bool remove, std::vector<double>& rates, std::size_t expect_written) {
        std::size_t done = 0;
        const auto t0 = clock_type::now();
        for (std::size_t i = 0; i < configs; ++i) {
          auto c = make(i, version);
          auto stats = remove ? writer.apply(c.service_id, {}) : writer.apply(c.service_id, {c});
          done += stats.written + stats.removed;
        }
        const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
        rates.push_back(static_cast<double>(configs) / s);
        if (done != expect_written) {
          progress(fmt::format("writer: WRONG: {} files changed, expected {}", done, expect_written));
          rc = 1;
        }
      };
      phase(1, false, fresh, configs);
      for (std::size_t w = 0; w < waiting; ++w) {
        auto c = make(w % configs, 1);
        c.service_id = fmt::format("waiting://{}", w);
        if (writer.apply(c.service_id, {c}).failed != 1) {
          progress("writer: WRONG: a colliding config was not refused");
          rc = 1;
        }
      }
      phase(1, false, same, 0);
      phase(2, false, rewrite, configs);
      phase(2, true, removal, configs);
    }
    if (!where.empty()) std::filesystem::remove_all(out);
  }
  summary a(fresh), b(same), c(rewrite), d(removal);
  auto cell = [](const summary& x) {
    return fmt::format("{} / {} / {}", fmt_num(x.min()), fmt_num(x.median()), fmt_num(x.max()));
  };
  print_table({"operation", "configs per run", "runs", "configs/s min / median / max"},
              {{"new file (write, fsync, rename, fsync folder)", std::to_string(configs), std::to_string(repeat), cell(a)},
               {waiting ? fmt::format("unchanged content (skipped), {} configs waiting for a taken file", waiting)
                        : std::string("unchanged content (skipped)"),
                std::to_string(configs), std::to_string(repeat), cell(b)},
               {"changed content (rewrite)", std::to_string(configs), std::to_string(repeat), cell(c)},
               {"removal (unlink, fsync folder)", std::to_string(configs), std::to_string(repeat), cell(d)}});
  return rc;
}

}  // namespace autodiscd::bench
