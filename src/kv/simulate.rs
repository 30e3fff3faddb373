//! Run the accountant over a finished structure: the KV a policy would hold at every step.

use super::accountant::{Eviction, KvAccountant, KvReading};
use super::policy::KvPolicy;
use super::shape::KvShape;
use crate::structure::Boundary;

/// Occupancy at every step of a stream: one reading after the prompt's prefill (when there
/// is a prompt), then one after each generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct KvSeries {
    pub policy: KvPolicy,
    pub prompt_len: u64,
    pub readings: Vec<KvReading>,
    /// Each eviction with the position of the step that triggered it.
    pub evictions: Vec<(u64, Eviction)>,
    pub peak_live: u64,
    pub peak_bytes: u64,
    pub evicted_total: u64,
}

impl KvSeries {
    /// The reading after the step that processed position `pos` (the prefill step for any
    /// prompt position).
    pub fn after(&self, pos: u64) -> Option<&KvReading> {
        self.readings.get(step_index(self.prompt_len, pos))
    }

    pub fn final_reading(&self) -> Option<&KvReading> {
        self.readings.last()
    }
}

/// Index of the step that processes position `pos`.
pub fn step_index(prompt_len: u64, pos: u64) -> usize {
    if prompt_len == 0 {
        pos as usize
    } else if pos < prompt_len {
        0
    } else {
        (pos - prompt_len + 1) as usize
    }
}

/// Simulate `policy` over a stream of `end` positions whose first `prompt_len` are the
/// prompt, with `boundaries` in the order the segmenter emitted them.
pub fn simulate(
    prompt_len: u64,
    boundaries: &[Boundary],
    end: u64,
    policy: KvPolicy,
    shape: Option<KvShape>,
) -> KvSeries {
    let mut acc = KvAccountant::new(policy, shape);
    let mut readings = Vec::with_capacity((end.saturating_sub(prompt_len) + 1) as usize);
    let mut evictions = Vec::new();
    let mut next = 0;
    for pos in 0..end {
        if pos >= prompt_len {
            while next < boundaries.len() && boundaries[next].at <= pos {
                for e in acc.observe(&boundaries[next]) {
                    evictions.push((pos, e));
                }
                next += 1;
            }
        }
        let reading = acc.append(pos);
        if pos + 1 >= prompt_len {
            readings.push(reading);
        }
        if pos + 1 == prompt_len {
            // Blocks completed inside the prompt are compacted after prefill, before the
            // first generated token (as the reference implementation does).
            while next < boundaries.len() && boundaries[next].at < prompt_len {
                for e in acc.observe(&boundaries[next]) {
                    evictions.push((pos, e));
                }
                next += 1;
            }
        }
    }
    for b in &boundaries[next..] {
        for e in acc.observe(b) {
            evictions.push((end, e));
        }
    }
    KvSeries {
        policy,
        prompt_len,
        readings,
        evictions,
        peak_live: acc.peak_live(),
        peak_bytes: acc.peak_bytes(),
        evicted_total: acc.evicted_total(),
    }
}
