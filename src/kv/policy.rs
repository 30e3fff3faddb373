//! The eviction policy, mirroring the reference implementation's block-masking config
//! (DESIGN §1.2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPolicy {
    /// −1: never evict (full context). 0: evict each block when its memento ends.
    /// N > 0: keep the last N completed blocks visible.
    pub keep_last_n_blocks: i32,
    /// Evict the block's delimiters too (Phi-4), not only its content (Qwen3, Olmo 3).
    #[serde(default)]
    pub mask_delimiters: bool,
    /// With keep 0, defer evicting the latest block: flush it at the next `<|block_start|>`,
    /// keep it for the answer if `</think>` comes first.
    #[serde(default)]
    pub keep_last_block_for_answer: bool,
    /// Force `<|block_end|>` once a block holds this many content tokens (0 = off).
    #[serde(default)]
    pub max_block_tokens: u32,
    /// The dual-stream ablation: evict the block with both delimiters, then recompute the
    /// memento's KV from its text alone.
    #[serde(default)]
    pub restart: bool,
}

impl KvPolicy {
    pub const FULL: KvPolicy = KvPolicy {
        keep_last_n_blocks: -1,
        mask_delimiters: false,
        keep_last_block_for_answer: false,
        max_block_tokens: 0,
        restart: false,
    };

    pub const MEMENTO: KvPolicy = KvPolicy {
        keep_last_n_blocks: 0,
        ..KvPolicy::FULL
    };

    pub fn keep_n(n: u32) -> KvPolicy {
        KvPolicy {
            keep_last_n_blocks: n as i32,
            ..KvPolicy::FULL
        }
    }

    pub fn restart() -> KvPolicy {
        KvPolicy {
            restart: true,
            ..KvPolicy::MEMENTO
        }
    }

    pub fn evicts(&self) -> bool {
        self.keep_last_n_blocks >= 0
    }

    /// Parse a mode name: `full`, `memento`, `keep-N` (or `keepN`, `keep:N`), `restart`.
    pub fn parse(mode: &str) -> Result<KvPolicy, String> {
        let m = mode.trim().to_ascii_lowercase();
        match m.as_str() {
            "full" | "-1" => return Ok(KvPolicy::FULL),
            "memento" | "keep0" | "keep-0" | "keep:0" => return Ok(KvPolicy::MEMENTO),
            "restart" => return Ok(KvPolicy::restart()),
            _ => {}
        }
        // `keep` then at most one separator, then digits only (`keep--1` and `keep+1` are not N).
        let n = m
            .strip_prefix("keep")
            .map(|rest| rest.strip_prefix(['-', ':', '=']).unwrap_or(rest))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok());
        match n {
            Some(n) => Ok(KvPolicy::keep_n(n)),
            None => Err(format!(
                "unknown mode `{mode}`: expected full, memento, keep-N (N ≥ 0) or restart"
            )),
        }
    }

    /// The mode alone, as [`KvPolicy::parse`] reads it: `full`, `memento`, `keep-N` or
    /// `restart`.
    pub fn mode_name(&self) -> String {
        match (self.restart, self.keep_last_n_blocks) {
            (true, _) => "restart".to_string(),
            (false, n) if n < 0 => "full".to_string(),
            (false, 0) => "memento".to_string(),
            (false, n) => format!("keep-{n}"),
        }
    }

    /// A short name for tables and status bars.
    pub fn label(&self) -> String {
        let mut s = if self.restart {
            "restart".to_string()
        } else {
            match self.keep_last_n_blocks {
                n if n < 0 => "full".to_string(),
                0 => "memento".to_string(),
                n => format!("keep-{n}"),
            }
        };
        if self.mask_delimiters && !self.restart && self.evicts() {
            s.push_str("+delims");
        }
        if self.keep_last_block_for_answer && self.keep_last_n_blocks == 0 {
            s.push_str("+answer-block");
        }
        s
    }
}

impl Default for KvPolicy {
    fn default() -> Self {
        KvPolicy::MEMENTO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mode_name() {
        assert_eq!(KvPolicy::parse("full").unwrap(), KvPolicy::FULL);
        assert_eq!(KvPolicy::parse("memento").unwrap(), KvPolicy::MEMENTO);
        assert_eq!(KvPolicy::parse("keep-2").unwrap().keep_last_n_blocks, 2);
        for bad in [
            "keep--1", "keep-+1", "keep+1", "keep", "keep-", "keep:-1", "keep-1x",
        ] {
            assert!(KvPolicy::parse(bad).is_err(), "{bad}");
        }
        // `keep-N` always names N kept blocks; "never evict" is spelled `full`.
        assert_eq!(KvPolicy::parse("keep-1").unwrap().keep_last_n_blocks, 1);
        assert_eq!(KvPolicy::parse("keep:3").unwrap().keep_last_n_blocks, 3);
        assert!(KvPolicy::parse("restart").unwrap().restart);
        assert!(
            KvPolicy::parse("sometimes")
                .unwrap_err()
                .contains("unknown mode")
        );
    }
}
