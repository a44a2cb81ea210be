// Host emulation of the CUDA thread model, just enough to run local_relation.cu on a CPU.
//
// Included by g++ (-std=c++20) *before* the .cu file; never seen by NVRTC. It maps:
//   __global__, __device__         -> nothing (ordinary C++ functions)
//   __forceinline__                -> inline
//   __shared__                     -> static: blocks run one after another, so one static array
//                                     is the block's shared memory (each template instance gets
//                                     its own)
//   threadIdx, blockIdx            -> thread_local globals set before the kernel body runs
//   blockDim, gridDim              -> thread_local globals too (the same value in every thread)
//   __syncthreads()                -> a std::barrier shared by the threads of the current block
//   atomicAdd(p, v)                -> a read-add-write under a global mutex
// A launch runs each block with one std::thread per CUDA thread (all of them live at once, so
// __syncthreads cannot deadlock), joins them, then starts the next block. It is slow (thousands
// of threads per launch) and exists for tests: same source, same index arithmetic, same
// synchronisation as on a GPU. Not emulated: warps, memory coalescing, races between blocks.
//
// Kernels are exported with EMU_EXPORT(symbol, kernel) as
//   extern "C" void symbol(gx, gy, gz, bx, by, bz, void** args)
// where args[i] points to the i-th kernel argument, the convention of cuLaunchKernel's
// kernelParams; emulation.py builds that array with ctypes.
#pragma once

#include <barrier>
#include <cmath>
#include <cstddef>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{};
inline thread_local dim3 gridDim{};
inline thread_local std::barrier<>* emu_block_barrier = nullptr;

inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

inline std::mutex emu_atomic_mutex;
// One launch at a time (ctypes releases the GIL): the static "__shared__" arrays are per kernel,
// not per launch, and a GPU stream would also run the launches in order.
inline std::mutex emu_launch_mutex;

template <typename T>
T atomicAdd(T* address, T val) {
  std::lock_guard<std::mutex> lock(emu_atomic_mutex);
  T old = *address;
  *address = old + val;
  return old;
}

// Call kernel(*args[0], *args[1], ...) with each pointer cast to the parameter's type.
template <typename... P, std::size_t... I>
void emu_call(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cvref_t<P>*>(args[I])...);
}

template <typename... P>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, void** args) {
  std::lock_guard<std::mutex> serial(emu_launch_mutex);
  const unsigned nthreads = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> barrier(nthreads);
        std::vector<std::thread> threads;
        threads.reserve(nthreads);
        for (unsigned tz = 0; tz < block.z; ++tz)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx)
              threads.emplace_back([=, &barrier] {
                threadIdx = uint3{tx, ty, tz};
                blockIdx = uint3{bx, by, bz};
                blockDim = block;
                gridDim = grid;
                emu_block_barrier = &barrier;
                emu_call(kernel, args, std::index_sequence_for<P...>{});
              });
        for (auto& t : threads) t.join();
      }
}

#define EMU_EXPORT(symbol, ...)                                                            \
  extern "C" void symbol(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,  \
                         unsigned bz, void** args) {                                       \
    emu_launch(__VA_ARGS__, dim3{gx, gy, gz}, dim3{bx, by, bz}, args);                      \
  }
