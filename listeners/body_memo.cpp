#include "listeners/body_memo.hpp"

#include <functional>

namespace autodiscd {

body_fingerprint fingerprint(std::string_view body) { return {body.size(), std::hash<std::string_view>{}(body)}; }

}  // namespace autodiscd
