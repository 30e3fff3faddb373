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

/// Ids, logprobs and times are stored from the first token that has one (an imported trace
/// has none of them, and pays nothing for them); tokens before it read as absent.
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

/// Push `value` at `index`, padding the tokens before it that had none with `absent`; nothing
/// while no token has had a value.
fn push_sparse<T: Copy>(values: &mut Vec<T>, index: usize, value: Option<T>, absent: T) {
    if value.is_some() || !values.is_empty() {
        values.resize(index, absent);
        values.push(value.unwrap_or(absent));
    }
}

impl TokenStore {
    pub fn push(&mut self, e: TokenEvent, span: TokenSpan) {
        let index = self.ends.len();
        self.text.push_str(&e.text);
        self.ends.push(self.text.len());
        push_sparse(&mut self.ids, index, e.id, NO_ID);
        push_sparse(&mut self.logprobs, index, e.logprob, f32::NAN);
        push_sparse(&mut self.times, index, e.t, f64::NAN);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, id: Option<u32>, logprob: Option<f32>, t: Option<f64>) -> TokenEvent {
        TokenEvent {
            seq: 0,
            t,
            pos: 0,
            id,
            text: text.into(),
            logprob,
            top: None,
            scaffold: false,
        }
    }

    #[test]
    fn ids_logprobs_and_times_are_stored_from_the_first_token_that_has_one() {
        let mut store = TokenStore::default();
        store.push(token("a", None, None, None), TokenSpan::Think);
        store.push(token("b", None, None, None), TokenSpan::Think);
        assert!(store.ids.is_empty() && store.logprobs.is_empty() && store.times.is_empty());
        store.push(
            token("c", Some(7), Some(-0.5), Some(1.5)),
            TokenSpan::Answer,
        );
        store.push(token("d", None, Some(-1.0), None), TokenSpan::Answer);
        assert_eq!(store.len(), 4);
        assert_eq!(store.all_text(), "abcd");
        assert_eq!(
            (store.id(0), store.id(2), store.id(3)),
            (None, Some(7), None)
        );
        assert_eq!(store.logprob(1), None);
        assert_eq!(store.logprob(2), Some(-0.5));
        assert_eq!(store.logprob(3), Some(-1.0));
        assert_eq!((store.time(2), store.time(3)), (Some(1.5), None));
        assert_eq!(store.span(2), TokenSpan::Answer);
    }
}
