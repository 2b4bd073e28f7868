#include "cli/list_flag.hpp"

namespace orb::cli {

Expected<std::vector<std::string>> SplitListFlag(const std::vector<std::string>& values,
                                                 std::string_view flag, std::string_view item) {
  std::vector<std::string> items;
  for (const std::string& value : values) {
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = value.find(',', start);
      const std::size_t end = comma == std::string::npos ? value.size() : comma;
      if (end == start) {
        return Fail(Errc::kInvalidRequest, std::string(flag) + ": an empty " + std::string(item) +
                                               " in \"" + value + "\"");
      }
      items.push_back(value.substr(start, end - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return items;
}

}  // namespace orb::cli
