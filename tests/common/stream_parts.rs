//! What two recorded streams must share to be the same run: each token's (id, text) and the
//! evicted spans.

use memento::trace::Event;

/// (id, text) of every token.
pub type Tokens = Vec<(Option<u32>, String)>;

/// The tokens and the evicted spans `[from, to)` of a trace's events.
pub fn tokens_and_evictions(events: &[Event]) -> (Tokens, Vec<(u64, u64)>) {
    let tokens = events
        .iter()
        .filter_map(|e| match e {
            Event::Token(t) => Some((t.id, t.text.clone())),
            _ => None,
        })
        .collect();
    let evictions = events
        .iter()
        .filter_map(|e| match e {
            Event::Evict(v) => Some((v.from, v.to)),
            _ => None,
        })
        .collect();
    (tokens, evictions)
}
