//! Which spans are open, folded from boundaries: validates that a stream of structure events
//! is balanced and says which span is innermost. Shared by the recorder and the timeline.

use crate::structure::{Boundary, Edge, SpanKind};

use super::schema::OpenSpan;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenSpans {
    think: bool,
    answer: bool,
    block: Option<u32>,
    /// An open memento, with the block it summarises.
    memento: Option<Option<u32>>,
}

impl OpenSpans {
    /// Apply one boundary, refusing one that does not fit what is open.
    pub fn apply(&mut self, b: &Boundary) -> Result<(), String> {
        let name = b.name();
        match (b.span, b.edge) {
            (SpanKind::Think, Edge::Open) => self.think = true,
            // `</think>` without `<think>` is legal: the segmenter reports it as a diagnostic.
            (SpanKind::Think, Edge::Close) => self.think = false,
            (SpanKind::Answer, Edge::Open) => self.answer = true,
            (SpanKind::Answer, Edge::Close) => {
                if !self.answer {
                    return Err("structure event closes the answer, which is not open".into());
                }
                self.answer = false;
            }
            (SpanKind::Block, Edge::Open) => {
                if let Some(open) = self.block {
                    return Err(format!(
                        "structure event `{name}` while block {} is still open",
                        open + 1
                    ));
                }
                if b.block.is_none() {
                    return Err("structure event opens a block without a `block` index".into());
                }
                self.block = b.block;
            }
            (SpanKind::Block, Edge::Close) => {
                if self.block != b.block || b.block.is_none() {
                    return Err(format!(
                        "structure event `{name}` closes a block that is not open"
                    ));
                }
                self.block = None;
            }
            (SpanKind::Summary, Edge::Open) => {
                if self.memento.is_some() {
                    return Err(format!(
                        "structure event `{name}` while a memento is still open"
                    ));
                }
                self.memento = Some(b.block);
            }
            (SpanKind::Summary, Edge::Close) => {
                if self.memento != Some(b.block) {
                    return Err(format!(
                        "structure event `{name}` closes a memento that is not open"
                    ));
                }
                self.memento = None;
            }
        }
        Ok(())
    }

    /// The innermost open span: a memento or block, else the answer, else the think span.
    pub fn innermost(&self) -> Option<OpenSpan> {
        let span = |kind, block| Some(OpenSpan { kind, block });
        if let Some(block) = self.memento {
            span(SpanKind::Summary, block)
        } else if let Some(block) = self.block {
            span(SpanKind::Block, Some(block))
        } else if self.answer {
            span(SpanKind::Answer, None)
        } else if self.think {
            span(SpanKind::Think, None)
        } else {
            None
        }
    }
}
