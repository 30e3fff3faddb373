//! Packing examples into fixed-length rows: each row holds whole sequences back to back, each
//! with its own positions (from 0) and its own mask, so no sequence sees another.

use std::sync::Arc;

use super::example::Example;
use super::visibility::{Hidden, RowVisibility};

/// A batch ready for the forward pass: `rows × t` tokens.
pub struct Batch {
    pub t: usize,
    /// `rows × t`, row-major; padding is token 0.
    pub ids: Vec<u32>,
    /// Logical (RoPE) position of every token, `rows × t`.
    pub positions: Arc<Vec<u64>>,
    pub rows: Arc<Vec<RowVisibility>>,
    /// Flat indices of the tokens that predict a target, and the targets (the next token).
    pub target_rows: Vec<u32>,
    pub target_ids: Vec<u32>,
    /// Tokens of real sequences (not padding).
    pub tokens: usize,
    /// Sequences packed.
    pub sequences: usize,
}

/// An example with the spans its stage hides.
pub struct Masked {
    pub example: Example,
    pub hidden: Vec<Hidden>,
    /// Added to the logical positions of the response (a gap after the prompt), so that
    /// training sees the prompt at distances longer sequences put it (0 = none).
    pub gap: u64,
}

impl Masked {
    /// `example` with the spans `policy` hides and no gap.
    pub fn new(example: Example, policy: crate::kv::KvPolicy) -> Result<Masked, super::TrainError> {
        let hidden = example.hidden(policy)?;
        Ok(Masked {
            example,
            hidden,
            gap: 0,
        })
    }
}

/// Rows of capacity `t`, filled first-fit in the order examples arrive.
pub struct Packer {
    t: usize,
    rows: Vec<Vec<Masked>>,
    used: Vec<usize>,
}

impl Packer {
    pub fn new(rows: usize, t: usize) -> Packer {
        Packer {
            t,
            rows: (0..rows).map(|_| Vec::new()).collect(),
            used: vec![0; rows],
        }
    }

    /// Place `m` in the first row with room; gives it back when no row has room. An example
    /// longer than a row must be cut by the caller first.
    pub fn push(&mut self, m: Masked) -> Result<(), Masked> {
        let len = m.example.len();
        match self.used.iter().position(|&u| u + len <= self.t) {
            Some(r) => {
                self.used[r] += len;
                self.rows[r].push(m);
                Ok(())
            }
            None => Err(m),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.used.iter().all(|&u| u == 0)
    }

    /// The packed batch.
    pub fn finish(self) -> Batch {
        // Rows end where the fullest one does: no row is padded past the longest content.
        let t = self.used.iter().copied().max().unwrap_or(0).max(1);
        let n = self.rows.len();
        let mut ids = vec![0u32; n * t];
        let mut positions = vec![0u64; n * t];
        let mut visibility = Vec::with_capacity(n);
        let mut target_rows = Vec::new();
        let mut target_ids = Vec::new();
        let tokens = self.used.iter().sum();
        let sequences = self.rows.iter().map(Vec::len).sum();
        for (r, row) in self.rows.into_iter().enumerate() {
            let mut docs = Vec::new();
            let mut hidden = Vec::new();
            let mut at = 0;
            for m in row {
                let e = &m.example;
                let base = r * t + at;
                ids[base..base + e.len()].copy_from_slice(&e.ids);
                for i in 0..e.len() {
                    let gap = if i >= e.prompt_len { m.gap } else { 0 };
                    positions[base + i] = i as u64 + gap;
                }
                // Row i predicts token i + 1 for every response token.
                for i in e.prompt_len.max(1)..e.len() {
                    target_rows.push((base + i - 1) as u32);
                    target_ids.push(e.ids[i]);
                }
                docs.push(at..at + e.len());
                hidden.extend(m.hidden.iter().map(|h| Hidden {
                    keys: h.keys.start + at..h.keys.end + at,
                    from: h.from + at,
                }));
                at += e.len();
            }
            visibility.push(RowVisibility::new(t, &docs, &hidden));
        }
        Batch {
            t,
            ids,
            positions: Arc::new(positions),
            rows: Arc::new(visibility),
            target_rows,
            target_ids,
            tokens,
            sequences,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(prompt_len: usize, len: usize) -> Example {
        Example {
            ids: (0..len as u32).collect(),
            prompt_len,
            texts: vec![String::new(); len],
            quoted: Vec::new(),
        }
    }

    #[test]
    fn packed_sequences_keep_their_own_positions_targets_and_gaps() {
        let mut p = Packer::new(2, 10);
        for (prompt, len, gap) in [(2, 5, 0), (3, 4, 7), (1, 9, 0)] {
            let m = Masked {
                example: example(prompt, len),
                hidden: Vec::new(),
                gap,
            };
            p.push(m).ok().unwrap();
        }
        // A fourth sequence of 6 fits nowhere.
        let full = Masked {
            example: example(1, 6),
            hidden: Vec::new(),
            gap: 0,
        };
        assert!(p.push(full).is_err());
        let b = p.finish();
        // Rows end at the longest content (9), first-fit: row 0 holds the first two.
        assert_eq!(b.t, 9);
        assert_eq!(b.positions[..9], [0, 1, 2, 3, 4, 0, 1, 2, 10]);
        assert_eq!(b.positions[9..18], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        // Targets: each response token, predicted from the row before it.
        assert_eq!(b.target_rows[..3], [1, 2, 3]);
        assert_eq!(b.target_rows[3..4], [7]);
        assert_eq!(b.target_ids[3], 3);
        assert_eq!(b.target_ids.len(), 3 + 1 + 8);
        assert_eq!((b.tokens, b.sequences), (18, 3));
        assert!(!b.rows[0].sees(5, 4));
    }
}
