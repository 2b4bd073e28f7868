// The pure parts of the PostgreSQL connection: placeholders and array literals. Statements
// against a real server are in tests/contract.

#include "store/postgres/pg_connection.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace orb::store::postgres {
namespace {

TEST(RewritePlaceholdersTest, NumbersBarePlaceholdersInOrder) {
  const auto [sql, params] = RewritePlaceholders("SELECT a FROM t WHERE b = ? AND c = ?");
  EXPECT_EQ(sql, "SELECT a FROM t WHERE b = $1 AND c = $2");
  EXPECT_EQ(params, 2);
}

TEST(RewritePlaceholdersTest, KeepsNumberedPlaceholdersAndCountsTheHighest) {
  const auto [sql, params] =
      RewritePlaceholders("UPDATE t SET a = ?1, b = ?12 WHERE c = ?2 OR d = ?1");
  EXPECT_EQ(sql, "UPDATE t SET a = $1, b = $12 WHERE c = $2 OR d = $1");
  EXPECT_EQ(params, 12);
}

TEST(RewritePlaceholdersTest, LeavesQuestionMarksInLiteralsAndIdentifiersAlone) {
  const auto [sql, params] =
      RewritePlaceholders("SELECT '?', 'it''s ?', \"odd?name\" FROM t WHERE x = ?");
  EXPECT_EQ(sql, "SELECT '?', 'it''s ?', \"odd?name\" FROM t WHERE x = $1");
  EXPECT_EQ(params, 1);
}

TEST(RewritePlaceholdersTest, KeepsCastsAfterAPlaceholder) {
  const auto [sql, params] = RewritePlaceholders("WHERE id = ANY(?1::text[]) LIMIT ?2::int");
  EXPECT_EQ(sql, "WHERE id = ANY($1::text[]) LIMIT $2::int");
  EXPECT_EQ(params, 2);
}

TEST(TextArrayLiteralTest, QuotesEveryElementAndEscapesQuotesAndBackslashes) {
  EXPECT_EQ(TextArrayLiteral(std::vector<std::string>{}), "{}");
  EXPECT_EQ(TextArrayLiteral(std::vector<std::string>{"a1", "b,c", "d\"e", "f\\g", ""}),
            R"({"a1","b,c","d\"e","f\\g",""})");
}

}  // namespace
}  // namespace orb::store::postgres
