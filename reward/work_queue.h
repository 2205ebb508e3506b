// A fixed pool of worker threads fed by a bounded FIFO queue. The reward
// server scores on it so that gRPC's own threads only validate and enqueue;
// a full queue is refused at once (the caller answers RESOURCE_EXHAUSTED),
// never waited on.
#ifndef GRPO_REWARD_WORK_QUEUE_H_
#define GRPO_REWARD_WORK_QUEUE_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace grpo::reward {

class WorkQueue {
 public:
  // threads >= 1; capacity >= 1 is the most tasks queued and not yet started.
  WorkQueue(int threads, size_t capacity);
  // Shutdown(), then joins.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues every task or none: false when they do not all fit, or after
  // Shutdown(). Tasks must not throw.
  bool TrySubmit(std::vector<std::function<void()>>* tasks);
  bool TrySubmit(std::function<void()> task);

  // Stops taking tasks; the queued ones still run. Returns once all are done.
  void Shutdown();

  size_t queued() const;
  size_t capacity() const { return capacity_; }
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace grpo::reward

#endif  // GRPO_REWARD_WORK_QUEUE_H_
