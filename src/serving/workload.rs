//! Request workloads for `memento bench serve`: each request replays the block/memento
//! schedule of a real trace (one the organism writes, a recorded run, or an imported MEMENTO
//! output), spelled in the serving model's own tokens: its tags where the trace has them,
//! and filler prose for the reasoning between them, so that the serving model decodes as many
//! tokens per block and per memento as the trace did, and its policy evicts where the trace's
//! would.

use crate::engine::{EngineError, Run, RunOptions, SamplerConfig};
use crate::import::user_message;
use crate::kv::KvPolicy;
use crate::model::{Model, ModelTokenizer};
use crate::structure::{Edge, SpanKind};
use crate::task::{Split, Task};
use crate::timeline::{Timeline, TimelineSink};

/// Plain prose written in place of a trace's reasoning: the same token count, no tags.
pub const FILLER: &str = "The committee met on a grey Tuesday morning to review the quarterly \
figures. Revenue had grown by 4.2 percent, while costs in the northern warehouses rose faster \
than expected. After a long discussion about shipping routes, fuel prices and the new inventory \
system, they agreed to revisit the budget in three weeks, once the audit of 1,250 invoices was \
done. ";

/// One piece of a schedule: reasoning tokens, or a structure tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Filler(usize),
    Tag(&'static str),
}

/// What one request decodes after its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Where it came from (a file name, `organism #3`).
    pub source: String,
    pub prompt: String,
    pub pieces: Vec<Piece>,
}

/// The tag that writes a span's edge, for the spans MEMENTO marks with tags (DESIGN.md §1.1).
fn tag(span: SpanKind, edge: Edge) -> Option<&'static str> {
    Some(match (span, edge) {
        (SpanKind::Think, Edge::Open) => "<think>",
        (SpanKind::Think, Edge::Close) => "</think>",
        (SpanKind::Block, Edge::Open) => "<|block_start|>",
        (SpanKind::Block, Edge::Close) => "<|block_end|>",
        (SpanKind::Summary, Edge::Open) => "<|summary_start|>",
        (SpanKind::Summary, Edge::Close) => "<|summary_end|>",
        (SpanKind::Answer, _) => return None,
    })
}

/// `n` filler tokens times `scale`: at least one where there were any.
fn scaled(n: usize, scale: f64) -> usize {
    if n == 0 {
        0
    } else {
        ((n as f64 * scale).round() as usize).max(1)
    }
}

impl Schedule {
    /// The schedule of a trace's generated tokens: the tokens between its tags become filler
    /// (their count times `scale`, at least one where there were any).
    pub fn from_timeline(source: String, timeline: &Timeline, scale: f64) -> Schedule {
        let mut pieces = Vec::new();
        let mut cursor = timeline.prompt_len();
        for b in timeline.boundaries() {
            let (Some(span), Some(text)) = (b.tag, tag(b.span, b.edge)) else {
                continue;
            };
            if span.from < cursor {
                continue;
            }
            let gap = scaled((span.from - cursor) as usize, scale);
            if gap > 0 {
                pieces.push(Piece::Filler(gap));
            }
            pieces.push(Piece::Tag(text));
            cursor = span.to;
        }
        let tail = scaled(timeline.next_pos().saturating_sub(cursor) as usize, scale);
        if tail > 0 {
            pieces.push(Piece::Filler(tail));
        }
        Schedule {
            source,
            prompt: timeline
                .prompt_text()
                .map(prompt_of)
                .unwrap_or_else(|| "Think it through in blocks.".to_string()),
            pieces,
        }
    }

    /// The same schedule with every filler count times `scale` (at least one token each).
    pub fn scaled(&self, scale: f64) -> Schedule {
        Schedule {
            pieces: self
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Filler(n) => Piece::Filler(scaled(*n, scale)),
                    tag => tag.clone(),
                })
                .collect(),
            ..self.clone()
        }
    }

    /// The token ids the serving model is made to write: tags encoded by its tokenizer, filler
    /// cut from [`FILLER`] starting `offset` tokens in.
    pub fn script(
        &self,
        tokenizer: &ModelTokenizer,
        offset: usize,
    ) -> Result<Vec<u32>, EngineError> {
        let filler: Vec<u32> = tokenizer.encode(FILLER)?.into_iter().map(|p| p.1).collect();
        let mut ids = Vec::new();
        let mut at = offset;
        for piece in &self.pieces {
            match piece {
                Piece::Filler(n) => {
                    for _ in 0..*n {
                        ids.push(filler[at % filler.len()]);
                        at += 1;
                    }
                }
                Piece::Tag(t) => ids.extend(tokenizer.encode(t)?.into_iter().map(|p| p.1)),
            }
        }
        Ok(ids)
    }

    /// Blocks the schedule closes.
    pub fn blocks(&self) -> usize {
        self.pieces
            .iter()
            .filter(|p| **p == Piece::Tag("<|block_end|>"))
            .count()
    }
}

/// The user's turn inside a recorded chat prompt, or the whole text when it has no turns.
fn prompt_of(text: &str) -> String {
    user_message(text)
        .as_deref()
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// `count` schedules written by the model organism: held-out problems of its task decoded
/// greedily in memento mode, each trace's structure kept.
pub fn organism_schedules(
    model: &Model,
    tokenizer: &ModelTokenizer,
    task: &Task,
    count: u64,
    seed: u64,
) -> Result<Vec<Schedule>, EngineError> {
    (0..count)
        .map(|i| {
            let problem = task.problem(Split::Heldout, seed, i);
            let options = RunOptions {
                policy: KvPolicy::MEMENTO,
                sampler: SamplerConfig::default(),
                max_tokens: task.max_tokens(),
                top_alternatives: 0,
                ..RunOptions::default()
            };
            let mut run = Run::start(
                model,
                tokenizer,
                &problem.prompt,
                options,
                TimelineSink::default(),
            )?;
            run.run_to_end(|_| {})?;
            let (sink, _) = run.finish(None)?;
            let timeline = sink
                .finish()
                .ok_or_else(|| EngineError::Request("the run recorded no header".into()))?;
            Ok(Schedule::from_timeline(
                format!("organism #{i}"),
                &timeline,
                1.0,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_turn_is_the_prompt() {
        assert_eq!(
            prompt_of("<|im_start|>user\nAdd 2 and 3.<|im_end|>\n<|im_start|>assistant\n"),
            "Add 2 and 3."
        );
        assert_eq!(prompt_of("plain"), "plain");
    }
}
