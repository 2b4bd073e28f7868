#pragma once

// How fleetctl prints: tables and key/value blocks for people, and the error report of
// protocol.md §1 errors (code, message, field details). JSON output (--output json) is the
// protocol codecs' own encoding (protocol/codec.hpp), so it is not here.
// Thread-safety: pure functions and a plain value type; no shared state.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "protocol/types.hpp"

namespace orb::cli {

enum class OutputFormat { kTable, kJson };

// "table" | "json"; nullopt otherwise.
std::optional<OutputFormat> OutputFormatFromString(std::string_view text);

// Columns of terminal cells a UTF-8 string takes (code points; every one counted as one cell).
std::size_t DisplayWidth(std::string_view text);

// `text` cut to at most `max_width` cells, ending in "..." when cut. Never splits a UTF-8
// sequence. Control characters (newlines, tabs, escapes) become spaces, so one cell never breaks
// a table row or injects terminal escapes.
std::string Truncate(std::string_view text, std::size_t max_width);

// A left-aligned text table with an upper-case header row and two spaces between columns, in the
// style of kubectl and nomad. Cells are cleaned and cut as Truncate says (per column limit).
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Limits column `column` to `max_width` cells (default: unlimited).
  void SetMaxWidth(std::size_t column, std::size_t max_width);
  // Adds a row; missing cells are empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  [[nodiscard]] std::size_t rows() const { return rows_.size(); }

  // The header and every row, each line ending in '\n'; trailing spaces are trimmed.
  [[nodiscard]] std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::size_t> max_widths_;
  std::vector<std::vector<std::string>> rows_;
};

// "KEY:   value" lines with the values aligned, for one object (fleetctl job).
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// How long ago `then` was, compactly: "5s", "3m", "2h", "4d" ("0s" for the future).
std::string FormatAge(WallTime then, WallTime now);

// A size for people: 123 B, 4.0 KiB, 1.5 MiB, 2.0 GiB.
std::string FormatSize(std::uint64_t bytes);

// A count with thousands separators: "1,234".
std::string FormatCount(std::int64_t value);

// What fleetctl logs says after a run's stored lines when fleet-cmdr dropped some past its per-run
// cap (docs/decisions/0020): "1,234 log lines dropped: the run reached fleet-cmdr's cap of
// 20,000 lines / 8 MiB". `subject` names what reached it ("the run", "the job's runs").
std::string LogsDroppedNote(std::int64_t dropped, const std::optional<protocol::LogCap>& cap,
                            std::string_view subject = "the run");

// "k1=v1,k2=v2" (sorted by key), "" when empty.
std::string FormatLabels(const protocol::Labels& labels);

// "-" for an unset optional.
std::string OrDash(const std::optional<std::string>& value);

// The report of a failed command for stderr:
//   fleetctl: invalid_payload: payload.keepLast: must be an integer >= 1
//     payload.keepLast: must be an integer >= 1
// (one indented line per field problem). Ends with '\n'.
// `usage`: a mistake in the command line itself (exit 2), said as "fleetctl: usage: <message>"
// rather than with an API error code.
std::string FormatError(const Error& error, bool usage = false);

}  // namespace orb::cli
