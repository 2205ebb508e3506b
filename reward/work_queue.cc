#include "reward/work_queue.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <utility>

namespace grpo::reward {

namespace {

struct Worker {
  std::thread thread;
  std::mutex mu;  // guards the watch; taken per watched item, uncontended
  WorkQueue::Clock::time_point deadline = WorkQueue::Clock::time_point::max();
  std::function<void()> on_overdue;
  bool fired = false;    // guarded by mu: on_overdue was taken by the watchdog
  bool retired = false;  // guarded by State::mu
  bool exited = false;   // guarded by State::mu
};

thread_local Worker* tls_worker = nullptr;

}  // namespace

// Shared with every worker thread, so that a retired worker still stuck in a
// task when the queue is destroyed never touches freed memory.
struct WorkQueue::State {
  explicit State(const WorkQueueOptions& o) : options(o) {}

  const WorkQueueOptions options;
  mutable std::mutex mu;
  std::condition_variable tasks_cv;  // a task, or stopping
  std::condition_variable state_cv;  // a worker exited, or the watchdog must stop
  struct Task {
    std::function<void()> run;
    size_t units;
  };
  std::deque<Task> tasks;
  size_t queued_units = 0;
  std::list<std::shared_ptr<Worker>> workers;  // live and retired
  std::thread watchdog;
  bool stopping = false;
  bool watchdog_stop = false;
  int64_t abandoned = 0;
  int retired_alive = 0;

  // Under mu.
  void StartWorker(const std::shared_ptr<State>& self) {
    auto worker = std::make_shared<Worker>();
    workers.push_back(worker);
    worker->thread = std::thread([self, worker] { Loop(self, worker); });
  }

  static void Loop(const std::shared_ptr<State>& s, const std::shared_ptr<Worker>& w) {
    tls_worker = w.get();
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(s->mu);
        s->tasks_cv.wait(lock, [&] { return s->stopping || !s->tasks.empty() || w->retired; });
        if (w->retired || s->tasks.empty()) break;
        task = std::move(s->tasks.front().run);
        s->queued_units -= s->tasks.front().units;
        s->tasks.pop_front();
      }
      task();
      Unwatch();
      std::lock_guard<std::mutex> lock(s->mu);
      if (w->retired) break;
    }
    {
      std::lock_guard<std::mutex> lock(s->mu);
      w->exited = true;
      if (w->retired) --s->retired_alive;
    }
    s->state_cv.notify_all();
  }

  static void Watchdog(const std::shared_ptr<State>& s) {
    std::unique_lock<std::mutex> lock(s->mu);
    for (;;) {
      s->state_cv.wait_for(lock, s->options.watchdog_period, [&] { return s->watchdog_stop; });
      if (s->watchdog_stop) return;
      const Clock::time_point now = Clock::now();
      std::vector<std::function<void()>> overdue;
      for (auto it = s->workers.begin(); it != s->workers.end();) {
        Worker& w = **it;
        if (w.exited) {  // reap
          if (w.thread.joinable()) w.thread.join();
          it = s->workers.erase(it);
          continue;
        }
        ++it;
        if (w.retired) continue;
        std::lock_guard<std::mutex> wl(w.mu);
        if (!w.on_overdue || w.deadline == Clock::time_point::max() ||
            now < w.deadline + s->options.overdue_grace) {
          continue;
        }
        overdue.push_back(std::move(w.on_overdue));
        w.on_overdue = nullptr;
        w.fired = true;
        w.retired = true;
        ++s->abandoned;
        ++s->retired_alive;
        if (s->retired_alive <= s->options.max_abandoned) s->StartWorker(s);
      }
      if (overdue.empty()) continue;
      lock.unlock();
      for (auto& answer : overdue) answer();
      lock.lock();
    }
  }
};

WorkQueue::WorkQueue(int threads, size_t capacity)
    : WorkQueue(WorkQueueOptions{threads, capacity}) {}

WorkQueue::WorkQueue(const WorkQueueOptions& options) {
  WorkQueueOptions o = options;
  o.threads = std::max(1, o.threads);
  o.capacity = std::max<size_t>(1, o.capacity);
  state_ = std::make_shared<State>(o);
  std::lock_guard<std::mutex> lock(state_->mu);
  for (int i = 0; i < o.threads; ++i) state_->StartWorker(state_);
  std::shared_ptr<State> s = state_;
  state_->watchdog = std::thread([s] { State::Watchdog(s); });
}

WorkQueue::~WorkQueue() { Shutdown(); }

bool WorkQueue::TrySubmit(std::vector<std::function<void()>>* tasks, size_t units) {
  State& s = *state_;
  if (tasks->empty()) return true;
  units = std::max(units, tasks->size());
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping || s.queued_units + units > s.options.capacity) return false;
    const size_t each = units / tasks->size();
    for (size_t i = 0; i < tasks->size(); ++i) {
      s.tasks.push_back({std::move((*tasks)[i]), i == 0 ? units - each * (tasks->size() - 1) : each});
    }
    s.queued_units += units;
  }
  if (tasks->size() == 1) {
    s.tasks_cv.notify_one();
  } else {
    s.tasks_cv.notify_all();
  }
  tasks->clear();
  return true;
}

bool WorkQueue::TrySubmit(std::function<void()> task) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping || s.queued_units >= s.options.capacity) return false;
    s.tasks.push_back({std::move(task), 1});
    ++s.queued_units;
  }
  s.tasks_cv.notify_one();
  return true;
}

bool WorkQueue::SubmitAdmitted(std::function<void()> task) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return false;
    s.tasks.push_back({std::move(task), 0});
  }
  s.tasks_cv.notify_one();
  return true;
}

void WorkQueue::Watch(Clock::time_point deadline, std::function<void()> on_overdue) {
  Worker* w = tls_worker;
  if (w == nullptr) return;
  std::lock_guard<std::mutex> lock(w->mu);
  if (w->fired) return;  // retired: whatever it does now is no longer watched
  w->deadline = deadline;
  w->on_overdue = std::move(on_overdue);
}

bool WorkQueue::Unwatch() {
  Worker* w = tls_worker;
  if (w == nullptr) return true;
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(w->mu);
  dropped = std::move(w->on_overdue);
  w->on_overdue = nullptr;
  w->deadline = Clock::time_point::max();
  return !w->fired;
}

void WorkQueue::Shutdown() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.watchdog_stop) return;
  s.stopping = true;
  s.tasks_cv.notify_all();
  // The watchdog keeps running: a worker hung in the last tasks is retired
  // at its deadline, and then no longer waited for.
  s.state_cv.wait(lock, [&] {
    return std::all_of(s.workers.begin(), s.workers.end(),
                       [](const std::shared_ptr<Worker>& w) { return w->exited || w->retired; });
  });
  s.watchdog_stop = true;
  s.state_cv.notify_all();
  std::thread watchdog = std::move(s.watchdog);
  std::list<std::shared_ptr<Worker>> workers = s.workers;
  lock.unlock();
  watchdog.join();
  for (const auto& w : workers) {
    if (!w->thread.joinable()) continue;
    lock.lock();
    const bool exited = w->exited;
    lock.unlock();
    if (exited) {
      w->thread.join();
    } else {
      w->thread.detach();  // retired and still stuck; it holds the State
    }
  }
}

size_t WorkQueue::queued() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->queued_units;
}

size_t WorkQueue::capacity() const { return state_->options.capacity; }

int WorkQueue::threads() const { return state_->options.threads; }

int64_t WorkQueue::abandoned() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->abandoned;
}

}  // namespace grpo::reward
