#include <catch2/catch.hpp>

#include "listeners/container_ids.hpp"

using namespace autodiscd;

TEST_CASE("split_image_name keeps the registry and drops tag and digest", "[ids]") {
  auto p = split_image_name("nginx:latest");
  CHECK(p.long_name == "nginx");
  CHECK(p.short_name == "nginx");
  CHECK(p.tag == "latest");

  p = split_image_name("datadog/docker-dd-agent:latest-jmx");
  CHECK(p.long_name == "datadog/docker-dd-agent");
  CHECK(p.short_name == "docker-dd-agent");
  CHECK(p.tag == "latest-jmx");

  p = split_image_name(
      "myregistry.local:5000/testing/test-image:version@sha256:5bef08742407efd622d243692b79ba0055383bbce12900324f75e56f589aedb0");
  CHECK(p.long_name == "myregistry.local:5000/testing/test-image");
  CHECK(p.short_name == "test-image");
  CHECK(p.tag == "version");

  p = split_image_name("myregistry.local:5000/testing/test-image");
  CHECK(p.long_name == "myregistry.local:5000/testing/test-image");
  CHECK(p.tag.empty());

  CHECK(split_image_name("").long_name.empty());
  CHECK(split_image_name("sha256:abcdef").long_name.empty());
  CHECK(split_image_name("sha256:abcdef").short_name.empty());
}

TEST_CASE("compute_container_service_ids", "[ids]") {
  const std::map<std::string, std::string> none;
  CHECK(compute_container_service_ids("docker://abc", "nginx:latest", none) ==
        std::vector<std::string>{"docker://abc", "nginx"});
  CHECK(compute_container_service_ids("docker://abc", "datadog/docker-dd-agent:latest-jmx", none) ==
        std::vector<std::string>{"docker://abc", "datadog/docker-dd-agent", "docker-dd-agent"});
  CHECK(compute_container_service_ids("docker://abc", "sha256:ffff", none) ==
        std::vector<std::string>{"docker://abc"});
  CHECK(compute_container_service_ids("docker://abc", "", none) == std::vector<std::string>{"docker://abc"});

  SECTION("check.id label is the only identifier") {
    std::map<std::string, std::string> labels{{"com.datadoghq.ad.check.id", "custom"}};
    CHECK(compute_container_service_ids("docker://abc", "redis:5", labels) == std::vector<std::string>{"custom"});
  }
  SECTION("legacy sd label") {
    std::map<std::string, std::string> labels{{"com.datadoghq.sd.check.id", "legacy"}};
    CHECK(compute_container_service_ids("docker://abc", "redis:5", labels) == std::vector<std::string>{"legacy"});
  }
}
