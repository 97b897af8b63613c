// Table-driven checks: one call states what a function gives for each input of a table, and a
// failure names the row (the input) it came from.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace mca::test {

// `pred(input)` holds for every input.
template <class Pred>
void expect_accepts(Pred&& pred, std::initializer_list<std::string_view> inputs) {
  for (const auto input : inputs) EXPECT_TRUE(pred(input)) << '"' << input << '"';
}

// `pred(input)` fails for every input.
template <class Pred>
void expect_rejects(Pred&& pred, std::initializer_list<std::string_view> inputs) {
  for (const auto input : inputs) EXPECT_FALSE(pred(input)) << '"' << input << '"';
}

// `spell(value)` is the text the row gives for every (value, text) row.
template <class Spell>
void expect_spellings(Spell&& spell,
                      std::initializer_list<std::pair<double, std::string_view>> rows) {
  for (const auto& [value, text] : rows)
    EXPECT_EQ(spell(value), text) << ::testing::PrintToString(value);
}

}  // namespace mca::test
