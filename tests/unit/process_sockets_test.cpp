// sock_diag dump records built by hand -> listening sockets; the address a client reaches.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "listeners/process/process_sockets.hpp"

using namespace autodiscd::process;

namespace {

constexpr std::uint8_t tcp_established = 1;
constexpr std::uint8_t tcp_close = 7;
constexpr std::uint8_t tcp_listen = 10;

std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

/// One inet_diag_msg to put in a dump.
struct socket_record {
  int family = AF_INET;
  std::uint8_t state = tcp_listen;
  std::string source = "0.0.0.0";
  std::uint16_t sport = 6379;
  std::string destination;  ///< "" = any
  std::uint16_t dport = 0;
  std::uint32_t inode = 1000;
  std::uint32_t uid = 0;
  std::optional<bool> v6only;  ///< INET_DIAG_SKV6ONLY attribute
};

/// socket_record with chained setters: record().family(AF_INET6).source("::1").sport(80).
struct record {
  socket_record r;
  record& family(int v) { r.family = v; return *this; }
  record& state(std::uint8_t v) { r.state = v; return *this; }
  record& source(std::string v) { r.source = std::move(v); return *this; }
  record& sport(std::uint16_t v) { r.sport = v; return *this; }
  record& destination(std::string v) { r.destination = std::move(v); return *this; }
  record& dport(std::uint16_t v) { r.dport = v; return *this; }
  record& inode(std::uint32_t v) { r.inode = v; return *this; }
  record& uid(std::uint32_t v) { r.uid = v; return *this; }
  record& v6only(bool v) { r.v6only = v; return *this; }
};

/// A dump being built: netlink messages as the kernel sends them.
struct dump_builder {
  std::vector<std::byte> bytes;

  void append(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(data);
    bytes.insert(bytes.end(), p, p + size);
  }
  void pad() { bytes.resize(align4(bytes.size())); }

  dump_builder& add(const record& built) {
    const auto& r = built.r;
    inet_diag_msg m{};
    m.idiag_family = static_cast<std::uint8_t>(r.family);
    m.idiag_state = r.state;
    m.id.idiag_sport = htons(r.sport);
    m.id.idiag_dport = htons(r.dport);
    REQUIRE(::inet_pton(r.family, r.source.c_str(), m.id.idiag_src) == 1);
    if (!r.destination.empty()) REQUIRE(::inet_pton(r.family, r.destination.c_str(), m.id.idiag_dst) == 1);
    m.idiag_inode = r.inode;
    m.idiag_uid = r.uid;
    std::size_t attrs = r.v6only ? align4(sizeof(rtattr) + 1) : 0;
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(align4(sizeof(nlmsghdr)) + align4(sizeof(inet_diag_msg)) + attrs);
    h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    h.nlmsg_flags = NLM_F_MULTI;
    append(&h, sizeof(h));
    pad();
    append(&m, sizeof(m));
    pad();
    if (r.v6only) {
      rtattr a{};
      a.rta_len = sizeof(rtattr) + 1;
      a.rta_type = INET_DIAG_SKV6ONLY;
      append(&a, sizeof(a));
      const std::uint8_t flag = *r.v6only ? 1 : 0;
      append(&flag, 1);
      pad();
    }
    return *this;
  }
  dump_builder& done() {
    nlmsghdr h{};
    h.nlmsg_len = sizeof(nlmsghdr) + sizeof(int);
    h.nlmsg_type = NLMSG_DONE;
    h.nlmsg_flags = NLM_F_MULTI;
    append(&h, sizeof(h));
    const int zero = 0;
    append(&zero, sizeof(zero));
    return *this;
  }
  dump_builder& error(int code) {
    nlmsghdr h{};
    h.nlmsg_len = sizeof(nlmsghdr) + sizeof(nlmsgerr);
    h.nlmsg_type = NLMSG_ERROR;
    append(&h, sizeof(h));
    nlmsgerr e{};
    e.error = -code;
    append(&e, sizeof(e));
    return *this;
  }
  std::span<const std::byte> span() const { return bytes; }
};

listening_socket sock(std::string address, int port, bool ipv6 = false, bool v6only = false,
                      transport proto = transport::tcp) {
  listening_socket s;
  s.address = std::move(address);
  s.port = port;
  s.ipv6 = ipv6;
  s.v6only = v6only;
  s.proto = proto;
  return s;
}

}  // namespace

TEST_CASE("process sock_diag: IPv4 and IPv6 listening TCP sockets with inode, port, uid and v6only", "[process][sockets]") {
  dump_builder d;
  d.add(record().family(AF_INET).source("0.0.0.0").sport(6379).inode(111).uid(107))
      .add(record().family(AF_INET6).source("::1").sport(11211).inode(222).uid(0).v6only(false))
      .add(record().family(AF_INET6).source("::").sport(80).inode(333).uid(33).v6only(true))
      .add(record().family(AF_INET).source("127.0.0.2").sport(8080).inode(444))
      .done();
  std::vector<listening_socket> out;
  const auto r = parse_sock_diag(d.span(), transport::tcp, out);
  CHECK(r.done);
  CHECK_FALSE(r.error);
  REQUIRE(out.size() == 4);
  CHECK(out[0].inode == 111);
  CHECK(out[0].address == "0.0.0.0");
  CHECK(out[0].port == 6379);
  CHECK(out[0].uid == 107);
  CHECK_FALSE(out[0].ipv6);
  CHECK(out[0].proto == transport::tcp);
  CHECK(out[1].address == "::1");
  CHECK(out[1].ipv6);
  CHECK_FALSE(out[1].v6only);
  CHECK(out[1].port == 11211);
  CHECK(out[2].address == "::");
  CHECK(out[2].v6only);
  CHECK(out[2].uid == 33);
  CHECK(out[3].address == "127.0.0.2");
  CHECK(out[3].port == 8080);
}

TEST_CASE("process sock_diag: only listening sockets with an inode are kept", "[process][sockets]") {
  dump_builder d;
  d.add(record().state(tcp_established).sport(6379).destination("10.0.0.1").dport(40000).inode(1))
      .add(record().state(tcp_listen).sport(6380).inode(0))
      .add(record().state(tcp_listen).sport(6381).inode(3))
      .done();
  std::vector<listening_socket> out;
  CHECK(parse_sock_diag(d.span(), transport::tcp, out).done);
  REQUIRE(out.size() == 1);
  CHECK(out[0].port == 6381);
}

TEST_CASE("process sock_diag: UDP sockets bound without a peer", "[process][sockets]") {
  dump_builder d;
  d.add(record().state(tcp_close).source("0.0.0.0").sport(53).inode(10))                          // bound: kept
      .add(record().state(tcp_established).sport(41000).destination("1.1.1.1").dport(53).inode(11))  // a client
      .add(record().state(tcp_close).sport(0).inode(12))                                              // unbound
      .add(record().family(AF_INET6).state(tcp_close).source("::").sport(161).inode(13).v6only(false))
      .done();
  std::vector<listening_socket> out;
  CHECK(parse_sock_diag(d.span(), transport::udp, out).done);
  REQUIRE(out.size() == 2);
  CHECK(out[0].port == 53);
  CHECK(out[0].proto == transport::udp);
  CHECK(out[1].port == 161);
  CHECK(out[1].ipv6);
}

TEST_CASE("process sock_diag: a dump spread over several receive buffers", "[process][sockets]") {
  dump_builder first;
  first.add(record().sport(1).inode(1)).add(record().sport(2).inode(2));
  dump_builder second;
  second.add(record().sport(3).inode(3)).done();
  std::vector<listening_socket> out;
  const auto a = parse_sock_diag(first.span(), transport::tcp, out);
  CHECK_FALSE(a.done);
  CHECK_FALSE(a.error);
  const auto b = parse_sock_diag(second.span(), transport::tcp, out);
  CHECK(b.done);
  CHECK(out.size() == 3);
}

TEST_CASE("process sock_diag: NLMSG_ERROR and malformed messages are errors, never reads past the buffer",
          "[process][sockets]") {
  std::vector<listening_socket> out;
  SECTION("the kernel refused") {
    dump_builder d;
    d.error(EPERM);
    const auto r = parse_sock_diag(d.span(), transport::tcp, out);
    REQUIRE(r.error);
    CHECK(r.error->find(std::strerror(EPERM)) != std::string::npos);
  }
  SECTION("a length past the end") {
    dump_builder d;
    d.add(record().sport(1).inode(1));
    auto bytes = d.bytes;
    bytes.resize(bytes.size() - 8);
    const auto r = parse_sock_diag(bytes, transport::tcp, out);
    REQUIRE(r.error);
    CHECK(out.empty());
  }
  SECTION("a length shorter than the header") {
    dump_builder d;
    d.add(record().sport(1).inode(1));
    nlmsghdr h{};
    std::memcpy(&h, d.bytes.data(), sizeof(h));
    h.nlmsg_len = 4;
    std::memcpy(d.bytes.data(), &h, sizeof(h));
    CHECK(parse_sock_diag(d.span(), transport::tcp, out).error);
  }
  SECTION("a payload shorter than inet_diag_msg") {
    nlmsghdr h{};
    h.nlmsg_len = sizeof(nlmsghdr) + 8;
    h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    dump_builder d;
    d.append(&h, sizeof(h));
    d.bytes.resize(d.bytes.size() + 8);
    CHECK(parse_sock_diag(d.span(), transport::tcp, out).error);
  }
  SECTION("every prefix of a good dump") {
    dump_builder d;
    d.add(record().sport(1).inode(1)).add(record().family(AF_INET6).source("::").sport(2).inode(2).v6only(true)).done();
    for (std::size_t n = 0; n < d.bytes.size(); ++n) {
      std::vector<listening_socket> some;
      const auto r = parse_sock_diag(std::span<const std::byte>(d.bytes.data(), n), transport::tcp, some);
      CHECK_FALSE(r.done);
      CHECK(some.size() <= 2);
    }
  }
  SECTION("records after NLMSG_DONE are not read") {
    dump_builder d;
    d.done().add(record().sport(9).inode(9));
    CHECK(parse_sock_diag(d.span(), transport::tcp, out).done);
    CHECK(out.empty());
  }
}

TEST_CASE("process local_host: the address a local client reaches the process at", "[process][sockets]") {
  CHECK(local_host({}).empty());
  CHECK(local_host({sock("0.0.0.0", 6379)}) == "127.0.0.1");
  CHECK(local_host({sock("127.0.0.1", 6379)}) == "127.0.0.1");
  CHECK(local_host({sock("::", 80, true, false)}) == "127.0.0.1");   // dual-stack wildcard takes IPv4
  CHECK(local_host({sock("::", 80, true, true)}) == "::1");          // IPv6 only
  CHECK(local_host({sock("::1", 80, true)}) == "::1");
  CHECK(local_host({sock("127.0.0.2", 8080)}) == "127.0.0.2");
  CHECK(local_host({sock("10.0.0.5", 8080), sock("127.0.0.2", 80)}) == "127.0.0.2");  // lowest port first
  CHECK(local_host({sock("10.0.0.5", 80), sock("0.0.0.0", 9000)}) == "127.0.0.1");
  CHECK(local_host({sock("10.0.0.5", 80), sock("::1", 22, true)}) == "10.0.0.5");
  CHECK(local_host({sock("2001:db8::5", 80, true)}) == "2001:db8::5");
  CHECK(local_host({sock("2001:db8::5", 80, true), sock("::1", 81, true)}) == "::1");
  CHECK(local_host({sock("::ffff:127.0.0.1", 80, true)}) == "127.0.0.1");
  CHECK(local_host({sock("::ffff:10.1.2.3", 80, true)}) == "10.1.2.3");
}
