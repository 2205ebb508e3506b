// A pool of worker threads fed by a bounded FIFO queue. The reward server
// scores on it so that gRPC's own threads only validate and enqueue; a full
// queue is refused at once (the caller answers RESOURCE_EXHAUSTED), never
// waited on.
//
// Hung tasks: a task may put a deadline on what its worker is doing now
// (Watch). A watchdog thread checks the running deadlines every
// `watchdog_period`; past deadline + `overdue_grace` it calls the task's
// on_overdue callback (which answers for the task), retires the worker (it
// exits once the stuck call returns, if ever) and starts a replacement, so a
// component stuck in an endless loop costs one thread, not a slot of the
// pool. At most `max_abandoned` retired workers may be alive at once; past
// that, overdue tasks are still answered but no replacement is started.
#ifndef GRPO_REWARD_WORK_QUEUE_H_
#define GRPO_REWARD_WORK_QUEUE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace grpo::reward {

struct WorkQueueOptions {
  int threads = 1;        // >= 1
  size_t capacity = 1;    // >= 1: the most units (samples) queued and not yet started
  std::chrono::milliseconds overdue_grace{100};
  std::chrono::milliseconds watchdog_period{10};
  int max_abandoned = 64;
};

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WorkQueue(const WorkQueueOptions& options);
  WorkQueue(int threads, size_t capacity);
  // Shutdown().
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // --- submitting ---

  // Queues every task or none: false when they do not all fit, or after
  // Shutdown(). Tasks must not throw. The capacity counts units of work
  // (samples): a task is one unit, or, for a group, the group is `units`
  // (several samples drained by a few tasks), released as its tasks start.
  bool TrySubmit(std::vector<std::function<void()>>* tasks, size_t units = 0);
  bool TrySubmit(std::function<void()> task);
  // Queues past the capacity (for the rest of work already admitted, such as
  // a batch whose worker was retired); false only after Shutdown().
  bool SubmitAdmitted(std::function<void()> task);

  // --- hung tasks (called from inside a task) ---

  // The calling worker's current work is overdue past `deadline` plus the
  // grace; on_overdue then runs once, on the watchdog thread, and must answer
  // for that work itself (the task, when it returns, must then not). A later
  // Watch replaces the earlier one. No-op on a thread that is not a worker.
  static void Watch(Clock::time_point deadline, std::function<void()> on_overdue);
  // Clears the calling worker's watch; false when it had already fired (the
  // work was answered as overdue and this worker is retired).
  static bool Unwatch();

  // --- lifetime ---

  // Stops taking tasks; the queued ones still run. Returns once every worker
  // that is not retired has finished (a hung one is retired by the watchdog
  // at its deadline); retired workers still stuck are detached.
  void Shutdown();

  size_t queued() const;  // units queued, not yet started
  size_t capacity() const;
  int threads() const;
  int64_t abandoned() const;  // workers retired as hung so far

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_WORK_QUEUE_H_
