// Paged KV cache kernels: the device side of src/kv/pool.rs's layout.
//
// Layout (the same as the CPU pool's): a layer's K (and V) cache is `slots × kv_heads × D`
// values, slot = page × page_tokens + offset. A sequence's i-th slot is on page
// block_table[i / page_tokens] at offset i % page_tokens; its new tokens are always its last
// slots (an eviction fills holes with the sequence's tail, src/kv/pages.rs).
//
// Three jobs, each in f32, f16 and bf16:
//   kv_write_*       write new K or V rows into the slots the page table gave them;
//   kv_copy_slots_*  an eviction's compaction: move the tail slots into the holes the span's
//                    partial edge pages left, every layer in one launch;
//   paged_attention_part_* / paged_attention_reduce_*
//                    attention of new queries through the page table, split into partitions of
//                    `part_keys` keys (one block per query row, KV head and partition; the host
//                    picks small partitions when there are few rows, so one decoding sequence
//                    still fills the GPU), then merged per (row, head) in partition order.
// Grouped-query attention: a block serves every query head of its KV head, so each K and V row
// is read once per query, not once per query head.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

constexpr int WARPS = 4;       // warps per attention block
constexpr int MAX_GROUP = 8;   // query heads per KV head the kernel serves

template <typename T>
__device__ void kv_write(T* cache, size_t cache_offset, const T* src, const uint32_t* slots,
                         uint32_t n, uint32_t row) {
  const size_t total = (size_t)n * row;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / row, c = i % row;
    cache[cache_offset + (size_t)slots[r] * row + c] = src[i];
  }
}

// `moves` holds n (from, to) pairs; no slot is both a source and a destination (checked on the
// host), so every copy may run at once.
template <typename T>
__device__ void kv_copy_slots(T* cache, const uint32_t* moves, uint32_t n, uint32_t row,
                              uint32_t layers, size_t layer_stride) {
  const size_t per_layer = (size_t)n * row;
  const size_t total = per_layer * layers;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t layer = i / per_layer, rem = i % per_layer;
    const size_t m = rem / row, c = rem % row;
    const size_t base = layer * layer_stride;
    cache[base + (size_t)moves[2 * m + 1] * row + c] = cache[base + (size_t)moves[2 * m] * row + c];
  }
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Grid (rows, kv_heads, parts), block 32 × WARPS. Writes each (row, head, part)'s running max,
// sum of exponentials and unnormalised weighted values; an empty partition writes max −inf,
// sum 0, values 0, so the merge reads nothing unwritten.
template <typename T, int D>
__device__ void paged_attention_part(const T* __restrict__ q, const T* __restrict__ k_cache,
                                     const T* __restrict__ v_cache, size_t cache_offset,
                                     const uint32_t* __restrict__ block_tables, uint32_t max_pages,
                                     const uint32_t* __restrict__ seq_lens,
                                     const uint32_t* __restrict__ q_starts,
                                     const uint32_t* __restrict__ row_seq, uint32_t heads,
                                     uint32_t kv_heads, uint32_t page_tokens, float scale,
                                     uint32_t part_keys, uint32_t parts,
                                     float* __restrict__ part_max,
                                     float* __restrict__ part_sum, float* __restrict__ part_acc) {
  constexpr int E = D / 32;  // values of a head each lane holds
  __shared__ float sm_max[WARPS][MAX_GROUP];
  __shared__ float sm_sum[WARPS][MAX_GROUP];
  __shared__ float sm_acc[WARPS][MAX_GROUP][D];

  const uint32_t row = blockIdx.x, kvh = blockIdx.y, part = blockIdx.z;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const uint32_t seq = row_seq[row];
  const uint32_t t = q_starts[seq + 1] - q_starts[seq];
  const uint32_t j = row - q_starts[seq];
  // Causal: the j-th new token sees every older slot and the new ones up to itself.
  const uint32_t visible = seq_lens[seq] - t + j + 1;
  const uint32_t start = part * part_keys;
  const uint32_t end = min(start + part_keys, visible);
  const int group = (int)(heads / kv_heads);
  const T* kc = k_cache + cache_offset;
  const T* vc = v_cache + cache_offset;
  const uint32_t* table = block_tables + (size_t)seq * max_pages;

  float qv[MAX_GROUP][E];
  float mx[MAX_GROUP], sum[MAX_GROUP], acc[MAX_GROUP][E];
#pragma unroll
  for (int g = 0; g < MAX_GROUP; ++g) {
    mx[g] = -INFINITY;
    sum[g] = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      acc[g][e] = 0.f;
      qv[g][e] = 0.f;
      if (g < group) {
        const size_t h = (size_t)kvh * group + g;
        qv[g][e] = to_f(q[((size_t)row * heads + h) * D + lane * E + e]) * scale;
      }
    }
  }

  for (uint32_t key = start + warp; key < end; key += WARPS) {
    const size_t slot = (size_t)table[key / page_tokens] * page_tokens + key % page_tokens;
    const size_t at = (slot * kv_heads + kvh) * D + lane * E;
    float kf[E], vf[E];
#pragma unroll
    for (int e = 0; e < E; ++e) {
      kf[e] = to_f(kc[at + e]);
      vf[e] = to_f(vc[at + e]);
    }
#pragma unroll
    for (int g = 0; g < MAX_GROUP; ++g) {
      if (g >= group) break;
      float s = 0.f;
#pragma unroll
      for (int e = 0; e < E; ++e) s += qv[g][e] * kf[e];
      s = warp_sum(s);
      const float m_new = fmaxf(mx[g], s);
      const float keep = __expf(mx[g] - m_new);
      const float p = __expf(s - m_new);
      sum[g] = sum[g] * keep + p;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[g][e] = acc[g][e] * keep + p * vf[e];
      mx[g] = m_new;
    }
  }

#pragma unroll
  for (int g = 0; g < MAX_GROUP; ++g) {
    if (g >= group) break;
    if (lane == 0) {
      sm_max[warp][g] = mx[g];
      sm_sum[warp][g] = sum[g];
    }
#pragma unroll
    for (int e = 0; e < E; ++e) sm_acc[warp][g][lane * E + e] = acc[g][e];
  }
  __syncthreads();

  for (int i = threadIdx.x; i < group * D; i += 32 * WARPS) {
    const int g = i / D, c = i % D;
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < WARPS; ++w) m = fmaxf(m, sm_max[w][g]);
    float l = 0.f, a = 0.f;
    if (m != -INFINITY) {
#pragma unroll
      for (int w = 0; w < WARPS; ++w) {
        const float f = __expf(sm_max[w][g] - m);
        l += sm_sum[w][g] * f;
        a += sm_acc[w][g][c] * f;
      }
    }
    const size_t h = (size_t)kvh * group + g;
    const size_t item = ((size_t)row * heads + h) * parts + part;
    part_acc[item * D + c] = a;
    if (c == 0) {
      part_max[item] = m;
      part_sum[item] = l;
    }
  }
}

// Grid (rows × heads), block D: merges one (row, head)'s partitions in order and normalises.
template <typename T, int D>
__device__ void paged_attention_reduce(const float* __restrict__ part_max,
                                       const float* __restrict__ part_sum,
                                       const float* __restrict__ part_acc, uint32_t parts,
                                       T* __restrict__ out) {
  const size_t item = blockIdx.x;
  const int c = threadIdx.x;
  float m = -INFINITY;
  for (uint32_t p = 0; p < parts; ++p) m = fmaxf(m, part_max[item * parts + p]);
  float l = 0.f, a = 0.f;
  for (uint32_t p = 0; p < parts; ++p) {
    const float s = part_sum[item * parts + p];
    if (s == 0.f) continue;
    const float f = __expf(part_max[item * parts + p] - m);
    l += s * f;
    a += part_acc[(item * parts + p) * D + c] * f;
  }
  out[item * D + c] = from_f<T>(a / l);
}

}  // namespace

#define KV_ENTRIES(NAME, T)                                                                     \
  extern "C" __global__ void kv_write_##NAME(T* cache, size_t cache_offset, const T* src,       \
                                             const uint32_t* slots, uint32_t n, uint32_t row) { \
    kv_write<T>(cache, cache_offset, src, slots, n, row);                                       \
  }                                                                                             \
  extern "C" __global__ void kv_copy_slots_##NAME(T* cache, const uint32_t* moves, uint32_t n,  \
                                                  uint32_t row, uint32_t layers,               \
                                                  size_t layer_stride) {                        \
    kv_copy_slots<T>(cache, moves, n, row, layers, layer_stride);                               \
  }

#define ATTENTION_ENTRIES(NAME, T, D)                                                            \
  extern "C" __global__ void __launch_bounds__(32 * WARPS) paged_attention_part_##NAME##_##D(   \
      const T* q, const T* k_cache, const T* v_cache, size_t cache_offset,                       \
      const uint32_t* block_tables, uint32_t max_pages, const uint32_t* seq_lens,               \
      const uint32_t* q_starts, const uint32_t* row_seq, uint32_t heads, uint32_t kv_heads,     \
      uint32_t page_tokens, float scale, uint32_t part_keys, uint32_t parts, float* part_max,   \
      float* part_sum, float* part_acc) {                                                        \
    paged_attention_part<T, D>(q, k_cache, v_cache, cache_offset, block_tables, max_pages,      \
                               seq_lens, q_starts, row_seq, heads, kv_heads, page_tokens, scale, \
                               part_keys, parts, part_max, part_sum, part_acc);                 \
  }                                                                                              \
  extern "C" __global__ void paged_attention_reduce_##NAME##_##D(                                \
      const float* part_max, const float* part_sum, const float* part_acc, uint32_t parts,      \
      T* out) {                                                                                  \
    paged_attention_reduce<T, D>(part_max, part_sum, part_acc, parts, out);                     \
  }

KV_ENTRIES(f32, float)
KV_ENTRIES(f16, __half)
KV_ENTRIES(bf16, __nv_bfloat16)

ATTENTION_ENTRIES(f32, float, 32)
ATTENTION_ENTRIES(f32, float, 64)
ATTENTION_ENTRIES(f32, float, 128)
ATTENTION_ENTRIES(f16, __half, 32)
ATTENTION_ENTRIES(f16, __half, 64)
ATTENTION_ENTRIES(f16, __half, 128)
ATTENTION_ENTRIES(bf16, __nv_bfloat16, 32)
ATTENTION_ENTRIES(bf16, __nv_bfloat16, 64)
ATTENTION_ENTRIES(bf16, __nv_bfloat16, 128)
