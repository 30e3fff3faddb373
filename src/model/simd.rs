//! Dot products and scaled adds for attention, compiled for AVX2+FMA when the CPU has them.

/// `acc += w * x`
#[inline]
pub fn axpy(acc: &mut [f32], w: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: as above.
            return unsafe { axpy_avx2(acc, w, x) };
        }
    }
    axpy_lanes(acc, w, x)
}

#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// The plain-Rust dot product; compiled inside an `avx2,fma` function it becomes vector code.
#[inline(always)]
pub fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent lanes let the compiler vectorise without reassociating a single sum.
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] = x[i].mul_add(y[i], lanes[i]);
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// `acc += w * x` in plain Rust, for inlining into feature-enabled code.
#[inline(always)]
pub fn axpy_lanes(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = w.mul_add(v, *a);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(acc: &mut [f32], w: f32, x: &[f32]) {
    axpy_lanes(acc, w, x)
}

/// Attention's inner loops for head dims that are whole AVX2 registers (`d = 8 * B`), written
/// so several independent FMA chains are in flight instead of one.
#[cfg(target_arch = "x86_64")]
// Index loops mirror register blocks of the head dimension.
#[allow(clippy::needless_range_loop)]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// `q · k_i` for four keys at once. All slices hold `8 * B` floats.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot4<const B: usize>(q: &[f32], k: [&[f32]; 4]) -> [f32; 4] {
        assert!(q.len() == 8 * B && k.iter().all(|k| k.len() == 8 * B));
        let mut acc = [_mm256_setzero_ps(); 4];
        for b in 0..B {
            // SAFETY: every slice holds 8 * B floats (asserted above).
            unsafe {
                let qb = _mm256_loadu_ps(q.as_ptr().add(8 * b));
                for i in 0..4 {
                    let kb = _mm256_loadu_ps(k[i].as_ptr().add(8 * b));
                    acc[i] = _mm256_fmadd_ps(qb, kb, acc[i]);
                }
            }
        }
        let h = _mm256_hadd_ps(
            _mm256_hadd_ps(acc[0], acc[1]),
            _mm256_hadd_ps(acc[2], acc[3]),
        );
        let s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        let mut out = [0f32; 4];
        // SAFETY: `out` holds 4 floats.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), s) };
        out
    }

    /// `q · k` for one key, summed in the same lane order as [`dot4`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot1<const B: usize>(q: &[f32], k: &[f32]) -> f32 {
        // SAFETY: forwarded.
        unsafe { dot4::<B>(q, [k, k, k, k])[0] }
    }

    /// `acc += Σ_j w[j] · v_j`, with the accumulator held in registers across all `j`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn weighted_sum<'v, const B: usize>(
        acc: &mut [f32],
        rows: impl Iterator<Item = (f32, &'v [f32])>,
    ) {
        assert_eq!(acc.len(), 8 * B);
        let mut regs = [_mm256_setzero_ps(); B];
        for (w, v) in rows {
            assert_eq!(v.len(), 8 * B);
            if w == 0.0 {
                continue;
            }
            let wv = _mm256_set1_ps(w);
            for b in 0..B {
                // SAFETY: `v` holds 8 * B floats (asserted above).
                let vb = unsafe { _mm256_loadu_ps(v.as_ptr().add(8 * b)) };
                regs[b] = _mm256_fmadd_ps(wv, vb, regs[b]);
            }
        }
        for b in 0..B {
            // SAFETY: `acc` holds 8 * B floats.
            unsafe {
                let a = _mm256_loadu_ps(acc.as_ptr().add(8 * b));
                _mm256_storeu_ps(acc.as_mut_ptr().add(8 * b), _mm256_add_ps(a, regs[b]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_plain_loops() {
        let a: Vec<f32> = (0..67).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..67).map(|i| (i as f32).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot_lanes(&a, &b) as f64 - want).abs() < 1e-3);
        // SAFETY: guarded by the feature check.
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            let k: Vec<f32> = b[..64].to_vec();
            let one = unsafe { avx2::dot1::<8>(&a[..64], &k) } as f64;
            let exact: f64 = a[..64]
                .iter()
                .zip(&k)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum();
            assert!((one - exact).abs() < 1e-3);
        }
        let mut acc = b.clone();
        axpy(&mut acc, 2.0, &a);
        for i in 0..67 {
            assert!((acc[i] - (b[i] + 2.0 * a[i])).abs() < 1e-5);
        }
    }
}
