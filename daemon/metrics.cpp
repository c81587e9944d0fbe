#include "daemon/metrics.hpp"

#include <cmath>

#include <fmt/format.h>

#include "daemon/app.hpp"
#include "daemon/version.hpp"

namespace autodiscd {
namespace {

/// Appends families in text format; one HELP and TYPE line per family.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP autodiscd_{} {}\n# TYPE autodiscd_{} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    out_ += "autodiscd_";
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += format_value(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

  static std::string format_value(double v) {
    // Prometheus' text format spells the non-finite values NaN, +Inf and -Inf. The integer
    // check casts only values inside int64's range: outside it the cast is undefined.
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::fabs(v) < 9.0e18 && v == static_cast<double>(static_cast<std::int64_t>(v))) {
      return fmt::format("{}", static_cast<std::int64_t>(v));
    }
    return fmt::format("{}", v);
  }

 private:
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

std::string listener_labels(const listener_state& s) { return label("listener", s.name) + "," + label("type", s.type); }

}  // namespace

void latency_histogram::observe(std::chrono::nanoseconds d) {
  const double seconds = std::chrono::duration<double>(d).count();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

std::uint64_t latency_histogram::cumulative(std::size_t i) const {
  std::uint64_t n = 0;
  for (std::size_t j = 0; j <= i && j < buckets_.size(); ++j) n += buckets_[j];
  return n;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_metrics(const app& a) {
  exposition e;
  const auto& t = a.totals();
  const auto& states = a.listener_states();

  e.family("build_info", "gauge", "Build information; always 1.");
  e.sample("build_info", label("version", version), 1);
  e.family("start_time_seconds", "gauge", "Start time of the daemon since the Unix epoch in seconds.");
  e.sample("start_time_seconds", "",
           static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(t.start_time.time_since_epoch()).count()));
  e.family("ready", "gauge", "1 once every listener finished its first sync and its configs are written.");
  e.sample("ready", "", a.ready() ? 1 : 0);

  e.family("listener_synced", "gauge", "1 when the listener completed a full sync and has no current error.");
  for (const auto& s : states) e.sample("listener_synced", listener_labels(s), s.synced && s.last_error_kind.empty() ? 1 : 0);
  e.family("listener_last_sync_timestamp_seconds", "gauge", "Time of the listener's last full sync since the Unix epoch (0: never).");
  for (const auto& s : states) {
    const double when = s.last_sync ? std::chrono::duration<double>(s.last_sync->time_since_epoch()).count() : 0.0;
    e.sample("listener_last_sync_timestamp_seconds", listener_labels(s), static_cast<double>(static_cast<std::int64_t>(when)));
  }
  e.family("services", "gauge", "Services currently known, per listener.");
  for (const auto& s : states) e.sample("services", listener_labels(s), static_cast<double>(s.services));

  struct counter_family {
    std::string_view counter;
    std::string_view name;
    std::string_view help;
  };
  static constexpr counter_family counters[] = {
      {"events", "listener_events_received_total", "Events received from the listener's source."},
      {"polls", "listener_polls_total", "Polls (full reads) of the listener's source."},
      {"unchanged_polls", "listener_unchanged_polls_total",
       "Polls whose body was byte-identical to the last good one (not parsed again; kubelet, ECS)."},
      {"reconnects", "listener_reconnects_total", "Reconnections of the listener to its source."},
      {"resyncs", "listener_resyncs_total", "Full resyncs of the listener after a gap."},
  };
  for (const auto& c : counters) {
    e.family(c.name, "counter", c.help);
    for (const auto& s : states) {
      const auto it = s.counters.find(c.counter);
      e.sample(c.name, listener_labels(s), it == s.counters.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  e.family("listener_errors_total", "counter", "Listener errors by kind (timeout, http_status, tls, parse, ...).");
  for (const auto& s : states) {
    for (const auto& [kind, n] : s.errors_by_kind) {
      e.sample("listener_errors_total", listener_labels(s) + "," + label("kind", kind), static_cast<double>(n));
    }
  }

  std::size_t configs = 0;
  std::size_t rejected = 0;
  for (const auto& [id, r] : a.resolutions()) {
    configs += r.configs.size();
    rejected += r.rejected.size();
  }
  e.family("configs", "gauge", "Configs currently resolved (written) and rejected.");
  e.sample("configs", label("state", "resolved"), static_cast<double>(configs));
  e.sample("configs", label("state", "rejected"), static_cast<double>(rejected));
  e.family("configs_resolved_total", "counter", "Configs resolved, counted each time a service's resolution changed.");
  e.sample("configs_resolved_total", "", static_cast<double>(t.configs_resolved));
  e.family("configs_rejected_total", "counter", "Configs rejected, counted each time a service's resolution changed.");
  e.sample("configs_rejected_total", "", static_cast<double>(t.configs_rejected));

  e.family("files_total", "counter", "Output files by what the writer did: written, unchanged, removed, failed.");
  e.sample("files_total", label("result", "written"), static_cast<double>(t.writes.written));
  e.sample("files_total", label("result", "unchanged"), static_cast<double>(t.writes.unchanged));
  e.sample("files_total", label("result", "removed"), static_cast<double>(t.writes.removed));
  e.sample("files_total", label("result", "failed"), static_cast<double>(t.writes.failed));

  e.family("write_batches_total", "counter",
           "Batches of changes resolved and written together (a stream of changes is grouped).");
  e.sample("write_batches_total", "", static_cast<double>(t.write_batches));
  e.family("write_seconds_total", "counter",
           "Time the event loop spent resolving and writing batches (no event is read meanwhile).");
  e.sample("write_seconds_total", "", std::chrono::duration<double>(t.write_time).count());

  e.family("template_errors", "gauge", "Template files currently in error.");
  e.sample("template_errors", "", static_cast<double>(a.template_errors().size()));
  e.family("template_errors_total", "counter", "Template errors seen (each new error counted once).");
  e.sample("template_errors_total", "", static_cast<double>(t.template_errors));

  const auto& h = t.discovery_to_disk;
  e.family("discovery_to_disk_seconds", "histogram",
           "Time from a listener reporting a change (event or poll result) to its files being on disk.");
  for (std::size_t i = 0; i < latency_histogram::bounds.size(); ++i) {
    e.sample("discovery_to_disk_seconds_bucket", label("le", fmt::format("{}", latency_histogram::bounds[i])),
             static_cast<double>(h.cumulative(i)));
  }
  e.sample("discovery_to_disk_seconds_bucket", label("le", "+Inf"), static_cast<double>(h.count()));
  e.sample("discovery_to_disk_seconds_sum", "", h.sum_seconds());
  e.sample("discovery_to_disk_seconds_count", "", static_cast<double>(h.count()));

  e.family("change_hook_runs_total", "counter", "Runs of output.on_change by result: ok, failed, timeout.");
  for (std::string_view result : {"ok", "failed", "timeout"}) {
    const auto it = t.hook_runs.find(result);
    e.sample("change_hook_runs_total", label("result", result), it == t.hook_runs.end() ? 0.0 : static_cast<double>(it->second));
  }
  e.family("reloads_total", "counter", "Config reloads (SIGHUP) by result: ok, failed.");
  e.sample("reloads_total", label("result", "ok"), static_cast<double>(t.reloads_ok));
  e.sample("reloads_total", label("result", "failed"), static_cast<double>(t.reloads_failed));
  return e.take();
}

}  // namespace autodiscd
