// Runs CUDA kernels on the CPU, for checking their logic where no GPU is. Every thread of a
// block is a fiber (ucontext) on one OS thread, switched cooperatively: __syncthreads is a block
// barrier and a warp shuffle exchanges through a per-warp slot array between two warp
// barriers, where a fiber yields until its peers arrive. Blocks run one after another, so
// __shared__ variables are function statics. __half and __nv_bfloat16 round to nearest even as
// the device does; arithmetic is the host's (expf for __expf), so results match a GPU to
// rounding, not bit for bit.
//
// Use: g++ -std=c++20 -I kernels/emulation check.cc (which includes ../paged_kv.cu).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <functional>
#include <ucontext.h>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)
#define __shared__ static

using std::min;
using std::max;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

struct __half {
  _Float16 v;
};
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half_rn(float f) { return __half{(_Float16)f}; }

struct __nv_bfloat16 {
  uint16_t bits;
};
inline float __bfloat162float(__nv_bfloat16 b) {
  uint32_t u = (uint32_t)b.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return __nv_bfloat16{0x7fc0};
  u += 0x7fffu + ((u >> 16) & 1u);
  return __nv_bfloat16{(uint16_t)(u >> 16)};
}

inline float __expf(float x) { return std::exp(x); }

namespace emu {
struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack = std::vector<char>(256 * 1024);
  unsigned thread = 0;
  bool done = false;
};
inline ucontext_t scheduler;
inline std::vector<std::unique_ptr<Fiber>> fibers;
inline size_t current = 0;
inline std::function<void()> body;

inline void yield() { swapcontext(&fibers[current]->ctx, &scheduler); }

inline void entry() {
  body();
  fibers[current]->done = true;
}

// A reusable barrier for `expected` fibers.
struct Barrier {
  unsigned expected, count = 0, generation = 0;
  explicit Barrier(unsigned n) : expected(n) {}
  void wait() {
    const unsigned g = generation;
    if (++count == expected) {
      count = 0;
      ++generation;
      return;
    }
    while (generation == g) yield();
  }
};

struct Warp {
  Barrier bar{32};
  float slot[32];
};
inline std::vector<std::unique_ptr<Warp>> warps;
inline std::unique_ptr<Barrier> block_barrier;

template <class Kernel>
void launch(dim3 grid, dim3 block, Kernel kernel) {
  gridDim = grid;
  blockDim = block;
  body = kernel;
  const unsigned threads = block.x * block.y * block.z;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = dim3{x, y, z};
        block_barrier = std::make_unique<Barrier>(threads);
        warps.clear();
        for (unsigned w = 0; w < (threads + 31) / 32; ++w) warps.push_back(std::make_unique<Warp>());
        fibers.clear();
        for (unsigned t = 0; t < threads; ++t) {
          auto f = std::make_unique<Fiber>();
          f->thread = t;
          getcontext(&f->ctx);
          f->ctx.uc_stack.ss_sp = f->stack.data();
          f->ctx.uc_stack.ss_size = f->stack.size();
          f->ctx.uc_link = &scheduler;
          makecontext(&f->ctx, entry, 0);
          fibers.push_back(std::move(f));
        }
        for (bool running = true; running;) {
          running = false;
          for (current = 0; current < fibers.size(); ++current) {
            if (fibers[current]->done) continue;
            threadIdx = dim3{fibers[current]->thread, 0, 0};
            swapcontext(&scheduler, &fibers[current]->ctx);
            running = true;
          }
        }
      }
}
}  // namespace emu

inline void __syncthreads() { emu::block_barrier->wait(); }

inline float __shfl_xor_sync(unsigned, float x, int mask) {
  const unsigned me = emu::fibers[emu::current]->thread;
  const unsigned lane = me % 32;
  auto& w = *emu::warps[me / 32];
  w.slot[lane] = x;
  w.bar.wait();
  const float y = w.slot[lane ^ (unsigned)mask];
  w.bar.wait();
  return y;
}
