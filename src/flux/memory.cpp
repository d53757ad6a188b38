#include <flux/memory.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace flux {

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  // No mmap'd chunks, and no trimming of the heap top: freed blocks stay for reuse.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

}  // namespace flux
