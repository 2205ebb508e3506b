// The math checker end to end (extraction, gold formats, statuses, time
// limit) and under hostile input: deep nesting, huge values, megabyte
// strings, invalid UTF-8, concurrent use. Every case must come back, with a
// status and a reason, well inside a sanity bound.
#include "reward/math_checker.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/math_test_util.h"

namespace grpo::reward {
namespace {

// ----------------------------------------------------- check and statuses --

TEST(CheckTest, ExtractsThenCompares) {
  MathChecker checker = Make();
  RewardResult r = checker.Check("So the area is $\\boxed{\\frac{1}{2}}$.", "0.5");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.extracted, "\\frac{1}{2}");
  r = checker.Check("The answer is 7.", "8");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.extracted, "7");
}

TEST(CheckTest, GoldFormats) {
  const std::string gsm8k_gold = "She pays 3*2 = 6 dollars.\n#### 6";
  EXPECT_EQ(Make().Check("\\boxed{6}", gsm8k_gold).value, 1.0);  // AUTO reads "####"
  MathChecker gsm8k = Make([](Options& o) { o.set_gold_format(config::GSM8K); });
  EXPECT_EQ(gsm8k.Check("\\boxed{6}", gsm8k_gold).value, 1.0);
  MathChecker plain = Make([](Options& o) { o.set_gold_format(config::PLAIN); });
  EXPECT_EQ(plain.Check("\\boxed{\\frac{1}{2}}", " \\frac12 ").value, 1.0);
  // AUTO: the last \boxed{} of a worked solution.
  EXPECT_EQ(Make().Check("\\boxed{3}", "So $x = \\boxed{3}$.").value, 1.0);
  MathChecker extract = Make([](Options& o) { o.set_gold_format(config::EXTRACT); });
  EXPECT_EQ(extract.Check("\\boxed{3}", "Thus the final answer is 3.").value, 1.0);
  EXPECT_EQ(*gsm8k.GoldAnswer("work\n#### 1,000"), "1,000");
}

TEST(CheckTest, NoAnswer) {
  RewardResult r = Make().Check("I think it is forty-two, but I am not sure", "42");
  EXPECT_EQ(r.status, RewardStatus::kNoAnswer);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(Make().Check("", "42").status, RewardStatus::kNoAnswer);
  EXPECT_EQ(Make().Check("\\boxed{}", "42").status, RewardStatus::kNoAnswer);
}

TEST(CheckTest, LastNumberFallbackAndPriority) {
  const char* completion = "We add them and get 42 in the end";
  EXPECT_EQ(Make().Check(completion, "42").status, RewardStatus::kNoAnswer);
  MathChecker fallback = Make([](Options& o) { o.set_last_number_fallback(true); });
  EXPECT_EQ(fallback.Check(completion, "42").value, 1.0);
  // Only the sources listed are tried, in their order.
  MathChecker hashes_only =
      Make([](Options& o) { o.add_extraction_priority(config::GSM8K_HASHES); });
  EXPECT_EQ(hashes_only.Check("\\boxed{1}\n#### 2", "2").value, 1.0);
  EXPECT_EQ(Make().Check("\\boxed{1}\n#### 2", "2").value, 0.0);  // BOXED comes first
}

TEST(CheckTest, UnparseableGold) {
  MathChecker checker = Make();
  RewardResult r = checker.Check("\\boxed{5}", "");
  EXPECT_EQ(r.status, RewardStatus::kUnparseableGold);
  EXPECT_EQ(r.reason, "gold answer is empty");
  EXPECT_EQ(checker.Check("\\boxed{5}", "   ").status, RewardStatus::kUnparseableGold);
  MathChecker gsm8k = Make([](Options& o) { o.set_gold_format(config::GSM8K); });
  r = gsm8k.Check("\\boxed{5}", "The answer is 5.");
  EXPECT_EQ(r.status, RewardStatus::kUnparseableGold);
  EXPECT_EQ(r.reason, "gold has no '####' answer");
  EXPECT_FALSE(gsm8k.GoldAnswer("no marker").ok());
  r = checker.CompareAnswers("5", "\\frac{1}{");
  EXPECT_EQ(r.status, RewardStatus::kUnparseableGold);
  EXPECT_EQ(r.reason, "gold: answer ends early");
  EXPECT_EQ(checker.CompareAnswers("5", "").status, RewardStatus::kUnparseableGold);
}

TEST(CheckTest, UnreadablePredictionIsAWrongAnswer) {
  RewardResult r = Make().CompareAnswers("\\foo{3}", "3");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.reason, "prediction is not readable math: unsupported command \\foo");
}

TEST(CheckTest, ErrorForValuesTooLargeToCompare) {
  MathChecker checker = Make();
  RewardResult r;
  double s = Seconds([&] { r = checker.CompareAnswers("10^{10^{10}}", "5"); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kError);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.reason, "compare: a number is too large to compare");
  // Identical text needs no arithmetic.
  r = checker.CompareAnswers("10^{10^{10}}", "10^{10^{10}}");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
  // 2^100000 has more bits than exact arithmetic may hold (kMaxExactBits).
  s = Seconds([&] { r = checker.CompareAnswers("2^{100000}", "2^{100000}+1"); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kError);
  EXPECT_EQ(checker.CompareAnswers("2^{100000}", "2^{100000}").value, 1.0);
  for (const char* huge : {"100000!", "9!!!!!!", "(2^{64})!", "1e999999", "10^{-100000}"}) {
    s = Seconds([&] { r = checker.CompareAnswers(huge, "5"); });
    EXPECT_LT(s, kSanitySeconds) << huge;
    EXPECT_EQ(r.status, RewardStatus::kError) << huge;
  }
}

TEST(CheckTest, TimeoutAtTheTimeLimit) {
  // 64 expressions matched one to one: thousands of comparisons.
  std::string a = "\\{", b = "\\{";
  for (int k = 0; k < 64; ++k) {
    a += (k ? "," : "") + std::string("\\sqrt{x+") + std::to_string(k) + "}";
    b += (k ? "," : "") + std::string("\\sqrt{") + std::to_string(63 - k) + "+x}";
  }
  a += "\\}";
  b += "\\}";
  MathChecker fast = Make([](Options& o) { o.set_time_limit_ms(1); });
  RewardResult r;
  double s = Seconds([&] { r = fast.CompareAnswers(a, b); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kTimeout);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_NE(r.reason.find("time limit reached"), std::string::npos) << r.reason;
  // With time enough, the same sets are equal.
  r = Make([](Options& o) { o.set_time_limit_ms(60000); }).CompareAnswers(a, b);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
}

// ----------------------------------------------------------- hostile input --

TEST(HostileInputTest, DeepNesting) {
  MathChecker checker = Make();
  for (const std::string& deep : {
           Repeat("\\frac{", 10000) + "1" + Repeat("}{2}", 10000),
           Repeat("(", 100000) + "1" + Repeat(")", 100000),
           Repeat("(", 100000),
           Repeat("{", 100000),
           Repeat("x^", 10000) + "2",
           Repeat("-", 100000) + "1",
       }) {
    RewardResult r;
    double s = Seconds([&] { r = checker.CompareAnswers(deep, "1"); });
    EXPECT_LT(s, kSanitySeconds);
    EXPECT_EQ(r.status, RewardStatus::kError) << deep.substr(0, 20);
    EXPECT_NE(r.reason.find("over the 8192 limit"), std::string::npos) << r.reason;
  }
  // Under the size limit, the depth limit stops it.
  for (const std::string& deep : {Repeat("(", 2000) + "1" + Repeat(")", 2000),
                                  Repeat("\\sqrt{", 500) + "2" + Repeat("}", 500),
                                  Repeat("2^", 2000) + "2", "5" + Repeat("!", 4000),
                                  Repeat("\\left|", 500) + "x" + Repeat("\\right|", 500),
                                  Repeat("x_{", 500) + "1" + Repeat("}", 500)}) {
    RewardResult r = checker.CompareAnswers(deep, "1");
    EXPECT_EQ(r.status, RewardStatus::kError) << deep.substr(0, 20);
    EXPECT_EQ(r.reason, "prediction: answer nested too deeply");
  }
}

TEST(HostileInputTest, CasIsBoundedBeforeItStarts) {
  MathChecker checker = Make();
  // Expanding this takes GiNaC tens of seconds; the term estimate keeps it
  // away from the CAS and the random points decide.
  const char* power = "(a+b+c+d+f)^{20}";
  const char* square =
      "(a^2+b^2+c^2+d^2+f^2+2*a*b+2*a*c+2*a*d+2*a*f+2*b*c+2*b*d+2*b*f+2*c*d+2*c*f+2*d*f)^{10}";
  RewardResult r;
  double s = Seconds([&] { r = checker.CompareAnswers(power, square); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(r.reason, "equal (numeric)");
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"(x+1)^{1000}", "x"},
           {"(x+1)^{1000}", "(1+x)^{1000}"},
           {"(x+y+z+w+v+u)^{40}", "(u+w+x+y+z+v)^{40}"},
           {Repeat("(x+1)", 60), "(x+1)^{60}"},
       }) {
    s = Seconds([&] { r = checker.CompareAnswers(a, b); });
    EXPECT_LT(s, kSanitySeconds) << a;
    EXPECT_EQ(r.status, RewardStatus::kOk) << a;
  }
}

// Inputs that crashed or hung the checker before their fix (found by random
// expression generation); each must come back, fast, with a status.
TEST(HostileInputTest, FormerCrashesAndHangs) {
  MathChecker checker = Make();
  struct Case {
    const char* prediction;
    const char* gold;
    RewardStatus status;
    double value;
  };
  for (const Case& c : std::vector<Case>{
           // A failed parse inside \{...\} or a subscript left a null child.
           {"\\{\\foo\\}", "1", RewardStatus::kOk, 0},
           {"x_-\\foo", "1", RewardStatus::kOk, 0},
           // "\frac1e5" split "1e5" into "1" and a number token "e5".
           {"\\frac1e5", "5/e", RewardStatus::kOk, 1},
           // GiNaC builds binomial(n, k) as an expanded product.
           {"\\binom{n}{1500}", "\\binom{n}{1500}+0", RewardStatus::kOk, 1},
           {"\\binom{a+b+c}{20}", "\\binom{c+a+b}{20}+0", RewardStatus::kOk, 1},
           {"\\binom{10^{100}}{10^{50}}", "5", RewardStatus::kOk, 0},
           // expand() turns (..)^(z+15000) into (..)^z (..)^15000.
           {"(x+y+1)^{z+15000}", "(x+y+1)^{z+15000} + 1", RewardStatus::kOk, 0},
           // Numbers raised in the CAS are computed when they are built.
           {"x + ((10^{64})^{64})^{64}", "((10^{64})^{64})^{64} + x", RewardStatus::kError, 0},
           // Bits(9) * 3333333333333333333 overflowed a long (UBSan, reward_request_fuzz).
           {"9^{3333333333333333333}", "1", RewardStatus::kError, 0},
       }) {
    RewardResult r;
    double s = Seconds([&] { r = checker.CompareAnswers(c.prediction, c.gold); });
    EXPECT_LT(s, kSanitySeconds) << c.prediction;
    EXPECT_EQ(r.status, c.status) << c.prediction << ": " << r.reason;
    EXPECT_EQ(r.value, c.value) << c.prediction << ": " << r.reason;
  }
}

// Found by reward_request_fuzz: an answer that every random point
// overflows goes to the CAS, and GiNaC's expand()/normal() time grows about
// 5x per level of a power tower (12 levels: 14 s, 14 levels: over a minute,
// in the Release build).
// Towers nested deeper than kMaxCasExponentNesting are kept from the CAS.
TEST(HostileInputTest, ExponentTowersStayOutOfTheCas) {
  MathChecker checker = Make([](Options& o) { o.set_time_limit_ms(100); });
  for (const char* completion : {
           " #### tTtta^TTT^ #### t^T^T^a^T^T^T^T^T^T^T^T^T*9^9^9^9^t",
           " #### tTtta^TTT^T^T^a^T^T^T^T^T^T^T^T^T^T 9^9^9^9^t",
           "\\boxed{x^{y^{y^{a^{y^{y^{y^{y^{y^{y^{y^{y}}}}}}}}}}} + 9^9^9^9^x}",  // 1.4 s before
       }) {
    RewardResult r;
    const double s = Seconds([&] { r = checker.Check(completion, "42"); });
    EXPECT_LT(s, kSanitySeconds) << completion;
    EXPECT_EQ(r.status, RewardStatus::kOk) << completion << ": " << r.reason;
    EXPECT_EQ(r.value, 0.0) << completion;
  }
  // Towers of real answers (e^{x^2}) are far below the cap: the CAS still
  // proves them.
  RewardResult r = checker.CompareAnswers("e^{x^{y^{z}}} \\cdot 9^9^9^9^x", "9^9^9^9^x e^{x^{y^{z}}}");
  EXPECT_EQ(r.status, RewardStatus::kOk) << r.reason;
  EXPECT_EQ(r.value, 1.0) << r.reason;
  EXPECT_EQ(r.reason, "equal (cas)");
}

TEST(HostileInputTest, MegabyteCompletion) {
  MathChecker checker = Make();
  std::string completion = Repeat("Let me think about this step by step. ", 30000);
  completion += "So the answer is $\\boxed{42}$.";
  ASSERT_GT(completion.size(), 1000000u);
  RewardResult r;
  double s = Seconds([&] { r = checker.Check(completion, "42"); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
  // Past max_completion_bytes only the tail is read: an early answer is lost.
  MathChecker capped = Make([](Options& o) { o.set_max_completion_bytes(1000); });
  std::string early = "\\boxed{42} " + Repeat("and then some more words ", 100);
  EXPECT_EQ(capped.Check(early, "42").status, RewardStatus::kNoAnswer);
  EXPECT_EQ(Make().Check(early, "42").value, 1.0);
}

TEST(HostileInputTest, MegabyteBoxedAnswer) {
  MathChecker checker = Make();
  std::string completion = "\\boxed{" + Repeat("1+", 500000) + "1}";
  RewardResult r;
  double s = Seconds([&] { r = checker.Check(completion, "42"); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.status, RewardStatus::kError);
  EXPECT_EQ(r.reason, "prediction: answer is 1000001 bytes, over the 8192 limit");
  EXPECT_EQ(r.extracted.size(), 512u);  // clipped for the record
  // The same megabyte as the gold too: identical text is still equal.
  std::string answer = Repeat("1+", 500000) + "1";
  r = checker.CompareAnswers(answer, answer);
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
}

TEST(HostileInputTest, LongListsCompareInFull) {
  MathChecker checker = Make();
  std::string list = NumberList(10000, false);
  RewardResult r;
  double s = Seconds([&] { r = checker.CompareAnswers(list, list); });
  EXPECT_LT(s, kSanitySeconds);
  EXPECT_EQ(r.value, 1.0);
  // Same first 8 KB, different end: not identical, and too long to read.
  std::string other = NumberList(9999, false) + ", 12345";
  r = checker.CompareAnswers(other, list);
  EXPECT_EQ(r.status, RewardStatus::kUnparseableGold);
  EXPECT_EQ(r.value, 0.0);
  r = checker.CompareAnswers(other, "1, 2");
  EXPECT_EQ(r.status, RewardStatus::kError);
  // Unordered matching holds up to 64 items, beyond that it is an error.
  EXPECT_EQ(checker.CompareAnswers(NumberList(64, false), NumberList(64, true)).value, 1.0);
  r = checker.CompareAnswers(NumberList(65, false), NumberList(65, true));
  EXPECT_EQ(r.status, RewardStatus::kError);
  EXPECT_EQ(r.reason, "compare: too many items to match");
  // Ordered tuples have no such limit below the size cap.
  std::string tuple = "(" + NumberList(1000, false) + ")";
  EXPECT_EQ(checker.CompareAnswers(tuple, "(" + NumberList(999, false) + ", 1000)").value, 0.0);
}

TEST(HostileInputTest, InvalidUtf8AndNulBytes) {
  MathChecker checker = Make();
  RewardResult r = checker.CompareAnswers("\xff\xfe" "5", "5");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.reason, "prediction is not readable math: unexpected '\\xff'");
  r = checker.CompareAnswers(std::string("4\0" "2", 3), "42");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.reason, "prediction is not readable math: unexpected '\\x00'");
  // Stray bytes elsewhere in a completion do not hide its answer.
  constexpr char kGarbage[] = "garbage \xc3\x28 and \0 nul";
  std::string completion = std::string(kGarbage, sizeof(kGarbage) - 1) + " \\boxed{42}";
  r = checker.Check(completion, "42");
  EXPECT_EQ(r.status, RewardStatus::kOk);
  EXPECT_EQ(r.value, 1.0);
  EXPECT_EQ(checker.Check(std::string(1000, '\0'), "42").status, RewardStatus::kNoAnswer);
}

TEST(HostileInputTest, ConcurrentChecksAgree) {
  MathChecker checker = Make();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        if (checker.CompareAnswers("x^2-1", "(x-1)(x+1)").value != 1.0) ++wrong;
        if (checker.CompareAnswers("(1+i)^2", "2i").value != 1.0) ++wrong;
        if (checker.CompareAnswers("x+1", "x+2").value != 0.0) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace grpo::reward
