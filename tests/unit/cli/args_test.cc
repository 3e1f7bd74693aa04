// The CLI's argument grammar: long, short and inline values, switches, repeatable flags, "--",
// negative numbers as positionals, and the errors for unknown flags and missing values.
#include "cli/args.h"

#include "gtest/gtest.h"

namespace spool::cli {
namespace {

const std::vector<FlagSpec> kFlags = {
    {.name = "bootstrap-server", .short_name = 'b', .value_name = "HOST:PORT"},
    {.name = "count", .short_name = 'n'},
    {.name = "header"},
    {.name = "verbose", .takes_value = false},
};

TEST(ArgsTest, ParsesEveryForm) {
  auto a = Args::Parse({"topic", "-b", "h:1", "--count=5", "--header", "a=1", "--header=b=2",
                        "--verbose", "-7", "--", "--not-a-flag"},
                       kFlags);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positional(), (std::vector<std::string>{"topic", "-7", "--not-a-flag"}));
  EXPECT_EQ(a->get("bootstrap-server"), "h:1");
  EXPECT_EQ(*a->get_int("count", 0), 5);
  EXPECT_EQ(a->all("header"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_TRUE(a->has("verbose"));
  EXPECT_FALSE(a->help());
  EXPECT_EQ(a->get_or("missing", "x"), "x");
  EXPECT_EQ(*a->get_int("missing", 42), 42);
}

TEST(ArgsTest, LastValueWins) {
  auto a = Args::Parse({"-n", "1", "-n", "2"}, kFlags);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a->get_int("count", 0), 2);
}

TEST(ArgsTest, Help) {
  auto a = Args::Parse({"x", "--help"}, kFlags);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->help());
  const std::string usage = Usage("topic create", "NAME", "Creates a topic.", kFlags);
  EXPECT_NE(usage.find("usage: spool topic create NAME"), std::string::npos) << usage;
  EXPECT_NE(usage.find("-b, --bootstrap-server HOST:PORT"), std::string::npos) << usage;
}

TEST(ArgsTest, Errors) {
  EXPECT_NE(Args::Parse({"--nope"}, kFlags).status().message().find("unknown flag --nope"),
            std::string::npos);
  EXPECT_NE(Args::Parse({"--count"}, kFlags).status().message().find("needs a value"),
            std::string::npos);
  EXPECT_NE(Args::Parse({"--verbose=1"}, kFlags).status().message().find("takes no value"),
            std::string::npos);
  EXPECT_NE(Args::Parse({"-x"}, kFlags).status().message().find("unknown flag -x"),
            std::string::npos);
  auto a = Args::Parse({"-n", "five"}, kFlags);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(a->get_int("count", 0).status()));
}

}  // namespace
}  // namespace spool::cli
