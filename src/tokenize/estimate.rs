//! Token counts without a tokenizer.
//!
//! The rule, chosen to reproduce the published MEMENTO examples (whose `approx_tokens` is
//! `char_len // 4`): each tag is one token, as in a MEMENTO checkpoint's vocabulary; any other
//! run of n characters (Unicode scalar values) between tags is max(1, ⌊n/4⌋) tokens, cut into
//! pieces of four characters with the remainder joined to the last piece.

use std::ops::Range;

use crate::structure::Tag;

pub const ESTIMATE_RULE: &str =
    "each tag is 1 token; a run of n characters between tags is max(1, n/4 rounded down) tokens";

/// Split `text` into estimated token pieces whose concatenation is exactly `text`.
pub fn estimate_pieces(text: &str) -> Vec<String> {
    pieces_at(text, &estimate_ends(text))
}

/// The byte offset where each estimated token of `text` ends, in order (the last is
/// `text.len()`): [`estimate_pieces`] without a string per token.
pub fn estimate_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::with_capacity(text.len() / 4 + 1);
    let mut at = 0;
    for (chunk, is_tag) in split_at_tags(text) {
        if is_tag {
            ends.push(at + chunk.len());
        } else {
            push_run(chunk, at, &mut ends);
        }
        at += chunk.len();
    }
    ends
}

/// [`estimate_ends`], where only the byte ranges `tags` (sorted, disjoint, each one whole
/// tag) are tags: tag-like text anywhere else is a plain run.
pub fn estimate_ends_placed(text: &str, tags: &[Range<usize>]) -> Vec<usize> {
    let mut ends = Vec::with_capacity(text.len() / 4 + 1);
    let mut done = 0;
    for tag in tags {
        push_run(&text[done..tag.start], done, &mut ends);
        ends.push(tag.end);
        done = tag.end;
    }
    push_run(&text[done..], done, &mut ends);
    ends
}

fn pieces_at(text: &str, ends: &[usize]) -> Vec<String> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let piece = text[start..end].to_string();
            start = end;
            piece
        })
        .collect()
}

/// The estimated token count of a plain run of text (no tags).
pub fn estimate_run(chars: usize) -> usize {
    if chars == 0 { 0 } else { (chars / 4).max(1) }
}

/// Push the ends of a plain run's pieces (the run starts at byte `at`): every fourth
/// character boundary, the remainder joined to the last piece.
fn push_run(run: &str, at: usize, ends: &mut Vec<usize>) {
    let n = estimate_run(run.chars().count());
    if n == 0 {
        return;
    }
    let boundaries = run
        .char_indices()
        .map(|(i, _)| i)
        .step_by(4)
        .skip(1)
        .take(n - 1);
    ends.extend(boundaries.map(|i| at + i));
    ends.push(at + run.len());
}

/// Cut text into (chunk, is_tag) with every tag standing alone.
pub fn split_at_tags(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            if let Some(tag) = Tag::at_start_of(&text[i..]) {
                if start < i {
                    out.push((&text[start..i], false));
                }
                let end = i + tag.text().len();
                out.push((&text[i..end], true));
                start = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    if start < text.len() {
        out.push((&text[start..], false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_a_quarter_of_their_characters() {
        assert_eq!(estimate_pieces("abcdefgh").len(), 2);
        assert_eq!(estimate_pieces("abcdefghijk").len(), 2);
        assert_eq!(estimate_pieces("ab").len(), 1);
        assert_eq!(estimate_pieces("").len(), 0);
        assert_eq!(estimate_pieces("ééééé").concat(), "ééééé");
    }

    #[test]
    fn tags_are_single_pieces() {
        let p = estimate_pieces("<think>abcd<|block_start|>abcdefgh<|block_end|>");
        assert_eq!(
            p,
            [
                "<think>",
                "abcd",
                "<|block_start|>",
                "abcd",
                "efgh",
                "<|block_end|>"
            ]
        );
    }
}
