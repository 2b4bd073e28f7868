#include "server/auth.hpp"

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

namespace orb::server {
namespace {

using protocol::Role;
using testing::FailsWith;
using testing::IsOk;

Principal Viewer() {
  return {"t-viewer", Role::kViewer, std::nullopt};
}
Principal Operator() {
  return {"t-operator", Role::kOperator, std::nullopt};
}
Principal Admin() {
  return {"t-admin", Role::kAdmin, std::nullopt};
}
Principal Agent(std::string id) {
  return {"t-" + id, Role::kAgent, std::move(id)};
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AuthorizeTest, PublicRoutesNeedNoToken) {
  EXPECT_THAT(Authorize(std::nullopt, RouteClass::kPublic), IsOk());
  EXPECT_THAT(Authorize(Agent("a"), RouteClass::kPublic), IsOk());
}

TEST(AuthorizeTest, EveryOtherRouteIsUnauthenticatedWithoutAPrincipal) {
  for (const auto route :
       {RouteClass::kViewerRead, RouteClass::kOperatorWrite, RouteClass::kAdmin,
        RouteClass::kAgentOwn, RouteClass::kArtifactDownload, RouteClass::kMetrics}) {
    EXPECT_THAT(Authorize(std::nullopt, route, "a"), FailsWith(Errc::kUnauthenticated))
        << ToString(route);
  }
}

TEST(AuthorizeTest, RolesFormALadderViewerOperatorAdmin) {
  EXPECT_THAT(Authorize(Viewer(), RouteClass::kViewerRead), IsOk());
  EXPECT_THAT(Authorize(Viewer(), RouteClass::kMetrics), IsOk());
  EXPECT_THAT(Authorize(Viewer(), RouteClass::kOperatorWrite), FailsWith(Errc::kForbidden));
  EXPECT_THAT(Authorize(Viewer(), RouteClass::kAdmin), FailsWith(Errc::kForbidden));

  EXPECT_THAT(Authorize(Operator(), RouteClass::kViewerRead), IsOk());
  EXPECT_THAT(Authorize(Operator(), RouteClass::kOperatorWrite), IsOk());
  EXPECT_THAT(Authorize(Operator(), RouteClass::kAdmin), FailsWith(Errc::kForbidden));

  EXPECT_THAT(Authorize(Admin(), RouteClass::kViewerRead), IsOk());
  EXPECT_THAT(Authorize(Admin(), RouteClass::kOperatorWrite), IsOk());
  EXPECT_THAT(Authorize(Admin(), RouteClass::kAdmin), IsOk());
  EXPECT_THAT(Authorize(Admin(), RouteClass::kMetrics), IsOk());
}

TEST(AuthorizeTest, AgentMayCallOnlyItsOwnPathsAndDownloadArtifacts) {
  EXPECT_THAT(Authorize(Agent("orb-7"), RouteClass::kAgentOwn, "orb-7"), IsOk());
  EXPECT_THAT(Authorize(Agent("orb-7"), RouteClass::kAgentOwn, "orb-8"),
              FailsWith(Errc::kForbidden));
  EXPECT_THAT(Authorize(Agent("orb-7"), RouteClass::kAgentOwn, ""), FailsWith(Errc::kForbidden));
  EXPECT_THAT(Authorize(Agent("orb-7"), RouteClass::kArtifactDownload), IsOk());
  for (const auto route : {RouteClass::kViewerRead, RouteClass::kOperatorWrite, RouteClass::kAdmin,
                           RouteClass::kMetrics}) {
    EXPECT_THAT(Authorize(Agent("orb-7"), route), FailsWith(Errc::kForbidden)) << ToString(route);
  }
}

TEST(AuthorizeTest, StaffTokensCannotCallAgentPaths) {
  EXPECT_THAT(Authorize(Admin(), RouteClass::kAgentOwn, "orb-7"), FailsWith(Errc::kForbidden));
  EXPECT_THAT(Authorize(Viewer(), RouteClass::kArtifactDownload), IsOk());
}

TEST(AuthorizeTest, AgentPrincipalWithoutAgentIdIsRefused) {
  const Principal broken{"t-x", Role::kAgent, std::nullopt};
  EXPECT_THAT(Authorize(broken, RouteClass::kAgentOwn, "orb-7"), FailsWith(Errc::kForbidden));
  EXPECT_THAT(Authorize(broken, RouteClass::kArtifactDownload), FailsWith(Errc::kForbidden));
}

TEST(ParseBearerTest, AcceptsTheSchemeInAnyCaseAndTrimsSpaces) {
  EXPECT_EQ(ParseBearer("Bearer abc123"), "abc123");
  EXPECT_EQ(ParseBearer("bearer abc123"), "abc123");
  EXPECT_EQ(ParseBearer("BEARER   abc-._~+/123=="), "abc-._~+/123==");
  EXPECT_EQ(ParseBearer("  Bearer abc \t"), "abc");
}

TEST(ParseBearerTest, RejectsOtherSchemesAndMalformedTokens) {
  EXPECT_EQ(ParseBearer(""), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer "), std::nullopt);
  EXPECT_EQ(ParseBearer("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearerabc"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer a b"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer a=b"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer =="), std::nullopt);
  EXPECT_EQ(ParseBearer(std::string_view("Bearer a\0b", 10)), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer t\xc3\xa9"), std::nullopt);
}

TEST(TokenTest, GeneratedTokensAre256BitHexAndDiffer) {
  const auto a = GenerateToken();
  const auto b = GenerateToken();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
  EXPECT_TRUE(IsValidBearerToken(a));
}

TEST(TokenTest, HashIsSha256HexAndNotTheToken) {
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenCacheTest, LooksUpByThePlainTokenThroughItsHash) {
  TokenCache cache;
  const auto token = GenerateToken();
  cache.Load({{HashToken(token), Admin()}, {HashToken("other-token"), Viewer()}});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Lookup(token), Admin());
  EXPECT_EQ(cache.Lookup(HashToken(token)), std::nullopt);  // the hash is not a token
  EXPECT_EQ(cache.Lookup("unknown"), std::nullopt);
  EXPECT_EQ(cache.Lookup(""), std::nullopt);
  EXPECT_EQ(cache.Authenticate("Bearer " + token), Admin());
  EXPECT_EQ(cache.Authenticate("Basic " + token), std::nullopt);
  EXPECT_EQ(cache.Authenticate(std::nullopt), std::nullopt);
}

TEST(TokenCacheTest, LoadReplacesEverything) {
  TokenCache cache;
  cache.Add(HashToken("old"), Viewer());
  cache.Load({{HashToken("new"), Operator()}});
  EXPECT_EQ(cache.Lookup("old"), std::nullopt);
  EXPECT_EQ(cache.Lookup("new"), Operator());
}

TEST(TokenCacheTest, RemovesByHashByIdAndByAgent) {
  TokenCache cache;
  cache.Add(HashToken("v"), Viewer());
  cache.Add(HashToken("o"), Operator());
  cache.Add(HashToken("a7"), Agent("orb-7"));
  cache.Add(HashToken("a8"), Agent("orb-8"));

  EXPECT_EQ(cache.Remove(HashToken("v")), 1u);
  EXPECT_EQ(cache.Remove(HashToken("v")), 0u);
  EXPECT_EQ(cache.RemoveById("t-operator"), 1u);
  EXPECT_EQ(cache.RemoveAgent("orb-7"), 1u);
  EXPECT_EQ(cache.Lookup("v"), std::nullopt);
  EXPECT_EQ(cache.Lookup("o"), std::nullopt);
  EXPECT_EQ(cache.Lookup("a7"), std::nullopt);
  EXPECT_EQ(cache.Lookup("a8"), Agent("orb-8"));
}

TEST(TokenCacheTest, ARemovedTokenIsNotBroughtBackByAnOlderRead) {
  // A token feed read that began before the revoke still lists the token as active (ReplicaSync
  // applies it after the revoke's RemoveAgent): the token stays revoked.
  TokenCache cache;
  cache.Add(HashToken("a7"), Agent("orb-7"));
  cache.Add(HashToken("v"), Viewer());
  cache.Add(HashToken("o"), Operator());
  ASSERT_EQ(cache.RemoveAgent("orb-7"), 1u);
  ASSERT_EQ(cache.Remove(HashToken("v")), 1u);
  ASSERT_EQ(cache.RemoveById("t-operator"), 1u);
  cache.Add(HashToken("a7"), Agent("orb-7"));
  cache.Add(HashToken("v"), Viewer());
  cache.Load({{HashToken("o"), Operator()}, {HashToken("a8"), Agent("orb-8")}});
  EXPECT_EQ(cache.Lookup("a7"), std::nullopt);
  EXPECT_EQ(cache.Lookup("v"), std::nullopt);
  EXPECT_EQ(cache.Lookup("o"), std::nullopt);
  // The agent enrolled again has a new token, which is known.
  cache.Add(HashToken("a7-again"), Agent("orb-7"));
  EXPECT_EQ(cache.Lookup("a7-again"), Agent("orb-7"));
  EXPECT_EQ(cache.Lookup("a8"), Agent("orb-8"));
}

TEST(TokenCacheTest, ConcurrentLookupsAndChangesAreSafe) {
  TokenCache cache;
  cache.Add(HashToken("stable"), Viewer());
  std::atomic<bool> stop{false};
  std::atomic<int> misses{0};
  std::thread reader([&] {
    while (!stop) {
      if (cache.Lookup("stable") != Viewer()) ++misses;
    }
  });
  for (int i = 0; i < 2000; ++i) {
    cache.Add(HashToken("t" + std::to_string(i)), Operator());
    EXPECT_EQ(cache.RemoveById("t-operator"), 1u);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(misses, 0);
}

TEST(BootstrapAdminTokenTest, DoesNothingWhenTheStoreHasAnAdmin) {
  testing::TempDir dir;
  const auto result = BootstrapAdminToken(true, "from-the-environment-123", dir.path());
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, std::nullopt);
  EXPECT_FALSE(std::filesystem::exists(dir / kAdminTokenFileName));
}

TEST(BootstrapAdminTokenTest, TakesTheEnvironmentTokenAndWritesNoFile) {
  testing::TempDir dir;
  const auto result = BootstrapAdminToken(false, "from-the-environment-123", dir.path());
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, "from-the-environment-123");
  EXPECT_FALSE(std::filesystem::exists(dir / kAdminTokenFileName));
}

TEST(BootstrapAdminTokenTest, RejectsAWeakOrUnsendableEnvironmentToken) {
  testing::TempDir dir;
  EXPECT_THAT(BootstrapAdminToken(false, "short", dir.path()), FailsWith(Errc::kInvalidRequest));
  EXPECT_THAT(BootstrapAdminToken(false, "has a space in it, long enough", dir.path()),
              FailsWith(Errc::kInvalidRequest));
}

TEST(BootstrapAdminTokenTest, GeneratesATokenIntoAFileOnlyTheOwnerCanRead) {
  testing::TempDir dir;
  const auto data_dir = dir / "data";  // does not exist yet
  for (const char* env : {static_cast<const char*>(nullptr), ""}) {
    const auto result = BootstrapAdminToken(false, env, data_dir);
    ASSERT_THAT(result, IsOk());
    ASSERT_TRUE(result->has_value());
    const auto& token = **result;
    EXPECT_EQ(token.size(), 64u);

    const auto path = data_dir / kAdminTokenFileName;
    EXPECT_EQ(ReadFile(path), token + "\n");
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0600u);
    EXPECT_TRUE(S_ISREG(info.st_mode));
  }
  // No temp files left behind.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(data_dir))
    ++files;
  EXPECT_EQ(files, 1u);
}

TEST(BootstrapAdminTokenTest, ReplacesAStaleTokenFileAtomically) {
  testing::TempDir dir;
  {
    std::ofstream stale(dir / kAdminTokenFileName);
    stale << "stale\n";
  }
  const auto result = BootstrapAdminToken(false, nullptr, dir.path());
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(ReadFile(dir / kAdminTokenFileName), **result + "\n");
}

TEST(BootstrapAdminTokenTest, UnwritableDataDirIsAnIoError) {
  testing::TempDir dir;
  {
    std::ofstream file(dir / "not-a-dir");
    file << "x";
  }
  EXPECT_THAT(BootstrapAdminToken(false, nullptr, dir / "not-a-dir"), FailsWith(Errc::kIo));
}

}  // namespace
}  // namespace orb::server
