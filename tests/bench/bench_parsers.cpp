// JSON parsers on kubelet /pods bodies (issue 15, section 2): MB/s of the parse before issue 15
// (nlohmann's SAX parser into the pruned document of kubelet_pod_shape.hpp) and today's
// (Boost.JSON's basic_parser mapping pods straight from the tokens, parse_pod_list) against nlohmann's
// DOM, simdjson (libsimdjson-dev) and Boost.JSON's DOM (compiled into autodiscd_lib),
// on the recorded pod lists of tests/fixtures/kubelet and the synthetic bodies of pods_gen.
// The candidates that build the pruned document are checked to build the same one as nlohmann SAX.

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "bench_commands.hpp"
#include "listeners/kubelet/kubelet_pod_shape.hpp"
#include "listeners/kubelet/kubelet_pods.hpp"
#include "pods_gen.hpp"
#include "support/support.hpp"

namespace autodiscd::bench {

namespace {

using json = nlohmann::json;
namespace od = simdjson::ondemand;

/// Copies a simdjson On-Demand value of kind `kind` (never `skip`) into the pruned document:
/// members and elements whose kind is `skip` are not read (On-Demand skips them unparsed).
json from_on_demand(od::value value, pod_node kind) {
  switch (value.type().value()) {
    case od::json_type::object: {
      json out = json::object();
      for (auto field : value.get_object()) {
        const std::string_view key = field.unescaped_key();
        const auto member = pod_member_kind(kind, key);
        if (member != pod_node::skip) out[std::string(key)] = from_on_demand(field.value(), member);
      }
      return out;
    }
    case od::json_type::array: {
      json out = json::array();
      const auto element = pod_element_kind(kind);
      for (auto item : value.get_array()) {
        if (element != pod_node::skip) out.push_back(from_on_demand(item.value(), element));
      }
      return out;
    }
    case od::json_type::string: return std::string(std::string_view(value.get_string()));
    case od::json_type::boolean: return bool(value.get_bool());
    case od::json_type::null: return nullptr;
    case od::json_type::number:
      switch (value.get_number_type().value()) {
        case od::number_type::signed_integer: return std::int64_t(value.get_int64());
        case od::number_type::unsigned_integer: return std::uint64_t(value.get_uint64());
        default: return double(value.get_double());
      }
  }
  return nullptr;
}

/// The same from a Boost.JSON document.
json from_boost(const boost::json::value& value, pod_node kind) {
  switch (value.kind()) {
    case boost::json::kind::object: {
      json out = json::object();
      for (const auto& [key, member_value] : value.get_object()) {
        const auto member = pod_member_kind(kind, std::string_view(key.data(), key.size()));
        if (member != pod_node::skip) out[std::string(key)] = from_boost(member_value, member);
      }
      return out;
    }
    case boost::json::kind::array: {
      json out = json::array();
      const auto element = pod_element_kind(kind);
      if (element == pod_node::skip) return out;
      for (const auto& item : value.get_array()) out.push_back(from_boost(item, element));
      return out;
    }
    case boost::json::kind::string: return std::string(value.get_string());
    case boost::json::kind::bool_: return value.get_bool();
    case boost::json::kind::int64: return value.get_int64();
    case boost::json::kind::uint64: return value.get_uint64();
    case boost::json::kind::double_: return value.get_double();
    case boost::json::kind::null: return nullptr;
  }
  return nullptr;
}

/// A Boost.JSON basic_parser handler that keeps nothing: the tokenizer's own speed (with
/// full validation), the ceiling of a SAX-style builder on it.
struct null_handler {
  using ec_t = boost::json::error_code;
  using sv = boost::json::string_view;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  std::size_t values = 0;
  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) { return true; }
  bool on_object_end(std::size_t, ec_t&) { return ++values, true; }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t, ec_t&) { return ++values, true; }
  bool on_key_part(sv, std::size_t, ec_t&) { return true; }
  bool on_key(sv, std::size_t, ec_t&) { return true; }
  bool on_string_part(sv, std::size_t, ec_t&) { return true; }
  bool on_string(sv, std::size_t, ec_t&) { return ++values, true; }
  bool on_number_part(sv, ec_t&) { return true; }
  bool on_int64(std::int64_t, sv, ec_t&) { return ++values, true; }
  bool on_uint64(std::uint64_t, sv, ec_t&) { return ++values, true; }
  bool on_double(double, sv, ec_t&) { return ++values, true; }
  bool on_bool(bool, ec_t&) { return ++values, true; }
  bool on_null(ec_t&) { return ++values, true; }
  bool on_comment_part(sv, ec_t&) { return true; }
  bool on_comment(sv, ec_t&) { return true; }
};

/// The parse before issue 15 (kubelet_pods.cpp until then), for the comparison: nlohmann's
/// SAX parser into the pruned document.
class nlohmann_pruned_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit nlohmann_pruned_builder(json& root) : root_(root) {}

  bool null() { return value(nullptr); }
  bool boolean(bool v) { return value(v); }
  bool number_integer(number_integer_t v) { return value(v); }
  bool number_unsigned(number_unsigned_t v) { return value(v); }
  bool number_float(number_float_t v, const string_t&) { return value(v); }
  bool string(string_t& v) { return value(std::move(v)); }
  bool binary(binary_t&) { return value(nullptr); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }
  bool key(string_t& k) {
    if (skip_depth_ > 0) return true;
    pending_kind_ = pod_member_kind(kinds_.back(), k);
    if (pending_kind_ != pod_node::skip) key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = std::string(e.what()) + " (at byte " + std::to_string(position) + ")";
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  /// The kind of the value about to be read.
  pod_node next_kind() const {
    if (stack_.empty()) return pod_node::root;
    return stack_.back()->is_array() ? pod_element_kind(kinds_.back()) : pending_kind_;
  }
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    auto* parent = stack_.back();
    if (parent->is_array()) {
      parent->push_back(std::move(v));
      return &parent->back();
    }
    auto& slot = (*parent)[key_];
    slot = std::move(v);
    return &slot;
  }
  template <class V>
  bool value(V&& v) {
    if (skip_depth_ > 0 || next_kind() == pod_node::skip) return true;
    place(json(std::forward<V>(v)));
    return true;
  }
  bool open(json&& container) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return true;
    }
    const auto kind = next_kind();
    if (kind == pod_node::skip) {
      skip_depth_ = 1;
      return true;
    }
    stack_.push_back(place(std::move(container)));
    kinds_.push_back(kind);
    return true;
  }
  bool close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    stack_.pop_back();
    kinds_.pop_back();
    return true;
  }

  json& root_;
  std::vector<json*> stack_;
  std::vector<pod_node> kinds_;
  std::string key_;
  pod_node pending_kind_ = pod_node::skip;
  int skip_depth_ = 0;
  std::string error_;
};

/// One body to parse.
struct body {
  std::string name;
  std::string text;
  simdjson::padded_string padded;  ///< the same, padded as simdjson needs (made once, not timed)
};

/// One parser: parses `b` once; returns something that depends on the result (so that the
/// work is not optimised away).
struct candidate {
  std::string name;
  std::function<std::size_t(const body& b)> parse;
};

std::vector<candidate> candidates() {
  auto dom_parser = std::make_shared<simdjson::dom::parser>();
  auto od_parser = std::make_shared<od::parser>();
  auto null_parser = std::make_shared<boost::json::basic_parser<null_handler>>(boost::json::parse_options{});
  return {
      {"before: nlohmann SAX -> pruned doc",
       [](const body& b) {
         json doc;
         nlohmann_pruned_builder builder(doc);
         if (!json::sax_parse(b.text, &builder)) throw std::runtime_error("nlohmann: " + builder.error());
         return doc.size();
       }},
      {"today: Boost.JSON basic_parser -> services (parse_pod_list: read and mapped, no document)",
       [](const body& b) {
         service_map services;
         if (auto error = parse_pod_list(b.text, kubelet_pod_options{}, services)) throw std::runtime_error(*error);
         return services.size();
       }},
      {"nlohmann DOM (json::parse)", [](const body& b) { return json::parse(b.text).size(); }},
      {"simdjson DOM (dom::parser, reused)",
       [dom_parser](const body& b) {
         simdjson::dom::element root = dom_parser->parse(b.padded);
         return std::size_t(root.type());
       }},
      {"simdjson On-Demand -> pruned doc",
       [od_parser](const body& b) {
         od::document doc = od_parser->iterate(b.padded);
         return from_on_demand(doc.get_value(), pod_node::root).size();
       }},
      {"Boost.JSON DOM (json::parse)",
       [](const body& b) { return boost::json::parse(b.text).as_object().size(); }},
      {"Boost.JSON DOM -> pruned doc",
       [](const body& b) { return from_boost(boost::json::parse(b.text), pod_node::root).size(); }},
      {"Boost.JSON basic_parser, null handler",
       [null_parser](const body& b) {
         boost::json::error_code ec;
         null_parser->reset();
         null_parser->write_some(false, b.text.data(), b.text.size(), ec);
         if (ec) throw std::runtime_error("Boost.JSON: " + ec.message());
         return null_parser->handler().values;
       }},
  };
}

/// The pruned document a candidate builds, to check it against nlohmann SAX's.
json pruned_by(const std::string& name, const body& b) {
  if (name.starts_with("simdjson On-Demand")) {
    od::parser parser;
    od::document doc = parser.iterate(b.padded);
    return from_on_demand(doc.get_value(), pod_node::root);
  }
  if (name.starts_with("before")) {
    json doc;
    nlohmann_pruned_builder builder(doc);
    json::sax_parse(b.text, &builder);
    return doc;
  }
  return from_boost(boost::json::parse(b.text), pod_node::root);
}

}  // namespace

int run_parsers(const options& opt) {
  const auto sizes = opt.nums("pods", "250,1000,5000");
  const long repeat = opt.num("repeat", 7);
  // Each timed sample parses the body enough times to read at least this many bytes.
  const auto min_bytes = static_cast<std::size_t>(opt.real("sample-mb", 8) * 1e6);
  std::vector<body> bodies;
  const auto fixtures = std::filesystem::path(test::fixture("kubelet"));
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto text = test::read_file(f);
    bodies.push_back({f.stem().string(), text, simdjson::padded_string(text)});
  }
  for (long n : sizes) {
    auto text = synthetic_pod_list(static_cast<std::size_t>(n)).dump();
    bodies.push_back({fmt::format("synthetic, {} pods", n), text, simdjson::padded_string(text)});
  }

  auto parsers = candidates();
  int rc = 0;
  std::vector<std::string> header{"body", "KiB"};
  for (const auto& p : parsers) header.push_back(p.name + " MB/s");
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : bodies) {
    const json reference = pruned_by("before", b);
    for (const auto& p : parsers) {
      if (p.name.find("-> pruned") == std::string::npos || p.name.starts_with("before")) continue;
      if (pruned_by(p.name, b) != reference) {
        progress(fmt::format("parsers: WRONG: {} builds another document than nlohmann SAX on {}", p.name, b.name));
        rc = 1;
      }
    }
    const std::size_t per_sample = std::max<std::size_t>(1, min_bytes / b.text.size());
    std::vector<std::string> row{b.name, std::to_string(b.text.size() / 1024)};
    double before_rate = 0;
    for (const auto& p : parsers) {
      std::vector<double> rates;
      std::size_t sink = 0;
      for (long r = 0; r < repeat; ++r) {
        const double t0 = thread_cpu_ms();
        for (std::size_t i = 0; i < per_sample; ++i) sink += p.parse(b);
        const double ms = thread_cpu_ms() - t0;
        rates.push_back(static_cast<double>(b.text.size() * per_sample) / 1e3 / std::max(ms, 1e-6));
      }
      const double rate = summary(rates).median();
      if (before_rate == 0) before_rate = rate;
      row.push_back(p.name.starts_with("before") ? fmt_num(rate)
                                                 : fmt::format("{} ({:.1f}x)", fmt_num(rate), rate / before_rate));
      progress(fmt::format("parsers: {} {}: {:.1f} MB/s (checksum {})", b.name, p.name, rate, sink));
    }
    rows.push_back(std::move(row));
  }
  print_table(header, rows);
  std::cout << fmt::format(
      "MB/s = 10^6 bytes of body per second of CPU time of the benchmark's thread, median of {} samples, each "
      "parsing the body until >= {} MB were read; (Nx) = N times the rate before issue 15 (nlohmann SAX). simdjson {}.{}.{}: DOM with the "
      "library's run-time choice ({}), On-Demand with the one this build's flags allow ({}, the portable -march of "
      "a Debian build); its input padded once outside the timing. \"-> pruned doc\": the nlohmann document parse_pod_list read "
      "before it mapped pods straight from the tokens, built from that parser's output (checked equal to the nlohmann SAX one); "
      "\"today\" reads and maps (the services are built too).\n\n",
      repeat, fmt_num(static_cast<double>(min_bytes) / 1e6), int(simdjson::SIMDJSON_VERSION_MAJOR),
      int(simdjson::SIMDJSON_VERSION_MINOR), int(simdjson::SIMDJSON_VERSION_REVISION),
      simdjson::get_active_implementation()->name(), simdjson::builtin_implementation()->name());
  return rc;
}

}  // namespace autodiscd::bench
