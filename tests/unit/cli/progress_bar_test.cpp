#include "cli/progress_bar.hpp"

#include <sstream>

#include <gtest/gtest.h>

namespace orb::cli {
namespace {

TEST(RenderProgressBarTest, FillsInProportionToThePercent) {
  EXPECT_EQ(RenderProgressBar(0, 10), "[..........]   0%");
  EXPECT_EQ(RenderProgressBar(50, 10), "[#####.....]  50%");
  EXPECT_EQ(RenderProgressBar(100, 10), "[##########] 100%");
}

TEST(RenderProgressBarTest, ClampsOutOfRangePercents) {
  EXPECT_EQ(RenderProgressBar(-5, 4), "[....]   0%");
  EXPECT_EQ(RenderProgressBar(250, 4), "[####] 100%");
}

TEST(RenderProgressBarTest, ShowsAnEmptyBarWhenThePercentIsUnknown) {
  EXPECT_EQ(RenderProgressBar(std::nullopt, 4), "[    ]   --");
}

TEST(ProgressBoardTest, RedrawsInPlaceOverThePreviousLines) {
  std::ostringstream out;
  ProgressBoard board(out);
  board.Draw({"a", "b"});
  EXPECT_EQ(out.str(), "a\nb\n");
  board.Draw({"c"});
  EXPECT_EQ(out.str(), "a\nb\n\x1b[2A\r\x1b[Jc\n");
}

TEST(ProgressBoardTest, StartsBelowAfterRelease) {
  std::ostringstream out;
  ProgressBoard board(out);
  board.Draw({"a"});
  board.Release();
  board.Draw({"b"});
  EXPECT_EQ(out.str(), "a\nb\n");
}

}  // namespace
}  // namespace orb::cli
