#include "app/keys_command.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "auth/digest.h"
#include "auth/keys.h"

namespace mca::app {
namespace {

struct run_result {
  int status;
  std::string out;
  std::string err;
};

run_result run(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int status = run_keys_command(args, out, err);
  return {status, out.str(), err.str()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(keys_command, new_key_prints_the_key_then_an_entry_the_keys_file_admits) {
  auto r = run({"new", "--id", "web-shop", "--scopes", "ingest, read", "--apps", "shop",
                "--origins=https://shop.example"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const std::string& key = lines[0];
  EXPECT_EQ(key.rfind("mca_", 0), 0u) << key;
  EXPECT_EQ(key.size(), 4u + 43u) << key;
  EXPECT_NE(lines[1].find(R"("sha256":")" + auth::to_hex(auth::sha256(key)) + "\""),
            std::string::npos)
      << lines[1];
  EXPECT_NE(r.err.find("shown only this once"), std::string::npos) << r.err;

  auto keys = auth::key_set::parse(R"({"keys":[)" + lines[1] + "]}");
  ASSERT_TRUE(keys) << keys.error().message;
  const auth::key_entry* found = keys->find(key);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->id, "web-shop");
  EXPECT_TRUE(found->has(auth::scope::ingest));
  EXPECT_TRUE(found->has(auth::scope::read));
  EXPECT_FALSE(found->has(auth::scope::scrape));
  EXPECT_TRUE(found->covers_app("shop"));
  EXPECT_FALSE(found->covers_app("other"));
  EXPECT_TRUE(found->allows_origin("https://shop.example"));
  EXPECT_FALSE(found->allows_origin("https://evil.example"));
  EXPECT_EQ(keys->find(key + "x"), nullptr);
}

TEST(keys_command, two_runs_give_two_different_keys) {
  auto a = run({"new", "--id", "p", "--scopes", "scrape"});
  auto b = run({"new", "--id", "p", "--scopes", "scrape"});
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_NE(lines_of(a.out).at(0), lines_of(b.out).at(0));
}

TEST(keys_command, help_goes_to_stdout_with_status_0) {
  for (auto args : {std::vector<std::string>{"--help"}, std::vector<std::string>{"-h"},
                    std::vector<std::string>{"new", "--help"}}) {
    auto r = run(args);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("usage: metrics-collection-api keys new", 0), 0u) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

// Each usage error: status 2, nothing on stdout (no key is printed), the reason and usage on
// stderr.
TEST(keys_command, usage_errors_exit_2_and_print_no_key) {
  struct bad_case {
    std::vector<std::string> args;
    std::string reason;
  };
  const std::vector<bad_case> cases = {
      {{}, "usage: "},
      {{"old"}, "keys: unknown command \"old\""},
      {{"new"}, "--id and --scopes are required"},
      {{"new", "--id", "a"}, "--id and --scopes are required"},
      {{"new", "--scopes", "ingest"}, "--id and --scopes are required"},
      {{"new", "--id", "a", "--scopes"}, "--scopes needs a value"},
      {{"new", "--id", "a", "--scopes", "ingest", "--color", "red"},
       "unknown argument \"--color\""},
      {{"new", "--id", "a", "--scopes", "write"}, "keys new: "},
      {{"new", "--id", "bad id!", "--scopes", "scrape"}, "keys new: "},
  };
  for (const auto& c : cases) {
    auto r = run(c.args);
    EXPECT_EQ(r.status, 2) << c.reason;
    EXPECT_EQ(r.out, "") << c.reason;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << r.err;
  }
}

// The entry checks are the keys file's: an unknown scope is named in the message.
TEST(keys_command, an_invalid_entry_is_refused_with_the_keys_file_reason) {
  auto r = run({"new", "--id", "a", "--scopes", "ingest,write", "--apps", "shop"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("unknown scope"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mca::app
