#include "common/ids.hpp"

#include <array>
#include <chrono>

#include "common/random.hpp"

namespace orb {

std::string IdGenerator::Next() {
  std::uint64_t millis = 0;
  std::uint32_t sequence = 0;
  {
    const std::lock_guard lock(mutex_);
    const auto now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch())
            .count());
    if (now > last_millis_) {
      last_millis_ = now;
      sequence_ = 0;
    } else if (++sequence_ > 0xfff) {
      // 4096 ids in one millisecond (or a clock that stepped back): borrow the next millisecond.
      ++last_millis_;
      sequence_ = 0;
    }
    millis = last_millis_;
    sequence = sequence_;
  }
  std::array<unsigned char, 16> bytes{};
  RandomBytes(bytes.data(), bytes.size());
  for (int i = 0; i < 6; ++i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(millis >> (40 - 8 * i));
  }
  bytes[6] = static_cast<unsigned char>(0x70 | ((sequence >> 8) & 0x0f));
  bytes[7] = static_cast<unsigned char>(sequence & 0xff);
  bytes[8] = static_cast<unsigned char>(0x80 | (bytes[8] & 0x3f));

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

bool IsUuidV7(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return text[14] == '7' &&
         (text[19] == '8' || text[19] == '9' || text[19] == 'a' || text[19] == 'b');
}

bool IsValidName(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  const auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(text[0])) return false;
  for (const char c : text.substr(1)) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace orb
