//! Naming the tensor whose type candle cannot read: candle's GGUF reader stops at the first
//! unknown type with only its number, so this walks the header itself (GGUF v2/v3 layout:
//! magic, version, counts, key/value pairs, tensor infos) to say which tensor and which type.

use std::io::{BufReader, Read};
use std::path::Path;

/// ggml type ids and names (ggml.h `enum ggml_type`).
const GGML_TYPES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (30, "BF16"),
    (34, "TQ1_0"),
    (35, "TQ2_0"),
    (39, "MXFP4"),
];

/// The types candle 0.11's GGUF reader accepts.
const CANDLE_READS: &[u32] = &[0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 30];

/// The ggml name of type `id`, or `type N` for one this table does not know.
pub fn type_name(id: u32) -> String {
    GGML_TYPES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("type {id}"))
}

/// "`blk.0.ffn_down.weight` is IQ4_XS …" for the first tensor of `path` whose type candle
/// cannot read; `None` if the header cannot be walked or every type is readable.
pub fn first_unsupported(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut r = Header {
        inner: BufReader::new(file),
        left: len,
    };
    let mut magic = [0u8; 4];
    r.bytes(&mut magic)?;
    if &magic != b"GGUF" {
        return None;
    }
    let version = r.u32()?;
    let (tensors, kvs) = if version == 1 {
        (u64::from(r.u32()?), u64::from(r.u32()?))
    } else {
        (r.u64()?, r.u64()?)
    };
    for _ in 0..kvs {
        r.string()?;
        let kind = r.u32()?;
        r.skip_value(kind, 0)?;
    }
    for _ in 0..tensors {
        let name = r.string()?;
        let dims = r.u32()?;
        if dims > 8 {
            return None;
        }
        for _ in 0..dims {
            r.u64()?;
        }
        let kind = r.u32()?;
        r.u64()?;
        if !CANDLE_READS.contains(&kind) {
            return Some(format!(
                "tensor `{}` is {}, a tensor type memento cannot read (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q8_K)",
                name.escape_debug(),
                type_name(kind)
            ));
        }
    }
    None
}

/// A reader that never reads past the file's length, so a corrupt count cannot make it
/// allocate or loop without bound.
struct Header<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Header<R> {
    fn bytes(&mut self, buf: &mut [u8]) -> Option<()> {
        if buf.len() as u64 > self.left {
            return None;
        }
        self.inner.read_exact(buf).ok()?;
        self.left -= buf.len() as u64;
        Some(())
    }

    fn u32(&mut self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.bytes(&mut b)?;
        Some(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.bytes(&mut b)?;
        Some(u64::from_le_bytes(b))
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        if n > self.left {
            return None;
        }
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink()).ok()?;
        if copied != n {
            return None;
        }
        self.left -= n;
        Some(())
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u64()?;
        if n > self.left || n > 1 << 20 {
            return None;
        }
        let mut buf = vec![0u8; n as usize];
        self.bytes(&mut buf)?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Skip one metadata value of GGUF value type `kind`.
    fn skip_value(&mut self, kind: u32, depth: u32) -> Option<()> {
        match kind {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => {
                let n = self.u64()?;
                self.skip(n)
            }
            9 if depth < 4 => {
                let item = self.u32()?;
                let n = self.u64()?;
                match item {
                    0 | 1 | 7 => self.skip(n),
                    2 | 3 => self.skip(n.checked_mul(2)?),
                    4..=6 => self.skip(n.checked_mul(4)?),
                    10..=12 => self.skip(n.checked_mul(8)?),
                    _ => {
                        for _ in 0..n {
                            self.skip_value(item, depth + 1)?;
                        }
                        Some(())
                    }
                }
            }
            _ => None,
        }
    }
}
