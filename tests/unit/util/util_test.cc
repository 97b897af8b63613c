#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>

#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

namespace mca::util {
namespace {

TEST(json_escape, escapes_quotes_backslashes_and_control_characters) {
  EXPECT_EQ(json_escape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(json_escape("a\nb\rc\td"), R"(a\nb\rc\td)");
  EXPECT_EQ(json_escape(std::string("\x01\x1f", 2)), R"(\u0001\u001f)");
  EXPECT_EQ(json_escape(std::string("nul\0x", 5)), R"(nul\u0000x)");
}

TEST(json_escape, leaves_utf8_and_printable_ascii_alone) {
  EXPECT_EQ(json_escape("temp_\xc3\xa9 \x7f ~"), "temp_\xc3\xa9 \x7f ~");
  EXPECT_EQ(json_escape(""), "");
}

TEST(json_escape, output_is_a_valid_json_string_for_every_byte) {
  std::string all;
  for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
  std::string quoted(1, '"');
  quoted += json_escape(all);
  quoted += '"';
  auto v = boost::json::parse(quoted);
  EXPECT_EQ(std::string(v.as_string()), all);
}

TEST(manual_clock, moves_only_when_told) {
  manual_clock c(1'000);
  EXPECT_EQ(c.now_ms(), 1'000);
  c.advance(std::chrono::milliseconds(250));
  EXPECT_EQ(c.now_ms(), 1'250);
  c.set(5);
  EXPECT_EQ(c.now_ms(), 5);
}

TEST(real_clock, is_the_wall_clock_in_milliseconds) {
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto now = real_clock().now_ms();
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

TEST(result, value_of_an_error_throws_system_error_with_code_and_message) {
  result<int> r = error(std::make_error_code(std::errc::invalid_argument), "bad setting X");
  ASSERT_FALSE(r);
  try {
    (void)r.value();
    FAIL() << "value() of an error did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("bad setting X"), std::string::npos);
  }
}

TEST(setup_logging, json_style_writes_one_parseable_json_object_per_line) {
  testing::internal::CaptureStderr();
  setup_logging("info", log_style::json);
  spdlog::info("quote \" backslash \\ newline \n done");
  spdlog::debug("below the level");
  spdlog::default_logger()->flush();
  const auto out = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  const auto line = out.substr(0, out.size() - 1);
  ASSERT_EQ(line.find('\n'), std::string::npos) << out;
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("level").as_string(), "info");
  EXPECT_EQ(v.at("logger").as_string(), "mca");
  EXPECT_EQ(v.at("msg").as_string(), "quote \" backslash \\ newline \n done");
  EXPECT_EQ(v.at("time").as_string().size(), std::string("2026-01-01T00:00:00.000Z").size());
}

TEST(setup_logging, text_style_honours_the_level) {
  testing::internal::CaptureStderr();
  setup_logging("warn", log_style::text);
  spdlog::info("hidden");
  spdlog::warn("shown");
  spdlog::default_logger()->flush();
  const auto out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
  EXPECT_NE(out.find("warn"), std::string::npos);
}

}  // namespace
}  // namespace mca::util
