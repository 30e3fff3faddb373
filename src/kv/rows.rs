//! One layer's K (or V) rows for every physical slot of the pool, in the cache's storage type.
//!
//! A row is one token's `kv_heads × head_dim` values. f32 is stored as is; f16 as IEEE half
//! (llama.cpp's default KV type); q8_0 as llama.cpp's `block_q8_0`: blocks of 32 values, each
//! an f16 scale `d = max|x| / 127` and 32 signed bytes `round(x / d)`, so a row costs
//! 34/32 bytes per value. Attention reads rows back as f32 ([`KvRows::read`]); for f32 it can
//! borrow them instead ([`KvRows::as_f32`]).

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::KvDtype;

/// Values per q8_0 block (ggml's `QK8_0`).
pub const Q8_BLOCK: usize = 32;

#[derive(Debug, Clone)]
pub enum KvRows {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Q8 { quants: Vec<i8>, scales: Vec<f16> },
}

impl KvRows {
    /// Rows for `slots` slots of `row` values.
    ///
    /// # Panics
    /// q8_0 with a `row` that is not a whole number of blocks, or bf16 (not a storage type
    /// here; [`KvDtype::check_storage`] refuses it first).
    pub fn new(dtype: KvDtype, slots: usize, row: usize) -> KvRows {
        match dtype {
            KvDtype::F32 => KvRows::F32(vec![0.0; slots * row]),
            KvDtype::F16 => KvRows::F16(vec![f16::ZERO; slots * row]),
            KvDtype::Q8 => {
                assert_eq!(row % Q8_BLOCK, 0, "q8_0 rows are whole blocks");
                KvRows::Q8 {
                    quants: vec![0; slots * row],
                    scales: vec![f16::ZERO; slots * row / Q8_BLOCK],
                }
            }
            KvDtype::Bf16 => panic!("bf16 is not a KV storage type of this engine"),
        }
    }

    /// Make room for `slots` slots of `row` values (new slots are zero).
    pub fn resize(&mut self, slots: usize, row: usize) {
        match self {
            KvRows::F32(v) => v.resize(slots * row, 0.0),
            KvRows::F16(v) => v.resize(slots * row, f16::ZERO),
            KvRows::Q8 { quants, scales } => {
                quants.resize(slots * row, 0);
                scales.resize(slots * row / Q8_BLOCK, f16::ZERO);
            }
        }
    }

    /// Store `values` (one row) at physical slot `slot`.
    pub fn write(&mut self, slot: usize, values: &[f32]) {
        let row = values.len();
        let at = slot * row;
        match self {
            KvRows::F32(v) => v[at..at + row].copy_from_slice(values),
            KvRows::F16(v) => v[at..at + row].convert_from_f32_slice(values),
            KvRows::Q8 { quants, scales } => {
                for (b, block) in values.chunks_exact(Q8_BLOCK).enumerate() {
                    let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
                    let d = amax / 127.0;
                    let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
                    let q = &mut quants[at + b * Q8_BLOCK..at + (b + 1) * Q8_BLOCK];
                    for (q, x) in q.iter_mut().zip(block) {
                        *q = (x * inv).round() as i8;
                    }
                    scales[at / Q8_BLOCK + b] = f16::from_f32(d);
                }
            }
        }
    }

    /// Read `out.len()` values of physical slot `slot` starting at value `from` of its row of
    /// `row` values, as f32. For q8_0, `from` and `out.len()` are whole blocks.
    #[inline]
    pub fn read(&self, slot: usize, row: usize, from: usize, out: &mut [f32]) {
        let at = slot * row + from;
        match self {
            KvRows::F32(v) => out.copy_from_slice(&v[at..at + out.len()]),
            KvRows::F16(v) => v[at..at + out.len()].convert_to_f32_slice(out),
            KvRows::Q8 { quants, scales } => {
                for (b, o) in out.chunks_exact_mut(Q8_BLOCK).enumerate() {
                    let start = at + b * Q8_BLOCK;
                    let d = scales[start / Q8_BLOCK].to_f32();
                    for (o, &q) in o.iter_mut().zip(&quants[start..start + Q8_BLOCK]) {
                        *o = q as f32 * d;
                    }
                }
            }
        }
    }

    /// Values `from..from + d` of each physical slot in `slots` (rows of `row` values), as f32,
    /// one after another into `out` (`slots.len() × d`).
    pub fn gather(&self, slots: &[usize], row: usize, from: usize, d: usize, out: &mut [f32]) {
        assert_eq!(out.len(), slots.len() * d);
        if let KvRows::F16(v) = self {
            #[cfg(target_arch = "x86_64")]
            if d % 8 == 0 && has_f16c() {
                // SAFETY: the CPU has AVX2 and F16C (checked); every slot's segment lies in `v`
                // (checked inside).
                return unsafe { gather_f16_avx2(v, slots, row, from, d, out) };
            }
        }
        for (o, &s) in out.chunks_exact_mut(d).zip(slots) {
            self.read(s, row, from, o);
        }
    }

    /// The rows as f32, when that is how they are stored.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            KvRows::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Copy physical slot `from`'s row over slot `to`'s.
    pub fn copy_slot(&mut self, from: usize, to: usize, row: usize) {
        match self {
            KvRows::F32(v) => v.copy_within(from * row..(from + 1) * row, to * row),
            KvRows::F16(v) => v.copy_within(from * row..(from + 1) * row, to * row),
            KvRows::Q8 { quants, scales } => {
                quants.copy_within(from * row..(from + 1) * row, to * row);
                let blocks = row / Q8_BLOCK;
                scales.copy_within(from * blocks..(from + 1) * blocks, to * blocks);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_f16c() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c"))
}

/// f16 → f32 eight values per instruction, for attention's scratch rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn gather_f16_avx2(
    v: &[f16],
    slots: &[usize],
    row: usize,
    from: usize,
    d: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    for (o, &s) in out.chunks_exact_mut(d).zip(slots) {
        let src = &v[s * row + from..s * row + from + d];
        for (i, chunk) in src.chunks_exact(8).enumerate() {
            // SAFETY: `chunk` holds 8 halves (16 bytes) and `o` has room for 8 floats at 8 * i.
            unsafe {
                let h = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
                _mm256_storeu_ps(o.as_mut_ptr().add(8 * i), _mm256_cvtph_ps(h));
            }
        }
    }
}

/// Bytes one row of `row` values takes in `dtype`.
pub fn row_bytes(dtype: KvDtype, row: usize) -> u64 {
    match dtype {
        KvDtype::Q8 => (row + row / Q8_BLOCK * 2) as u64,
        other => row as u64 * other.bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(dtype: KvDtype) -> f32 {
        let row = 64;
        let values: Vec<f32> = (0..row)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let mut rows = KvRows::new(dtype, 3, row);
        rows.write(2, &values);
        rows.copy_slot(2, 0, row);
        let mut out = vec![0f32; 32];
        rows.read(0, row, 32, &mut out);
        out.iter()
            .zip(&values[32..])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
    }

    #[test]
    fn each_storage_type_reads_back_within_its_precision() {
        assert_eq!(round_trip(KvDtype::F32), 0.0);
        // f16 has an 11-bit significand: |x| < 2 is within 2^-11 relative.
        assert!(round_trip(KvDtype::F16) <= 2.0 * 2f32.powi(-11));
        // q8_0: half a step of max|x| / 127 per value, plus the f16 scale's rounding.
        assert!(round_trip(KvDtype::Q8) <= 1.72 / 127.0 * 0.51);
    }

    #[test]
    fn gathering_converts_as_reading_does() {
        let row = 64;
        for dtype in [KvDtype::F32, KvDtype::F16, KvDtype::Q8] {
            let mut rows = KvRows::new(dtype, 5, row);
            for slot in 0..5 {
                let values: Vec<f32> = (0..row).map(|i| (slot * 100 + i) as f32 / 37.0).collect();
                rows.write(slot, &values);
            }
            let slots = [4, 0, 2];
            let mut gathered = vec![0f32; 3 * 32];
            rows.gather(&slots, row, 32, 32, &mut gathered);
            for (j, &s) in slots.iter().enumerate() {
                let mut one = vec![0f32; 32];
                rows.read(s, row, 32, &mut one);
                assert_eq!(
                    &gathered[j * 32..(j + 1) * 32],
                    &one[..],
                    "{dtype:?} slot {s}"
                );
            }
        }
    }

    #[test]
    fn bytes_per_row_follow_the_storage_type() {
        assert_eq!(row_bytes(KvDtype::F32, 192), 768);
        assert_eq!(row_bytes(KvDtype::F16, 192), 384);
        assert_eq!(row_bytes(KvDtype::Q8, 192), 204);
    }
}
