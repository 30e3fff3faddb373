//! The outline of a stream: each block with its memento, the think span and the answer, as
//! logical-position ranges. Built from boundaries; used by statistics and the KV simulation.

use std::ops::Range;

use super::boundary::{Boundary, Edge, SpanKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutline {
    pub index: u32,
    pub open: Boundary,
    pub close: Option<Boundary>,
    pub memento_open: Option<Boundary>,
    pub memento_close: Option<Boundary>,
}

impl BlockOutline {
    /// The block's content, between its delimiters (what `mask_delimiters = false` evicts).
    /// An unclosed block runs to `end`.
    pub fn content(&self, end: u64) -> Range<u64> {
        let from = self.open.tag_to();
        let to = self.close.as_ref().map_or(end, Boundary::tag_from);
        from..to.max(from)
    }

    /// The block with both delimiters (what `mask_delimiters = true` and restart evict).
    pub fn with_delimiters(&self, end: u64) -> Range<u64> {
        let from = self.open.tag_from();
        let to = self.close.as_ref().map_or(end, Boundary::tag_to);
        from..to.max(from)
    }

    /// The memento's text, between its delimiters.
    pub fn memento_content(&self, end: u64) -> Option<Range<u64>> {
        let open = self.memento_open.as_ref()?;
        let from = open.tag_to();
        let to = self.memento_close.as_ref().map_or(end, Boundary::tag_from);
        Some(from..to.max(from))
    }

    /// The memento with its delimiters.
    pub fn memento_with_delimiters(&self, end: u64) -> Option<Range<u64>> {
        let open = self.memento_open.as_ref()?;
        let to = self.memento_close.as_ref().map_or(end, Boundary::tag_to);
        Some(open.tag_from()..to.max(open.tag_from()))
    }

    /// True when a real `<|summary_end|>` closed this block's memento: the eviction trigger.
    pub fn memento_ended(&self) -> bool {
        self.memento_close
            .as_ref()
            .is_some_and(|c| !c.is_implicit())
    }

    pub fn content_tokens(&self, end: u64) -> u64 {
        let r = self.content(end);
        r.end - r.start
    }

    pub fn memento_tokens(&self, end: u64) -> u64 {
        self.memento_content(end).map_or(0, |r| r.end - r.start)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outline {
    pub prompt_len: u64,
    /// One past the last position of the stream.
    pub end: u64,
    pub blocks: Vec<BlockOutline>,
    /// Mementos with no block to summarise: (open, close).
    pub orphan_mementos: Vec<(Boundary, Option<Boundary>)>,
    pub think: Option<Range<u64>>,
    pub answer: Option<Range<u64>>,
}

impl Outline {
    pub fn from_boundaries<'a>(
        prompt_len: u64,
        boundaries: impl IntoIterator<Item = &'a Boundary>,
        end: u64,
    ) -> Outline {
        let mut outline = Outline {
            prompt_len,
            end,
            ..Outline::default()
        };
        let mut think_from = None;
        let mut answer_from = None;
        for b in boundaries {
            outline.add(b, &mut think_from, &mut answer_from);
        }
        if let Some(from) = think_from {
            outline.think.get_or_insert(from..end.max(from));
        }
        if let Some(from) = answer_from {
            outline.answer.get_or_insert(from..end.max(from));
        }
        outline
    }

    fn add(&mut self, b: &Boundary, think_from: &mut Option<u64>, answer_from: &mut Option<u64>) {
        match (b.span, b.edge) {
            (SpanKind::Think, Edge::Open) => *think_from = Some(b.tag_to()),
            (SpanKind::Think, Edge::Close) => {
                let from = think_from.take().unwrap_or(self.prompt_len);
                let to = b.tag_from().max(from);
                self.think = Some(from..to);
            }
            (SpanKind::Answer, Edge::Open) => *answer_from = Some(b.at.max(b.tag_to())),
            (SpanKind::Answer, Edge::Close) => {
                let from = answer_from.take().unwrap_or(b.tag_from());
                self.answer = Some(from..b.tag_from().max(from));
            }
            (SpanKind::Block, Edge::Open) => {
                if let Some(index) = b.block {
                    self.blocks.push(BlockOutline {
                        index,
                        open: b.clone(),
                        close: None,
                        memento_open: None,
                        memento_close: None,
                    });
                }
            }
            (SpanKind::Block, Edge::Close) => {
                if let Some(block) = self.block_mut(b.block) {
                    block.close = Some(b.clone());
                }
            }
            (SpanKind::Summary, Edge::Open) => match self.block_mut(b.block) {
                Some(block) => block.memento_open = Some(b.clone()),
                None => self.orphan_mementos.push((b.clone(), None)),
            },
            (SpanKind::Summary, Edge::Close) => match self.block_mut(b.block) {
                Some(block) => block.memento_close = Some(b.clone()),
                None => {
                    if let Some(last) = self.orphan_mementos.last_mut() {
                        last.1 = Some(b.clone());
                    }
                }
            },
        }
    }

    fn block_mut(&mut self, index: Option<u32>) -> Option<&mut BlockOutline> {
        let index = index?;
        self.blocks.iter_mut().rev().find(|b| b.index == index)
    }

    /// Blocks that have a memento (with text between its delimiters).
    pub fn mementos(&self) -> impl Iterator<Item = &BlockOutline> {
        self.blocks.iter().filter(|b| b.memento_open.is_some())
    }
}
