//! A policy simulated incrementally as events arrive, so replay and live runs can chart the
//! full-context and memento policies side by side with the same accountant the recorder uses.

use crate::kv::{KvAccountant, KvPolicy, KvShape};
use crate::structure::Boundary;

#[derive(Debug, Clone)]
pub struct PolicySeries {
    pub policy: KvPolicy,
    accountant: KvAccountant,
    prompt_len: u64,
    /// Live tokens after each step: the prefill (when there is a prompt), then each token.
    live: Vec<u64>,
    bytes: Vec<u64>,
    /// Prompt boundaries wait until the prefill is complete.
    pending: Vec<Boundary>,
}

impl PolicySeries {
    pub fn new(policy: KvPolicy, shape: KvShape) -> Self {
        PolicySeries {
            policy,
            accountant: KvAccountant::new(policy, Some(shape)),
            prompt_len: 0,
            live: Vec::new(),
            bytes: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub fn set_prompt_len(&mut self, prompt_len: u64) {
        self.prompt_len = prompt_len;
    }

    /// Append every position before `end` not yet appended.
    pub fn advance_to(&mut self, end: u64) {
        while self.accountant.next_pos() < end {
            let pos = self.accountant.next_pos();
            let reading = self.accountant.append(pos);
            if pos + 1 >= self.prompt_len {
                self.live.push(reading.live);
                self.bytes.push(reading.bytes);
            }
            if pos + 1 == self.prompt_len {
                for b in std::mem::take(&mut self.pending) {
                    self.accountant.observe(&b);
                }
            }
        }
    }

    pub fn boundary(&mut self, b: &Boundary) {
        if b.at < self.prompt_len && self.accountant.next_pos() < self.prompt_len {
            self.pending.push(b.clone());
            return;
        }
        self.advance_to(b.at);
        self.accountant.observe(b);
    }

    pub fn live(&self) -> &[u64] {
        &self.live
    }

    pub fn bytes(&self) -> &[u64] {
        &self.bytes
    }

    pub fn peak_live(&self) -> u64 {
        self.accountant.peak_live()
    }

    pub fn peak_bytes(&self) -> u64 {
        self.accountant.peak_bytes()
    }
}
