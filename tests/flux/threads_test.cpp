#include <flux/threads.h>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

// The calling thread's OpenMP count, for one test (the suites run with OMP_NUM_THREADS=1).
struct Threads {
  int before = at::get_num_threads();
  explicit Threads(int n) { at::set_num_threads(n); }
  ~Threads() { at::set_num_threads(before); }
};

TEST(ParallelFor, CoversEachIndexOnceOnSeveralThreads) {
  Threads two(2);
  std::vector<int> seen(1000, 0);
  std::set<std::thread::id> workers;
  std::mutex m;
  flux::parallel_for(0, 1000, 10, [&](int64_t b, int64_t e) {
    std::lock_guard lock(m);
    workers.insert(std::this_thread::get_id());
    for (int64_t i = b; i < e; ++i) ++seen[i];
  });
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], 1) << "index " << i;
  // at::parallel_for in a file built without -fopenmp would run this on one thread.
  EXPECT_EQ(workers.size(), 2u);
}

TEST(ParallelFor, ShortRangesRunOnTheCallingThread) {
  Threads two(2);
  std::set<std::thread::id> workers;
  int64_t from = -1, to = -1;
  flux::parallel_for(3, 10, 100, [&](int64_t b, int64_t e) {
    workers.insert(std::this_thread::get_id());
    from = b, to = e;
  });
  EXPECT_EQ(workers, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(from, 3);
  EXPECT_EQ(to, 10);
  int calls = 0;
  flux::parallel_for(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ParallelFor, RethrowsTheLoopsException) {
  Threads two(2);
  EXPECT_THROW(flux::parallel_for(0, 100, 1, [](int64_t b, int64_t) {
                 if (b > 0) throw std::invalid_argument("second chunk");
               }),
               std::invalid_argument);
}

}  // namespace
