//! Activation quantization to Q8_1, bit-identical to candle's `BlockQ8_1::from_float`, laid
//! out in the register groups the kernels read.

use half::f16;

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::{AlignedBytes, Level, Plan, Q8_1_BLOCK_BYTES, QK, per, simd_level, xpos};

/// Quantized activations: per row nb*32 code bytes in the group layout of [`xpos`], plus the
/// f16-rounded `d` and `s` of each block widened to f32.
#[derive(Default)]
pub(super) struct QuantX {
    pub(super) q: AlignedBytes,
    pub(super) d: Vec<f32>,
    pub(super) s: Vec<f32>,
    pub(super) tail: Vec<f32>,
}

/// f32 per activation row in `QuantX::tail` (3 tail groups × (8 d lanes + 8 s lanes)).
pub(super) const TAIL_PAT: usize = 48;

thread_local! {
    // Reused across calls: no allocation on the decode path after the first call.
    pub(super) static SCRATCH: std::cell::RefCell<QuantX> = std::cell::RefCell::new(QuantX::default());
}

impl QuantX {
    pub(super) fn quantize(&mut self, x: &[f32], m: usize, plan: Plan, lv: Level) {
        let nb = plan.nb;
        let k = nb * QK;
        self.q.resize(m * nb * 32);
        self.d.resize(m * nb, 0.0);
        self.s.resize(m * nb, 0.0);
        self.tail.resize(m * TAIL_PAT, 0.0);
        let q = self.q.as_mut_slice();
        for row in 0..m {
            let xr = &x[row * k..(row + 1) * k];
            let qrow = &mut q[row * nb * 32..(row + 1) * nb * 32];
            let drow = &mut self.d[row * nb..(row + 1) * nb];
            let srow = &mut self.s[row * nb..(row + 1) * nb];
            for (base, g) in plan.groups() {
                let grp = &mut qrow[base * 32..(base + g) * 32];
                #[cfg(target_arch = "x86_64")]
                if g == 8 && lv == Level::Avx2 {
                    let xs: &[f32; 8 * QK] = xr[base * QK..(base + 8) * QK].try_into().unwrap();
                    let (d8, s8): (&mut [f32; 8], &mut [f32; 8]) = (
                        (&mut drow[base..base + 8]).try_into().unwrap(),
                        (&mut srow[base..base + 8]).try_into().unwrap(),
                    );
                    // SAFETY: `Level::Avx2` is only produced after detecting avx2, fma and f16c.
                    if unsafe { avx2::quantize_group8(xs, grp.try_into().unwrap(), d8, s8) } {
                        continue;
                    }
                }
                for i in 0..g {
                    let b = base + i;
                    let blk: &[f32; QK] = xr[b * QK..(b + 1) * QK].try_into().unwrap();
                    let (codes, d, s) = quantize_block_q8_1(blk, lv);
                    drow[b] = f16::from_bits(d).to_f32();
                    srow[b] = f16::from_bits(s).to_f32();
                    if g == 1 {
                        grp.copy_from_slice(&codes);
                    } else {
                        // Runs of per(g) consecutive elements stay contiguous.
                        let p = per(g);
                        for e in (0..QK).step_by(p) {
                            let at = xpos(g, i, e);
                            grp[at..at + p].copy_from_slice(&codes[e..e + p]);
                        }
                    }
                }
            }
            // Lane patterns of the tail groups' scales (see `Tile::xt`).
            let tail = &mut self.tail[row * TAIL_PAT..(row + 1) * TAIL_PAT];
            for (slot, (on, base, g)) in [
                (plan.has4, plan.base4(), 4),
                (plan.has2, plan.base2(), 2),
                (plan.has1, plan.base1(), 1),
            ]
            .into_iter()
            .enumerate()
            {
                if !on {
                    continue;
                }
                let lanes = 8 / g;
                for lane in 0..8 {
                    let b = base + lane / lanes;
                    tail[slot * 16 + lane] = drow[b];
                    tail[slot * 16 + 8 + lane] = srow[b] / lanes as f32; // exact: power of two
                }
            }
        }
    }
}

/// Quantizes one block exactly like candle's `BlockQ8_1::from_float`; returns the 32 codes (as
/// bytes), and the f16 bits of `d` and `s`.
pub(super) fn quantize_block_q8_1(x: &[f32; QK], lv: Level) -> ([u8; QK], u16, u16) {
    match lv {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            // SAFETY: `Level::Avx2` is only produced after runtime detection of avx2+fma+f16c.
            if let Some(r) = unsafe { avx2::quantize_block(x) } {
                return r;
            }
            quantize_block_scalar(x)
        }
        Level::Scalar => quantize_block_scalar(x),
    }
}

/// candle 0.11.1 `BlockQ8_1::from_float`, transcribed (f16 arithmetic emulated bit-exactly).
pub(super) fn quantize_block_scalar(x: &[f32; QK]) -> ([u8; QK], u16, u16) {
    let mut amax = 0f32;
    for &v in x {
        amax = amax.max(v.abs());
    }
    let d = amax / ((1 << 7) - 1) as f32;
    let id = if d != 0f32 { 1. / d } else { 0. };
    let d16 = f16::from_f32(d).to_bits();
    let mut q = [0u8; QK];
    let mut sum = 0i32;
    for j in 0..QK / 2 {
        let v0 = f32::round(x[j] * id) as i8;
        let v1 = f32::round(x[j + QK / 2] * id) as i8;
        q[j] = v0 as u8;
        q[j + QK / 2] = v1 as u8;
        sum += v0 as i32 + v1 as i32;
    }
    // candle: `f16::from_f32(sum as f32) * ys.d`, and half's f16 Mul rounds the f32 product.
    let s16 = (f16::from_f32(sum as f32) * f16::from_bits(d16)).to_bits();
    (q, d16, s16)
}

/// Quantizes activations to GGUF Q8_1 bytes (36 per block), bit-identical to
/// `QTensor::quantize(.., GgmlDType::Q8_1)` / `BlockQ8_1::from_float`. `x.len()` must be a
/// multiple of 32.
pub fn quantize_q8_1(x: &[f32]) -> Vec<u8> {
    assert!(
        x.len() % QK == 0,
        "quantize_q8_1: length {} is not a multiple of {QK}",
        x.len()
    );
    let lv = simd_level();
    let mut out = Vec::with_capacity(x.len() / QK * Q8_1_BLOCK_BYTES);
    for blk in x.chunks_exact(QK) {
        let (q, d, s) = quantize_block_q8_1(blk.try_into().unwrap(), lv);
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&q);
    }
    out
}
