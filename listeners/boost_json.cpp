// Boost.JSON, compiled into this library once (its header-only mode: the headers come with
// libboost1.81-dev, so there is no library to link or to ship). Only the listeners' wire
// formats use it (kubelet /pods); templates and config keep nlohmann/yaml-cpp.
#include <boost/json/src.hpp>
