#pragma once
// Listening sockets from a NETLINK_SOCK_DIAG dump, and the address a local client reaches a
// process at. Pure: the bytes come from process_listener, or from tests that build them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace autodiscd::process {

enum class transport { tcp, udp };

/// One listening socket (TCP in LISTEN, or UDP bound without a peer).
struct listening_socket {
  std::uint64_t inode = 0;
  transport proto = transport::tcp;
  bool ipv6 = false;
  std::string address;  ///< as inet_ntop writes it: "0.0.0.0", "::", "127.0.0.2", "::ffff:10.0.0.1"
  int port = 0;
  std::uint32_t uid = 0;   ///< the socket's owner
  bool v6only = false;     ///< IPv6 socket that refuses IPv4 (IPV6_V6ONLY)
  friend bool operator==(const listening_socket&, const listening_socket&) = default;
};

/// What one receive buffer of a dump held.
struct dump_chunk {
  bool done = false;                ///< NLMSG_DONE seen: the dump is complete
  std::optional<std::string> error; ///< NLMSG_ERROR or a malformed message
};

/// Parses one receive buffer of a sock_diag dump of `proto` sockets and appends the listening
/// ones to `out`: TCP in LISTEN; UDP bound (port != 0) without a peer. Records with inode 0
/// are skipped. Never reads past `buffer`.
dump_chunk parse_sock_diag(std::span<const std::byte> buffer, transport proto, std::vector<listening_socket>& out);

/// The address a local client reaches a process at, from its listening sockets: 127.0.0.1 when
/// one listens on 127.0.0.1 or a wildcard that takes IPv4; else its first specific IPv4 address
/// (lowest port first); else ::1 for ::1 or an IPv6-only wildcard; else its first IPv6 address.
/// "" without sockets.
std::string local_host(const std::vector<listening_socket>& sockets);

}  // namespace autodiscd::process
