#pragma once
// Certificates for TLS tests, made in-process with OpenSSL: a CA, a server certificate and a
// client certificate signed by it, written as PEM files into a folder the test owns.

#include <filesystem>
#include <string>
#include <vector>

namespace autodiscd::test {

/// PEM files of one test PKI.
struct test_certs {
  std::string ca_file;           ///< CA certificate
  std::string server_cert_file;  ///< server certificate (SAN: the names given)
  std::string server_key_file;
  std::string client_cert_file;  ///< client certificate (CN "autodiscd-test-client")
  std::string client_key_file;
};

/// Makes a fresh CA (EC P-256, valid one day) and a server and a client certificate signed
/// by it, and writes them into `dir` with file names starting with `prefix`. `server_names`
/// become the server's subjectAltName entries (IP addresses as IP:, others as DNS:).
/// Throws std::runtime_error when OpenSSL fails.
test_certs make_test_certs(const std::filesystem::path& dir, const std::string& prefix = "test",
                           const std::vector<std::string>& server_names = {"127.0.0.1", "localhost"});

}  // namespace autodiscd::test
