// Plain-loop versions of grpo/objective.h, one scalar at a time in double,
// written from the formulas and nothing else. Tests check the tensor versions
// against them; nothing in training calls them.
#ifndef GRPO_GRPO_OBJECTIVE_REFERENCE_H_
#define GRPO_GRPO_OBJECTIVE_REFERENCE_H_

#include <vector>

#include "grpo/objective.h"

namespace grpo::train::reference {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

// rewards[b][g] -> advantages[b][g] (ComputeAdvantages).
Matrix Advantages(const Matrix& rewards, const AdvantageOptions& options);

// One token's KL estimate (KlPenalty), without clamping.
double Kl(double logp, double ref_logp, KlEstimator estimator);

// One token's loss (ComputeTokenTerms().loss); ref_logp is ignored when beta == 0.
double TokenLoss(double logp, double old_logp, double ref_logp, double advantage,
                 const PolicyLossOptions& options);

// Token losses and 0/1 mask [N][T], with the step's counts (AggregateLoss).
double Aggregate(const Matrix& token_loss, const Matrix& mask, const StepCounts& step,
                 const PolicyLossOptions& options);

}  // namespace grpo::train::reference

#endif  // GRPO_GRPO_OBJECTIVE_REFERENCE_H_
