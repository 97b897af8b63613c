// SHA-256 digests of API keys (OpenSSL), compared in constant time. Only digests are stored: the
// keys file holds them, and a presented key is hashed before it is looked up.
//
// Thread-safe: free functions without shared state.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace mca::auth {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view data);

// Constant time in the contents (OpenSSL's CRYPTO_memcmp): how long it takes says nothing about
// where two digests differ.
bool same_digest(const digest& a, const digest& b);

// 64 hexadecimal digits (either case) -> digest; anything else -> nullopt.
std::optional<digest> digest_from_hex(std::string_view hex);

// Lower-case hex, as the keys file and `keys new` write it.
std::string to_hex(const digest& d);

}  // namespace mca::auth
