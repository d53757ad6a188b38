#include <flux/threads.h>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>

namespace flux {

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(begin, end);
    return;
  }
  std::atomic_flag failed = ATOMIC_FLAG_INIT;
  std::exception_ptr error;
  // No num_threads clause: libgomp rebuilds its pool when the count changes between
  // regions. Threads beyond the chunks do nothing.
#pragma omp parallel
  {
    const int64_t chunks = std::min<int64_t>(omp_get_num_threads(), (n + grain - 1) / grain);
    const int64_t size = (n + chunks - 1) / chunks, from = begin + omp_get_thread_num() * size;
    if (from < end) {
      try {
        f(from, std::min(end, from + size));
      } catch (...) {
        if (!failed.test_and_set()) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace flux
