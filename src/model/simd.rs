//! Dot products and scaled adds for attention, compiled for AVX2+FMA when the CPU has them.

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features this function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

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
    axpy_portable(acc, w, x)
}

#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
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

#[inline(always)]
fn axpy_portable(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = w.mul_add(v, *a);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(acc: &mut [f32], w: f32, x: &[f32]) {
    axpy_portable(acc, w, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_plain_loops() {
        let a: Vec<f32> = (0..67).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..67).map(|i| (i as f32).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot(&a, &b) as f64 - want).abs() < 1e-3);
        let mut acc = b.clone();
        axpy(&mut acc, 2.0, &a);
        for i in 0..67 {
            assert!((acc[i] - (b[i] + 2.0 * a[i])).abs() < 1e-5);
        }
    }
}
