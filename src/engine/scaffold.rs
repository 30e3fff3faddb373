//! Scaffolded mode, for models never trained on mementos (SmolLM2): the runtime opens each
//! block, closes it at a sentence or paragraph boundary once it is long enough (or at the hard
//! cap), inserts the summary delimiters with a short instruction, lets the model write the
//! memento until a line or sentence ends, and closes it, which triggers the eviction.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaffoldConfig {
    /// A block closes at the first sentence or paragraph end after this many tokens.
    pub min_block_tokens: u32,
    /// ... and at this many tokens regardless.
    pub max_block_tokens: u32,
    pub min_memento_tokens: u32,
    pub max_memento_tokens: u32,
    /// After this many blocks the runtime closes the thinking and asks for the answer.
    pub max_blocks: u32,
    /// Written between `<|block_end|>` and `<|summary_start|>`.
    pub instruction: String,
}

impl Default for ScaffoldConfig {
    fn default() -> Self {
        ScaffoldConfig {
            min_block_tokens: 40,
            max_block_tokens: 120,
            min_memento_tokens: 6,
            max_memento_tokens: 40,
            max_blocks: 6,
            instruction: "In one sentence, what has been found so far:".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Block,
    Memento,
    Answer,
}

pub struct Scaffold {
    config: ScaffoldConfig,
    phase: Phase,
    count: u32,
    blocks: u32,
    /// The model ended its turn inside the thinking: finish the memento, then answer.
    wrapping_up: bool,
}

impl Scaffold {
    pub fn new(config: ScaffoldConfig) -> Scaffold {
        Scaffold {
            config,
            phase: Phase::NotStarted,
            count: 0,
            blocks: 0,
            wrapping_up: false,
        }
    }

    pub fn blocks_closed(&self) -> u32 {
        self.blocks
    }

    /// Text forced right after the prompt: open the thinking and the first block.
    pub fn start(&mut self) -> String {
        self.phase = Phase::Block;
        self.count = 0;
        "<think>\n<|block_start|>".to_string()
    }

    /// After each token the model wrote: text to force next, if any.
    pub fn after_token(&mut self, text: &str) -> Option<String> {
        self.count += 1;
        match self.phase {
            Phase::Block => {
                let long_enough = self.count >= self.config.min_block_tokens && ends_sentence(text);
                (long_enough || self.count >= self.config.max_block_tokens)
                    .then(|| self.close_block())
            }
            Phase::Memento => {
                let done = (self.count >= self.config.min_memento_tokens && ends_sentence(text))
                    || text.contains('\n') && self.count > 1
                    || self.count >= self.config.max_memento_tokens;
                done.then(|| self.close_memento())
            }
            Phase::NotStarted | Phase::Answer => None,
        }
    }

    /// The model ended its turn: text to force instead, or `None` to stop.
    pub fn on_end_of_turn(&mut self) -> Option<String> {
        match self.phase {
            Phase::Block => {
                self.wrapping_up = true;
                Some(self.close_block())
            }
            Phase::Memento => {
                self.wrapping_up = true;
                Some(self.close_memento())
            }
            Phase::NotStarted | Phase::Answer => None,
        }
    }

    fn close_block(&mut self) -> String {
        self.phase = Phase::Memento;
        self.count = 0;
        format!(
            "<|block_end|>\n{}\n<|summary_start|>",
            self.config.instruction
        )
    }

    fn close_memento(&mut self) -> String {
        self.blocks += 1;
        self.count = 0;
        if self.wrapping_up || self.blocks >= self.config.max_blocks {
            self.phase = Phase::Answer;
            "<|summary_end|>\n</think>\n".to_string()
        } else {
            self.phase = Phase::Block;
            "<|summary_end|>\n<|block_start|>".to_string()
        }
    }
}

fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches([' ', '"', '\'', ')']);
    text.contains('\n') || t.ends_with(['.', '!', '?', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_blocks_and_mementos_then_answers() {
        let mut s = Scaffold::new(ScaffoldConfig {
            min_block_tokens: 3,
            max_block_tokens: 5,
            min_memento_tokens: 2,
            max_memento_tokens: 4,
            max_blocks: 2,
            instruction: "Sum up:".into(),
        });
        assert_eq!(s.start(), "<think>\n<|block_start|>");
        assert_eq!(s.after_token(" a"), None);
        assert_eq!(s.after_token(" b."), None, "too short to close");
        let close = s.after_token(" c.").unwrap();
        assert!(close.starts_with("<|block_end|>") && close.ends_with("<|summary_start|>"));
        assert_eq!(s.after_token(" x"), None);
        assert_eq!(
            s.after_token(" y."),
            Some("<|summary_end|>\n<|block_start|>".into())
        );
        // The hard cap closes a block without a sentence end.
        for _ in 0..4 {
            assert_eq!(s.after_token(" w"), None);
        }
        assert!(s.after_token(" w").is_some());
        for _ in 0..3 {
            assert_eq!(s.after_token(" m"), None);
        }
        assert_eq!(
            s.after_token(" m"),
            Some("<|summary_end|>\n</think>\n".into())
        );
        assert_eq!(s.blocks_closed(), 2);
        assert_eq!(s.on_end_of_turn(), None);
    }

    #[test]
    fn end_of_turn_inside_a_block_wraps_up() {
        let mut s = Scaffold::new(ScaffoldConfig::default());
        s.start();
        s.after_token(" thinking");
        assert!(s.on_end_of_turn().unwrap().starts_with("<|block_end|>"));
        assert_eq!(
            s.on_end_of_turn(),
            Some("<|summary_end|>\n</think>\n".into())
        );
        assert_eq!(s.on_end_of_turn(), None);
    }
}
