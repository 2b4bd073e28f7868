#pragma once

// Progress bars for `fleetctl watch` and `enqueue --wait`. Drawn only when stdout is a
// terminal (the caller decides); otherwise fleetctl prints one line per change.
// Thread-safety: plain values, one thread at a time.

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace orb::cli {

// "[##########..........]  50%" for `width` cells inside the brackets. An unknown percent gives
// an empty bar and "  --" instead of the number. Percent is clamped to 0..100.
std::string RenderProgressBar(std::optional<int> percent, std::size_t width = 24);

// A block of lines redrawn in place with ANSI escapes: each Draw moves the cursor back up over the
// lines it drew last time, clears to the end of the screen and prints the new lines.
class ProgressBoard {
 public:
  explicit ProgressBoard(std::ostream& out) : out_(out) {}

  // Replaces what the board shows with `lines` (each without '\n') and flushes.
  void Draw(const std::vector<std::string>& lines);
  // Forgets the drawn lines, so that later output starts below them.
  void Release() { drawn_ = 0; }

 private:
  std::ostream& out_;
  std::size_t drawn_ = 0;
};

}  // namespace orb::cli
