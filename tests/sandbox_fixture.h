// A sandbox shared by every test of one suite (creating one per test would
// spend most of the suite in set-up). Only a missing privilege may skip the
// suite, and the skip message says which one (Create()'s explanation).
#ifndef GRPO_TESTS_SANDBOX_FIXTURE_H_
#define GRPO_TESTS_SANDBOX_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "reward/sandbox.h"

namespace grpo::reward::testing {

// MakeOptions gives the suite's SandboxOptions. Derived fixtures that override
// SetUp() call SharedSandboxTest::SetUp() first and return if IsSkipped().
template <SandboxOptions (*MakeOptions)()>
class SharedSandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto created = Sandbox::Create(MakeOptions());
    if (created.ok()) {
      sandbox_ = std::move(*created);
    } else {
      create_error_ = created.status().ToString();
    }
  }
  static void TearDownTestSuite() { sandbox_.reset(); }
  void SetUp() override {
    if (sandbox_ == nullptr) {
      ASSERT_NE(create_error_.find("FAILED_PRECONDITION"), std::string::npos) << create_error_;
      GTEST_SKIP() << "no sandbox on this machine: " << create_error_;
    }
  }

  static inline std::unique_ptr<Sandbox> sandbox_;
  static inline std::string create_error_;
};

}  // namespace grpo::reward::testing

#endif  // GRPO_TESTS_SANDBOX_FIXTURE_H_
