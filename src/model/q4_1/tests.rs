//! Kernel tests that need no candle: exact block dots, quantizer paths, layouts.

use super::quantize::{QuantX, quantize_block_q8_1, quantize_block_scalar};
use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Q4_1 GGUF bytes with d = 1.0 for block `only` and 0 elsewhere, m = 0, random codes.
fn one_hot_weights(n: usize, nb: usize, only: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..n {
        for b in 0..nb {
            let d: u16 = if b == only { 0x3c00 } else { 0 };
            v.extend_from_slice(&d.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            for _ in 0..16 {
                v.push(rng.next() as u8);
            }
        }
    }
    v
}

/// candle's `BlockQ4_1::vec_dot_unopt` integer part on raw GGUF blocks.
fn ref_sumi(w: &[u8], x: &[i8]) -> i32 {
    let mut s = 0;
    for j in 0..16 {
        s += (w[4 + j] & 0x0f) as i32 * x[j] as i32 + (w[4 + j] >> 4) as i32 * x[j + 16] as i32;
    }
    s
}

/// Per-block integer dot of every kernel equals the scalar formula exactly, for every block
/// position of every group size (nb = 1..=23 covers all combinations of 8/4/2/1 groups),
/// for the decode tile (m = 1) and the prefill tiles (m = 9: 8 + 1 activation rows).
#[test]
fn block_dot_exact() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (nb, m) in (1..=23).flat_map(|nb| [(nb, 1), (nb, 9)]) {
        let k = nb * QK;
        let n = 6; // one tile of 4 weight rows and two single rows
        // x chosen so that every block quantizes losslessly with d_x = 1: integer values in
        // -127..=127 with one ±127 per block.
        let mut x = vec![0f32; m * k];
        for (i, v) in x.iter_mut().enumerate() {
            *v = if i % QK == 7 {
                127.0
            } else {
                ((rng.next() % 255) as i32 - 127) as f32
            };
        }
        for only in 0..nb {
            let w = one_hot_weights(n, nb, only, &mut rng);
            let mat = Q4_1Matrix::from_gguf_bytes(&w, n, k).unwrap();
            let mut got = vec![0f32; m * n];
            let mut got_s = vec![0f32; m * n];
            mat.matmul_sequential(&x, m, &mut got);
            mat.matmul_portable(&x, m, &mut got_s);
            for c in 0..m {
                let xi: Vec<i8> = x[c * k + only * QK..c * k + (only + 1) * QK]
                    .iter()
                    .map(|&v| v as i8)
                    .collect();
                for r in 0..n {
                    let blk = &w[(r * nb + only) * 20..(r * nb + only + 1) * 20];
                    let want = ref_sumi(blk, &xi) as f32;
                    assert_eq!(
                        got[c * n + r],
                        want,
                        "simd nb={nb} block={only} r={r} c={c}"
                    );
                    assert_eq!(
                        got_s[c * n + r],
                        want,
                        "scalar nb={nb} block={only} r={r} c={c}"
                    );
                }
            }
        }
    }
}

#[test]
fn simd_quantization_matches_scalar() {
    let mut rng = Rng(42);
    let mut blocks: Vec<[f32; QK]> = Vec::new();
    for scale in [1e-30f32, 1e-8, 1e-3, 1.0, 37.5, 1e4, 6.0e4, 1e30] {
        for _ in 0..2000 {
            let mut b = [0f32; QK];
            for v in b.iter_mut() {
                *v = rng.f32() * scale;
            }
            blocks.push(b);
        }
    }
    // Exact ties of x*id (half-integers) and zeros.
    let mut tie = [0f32; QK];
    for (i, v) in tie.iter_mut().enumerate() {
        *v = (i as f32 - 15.5) * 0.5;
    }
    tie[0] = 127.0;
    blocks.push(tie);
    blocks.push([0.0; QK]);
    let mut nf = [1.0f32; QK];
    nf[3] = f32::INFINITY;
    blocks.push(nf);
    nf[3] = f32::NAN;
    blocks.push(nf);
    for b in &blocks {
        let a = quantize_block_q8_1(b, simd_level());
        let s = quantize_block_scalar(b);
        assert_eq!(a, s, "{b:?}");
    }
}

/// The grouped SIMD quantizer writes exactly what the scalar path writes, layout included.
#[test]
fn grouped_quantization_matches_scalar() {
    let mut rng = Rng(5);
    for nb in [1usize, 7, 8, 9, 18, 23, 48] {
        let plan = Plan::new(nb);
        for scale in [0.0f32, 1e-38, 1e-30, 1e-3, 1.0, 1e5, 1e38] {
            let m = 3;
            let mut x: Vec<f32> = (0..m * nb * QK).map(|_| rng.f32() * scale).collect();
            if scale == 1.0 {
                x[5] = f32::NAN; // forces the scalar fallback for one group
                x[nb * QK + 40] = f32::NEG_INFINITY;
            }
            let (mut a, mut b) = (QuantX::default(), QuantX::default());
            a.quantize(&x, m, plan, simd_level());
            b.quantize(&x, m, plan, Level::Scalar);
            assert_eq!(a.q.as_slice(), b.q.as_slice(), "nb={nb} scale={scale}");
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.d), bits(&b.d), "nb={nb} scale={scale}");
            assert_eq!(bits(&a.s), bits(&b.s), "nb={nb} scale={scale}");
        }
    }
}

/// trunc(v + copysign(0.5 - 2^-25, v)) == f32::round(v) for every f32 with |v| <= 128.
#[test]
fn round_trick_exhaustive() {
    let c = f32::from_bits(0x3eff_ffff);
    let max = 128f32.to_bits();
    let bad = (0..=max)
        .step_by(if cfg!(debug_assertions) { 4099 } else { 1 })
        .filter(|&bits| {
            let v = f32::from_bits(bits);
            let t = (v + c).trunc();
            t != v.round() || (-v - c).trunc() != (-v).round()
        })
        .count();
    assert_eq!(bad, 0);
}

#[test]
fn rejects_bad_inputs() {
    assert_eq!(
        Q4_1Matrix::from_gguf_bytes(&[], 1, 0).unwrap_err(),
        Q4_1Error::BadK { k: 0 }
    );
    assert_eq!(
        Q4_1Matrix::from_gguf_bytes(&[0; 20], 1, 33).unwrap_err(),
        Q4_1Error::BadK { k: 33 }
    );
    assert!(matches!(
        Q4_1Matrix::from_gguf_bytes(&[0; 39], 1, 64),
        Err(Q4_1Error::BadLength {
            expected: 40,
            got: 39,
            ..
        })
    ));
    assert!(Q4_1Matrix::from_gguf_bytes(&[0; 40], 1, 64).is_ok());
    assert!(Q4_1Matrix::from_gguf_bytes(&[0; 40], usize::MAX / 2, 64).is_err());
}
