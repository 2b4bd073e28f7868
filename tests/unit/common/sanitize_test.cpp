#include "common/sanitize.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/log.hpp"
#include "support/temp_dir.hpp"

namespace orb {
namespace {

const std::string kSha = "3f2a7c9e0b1d4f6a8c2e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a";
const std::string kOtherSha = "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

std::string Clean(std::string_view text, std::vector<std::string> secrets = {}) {
  return SanitizeWith(text, secrets);
}

TEST(SanitizeTest, UrlsKeepSchemeHostPortAndPathOnly) {
  EXPECT_EQ(Clean("GET https://bucket.s3.example.com:8443/builds/b1.tar.zst?X-Amz-Signature=abc"
                  "&X-Amz-Credential=key answered 403"),
            "GET https://bucket.s3.example.com:8443/builds/b1.tar.zst?[redacted] answered 403");
  EXPECT_EQ(Clean("download http://user:hunter2@mirror.example/a.zip failed"),
            "download http://mirror.example/a.zip failed");
  EXPECT_EQ(Clean("see https://example.com/docs#token=abc."),
            "see https://example.com/docs?[redacted].");
  EXPECT_EQ(Clean("(download https://h/x?sig=1)"), "(download https://h/x?[redacted])");
  EXPECT_EQ(Clean("postgresql://orb:pw@db:5432/orb?sslmode=require"),
            "postgresql://db:5432/orb?[redacted]");
  EXPECT_EQ(Clean("file:///srv/orb/a.tar"), "file:///srv/orb/a.tar");
  EXPECT_EQ(Clean("two: http://a/x?q=1 and https://b:1/y"),
            "two: http://a/x?[redacted] and https://b:1/y");
  EXPECT_EQ(SanitizeUrl("https://u:p@h/p?q#f"), "https://h/p?[redacted]");
  EXPECT_EQ(Clean("not a url: ://nothing"), "not a url: ://nothing");
  // Sanitizing twice (a URL sanitized for a message, then the log line): nothing changes. The
  // second pass used to take the bracket of "[redacted]" as punctuation after the URL.
  for (const char* text : {"(data dir /d, store postgresql://a:1,b:2/orb?sslmode=require)",
                           "see https://h/x?sig=1.", "[https://h/x?q=1]"}) {
    EXPECT_EQ(Clean(Clean(text)), Clean(text)) << text;
  }
  EXPECT_EQ(Clean("(store postgresql://a:1,b:2/orb?sslmode=require)"),
            "(store postgresql://a:1,b:2/orb?[redacted])");
}

TEST(SanitizeTest, HeadersAndBearerCredentialsAreRedacted) {
  EXPECT_EQ(Clean("sent Authorization: Bearer abc.def-ghi\nnext line"),
            "sent Authorization: [redacted]\nnext line");
  EXPECT_EQ(Clean("header \"authorization: Basic dXNlcjpwYXNz\" refused"),
            "header \"authorization: [redacted]\" refused");
  EXPECT_EQ(Clean("Cookie: session=abc; other=def"), "Cookie: [redacted]");
  EXPECT_EQ(Clean("Proxy-Authorization: Digest x"), "Proxy-Authorization: [redacted]");
  EXPECT_EQ(Clean("retrying with bearer " + kSha + " now"), "retrying with bearer [redacted] now");
  EXPECT_EQ(Clean("X-Api-Key: k-123"), "X-Api-Key: [redacted]");
}

TEST(SanitizeTest, NamedParametersAndJsonMembersLoseTheirValues) {
  EXPECT_EQ(Clean("/v1/x?token=abc&wait=25"), "/v1/x?token=[redacted]&wait=25");
  EXPECT_EQ(Clean("access_token=xyz password=hunter2, secret='s p a c e' api_key=1"),
            "access_token=[redacted] password=[redacted], secret='[redacted]' api_key=[redacted]");
  EXPECT_EQ(Clean(R"({"serverId":"s","env":{"DB_PASSWORD": "hunter2","MEMORY":"2G"}})"),
            R"({"serverId":"s","env":{"DB_PASSWORD": "[redacted]","MEMORY":"2G"}})");
  EXPECT_EQ(Clean(R"({"clientSecret":"a\"b","n":1})"), R"({"clientSecret":"[redacted]","n":1})");
  EXPECT_EQ(Clean("ORB_RCON_PASSWORD=abc ORB_JOB_ID=j1"),
            "ORB_RCON_PASSWORD=[redacted] ORB_JOB_ID=j1");
  // Names that merely contain a keyword, numbers and JSON keys with ':' outside quotes stay.
  EXPECT_EQ(Clean("tokenFile=/etc/orb/token jobId=j1 runId=r1 lastSeq=12"),
            "tokenFile=/etc/orb/token jobId=j1 runId=r1 lastSeq=12");
  EXPECT_EQ(Clean(R"({"token": 12, "tokens": "3"})"), R"({"token": 12, "tokens": "3"})");
  EXPECT_EQ(Clean("a new token: using it"), "a new token: using it");
  EXPECT_TRUE(IsSecretName("X-Amz-Signature"));
  EXPECT_TRUE(IsSecretName("ORB_RCON_PASSWORD"));
  EXPECT_TRUE(IsSecretName("clientSecret"));
  EXPECT_FALSE(IsSecretName("MEMORY"));
  EXPECT_FALSE(IsSecretName("tokenFile"));
}

TEST(SanitizeTest, ChecksumsStayReadableWhileTheTokenOfTheSameShapeGoes) {
  // The token is 64 hex characters, like every sha256: only the value held is removed.
  const std::string token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
  const std::string mismatch = "sha256 mismatch: expected " + kSha + " got " + kOtherSha;
  EXPECT_EQ(Clean(mismatch, {token}), mismatch);
  EXPECT_EQ(Clean("downloaded 12 bytes hash to " + kOtherSha + ", expected " + kSha, {token}),
            "downloaded 12 bytes hash to " + kOtherSha + ", expected " + kSha);
  EXPECT_EQ(Clean("token file holds " + token + " (cached)", {token}),
            "token file holds [redacted] (cached)");
  EXPECT_EQ(Clean("artifact /v1/artifacts/" + kSha + " found", {token}),
            "artifact /v1/artifacts/" + kSha + " found");
}

TEST(SanitizeTest, RegisteredSecretsAreRemovedEverywhereAndShortOnesIgnored) {
  ForgetRegisteredSecrets();
  RegisterSecret("short");  // below kMinSecretLength: would garble text
  RegisterSecret("s3cr3t-value-42");
  RegisterSecret("s3cr3t-value-42");
  EXPECT_EQ(RegisteredSecrets().size(), 1U);
  EXPECT_EQ(Sanitize("short and s3cr3t-value-42 and s3cr3t-value-42."),
            "short and [redacted] and [redacted].");
  Error error = MakeError(Errc::kHttp, "GET https://h/a?sig=1 answered 403: s3cr3t-value-42");
  error = std::move(error).WithContext("download https://h/a?sig=1");
  error.details.push_back({"payload.url", "token=abc is wrong"});
  const Error clean = Sanitize(error);
  EXPECT_EQ(clean.message, "GET https://h/a?[redacted] answered 403: [redacted]");
  ASSERT_EQ(clean.stack.size(), 1U);
  EXPECT_EQ(clean.stack[0], "download https://h/a?[redacted]");
  EXPECT_EQ(clean.details[0].problem, "token=[redacted] is wrong");
  EXPECT_EQ(clean.code, Errc::kHttp);
  ForgetRegisteredSecrets();
}

TEST(SanitizeTest, TextWithoutSecretsIsUnchanged) {
  for (const std::string text :
       {"", "plain", "jobId=j1 runId=r1 finished COMPLETED", "a:b:c = d", "100% done (3 of 4 MiB)",
        "rename /a -> /b: No space left on device", "x=", "password=", "\"\":\"\""}) {
    EXPECT_EQ(Clean(text), text);
  }
}

TEST(SanitizeTest, TheProgramLogSanitizesEveryLine) {
  // The real stderr sink of SetupLogging, redirected into a file for the test.
  testing::TempDir dir;
  const auto path = dir / "stderr.log";
  std::fflush(stderr);
  const int saved = ::dup(2);
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  ::dup2(::fileno(file), 2);
  ForgetRegisteredSecrets();
  RegisterSecret("agent-token-0123456789");
  for (const auto format : {LogFormat::kText, LogFormat::kJson}) {
    SetupLogging(format, "info");
    const auto log = GetLogger("sanitize-test");
    log->warn("GET https://h/x?X-Amz-Signature=abc answered 403 with agent-token-0123456789");
    log->flush();
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::fclose(file);
  ForgetRegisteredSecrets();
  SetupLogging(LogFormat::kText, "info");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().find("agent-token"), std::string::npos) << text.str();
  EXPECT_EQ(text.str().find("Signature"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("GET https://h/x?[redacted] answered 403 with [redacted]"),
            std::string::npos)
      << text.str();
}

}  // namespace
}  // namespace orb
