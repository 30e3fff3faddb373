// kernels/paged_kv.cu on the CPU (cuda_host.h), against a double-precision reference over the
// same layout: KV writes and slot copies exactly, paged attention by ||out - ref|| / ||ref||
// for f32, f16 and bf16, head dims 32/64/128, GQA groups 1/4/8, shuffled page tables, a
// 700-key sequence over three partitions, a 5-token prefill chunk and a 1-token sequence in one
// launch. Prints one line per case; exits 1 on any failure. tests/kernel_emulation.rs runs it.
#include "cuda_host.h"
#include "../paged_kv.cu"

#include <cstdio>
#include <random>

namespace {

template <typename T> float to_float(T x);
template <> float to_float(float x) { return x; }
template <> float to_float(__half x) { return __half2float(x); }
template <> float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> T from_float(float x);
template <> float from_float(float x) { return x; }
template <> __half from_float(float x) { return __float2half_rn(x); }
template <> __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }

template <typename T, int D> struct Entry;
#define ENTRY(T, NAME, D)                                                   \
  template <> struct Entry<T, D> {                                          \
    static constexpr auto part = paged_attention_part_##NAME##_##D;         \
    static constexpr auto reduce = paged_attention_reduce_##NAME##_##D;     \
    static constexpr auto write = kv_write_##NAME;                          \
    static constexpr auto copy = kv_copy_slots_##NAME;                      \
    static constexpr const char* name = #NAME;                              \
  };
ENTRY(float, f32, 32) ENTRY(float, f32, 64) ENTRY(float, f32, 128)
ENTRY(__half, f16, 32) ENTRY(__half, f16, 64) ENTRY(__half, f16, 128)
ENTRY(__nv_bfloat16, bf16, 32) ENTRY(__nv_bfloat16, bf16, 64) ENTRY(__nv_bfloat16, bf16, 128)

std::mt19937 rng(2026);
float uniform() { return std::uniform_real_distribution<float>(-1.f, 1.f)(rng); }

int failures = 0;
void report(const char* what, double value, double bound) {
  const bool ok = std::isfinite(value) && value <= bound;
  failures += !ok;
  std::printf("%-68s %11.3e <= %.1e %s\n", what, value, bound, ok ? "ok" : "FAIL");
}

template <typename T, int D>
void check(int group, uint32_t part_keys, double bound) {
  using E = Entry<T, D>;
  const uint32_t layers = 2, kv_heads = 2, page_tokens = 16, pages = 96, layer = 1;
  const uint32_t heads = kv_heads * group, row = kv_heads * D, slots = pages * page_tokens;
  const size_t span = (size_t)slots * row;
  std::vector<T> k(layers * span), v(layers * span);

  // Writes: every slot of layer 1 in shuffled order; then copies: 40 disjoint moves.
  std::vector<uint32_t> ids(slots);
  for (uint32_t i = 0; i < slots; ++i) ids[i] = i;
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<T> src_k(span), src_v(span);
  for (auto& x : src_k) x = from_float<T>(uniform());
  for (auto& x : src_v) x = from_float<T>(uniform());
  // The kernels stride over the grid, so a few blocks cover any size (and keep the emulation's
  // thread count small).
  const dim3 wgrid{3}, wblock{256};
  emu::launch(wgrid, wblock, [&] { E::write(k.data(), layer * span, src_k.data(), ids.data(), slots, row); });
  emu::launch(wgrid, wblock, [&] { E::write(v.data(), layer * span, src_v.data(), ids.data(), slots, row); });
  size_t wrong = 0;
  for (uint32_t i = 0; i < slots; ++i)
    for (uint32_t c = 0; c < row; ++c)
      wrong += std::memcmp(&k[layer * span + (size_t)ids[i] * row + c], &src_k[(size_t)i * row + c], sizeof(T)) != 0;
  std::vector<uint32_t> moves;
  for (int i = 0; i < 40; ++i) moves.push_back(ids[i]), moves.push_back(ids[100 + i]);
  std::vector<T> before = k;
  emu::launch(wgrid, wblock, [&] { E::copy(k.data(), moves.data(), 40, row, layers, span); });
  for (int m = 0; m < 40; ++m)
    for (uint32_t l = 0; l < layers; ++l)
      wrong += std::memcmp(&k[l * span + (size_t)moves[2 * m + 1] * row], &before[l * span + (size_t)moves[2 * m] * row], row * sizeof(T)) != 0;
  emu::launch(wgrid, wblock, [&] { E::copy(v.data(), moves.data(), 40, row, layers, span); });

  // Attention: three sequences on shuffled pages.
  std::vector<uint32_t> page_ids(pages);
  for (uint32_t i = 0; i < pages; ++i) page_ids[i] = i;
  std::shuffle(page_ids.begin(), page_ids.end(), rng);
  const uint32_t lens[3] = {700, 37, 1}, news[3] = {1, 5, 1};
  const uint32_t max_pages = (700 + page_tokens - 1) / page_tokens;
  std::vector<uint32_t> tables(3 * max_pages, 0), q_starts{0}, row_seq;
  uint32_t next = 0;
  for (uint32_t s = 0; s < 3; ++s) {
    for (uint32_t p = 0; p < (lens[s] + page_tokens - 1) / page_tokens; ++p) tables[s * max_pages + p] = page_ids[next++];
    q_starts.push_back(q_starts.back() + news[s]);
    for (uint32_t j = 0; j < news[s]; ++j) row_seq.push_back(s);
  }
  const uint32_t rows = q_starts.back(), parts = (700 + part_keys - 1) / part_keys;
  std::vector<T> q((size_t)rows * heads * D);
  for (auto& x : q) x = from_float<T>(uniform());
  const float scale = 1.f / std::sqrt((float)D);
  std::vector<float> pm((size_t)rows * heads * parts, NAN), ps(pm.size(), NAN), pa(pm.size() * D, NAN);
  std::vector<T> out((size_t)rows * heads * D, from_float<T>(NAN));
  emu::launch(dim3{rows, kv_heads, parts}, dim3{32 * WARPS}, [&] {
    E::part(q.data(), k.data(), v.data(), layer * span, tables.data(), max_pages, lens, q_starts.data(),
            row_seq.data(), heads, kv_heads, page_tokens, scale, part_keys, parts, pm.data(), ps.data(),
            pa.data());
  });
  emu::launch(dim3{rows * heads}, dim3{(unsigned)D}, [&] { E::reduce(pm.data(), ps.data(), pa.data(), parts, out.data()); });

  double num = 0, den = 0;
  for (uint32_t r = 0; r < rows; ++r) {
    const uint32_t s = row_seq[r], t = news[s], j = r - q_starts[s], visible = lens[s] - t + j + 1;
    for (uint32_t h = 0; h < heads; ++h) {
      const uint32_t kvh = h / group;
      std::vector<double> score(visible);
      double mx = -INFINITY;
      for (uint32_t i = 0; i < visible; ++i) {
        const size_t slot = (size_t)tables[s * max_pages + i / page_tokens] * page_tokens + i % page_tokens;
        double dot = 0;
        for (int c = 0; c < D; ++c)
          dot += (double)to_float(q[((size_t)r * heads + h) * D + c]) * to_float(k[layer * span + (slot * kv_heads + kvh) * D + c]);
        score[i] = dot * scale;
        mx = std::max(mx, score[i]);
      }
      double z = 0;
      for (auto& x : score) z += std::exp(x - mx);
      for (int c = 0; c < D; ++c) {
        double want = 0;
        for (uint32_t i = 0; i < visible; ++i) {
          const size_t slot = (size_t)tables[s * max_pages + i / page_tokens] * page_tokens + i % page_tokens;
          want += std::exp(score[i] - mx) / z * to_float(v[layer * span + (slot * kv_heads + kvh) * D + c]);
        }
        const double got = to_float(out[((size_t)r * heads + h) * D + c]);
        num += (got - want) * (got - want);
        den += want * want;
      }
    }
  }
  char what[128];
  std::snprintf(what, sizeof what, "kv write + slot copy %s d%d: values wrong", E::name, D);
  if (group == 1) report(what, (double)wrong, 0);
  std::snprintf(what, sizeof what, "paged attention %s d%d group %d, %u-key parts: |out-ref|/|ref|", E::name,
                D, group, part_keys);
  report(what, std::sqrt(num / den), bound);
}

template <typename T>
void dtype(double bound) {
  // Partitions of 256 keys (700 keys: three) and of 64 (eleven, the last partly empty).
  for (int group : {1, 4, 8}) {
    const uint32_t part_keys = group == 4 ? 64 : 256;
    check<T, 32>(group, part_keys, bound);
    check<T, 64>(group, part_keys, bound);
    check<T, 128>(group, part_keys, bound);
  }
}

}  // namespace

int main() {
  dtype<float>(1e-5);
  // f16 and bf16: the output's own rounding (half an ulp: 2^-11 and 2^-8 relative at most).
  dtype<__half>(5e-4);
  dtype<__nv_bfloat16>(3e-3);
  std::printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
