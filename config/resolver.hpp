#pragma once
// The resolver: pure (service, templates) -> configs to write, or rejections.

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/check_template.hpp"
#include "config/template_vars.hpp"
#include "listeners/service.hpp"

namespace autodiscd {

/// A config ready to be written.
struct resolved_config {
  std::string service_id;
  std::string check_name;
  std::string template_source;
  template_kind kind = template_kind::datadog;
  std::string relative_path;  ///< inside the output folder, e.g. "redisdb.d/docker___ab.yaml"
  std::string content;        ///< the file's bytes
  /// The values %%env_X%% put into content: secrets, for all we know. The status server
  /// shows content with them masked (redact_env_values); only the file has them.
  std::vector<std::string> env_values;
  friend bool operator==(const resolved_config&, const resolved_config&) = default;
};

/// A config that matched but could not be resolved; never written.
struct rejected_config {
  std::string service_id;
  std::string check_name;
  std::string template_source;
  std::string reason;
  friend bool operator==(const rejected_config&, const rejected_config&) = default;
};

/// What one service resolves to.
struct resolution {
  std::vector<resolved_config> configs;
  std::vector<rejected_config> rejected;
  friend bool operator==(const resolution&, const resolution&) = default;
};

/// File templates indexed by AD identifier.
class template_index {
 public:
  template_index() = default;
  explicit template_index(std::vector<check_template> templates);
  /// Templates that name any of `identifiers`, each once, in source order.
  std::vector<const check_template*> matching(const std::vector<std::string>& identifiers) const;
  const std::vector<check_template>& all() const { return templates_; }

 private:
  std::vector<check_template> templates_;
  std::unordered_map<std::string, std::vector<std::size_t>> by_identifier_;
};

/// A name made only of [A-Za-z0-9._-] that is never "", "." or ".." and never starts
/// with "." (the writer's temp files do): nothing it names can leave its folder.
std::string safe_file_name(std::string_view name);

/// Resolves every template matching `svc` (its own label templates replace file templates
/// of the same check; `check_names: []` disables file templates). A service that is not
/// ready resolves to nothing. Pure.
resolution resolve_service(const service& svc, const template_index& templates, const env_lookup& env);

/// `content` with every value in `values` replaced by "********", in the forms the YAML and
/// JSON writers can give it (as is, JSON-escaped, single quotes doubled).
std::string redact_env_values(std::string content, const std::vector<std::string>& values);

/// Renders one resolved template tree as the file's bytes (exposed for tests).
std::string render_datadog(const json& init_config, const json& instances, const json& logs);

}  // namespace autodiscd
