// body_memo: a polled body that is byte-identical to the last good one is recognised, until
// what it says expires.
#include <catch2/catch.hpp>

#include "listeners/body_memo.hpp"

using namespace autodiscd;
using namespace std::chrono_literals;

TEST_CASE("body_memo: the same bytes are unchanged, other bytes or an expiry are not", "[body_memo]") {
  const auto now = std::chrono::system_clock::now();
  const std::string body = R"({"kind":"PodList","items":[]})";
  body_memo memo;
  CHECK_FALSE(memo.unchanged(fingerprint(body), now));  // nothing remembered yet

  memo.remember(fingerprint(body), std::nullopt);
  CHECK(memo.unchanged(fingerprint(std::string(body)), now + 24h));
  CHECK_FALSE(memo.unchanged(fingerprint(R"({"kind":"PodList","items":[1]})"), now));  // longer
  CHECK_FALSE(memo.unchanged(fingerprint(R"({"kind":"PodList","itemz":[]})"), now));   // same length
  CHECK(fingerprint(body).size == body.size());

  memo.remember(fingerprint(body), now + 10s);
  CHECK(memo.unchanged(fingerprint(body), now + 9s));
  CHECK_FALSE(memo.unchanged(fingerprint(body), now + 10s));

  memo.forget();
  CHECK_FALSE(memo.unchanged(fingerprint(body), now));
}
