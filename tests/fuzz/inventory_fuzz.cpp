// The host inventory codec (protocol/inventory.hpp), the body of POST /v1/agents/{id}/inventory:
// a text that decodes must encode, what it encodes to must decode to the same value, and the
// summary and the event rule must take any decoded value.

#include "fuzz/fuzz_target.hpp"
#include "protocol/inventory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace orb::protocol;
  const std::string_view text = orb::fuzz::AsText(data, size);
  auto decoded = ParseHostInventory(text);
  if (!decoded) return 0;
  const std::string encoded = ToJson(*decoded);
  auto again = ParseHostInventory(encoded);
  ORB_FUZZ_CHECK(again.has_value());
  ORB_FUZZ_CHECK(*again == *decoded);
  ORB_FUZZ_CHECK(ToJson(*again) == encoded);
  ORB_FUZZ_CHECK(!DeservesInventoryEvent(*decoded, *again));
  const InventorySummary summary = Summarize(*decoded);
  ORB_FUZZ_CHECK(summary.running + summary.stopped + summary.crashed ==
                 static_cast<std::int64_t>(decoded->instances.size()));
  return 0;
}
