//! AVX2 + FMA + F16C kernels: the Q4_1 × Q8_1 tile and the Q8_1 activation quantizer.

use super::{QK, TAIL_PAT, Tile};
use std::arch::x86_64::*;

// Loads from fixed-size arrays: the type guarantees the bytes exist, so these are sound
// for any input. Only used from functions compiled with avx2/f16c enabled.

#[inline(always)]
fn ld32(a: &[u8; 32]) -> __m256i {
    // SAFETY: reads exactly the 32 bytes of `a` (unaligned load allowed).
    unsafe { _mm256_loadu_si256(a.as_ptr().cast()) }
}

#[inline(always)]
fn ld16(a: &[u8; 16]) -> __m128i {
    // SAFETY: reads exactly the 16 bytes of `a`.
    unsafe { _mm_loadu_si128(a.as_ptr().cast()) }
}

#[inline(always)]
fn ldf8(a: &[f32; 8]) -> __m256 {
    // SAFETY: reads exactly the 8 f32 of `a`.
    unsafe { _mm256_loadu_ps(a.as_ptr()) }
}

/// 8 f16 widened to f32.
#[inline(always)]
fn ldh8(a: &[u16; 8]) -> __m256 {
    // SAFETY: reads exactly the 16 bytes of `a`; f16c is part of our runtime detection.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(a.as_ptr().cast())) }
}

/// 4 f16 widened to f32.
#[inline(always)]
fn ldh4(a: &[u16; 4]) -> __m128 {
    let v = a[0] as u64 | (a[1] as u64) << 16 | (a[2] as u64) << 32 | (a[3] as u64) << 48;
    // SAFETY: register-only intrinsics; f16c is part of our runtime detection.
    unsafe { _mm_cvtph_ps(_mm_cvtsi64_si128(v as i64)) }
}

/// 2 f16 widened to f32 (upper two lanes zero).
#[inline(always)]
fn ldh2(a: &[u16; 2]) -> __m128 {
    let v = a[0] as u32 | (a[1] as u32) << 16;
    // SAFETY: register-only intrinsics; f16c is part of our runtime detection.
    unsafe { _mm_cvtph_ps(_mm_cvtsi32_si128(v as i32)) }
}

#[inline(always)]
fn h1(v: u16) -> f32 {
    // SAFETY: register-only intrinsics; f16c is part of our runtime detection.
    unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(v as i32))) }
}

/// `&s[off..off + N]` as an array reference (one bounds check per group, not per load).
#[inline(always)]
fn arr<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().unwrap()
}

/// Register `u` (32 bytes) of a group.
#[inline(always)]
fn reg<const N: usize>(g: &[u8; N], u: usize) -> &[u8; 32] {
    arr(g, u * 32)
}

/// Dispatches a tile of `rt` (1 or 4) weight rows × `ct` (1..=8) activation rows.
pub(super) fn tile_dispatch(t: &Tile, rt: usize, ct: usize, res: &mut [[f32; 4]; 8]) {
    // SAFETY: `Level::Avx2` (our only caller) is chosen after detecting avx2, fma and f16c.
    unsafe {
        match (rt, ct) {
            (4, 1) => tile::<4, 1>(t, res),
            (4, 2) => tile::<4, 2>(t, res),
            (4, 3) => tile::<4, 3>(t, res),
            (4, 4) => tile::<4, 4>(t, res),
            (4, 5) => tile::<4, 5>(t, res),
            (4, 6) => tile::<4, 6>(t, res),
            (4, 7) => tile::<4, 7>(t, res),
            (4, 8) => tile::<4, 8>(t, res),
            (1, 1) => tile::<1, 1>(t, res),
            (1, 2) => tile::<1, 2>(t, res),
            (1, 3) => tile::<1, 3>(t, res),
            (1, 4) => tile::<1, 4>(t, res),
            (1, 5) => tile::<1, 5>(t, res),
            (1, 6) => tile::<1, 6>(t, res),
            (1, 7) => tile::<1, 7>(t, res),
            (1, 8) => tile::<1, 8>(t, res),
            _ => unreachable!("tile {rt}x{ct}"),
        }
    }
}

#[inline(always)]
fn hsum256(v: __m256) -> f32 {
    // SAFETY: register-only intrinsics.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// Horizontal sums of 4 vectors at once: [Σa, Σb, Σc, Σd].
#[inline(always)]
fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    // SAFETY: register-only intrinsics.
    unsafe {
        let h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
        _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h))
    }
}

/// R weight rows × C activation rows. For each block group, every weight register is
/// loaded and unpacked once and multiplied with the C activation rows.
///
/// Overflow: `maddubs` of codes w in 0..=15 and x in -127..=127 gives |lane| <= 2*15*127 =
/// 3810; a group of 8 adds 8 such results per lane (|sum| <= 30480 < 32767) before the
/// exact i16->i32 `madd`, so all integer arithmetic is exact.
#[target_feature(enable = "avx2,fma,f16c")]
fn tile<const R: usize, const C: usize>(t: &Tile, res: &mut [[f32; 4]; 8]) {
    let p = t.plan;
    let nb = p.nb;
    let mask = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let wq: [&[u8]; R] = std::array::from_fn(|r| &t.qs[r * nb * 16..(r + 1) * nb * 16]);
    let wd: [&[u16]; R] = std::array::from_fn(|r| &t.dm[r * nb * 2..r * nb * 2 + nb]);
    let wm: [&[u16]; R] = std::array::from_fn(|r| &t.dm[r * nb * 2 + nb..(r + 1) * nb * 2]);
    let xq: [&[u8]; C] = std::array::from_fn(|c| &t.xq[c * nb * 32..(c + 1) * nb * 32]);
    let xd: [&[f32]; C] = std::array::from_fn(|c| &t.xd[c * nb..(c + 1) * nb]);
    let xs: [&[f32]; C] = std::array::from_fn(|c| &t.xs[c * nb..(c + 1) * nb]);
    let xt = |c: usize| -> &[f32; TAIL_PAT] { arr(t.xt, c * TAIL_PAT) };
    let mut acc = [[_mm256_setzero_ps(); C]; R];

    // Groups of 8 blocks: lane i of the result is block i.
    for j in 0..p.n8 {
        let xg: [&[u8; 256]; C] = std::array::from_fn(|c| arr(xq[c], j * 256));
        let dx: [__m256; C] = std::array::from_fn(|c| ldf8(arr(xd[c], 8 * j)));
        let sx: [__m256; C] = std::array::from_fn(|c| ldf8(arr(xs[c], 8 * j)));
        if C > 1 {
            // Prefill: unpack one weight row's group into 8 registers and run all C
            // activation rows over it; only one i16 accumulator is live at a time.
            for r in 0..R {
                let wg: &[u8; 128] = arr(wq[r], j * 128);
                let mut lo = [_mm256_setzero_si256(); 4];
                let mut hi = [_mm256_setzero_si256(); 4];
                for u in 0..4 {
                    let w = ld32(reg(wg, u));
                    lo[u] = _mm256_and_si256(w, mask);
                    hi[u] = _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask);
                }
                let dw = ldh8(arr(wd[r], 8 * j));
                let mw = ldh8(arr(wm[r], 8 * j));
                for c in 0..C {
                    let mut s16 = _mm256_setzero_si256();
                    for u in 0..4 {
                        let a = _mm256_maddubs_epi16(lo[u], ld32(reg(xg[c], u)));
                        let b = _mm256_maddubs_epi16(hi[u], ld32(reg(xg[c], 4 + u)));
                        s16 = _mm256_add_epi16(s16, _mm256_add_epi16(a, b));
                    }
                    let sumi = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones));
                    let a = _mm256_fmadd_ps(sumi, _mm256_mul_ps(dw, dx[c]), acc[r][c]);
                    acc[r][c] = _mm256_fmadd_ps(mw, sx[c], a);
                }
            }
            continue;
        }
        // Decode (C == 1): walk the group register by register over the R weight rows,
        // keeping R independent i16 accumulators.
        let wg: [&[u8; 128]; R] = std::array::from_fn(|r| arr(wq[r], j * 128));
        let mut s16 = [[_mm256_setzero_si256(); C]; R];
        for u in 0..4 {
            let xl: [__m256i; C] = std::array::from_fn(|c| ld32(reg(xg[c], u)));
            let xh: [__m256i; C] = std::array::from_fn(|c| ld32(reg(xg[c], 4 + u)));
            for r in 0..R {
                let w = ld32(reg(wg[r], u));
                let lo = _mm256_and_si256(w, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask);
                for c in 0..C {
                    let a = _mm256_maddubs_epi16(lo, xl[c]);
                    let b = _mm256_maddubs_epi16(hi, xh[c]);
                    s16[r][c] = _mm256_add_epi16(s16[r][c], _mm256_add_epi16(a, b));
                }
            }
        }
        for r in 0..R {
            let dw = ldh8(arr(wd[r], 8 * j));
            let mw = ldh8(arr(wm[r], 8 * j));
            for c in 0..C {
                let sumi = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[r][c], ones));
                let a = _mm256_fmadd_ps(sumi, _mm256_mul_ps(dw, dx[c]), acc[r][c]);
                acc[r][c] = _mm256_fmadd_ps(mw, sx[c], a);
            }
        }
    }

    // Tail groups of 4, 2 and 1 blocks: lane l belongs to block l / (8 / g). Scales come
    // as lane patterns: `d_w` permuted here, `d_x` and `s_x / lanes` from `Tile::xt`.
    if p.has4 {
        let b0 = p.base4();
        let idx = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
        for r in 0..R {
            let wg: &[u8; 64] = arr(wq[r], b0 * 16);
            let mut lo = [_mm256_setzero_si256(); 2];
            let mut hi = [_mm256_setzero_si256(); 2];
            for u in 0..2 {
                let w = ld32(reg(wg, u));
                lo[u] = _mm256_and_si256(w, mask);
                hi[u] = _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask);
            }
            let dw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(ldh4(arr(wd[r], b0))), idx);
            let mw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(ldh4(arr(wm[r], b0))), idx);
            for c in 0..C {
                let xg: &[u8; 128] = arr(xq[c], b0 * 32);
                let mut s16 = _mm256_setzero_si256();
                for u in 0..2 {
                    let a = _mm256_maddubs_epi16(lo[u], ld32(reg(xg, u)));
                    let b = _mm256_maddubs_epi16(hi[u], ld32(reg(xg, 2 + u)));
                    s16 = _mm256_add_epi16(s16, _mm256_add_epi16(a, b));
                }
                let sumi = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones));
                let a = _mm256_fmadd_ps(sumi, _mm256_mul_ps(dw, ldf8(arr(xt(c), 0))), acc[r][c]);
                acc[r][c] = _mm256_fmadd_ps(mw, ldf8(arr(xt(c), 8)), a);
            }
        }
    }
    if p.has2 {
        let b0 = p.base2();
        let idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
        for r in 0..R {
            let w = ld32(arr(wq[r], b0 * 16));
            let lo = _mm256_and_si256(w, mask);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask);
            let dw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(ldh2(arr(wd[r], b0))), idx);
            let mw = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(ldh2(arr(wm[r], b0))), idx);
            for c in 0..C {
                let xg: &[u8; 64] = arr(xq[c], b0 * 32);
                let a = _mm256_maddubs_epi16(lo, ld32(reg(xg, 0)));
                let b = _mm256_maddubs_epi16(hi, ld32(reg(xg, 1)));
                let sumi = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_add_epi16(a, b), ones));
                let a = _mm256_fmadd_ps(sumi, _mm256_mul_ps(dw, ldf8(arr(xt(c), 16))), acc[r][c]);
                acc[r][c] = _mm256_fmadd_ps(mw, ldf8(arr(xt(c), 24)), a);
            }
        }
    }
    if p.has1 {
        // Original layout: [low nibbles | high nibbles] = elements 0..32.
        let b0 = p.base1();
        for r in 0..R {
            let t16 = ld16(arr(wq[r], b0 * 16));
            let w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(t16), t16), mask);
            let dw = _mm256_set1_ps(h1(wd[r][b0]));
            let mw = _mm256_set1_ps(h1(wm[r][b0]));
            for c in 0..C {
                let s = _mm256_madd_epi16(_mm256_maddubs_epi16(w, ld32(arr(xq[c], b0 * 32))), ones);
                let a = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(s),
                    _mm256_mul_ps(dw, ldf8(arr(xt(c), 32))),
                    acc[r][c],
                );
                acc[r][c] = _mm256_fmadd_ps(mw, ldf8(arr(xt(c), 40)), a);
            }
        }
    }

    for c in 0..C {
        if R == 4 {
            let v = hsum4(acc[0][c], acc[1][c], acc[2][c], acc[3][c]);
            // SAFETY: `res[c]` is 4 f32.
            unsafe { _mm_storeu_ps(res[c].as_mut_ptr(), v) };
        } else {
            for r in 0..R {
                res[c][r] = hsum256(acc[r][c]);
            }
        }
    }
}

/// SIMD version of `quantize_block_scalar` with identical results; `None` (use the scalar
/// code) if the block holds Inf/NaN, whose candle semantics are not worth vectorizing.
///
/// `f32::round` (half away from zero) is computed as trunc(v + copysign(0.5 - 2^-25, v)),
/// which is exact for |v| <= 2^23 (here |v| <= 127.00002); checked exhaustively in tests.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_block(x: &[f32; QK]) -> Option<([u8; QK], u16, u16)> {
    // SAFETY: x has exactly 32 f32, read as four unaligned 8-lane loads.
    let v = unsafe {
        [
            _mm256_loadu_ps(x.as_ptr()),
            _mm256_loadu_ps(x.as_ptr().add(8)),
            _mm256_loadu_ps(x.as_ptr().add(16)),
            _mm256_loadu_ps(x.as_ptr().add(24)),
        ]
    };
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let exp_mask = _mm256_set1_epi32(0x7f80_0000);
    let mut amax = _mm256_setzero_ps();
    let mut nonfinite = _mm256_setzero_si256();
    for &vi in &v {
        let bits = _mm256_castps_si256(vi);
        let e = _mm256_and_si256(bits, exp_mask);
        nonfinite = _mm256_or_si256(nonfinite, _mm256_cmpeq_epi32(e, exp_mask));
        amax = _mm256_max_ps(amax, _mm256_and_ps(vi, abs_mask));
    }
    if _mm256_movemask_epi8(nonfinite) != 0 {
        return None;
    }
    let amax = {
        let m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_max_ss(m, _mm_movehdup_ps(m));
        _mm_cvtss_f32(m)
    };
    let d = amax / ((1 << 7) - 1) as f32;
    let id = if d != 0f32 { 1. / d } else { 0. };
    if id.is_infinite() {
        return None; // |x| < ~4e-37 everywhere: codes would saturate, leave it to scalar code
    }
    let idv = _mm256_set1_ps(id);
    let sign = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
    let half = _mm256_set1_ps(f32::from_bits(0x3eff_ffff)); // 0.5 - 2^-25
    let mut q = [_mm256_setzero_si256(); 4];
    for i in 0..4 {
        let p = _mm256_mul_ps(v[i], idv);
        let h = _mm256_or_ps(half, _mm256_and_ps(p, sign));
        q[i] = _mm256_cvttps_epi32(_mm256_add_ps(p, h));
    }
    let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let sum = {
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256(sum, 1),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    };
    let a = _mm256_packs_epi32(q[0], q[1]);
    let b = _mm256_packs_epi32(q[2], q[3]);
    let packed = _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(a, b),
        _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
    );
    let mut out = [0u8; QK];
    // SAFETY: `out` is exactly 32 bytes.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), packed) };
    // f16 roundings with F16C (IEEE round-to-nearest-even, as the `half` crate does).
    let dsum = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_setr_ps(d, sum as f32, 0.0, 0.0));
    let df = _mm_cvtph_ps(dsum);
    let sf = _mm_mul_ps(_mm_movehdup_ps(df), df); // lane 0: f16(sum) * f16(d)
    let s16 = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(sf);
    let d16 = _mm_extract_epi16::<0>(dsum) as u16;
    let s16 = _mm_extract_epi16::<0>(s16) as u16;
    Some((out, d16, s16))
}

/// Quantizes 8 consecutive blocks (as `quantize_block`) straight into the group-of-8
/// layout: register t of `q` holds elements 4t..4t+4 of block i at bytes 4i..4i+4.
/// Writes the widened f16 `d`, `s` of each block. Returns false (nothing written) if a
/// block needs the scalar path.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_group8(
    x: &[f32; 8 * QK],
    q: &mut [u8; 8 * QK],
    d_out: &mut [f32; 8],
    s_out: &mut [f32; 8],
) -> bool {
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let exp_mask = _mm256_set1_epi32(0x7f80_0000);
    let mut nonfinite = _mm256_setzero_si256();
    let mut amax = [0f32; 8];
    for (i, am) in amax.iter_mut().enumerate() {
        let mut mx = _mm256_setzero_ps();
        for j in 0..4 {
            // SAFETY: i*32 + j*8 + 8 <= 256 = x.len().
            let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i * QK + j * 8)) };
            let e = _mm256_and_si256(_mm256_castps_si256(v), exp_mask);
            nonfinite = _mm256_or_si256(nonfinite, _mm256_cmpeq_epi32(e, exp_mask));
            mx = _mm256_max_ps(mx, _mm256_and_ps(v, abs_mask));
        }
        let m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        *am = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    }
    if _mm256_movemask_epi8(nonfinite) != 0 {
        return false;
    }
    // SAFETY: `amax` is 8 f32.
    let dv = _mm256_div_ps(
        unsafe { _mm256_loadu_ps(amax.as_ptr()) },
        _mm256_set1_ps(127.0),
    );
    let nz = _mm256_cmp_ps::<_CMP_NEQ_OQ>(dv, _mm256_setzero_ps());
    let idv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0), dv), nz); // id = 0 where d == 0
    let inf = _mm256_set1_ps(f32::INFINITY);
    if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(idv, inf)) != 0 {
        return false; // tiny block, see quantize_block
    }
    let mut ids = [0f32; 8];
    // SAFETY: `ids` is 8 f32.
    unsafe { _mm256_storeu_ps(ids.as_mut_ptr(), idv) };
    let sign = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
    let half = _mm256_set1_ps(f32::from_bits(0x3eff_ffff)); // 0.5 - 2^-25
    let mut codes = [_mm256_setzero_si256(); 8];
    let mut sums = [_mm256_setzero_si256(); 8];
    for i in 0..8 {
        let id = _mm256_set1_ps(ids[i]);
        let mut qv = [_mm256_setzero_si256(); 4];
        for (j, qj) in qv.iter_mut().enumerate() {
            // SAFETY: as above.
            let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i * QK + j * 8)) };
            let p = _mm256_mul_ps(v, id);
            *qj = _mm256_cvttps_epi32(_mm256_add_ps(p, _mm256_or_ps(half, _mm256_and_ps(p, sign))));
        }
        sums[i] = _mm256_add_epi32(
            _mm256_add_epi32(qv[0], qv[1]),
            _mm256_add_epi32(qv[2], qv[3]),
        );
        // packs leave dword j holding natural dword NAT[j] (fixed by the stores below).
        codes[i] = _mm256_packs_epi16(
            _mm256_packs_epi32(qv[0], qv[1]),
            _mm256_packs_epi32(qv[2], qv[3]),
        );
    }
    // Block sums: transpose-reduce 8 vectors into one (lane i = block i).
    let s01 = _mm256_hadd_epi32(sums[0], sums[1]);
    let s23 = _mm256_hadd_epi32(sums[2], sums[3]);
    let s45 = _mm256_hadd_epi32(sums[4], sums[5]);
    let s67 = _mm256_hadd_epi32(sums[6], sums[7]);
    let s03 = _mm256_hadd_epi32(s01, s23);
    let s47 = _mm256_hadd_epi32(s45, s67);
    let sumv = _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(s03, s47),
        _mm256_permute2x128_si256::<0x31>(s03, s47),
    );
    // f16 roundings exactly as candle: d16 = f16(d), s16 = f16(f16(sum) * d16).
    let d16 = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(dv);
    let df = _mm256_cvtph_ps(d16);
    let sum16 = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_cvtepi32_ps(sumv));
    let sf = _mm256_mul_ps(_mm256_cvtph_ps(sum16), df);
    let sf = _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(sf));
    // SAFETY: `d_out` and `s_out` are 8 f32 each.
    unsafe {
        _mm256_storeu_ps(d_out.as_mut_ptr(), df);
        _mm256_storeu_ps(s_out.as_mut_ptr(), sf);
    }
    // 8x8 dword transpose: out register j = dword j of every block.
    let c = codes;
    let t0 = _mm256_unpacklo_epi32(c[0], c[1]);
    let t1 = _mm256_unpackhi_epi32(c[0], c[1]);
    let t2 = _mm256_unpacklo_epi32(c[2], c[3]);
    let t3 = _mm256_unpackhi_epi32(c[2], c[3]);
    let t4 = _mm256_unpacklo_epi32(c[4], c[5]);
    let t5 = _mm256_unpackhi_epi32(c[4], c[5]);
    let t6 = _mm256_unpacklo_epi32(c[6], c[7]);
    let t7 = _mm256_unpackhi_epi32(c[6], c[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    let out = [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ];
    // After packs, dword j of a block holds elements 4*NAT[j]..4*NAT[j]+4.
    const NAT: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];
    for j in 0..8 {
        // SAFETY: NAT[j]*32 + 32 <= 256 = q.len().
        unsafe { _mm256_storeu_si256(q.as_mut_ptr().add(NAT[j] * 32).cast(), out[j]) };
    }
    true
}
