//! Compact storage for a stream's tokens: one text arena and parallel arrays, so a
//! 200k-token trace costs a few megabytes and any token is O(1) to reach.

use std::collections::HashMap;

use crate::structure::SpanKind;
use crate::trace::{Alternative, OpenSpan, TokenEvent};

/// Which span a token was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSpan {
    /// Before `<think>`, or in a turn without structure.
    Outside,
    /// Inside `<think>` but in no block or memento.
    Think,
    Block(u32),
    /// A memento, with the block it summarises.
    Memento(Option<u32>),
    Answer,
}

impl From<Option<OpenSpan>> for TokenSpan {
    /// The span of a token written while `open` is the innermost open span.
    fn from(open: Option<OpenSpan>) -> TokenSpan {
        match open {
            None => TokenSpan::Outside,
            Some(o) => match (o.kind, o.block) {
                (SpanKind::Think, _) => TokenSpan::Think,
                (SpanKind::Block, Some(b)) => TokenSpan::Block(b),
                (SpanKind::Block, None) => TokenSpan::Outside,
                (SpanKind::Summary, b) => TokenSpan::Memento(b),
                (SpanKind::Answer, _) => TokenSpan::Answer,
            },
        }
    }
}

impl TokenSpan {
    pub fn kind(self) -> Option<SpanKind> {
        match self {
            TokenSpan::Outside => None,
            TokenSpan::Think => Some(SpanKind::Think),
            TokenSpan::Block(_) => Some(SpanKind::Block),
            TokenSpan::Memento(_) => Some(SpanKind::Summary),
            TokenSpan::Answer => Some(SpanKind::Answer),
        }
    }
}

const NO_ID: u32 = u32::MAX;

#[derive(Debug, Default, Clone)]
pub struct TokenStore {
    text: String,
    ends: Vec<usize>,
    ids: Vec<u32>,
    logprobs: Vec<f32>,
    times: Vec<f64>,
    scaffold: Vec<bool>,
    spans: Vec<TokenSpan>,
    top: HashMap<usize, Vec<Alternative>>,
}

impl TokenStore {
    pub fn push(&mut self, e: TokenEvent, span: TokenSpan) {
        let index = self.ends.len();
        self.text.push_str(&e.text);
        self.ends.push(self.text.len());
        self.ids.push(e.id.unwrap_or(NO_ID));
        self.logprobs.push(e.logprob.unwrap_or(f32::NAN));
        self.times.push(e.t.unwrap_or(f64::NAN));
        self.scaffold.push(e.scaffold);
        self.spans.push(span);
        if let Some(top) = e.top {
            self.top.insert(index, top);
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Byte range of token `i` in [`TokenStore::all_text`].
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    pub fn text(&self, i: usize) -> &str {
        &self.text[self.range(i)]
    }

    /// The text of every token, concatenated.
    pub fn all_text(&self) -> &str {
        &self.text
    }

    /// Text of tokens `from..to`.
    pub fn text_between(&self, from: usize, to: usize) -> &str {
        if from >= to {
            return "";
        }
        let start = self.range(from).start;
        let end = self.ends[to - 1];
        &self.text[start..end]
    }

    /// The token whose text holds byte `offset` of [`TokenStore::all_text`].
    pub fn token_at_byte(&self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end <= offset)
    }

    pub fn id(&self, i: usize) -> Option<u32> {
        self.ids.get(i).copied().filter(|&id| id != NO_ID)
    }

    pub fn logprob(&self, i: usize) -> Option<f32> {
        self.logprobs.get(i).copied().filter(|l| !l.is_nan())
    }

    pub fn time(&self, i: usize) -> Option<f64> {
        self.times.get(i).copied().filter(|t| !t.is_nan())
    }

    pub fn scaffold(&self, i: usize) -> bool {
        self.scaffold.get(i).copied().unwrap_or(false)
    }

    pub fn span(&self, i: usize) -> TokenSpan {
        self.spans.get(i).copied().unwrap_or(TokenSpan::Outside)
    }

    pub fn top(&self, i: usize) -> Option<&[Alternative]> {
        self.top.get(&i).map(Vec::as_slice)
    }

    /// True when any token carries a time.
    pub fn timed(&self) -> bool {
        self.times.iter().any(|t| !t.is_nan())
    }
}
