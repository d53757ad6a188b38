// memory.h — how the process allocates tensor memory on the CPU.
#pragma once

namespace flux {

/// reuse_freed_memory(): keep freed tensor memory in the process for the next tensor.
/// glibc's malloc serves every block above 32 MB by mmap and returns it to the kernel on
/// free, so each large activation of a forward pass is page-faulted in afresh; on a
/// virtual machine that can cost several times the arithmetic (resnet50 at batch 16:
/// 2.2 img/s before, 15.5 after, on one core here). This turns mmap off for malloc and
/// never trims the heap. Process-wide, so applications opt in: the `metalhead` tool and
/// the benchmarks do. Returns false where the C library does not support it.
bool reuse_freed_memory();

}  // namespace flux
