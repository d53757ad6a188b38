// threads.h — loops on the process's OpenMP threads.
#pragma once
#include <cstdint>
#include <functional>

namespace flux {

/// parallel_for(begin, end, grain, f): f(b, e) over [begin, end) in at most one chunk per
/// thread of the calling thread's OpenMP count, each at least `grain` long; serial inside a
/// parallel region. It is at::parallel_for's contract, which runs serially in any file not
/// itself compiled with -fopenmp (its OpenMP path is inline in the header); this one is
/// compiled with it. The first exception thrown in `f` is rethrown.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

}  // namespace flux
