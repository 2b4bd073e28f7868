#include "cli/labels_flag.hpp"

namespace orb::cli {

Expected<protocol::Labels> ParseLabels(const std::vector<std::string>& items,
                                       const std::string& flag) {
  protocol::Labels labels;
  for (const auto& item : items) {
    const auto equals = item.find('=');
    if (equals == std::string::npos || equals == 0) {
      Error error =
          MakeError(Errc::kInvalidRequest, flag + " must be KEY=VALUE, got \"" + item + "\"");
      error.details.push_back({flag, "must be KEY=VALUE"});
      return Fail(std::move(error));
    }
    labels[item.substr(0, equals)] = item.substr(equals + 1);
  }
  return labels;
}

}  // namespace orb::cli
