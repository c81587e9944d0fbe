#pragma once
// Namespace aliases used across the project (one place, no `using namespace` in headers).

#include <boost/asio/any_io_executor.hpp>

namespace boost::beast {}
namespace boost::beast::http {}

namespace autodiscd {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace autodiscd
