#pragma once

#include <utility>

#include <tl/expected.hpp>

#include "common/error.hpp"

namespace orb {

// A value or an Error. [[nodiscard]]: an ignored failure does not compile (style.md "Errors:
// Expected<T> and Status").
template <class T>
class [[nodiscard]] Expected : public tl::expected<T, Error> {
 public:
  using tl::expected<T, Error>::expected;
  Expected(Error error) : tl::expected<T, Error>(tl::unexpect, std::move(error)) {}  // NOLINT
};

using Status = Expected<void>;

inline Status Ok() {
  return {};
}

// `return Fail(Errc::kIo, "cannot open x");` in any function returning Expected<T>.
inline tl::unexpected<Error> Fail(Errc code, std::string message, bool retryable = false) {
  return tl::unexpected<Error>(MakeError(code, std::move(message), retryable));
}
inline tl::unexpected<Error> Fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

}  // namespace orb
