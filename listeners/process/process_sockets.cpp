#include "listeners/process/process_sockets.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>

namespace autodiscd::process {
namespace {

// The kernel's socket states (include/net/tcp_states.h); UDP reuses them.
constexpr std::uint8_t state_established = 1;
constexpr std::uint8_t state_close = 7;
constexpr std::uint8_t state_listen = 10;

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

template <class T>
T read_at(std::span<const std::byte> bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::string address_text(bool ipv6, const std::array<std::uint32_t, 4>& words) {
  char text[INET6_ADDRSTRLEN] = {};
  if (!ipv6) return ::inet_ntop(AF_INET, words.data(), text, sizeof(text)) ? text : "";
  return ::inet_ntop(AF_INET6, words.data(), text, sizeof(text)) ? text : "";
}

/// The IPV6_V6ONLY flag from the attributes after an inet_diag_msg (always sent for IPv6).
bool read_v6only(std::span<const std::byte> attrs) {
  std::size_t at = 0;
  while (at + sizeof(rtattr) <= attrs.size()) {
    const auto attr = read_at<rtattr>(attrs, at);
    if (attr.rta_len < sizeof(rtattr) || at + attr.rta_len > attrs.size()) return false;
    if (attr.rta_type == INET_DIAG_SKV6ONLY && attr.rta_len >= sizeof(rtattr) + 1) {
      return read_at<std::uint8_t>(attrs, at + sizeof(rtattr)) != 0;
    }
    at += align4(attr.rta_len);
  }
  return false;
}

bool is_listening(const inet_diag_msg& m, transport proto) {
  if (proto == transport::tcp) return m.idiag_state == state_listen;
  // UDP: bound to a port, without a peer (a connected UDP socket is a client's).
  return (m.idiag_state == state_close || m.idiag_state == state_established) && m.id.idiag_dport == 0 &&
         m.id.idiag_sport != 0;
}

}  // namespace

dump_chunk parse_sock_diag(std::span<const std::byte> buffer, transport proto, std::vector<listening_socket>& out) {
  dump_chunk result;
  std::size_t at = 0;
  while (at + sizeof(nlmsghdr) <= buffer.size()) {
    const auto header = read_at<nlmsghdr>(buffer, at);
    if (header.nlmsg_len < sizeof(nlmsghdr) || at + header.nlmsg_len > buffer.size()) {
      result.error = "malformed netlink message (length " + std::to_string(header.nlmsg_len) + ")";
      return result;
    }
    const auto payload = buffer.subspan(at + align4(sizeof(nlmsghdr)),
                                        header.nlmsg_len - std::min<std::size_t>(header.nlmsg_len, align4(sizeof(nlmsghdr))));
    if (header.nlmsg_type == NLMSG_DONE) {
      result.done = true;
      return result;
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      int code = 0;
      if (payload.size() >= sizeof(int)) code = -read_at<int>(payload, 0);
      result.error = "sock_diag dump failed: " + std::string(code > 0 ? std::strerror(code) : "unknown error");
      return result;
    }
    if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      if (payload.size() < sizeof(inet_diag_msg)) {
        result.error = "truncated inet_diag_msg (" + std::to_string(payload.size()) + " bytes)";
        return result;
      }
      const auto m = read_at<inet_diag_msg>(payload, 0);
      const bool ipv6 = m.idiag_family == AF_INET6;
      if ((ipv6 || m.idiag_family == AF_INET) && m.idiag_inode != 0 && is_listening(m, proto)) {
        listening_socket s;
        s.inode = m.idiag_inode;
        s.proto = proto;
        s.ipv6 = ipv6;
        std::array<std::uint32_t, 4> words{};
        std::memcpy(words.data(), m.id.idiag_src, sizeof(m.id.idiag_src));
        s.address = address_text(ipv6, words);
        s.port = ntohs(m.id.idiag_sport);
        s.uid = m.idiag_uid;
        const auto attrs_at = align4(sizeof(inet_diag_msg));
        if (ipv6 && payload.size() > attrs_at) s.v6only = read_v6only(payload.subspan(attrs_at));
        out.push_back(std::move(s));
      }
    }
    at += align4(header.nlmsg_len);
  }
  return result;
}

std::string local_host(const std::vector<listening_socket>& sockets) {
  auto ordered = sockets;
  std::sort(ordered.begin(), ordered.end(), [](const listening_socket& a, const listening_socket& b) {
    return std::tie(a.port, a.proto, a.address) < std::tie(b.port, b.proto, b.address);
  });
  // An IPv4 address, also when written as an IPv4-mapped IPv6 one; "" if none.
  auto ipv4 = [](const listening_socket& s) -> std::string {
    if (!s.ipv6) return s.address;
    if (s.address.starts_with("::ffff:") && s.address.find('.') != std::string::npos) return s.address.substr(7);
    return "";
  };
  for (const auto& s : ordered) {
    const auto v4 = ipv4(s);
    if (v4 == "127.0.0.1" || v4 == "0.0.0.0" || (s.ipv6 && s.address == "::" && !s.v6only)) return "127.0.0.1";
  }
  for (const auto& s : ordered) {
    if (const auto v4 = ipv4(s); !v4.empty()) return v4;
  }
  for (const auto& s : ordered) {
    if (s.address == "::1" || s.address == "::") return "::1";
  }
  return ordered.empty() ? "" : ordered.front().address;
}

}  // namespace autodiscd::process
