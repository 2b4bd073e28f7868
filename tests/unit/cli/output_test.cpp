#include "cli/output.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace orb::cli {
namespace {

using std::chrono::seconds;

TEST(TableTest, AlignsColumnsUnderAnUpperCaseHeader) {
  Table table({"id", "status"});
  table.AddRow({"j-1", "RUNNING"});
  table.AddRow({"job-22", "QUEUED"});
  EXPECT_EQ(table.Render(),
            "ID      STATUS\n"
            "j-1     RUNNING\n"
            "job-22  QUEUED\n");
}

TEST(TableTest, PadsMissingCellsAndTrimsTrailingSpaces) {
  Table table({"a", "b", "c"});
  table.AddRow({"x"});
  EXPECT_EQ(table.Render(), "A  B  C\nx\n");
}

TEST(TableTest, CutsCellsToTheColumnLimit) {
  Table table({"message"});
  table.SetMaxWidth(0, 8);
  table.AddRow({"archiving data"});
  EXPECT_EQ(table.Render(), "MESSAGE\narchi...\n");
}

TEST(TableTest, CountsUtf8CharactersNotBytesWhenAligning) {
  Table table({"name", "x"});
  table.AddRow({"größe", "1"});
  table.AddRow({"sizes", "2"});
  const auto text = table.Render();
  EXPECT_NE(text.find("größe  1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sizes  2\n"), std::string::npos) << text;
}

TEST(TableTest, TurnsControlCharactersIntoSpacesSoARowStaysOneLine) {
  Table table({"message"});
  table.AddRow({"line1\nline2\x1b[2J"});
  EXPECT_EQ(table.Render(), "MESSAGE\nline1 line2 [2J\n");
}

TEST(TruncateTest, NeverSplitsAUtf8Sequence) {
  EXPECT_EQ(Truncate("ääääää", 5), "ää...");
  EXPECT_EQ(Truncate("short", 5), "short");
  EXPECT_EQ(Truncate("abcdef", 2), "..");
}

TEST(DisplayWidthTest, CountsCodePoints) {
  EXPECT_EQ(DisplayWidth(""), 0U);
  EXPECT_EQ(DisplayWidth("abc"), 3U);
  EXPECT_EQ(DisplayWidth("a€b"), 3U);
}

TEST(RenderFieldsTest, AlignsValuesAfterTheLongestKey) {
  EXPECT_EQ(RenderFields({{"Job", "j-1"}, {"Attempts", "1/3"}}),
            "Job:       j-1\n"
            "Attempts:  1/3\n");
}

TEST(FormatAgeTest, UsesTheLargestWholeUnit) {
  const WallTime now = FromUnixMillis(1'800'000'000'000);
  EXPECT_EQ(FormatAge(now - seconds(5), now), "5s");
  EXPECT_EQ(FormatAge(now - seconds(125), now), "2m");
  EXPECT_EQ(FormatAge(now - seconds(7200), now), "2h");
  EXPECT_EQ(FormatAge(now - seconds(3 * 86400 + 5), now), "3d");
  EXPECT_EQ(FormatAge(now + seconds(5), now), "0s");
}

TEST(FormatLabelsTest, JoinsSortedPairs) {
  EXPECT_EQ(FormatLabels({{"tier", "prod"}, {"region", "eu"}}), "region=eu,tier=prod");
  EXPECT_EQ(FormatLabels({}), "");
}

TEST(FormatErrorTest, PrintsTheCodeTheMessageAndEachFieldProblem) {
  Error error = MakeError(Errc::kInvalidPayload, "payload.keepLast: must be an integer >= 1");
  error.details.push_back({"payload.keepLast", "must be an integer >= 1"});
  EXPECT_EQ(FormatError(error),
            "fleetctl: invalid_payload: payload.keepLast: must be an integer >= 1\n"
            "  payload.keepLast: must be an integer >= 1\n");
}

TEST(OutputFormatTest, KnowsTableAndJsonOnly) {
  EXPECT_EQ(OutputFormatFromString("table"), OutputFormat::kTable);
  EXPECT_EQ(OutputFormatFromString("json"), OutputFormat::kJson);
  EXPECT_FALSE(OutputFormatFromString("yaml").has_value());
}

}  // namespace
}  // namespace orb::cli

namespace orb::cli {
namespace {

TEST(FormatTest, CountsGetThousandsSeparators) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1234), "1,234");
  EXPECT_EQ(FormatCount(20'000), "20,000");
  EXPECT_EQ(FormatCount(1'234'567), "1,234,567");
}

TEST(FormatTest, TheDroppedLogsNoteNamesTheCap) {
  EXPECT_EQ(LogsDroppedNote(1234, protocol::LogCap{20'000, 8 << 20}),
            "1,234 log lines dropped: the run reached fleet-cmdr's cap of 20,000 lines / 8 MiB");
  EXPECT_EQ(LogsDroppedNote(1, protocol::LogCap{0, 1536}),
            "1 log line dropped: the run reached fleet-cmdr's cap of 1,536 bytes");
  EXPECT_EQ(LogsDroppedNote(2, protocol::LogCap{3, 0}, "the job's runs"),
            "2 log lines dropped: the job's runs reached fleet-cmdr's cap of 3 lines");
  EXPECT_EQ(LogsDroppedNote(2, std::nullopt),
            "2 log lines dropped: the run reached fleet-cmdr's cap");
}

}  // namespace
}  // namespace orb::cli
