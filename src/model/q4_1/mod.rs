//! GGUF Q4_1 weight matrix × f32 activations, for CPU decode (m = 1) and small prefill batches.
//!
//! Numerics follow candle-core 0.11.1 / ggml exactly up to float summation order:
//! activations are quantized to Q8_1 bit-for-bit like `BlockQ8_1::from_float` (same amax, same
//! `f32::round`, same f16 roundings of `d` and `s`), and each (weight block, activation block)
//! pair contributes `d_w * d_x * sumi + m_w * s_x`, where `sumi` is the exact integer dot of the
//! 4-bit weight codes with the 8-bit activation codes.
//!
//! Speed comes from three things:
//! * Weights are repacked once at load time (same 20 bytes per block, nothing added) so that one
//!   AVX2 register holds 4 codes of each of 8 consecutive blocks. After `maddubs` the 8 i16
//!   partial sums of a group of 8 blocks are added in i16 (cannot overflow, see `group8`), and a
//!   single `madd`/convert/FMA yields the 8 block sums in the 8 lanes, scaled by a vector of 8
//!   `d_w * d_x`. That is ~1 instruction per weight byte instead of ~3 for the per-block scheme.
//!   Leftover blocks (k/32 mod 8) use groups of 4, 2 and 1 with the same idea.
//! * Activations are quantized once per call into the matching layout (cheap, k values per row).
//! * Output rows are split in chunks over candle's barrier pool (the threads candle's own CPU
//!   kernels use), and for m > 1 each unpacked weight register is reused for up to 8
//!   activation rows.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod quantize;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::OnceLock;

use half::f16;

pub use quantize::quantize_q8_1;
use quantize::{QuantX, SCRATCH, TAIL_PAT};

/// Weights per Q4_1 / Q8_1 block.
pub const QK: usize = 32;
/// Bytes per GGUF Q4_1 block: f16 d, f16 m, 16 bytes of nibbles.
pub const Q4_1_BLOCK_BYTES: usize = 20;
/// Bytes per GGUF Q8_1 block: f16 d, f16 s, 32 i8.
pub const Q8_1_BLOCK_BYTES: usize = 36;

/// Error building a [`Q4_1Matrix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Q4_1Error {
    /// k must be a positive multiple of 32 (a Q4_1 row is made of whole blocks).
    BadK { k: usize },
    /// The byte buffer does not hold exactly n * k / 32 blocks of 20 bytes.
    BadLength {
        n: usize,
        k: usize,
        expected: usize,
        got: usize,
    },
}

impl fmt::Display for Q4_1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Q4_1Error::BadK { k } => write!(f, "Q4_1: k = {k} is not a positive multiple of {QK}"),
            Q4_1Error::BadLength {
                n,
                k,
                expected,
                got,
            } => write!(
                f,
                "Q4_1: ({n}, {k}) tensor needs {expected} bytes of blocks, got {got}"
            ),
        }
    }
}

impl std::error::Error for Q4_1Error {}

// ---------------------------------------------------------------------------------------------
// Block layout
// ---------------------------------------------------------------------------------------------

/// How the nb = k/32 blocks of a row are cut into SIMD groups: `n8` groups of 8, then at most
/// one group each of 4, 2 and 1 (nb = 8*n8 + 4*has4 + 2*has2 + has1), in block order.
/// A group starting at block `b` lives at byte `16*b` of a repacked weight row and at byte
/// `32*b` of a repacked activation row, so rows keep their natural sizes.
#[derive(Clone, Copy, Debug)]
struct Plan {
    nb: usize,
    n8: usize,
    has4: bool,
    has2: bool,
    has1: bool,
}

impl Plan {
    fn new(nb: usize) -> Self {
        let t = nb % 8;
        Plan {
            nb,
            n8: nb / 8,
            has4: t & 4 != 0,
            has2: t & 2 != 0,
            has1: t & 1 != 0,
        }
    }
    /// (first block, group size) for every group, in order.
    fn groups(&self) -> impl Iterator<Item = (usize, usize)> {
        let tails = [
            (self.has4, self.base4(), 4),
            (self.has2, self.base2(), 2),
            (self.has1, self.base1(), 1),
        ];
        (0..self.n8)
            .map(|j| (8 * j, 8))
            .chain(tails.into_iter().filter(|t| t.0).map(|(_, b, g)| (b, g)))
    }
    fn base4(&self) -> usize {
        8 * self.n8
    }
    fn base2(&self) -> usize {
        self.base4() + if self.has4 { 4 } else { 0 }
    }
    fn base1(&self) -> usize {
        self.base2() + if self.has2 { 2 } else { 0 }
    }
}

/// Bytes of each block that share one 32-byte register in a group of `g` >= 2 blocks.
/// Register u of the weight part holds, for every block i, bytes [u*per, (u+1)*per) of its
/// 16 nibble bytes at offset `i*per`: the low nibbles of a register are then elements
/// [u*per, (u+1)*per) and the high nibbles elements 16 + that range of each block.
#[inline]
fn per(g: usize) -> usize {
    32 / g
}

/// Position, inside a group of `g` blocks, of nibble byte `b` (0..16) of block `i`.
#[inline]
fn wpos(g: usize, i: usize, b: usize) -> usize {
    if g == 1 {
        return b;
    }
    let p = per(g);
    (b / p) * 32 + i * p + b % p
}

/// Position, inside a group of `g` blocks, of activation element `e` (0..32) of block `i`.
/// Registers 0..g/2 hold elements 0..16 of every block, registers g/2..g elements 16..32, in
/// the same arrangement as the weight nibbles so `maddubs` lines them up.
#[inline]
fn xpos(g: usize, i: usize, e: usize) -> usize {
    if g == 1 {
        return e;
    }
    let p = per(g);
    let (half, e) = (e / 16, e % 16);
    (half * (g / 2) + e / p) * 32 + i * p + e % p
}

/// A byte buffer whose usable part starts 64-byte aligned (safe code: over-allocate + offset).
#[derive(Clone, Default)]
struct AlignedBytes {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl AlignedBytes {
    fn zeroed(len: usize) -> Self {
        let buf = vec![0u8; len + 64];
        let off = buf.as_ptr().align_offset(64).min(64);
        AlignedBytes { buf, off, len }
    }
    fn resize(&mut self, len: usize) {
        if self.len < len || self.buf.is_empty() {
            *self = AlignedBytes::zeroed(len);
        }
        self.len = len;
    }
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

/// A Q4_1 weight matrix of shape (n, k) (n output features, k inputs), repacked for the
/// kernels. Memory use equals the GGUF size (20 bytes per 32 weights).
#[derive(Clone)]
pub struct Q4_1Matrix {
    n: usize,
    k: usize,
    plan: Plan,
    /// Per row: nb*16 bytes of nibbles, in the group layout of [`wpos`].
    qs: AlignedBytes,
    /// Per row: nb f16 `d` followed by nb f16 `m` (raw bits).
    dm: Vec<u16>,
}

impl fmt::Debug for Q4_1Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Q4_1Matrix")
            .field("n", &self.n)
            .field("k", &self.k)
            .finish()
    }
}

impl Q4_1Matrix {
    /// Builds the matrix from the raw GGUF bytes of a Q4_1 tensor of shape (n, k), i.e. what
    /// `candle_core::quantized::QTensor::data()` returns: n*k/32 blocks of
    /// `{ d: f16, m: f16, qs: [u8; 16] }`, row after row.
    pub fn from_gguf_bytes(data: &[u8], n: usize, k: usize) -> Result<Self, Q4_1Error> {
        if k == 0 || k % QK != 0 {
            return Err(Q4_1Error::BadK { k });
        }
        let nb = k / QK;
        let expected = n
            .checked_mul(nb)
            .and_then(|b| b.checked_mul(Q4_1_BLOCK_BYTES))
            .unwrap_or(usize::MAX);
        if data.len() != expected {
            return Err(Q4_1Error::BadLength {
                n,
                k,
                expected,
                got: data.len(),
            });
        }
        let plan = Plan::new(nb);
        let mut qs = AlignedBytes::zeroed(n * nb * 16);
        let mut dm = vec![0u16; n * nb * 2];
        let qs_out = qs.as_mut_slice();
        for r in 0..n {
            let src = &data[r * nb * Q4_1_BLOCK_BYTES..(r + 1) * nb * Q4_1_BLOCK_BYTES];
            let wrow = &mut qs_out[r * nb * 16..(r + 1) * nb * 16];
            let drow = &mut dm[r * nb * 2..(r + 1) * nb * 2];
            for (base, g) in plan.groups() {
                let grp = &mut wrow[base * 16..(base + g) * 16];
                for i in 0..g {
                    let blk =
                        &src[(base + i) * Q4_1_BLOCK_BYTES..(base + i + 1) * Q4_1_BLOCK_BYTES];
                    drow[base + i] = u16::from_le_bytes([blk[0], blk[1]]);
                    drow[nb + base + i] = u16::from_le_bytes([blk[2], blk[3]]);
                    for b in 0..16 {
                        grp[wpos(g, i, b)] = blk[4 + b];
                    }
                }
            }
        }
        Ok(Q4_1Matrix { n, k, plan, qs, dm })
    }

    /// Output features (rows of W).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features (columns of W).
    pub fn k(&self) -> usize {
        self.k
    }

    /// `out (m×n) = x (m×k) · Wᵀ`, split over candle's CPU thread pool.
    ///
    /// Panics if `x.len() != m*k` or `out.len() != m*n`.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        self.matmul_impl(x, m, out, true, simd_level())
    }

    /// Same result as [`Self::matmul`], on the calling thread only.
    pub fn matmul_sequential(&self, x: &[f32], m: usize, out: &mut [f32]) {
        self.matmul_impl(x, m, out, false, simd_level())
    }

    /// Portable scalar path, whatever the CPU supports (for tests and comparisons).
    #[doc(hidden)]
    pub fn matmul_portable(&self, x: &[f32], m: usize, out: &mut [f32]) {
        self.matmul_impl(x, m, out, false, Level::Scalar)
    }

    fn matmul_impl(&self, x: &[f32], m: usize, out: &mut [f32], parallel: bool, lv: Level) {
        let (n, k) = (self.n, self.k);
        assert_eq!(
            x.len(),
            m * k,
            "Q4_1 matmul: x has {} values, expected {m}x{k}",
            x.len()
        );
        assert_eq!(
            out.len(),
            m * n,
            "Q4_1 matmul: out has {} values, expected {m}x{n}",
            out.len()
        );
        if m == 0 || n == 0 {
            return;
        }
        let out = OutRows::new(out, m, n);
        SCRATCH.with(|cell| {
            let mut xq = cell.borrow_mut();
            xq.quantize(x, m, self.plan, lv);
            let xq = &*xq;
            // Below ~64 KiB of weights (a couple of µs) the hand-off costs more than it saves.
            if !parallel || m * n * self.plan.nb * 16 < PAR_MIN_BYTES {
                self.rows_kernel(xq, 0..n, &out, lv);
                return;
            }
            // Items are quads of weight rows, so every chunk but the last runs the 4-row tile.
            let quads = n.div_ceil(4);
            candle_core::utils::barrier_pool().execute_chunked(quads, |range| {
                let rows = (range.start * 4).min(n)..(range.end * 4).min(n);
                self.rows_kernel(xq, rows, &out, lv);
            });
        });
    }

    /// Computes output columns `rows` (weight rows) for all activation rows.
    fn rows_kernel(&self, xq: &QuantX, rows: std::ops::Range<usize>, out: &OutRows, lv: Level) {
        let nb = self.plan.nb;
        let qs = self.qs.as_slice();
        let m = out.m;
        let mut r = rows.start;
        while r < rows.end {
            let rt = if rows.end - r >= 4 { 4 } else { 1 };
            let mut c = 0;
            while c < m {
                let ct = (m - c).min(MAX_C);
                let w = Tile {
                    qs: &qs[r * nb * 16..(r + rt) * nb * 16],
                    dm: &self.dm[r * nb * 2..(r + rt) * nb * 2],
                    xq: &xq.q.as_slice()[c * nb * 32..(c + ct) * nb * 32],
                    xd: &xq.d[c * nb..(c + ct) * nb],
                    xs: &xq.s[c * nb..(c + ct) * nb],
                    xt: &xq.tail[c * TAIL_PAT..(c + ct) * TAIL_PAT],
                    plan: self.plan,
                };
                let mut res = [[0f32; 4]; 8];
                match lv {
                    #[cfg(target_arch = "x86_64")]
                    Level::Avx2 => avx2::tile_dispatch(&w, rt, ct, &mut res),
                    Level::Scalar => scalar_tile(&w, rt, ct, &mut res),
                }
                for (ci, vals) in res.iter().enumerate().take(ct) {
                    out.write(c + ci, r, &vals[..rt]);
                }
                c += ct;
            }
            r += rt;
        }
    }
}

/// Activation rows per tile for m > 1: each unpacked weight register is used MAX_C times.
const MAX_C: usize = 8;

/// The m×n output, written concurrently by the threads of one call.
struct OutRows {
    ptr: *mut f32,
    m: usize,
    n: usize,
}

// SAFETY: `OutRows` is only a view of the `&mut [f32]` borrowed by `matmul_impl` for the whole
// parallel region; see `write` for why concurrent writes never alias.
unsafe impl Sync for OutRows {}

impl OutRows {
    fn new(out: &mut [f32], m: usize, n: usize) -> Self {
        assert_eq!(out.len(), m * n);
        OutRows {
            ptr: out.as_mut_ptr(),
            m,
            n,
        }
    }

    /// Writes `vals` to out[c][r..r + vals.len()].
    fn write(&self, c: usize, r: usize, vals: &[f32]) {
        assert!(
            c < self.m && r + vals.len() <= self.n,
            "output index out of range"
        );
        // SAFETY: in bounds (assert above). Each row chunk is handed to exactly one thread
        // by the pool's chunk cursor and only output columns of claimed rows are
        // written, so no two threads write the same element, and nothing reads `out` until
        // the parallel region has returned.
        unsafe {
            std::ptr::copy_nonoverlapping(vals.as_ptr(), self.ptr.add(c * self.n + r), vals.len())
        }
    }
}

/// Minimum weight bytes × activation rows before a call is split over threads.
const PAR_MIN_BYTES: usize = 64 * 1024;

/// A (weight rows × activation rows) tile: `qs`/`dm` hold R consecutive repacked weight rows,
/// `xq`/`xd`/`xs` C consecutive quantized activation rows.
struct Tile<'a> {
    qs: &'a [u8],
    dm: &'a [u16],
    xq: &'a [u8],
    xd: &'a [f32],
    xs: &'a [f32],
    /// Per activation row, TAIL_PAT f32: for the groups of 4, 2, 1 (in that order) the 8
    /// lanes of `d_x` as the kernel lays them out and `s_x / lanes-per-block` likewise.
    xt: &'a [f32],
    plan: Plan,
}

// ---------------------------------------------------------------------------------------------
// Portable kernel
// ---------------------------------------------------------------------------------------------

/// Reference/fallback tile: same math as the SIMD path, one block at a time.
// Index loops mirror the SIMD tile's (row, column) layout.
#[allow(clippy::needless_range_loop)]
fn scalar_tile(t: &Tile, rt: usize, ct: usize, res: &mut [[f32; 4]; 8]) {
    let nb = t.plan.nb;
    for r in 0..rt {
        let wq = &t.qs[r * nb * 16..(r + 1) * nb * 16];
        let wd = &t.dm[r * nb * 2..r * nb * 2 + nb];
        let wm = &t.dm[r * nb * 2 + nb..(r + 1) * nb * 2];
        for c in 0..ct {
            let xq = &t.xq[c * nb * 32..(c + 1) * nb * 32];
            let mut acc = 0f32;
            for (base, g) in t.plan.groups() {
                let wg = &wq[base * 16..(base + g) * 16];
                let xg = &xq[base * 32..(base + g) * 32];
                for i in 0..g {
                    let b = base + i;
                    let sumi = block_dot_grouped(wg, xg, g, i);
                    acc += sumi as f32 * (f16::from_bits(wd[b]).to_f32() * t.xd[c * nb + b])
                        + f16::from_bits(wm[b]).to_f32() * t.xs[c * nb + b];
                }
            }
            res[c][r] = acc;
        }
    }
}

/// Integer dot of block `i` of a repacked group (weights `wg`, activations `xg`).
fn block_dot_grouped(wg: &[u8], xg: &[u8], g: usize, i: usize) -> i32 {
    let mut s = 0i32;
    for b in 0..16 {
        let w = wg[wpos(g, i, b)];
        s += (w & 0x0f) as i32 * xg[xpos(g, i, b)] as i8 as i32;
        s += (w >> 4) as i32 * xg[xpos(g, i, b + 16)] as i8 as i32;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// AVX2 kernel
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn simd_level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                Level::Avx2
            } else {
                Level::Scalar
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Level::Scalar
}

/// Name of the kernel `matmul` uses on this CPU ("avx2" or "scalar").
pub fn kernel_name() -> &'static str {
    match simd_level() {
        Level::Scalar => "scalar",
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => "avx2",
    }
}
