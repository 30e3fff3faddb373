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
    let mut out = Vec::with_capacity(text.len() / 4 + 1);
    for (chunk, is_tag) in split_at_tags(text) {
        if is_tag {
            out.push(chunk.to_string());
        } else {
            push_run(chunk, &mut out);
        }
    }
    out
}

/// Split `text` as [`estimate_pieces`] does, where only the byte ranges `tags` (sorted,
/// disjoint, each one whole tag) are tags: tag-like text anywhere else is a plain run.
pub fn estimate_pieces_placed(text: &str, tags: &[Range<usize>]) -> Vec<String> {
    let mut out = Vec::with_capacity(text.len() / 4 + 1);
    let mut done = 0;
    for tag in tags {
        push_run(&text[done..tag.start], &mut out);
        out.push(text[tag.clone()].to_string());
        done = tag.end;
    }
    push_run(&text[done..], &mut out);
    out
}

/// The estimated token count of a plain run of text (no tags).
pub fn estimate_run(chars: usize) -> usize {
    if chars == 0 { 0 } else { (chars / 4).max(1) }
}

fn push_run(run: &str, out: &mut Vec<String>) {
    let chars = run.chars().count();
    let n = estimate_run(chars);
    if n == 0 {
        return;
    }
    let mut it = run
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(run.len()));
    // Byte offsets of every 4th character boundary.
    let mut cuts = Vec::with_capacity(n + 1);
    for (k, offset) in (&mut it).enumerate() {
        if k % 4 == 0 && cuts.len() < n {
            cuts.push(offset);
        }
    }
    cuts.push(run.len());
    for w in cuts.windows(2) {
        out.push(run[w[0]..w[1]].to_string());
    }
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
