//! Text that memento assembles from quoted data (a problem, block and memento texts) and the
//! tags it places around that data. Only the placed tags are structure: a block that quotes
//! `</think>` is a block that mentions the tag, not the end of the think span.

use std::ops::Range;

use crate::structure::Tag;

/// Assembled text, the byte ranges of the tags placed in it, and where each quoted part came
/// from (for messages).
#[derive(Debug, Clone, Default)]
pub struct Assembly {
    pub text: String,
    /// Byte ranges of the placed tags, in order; each spells one whole tag.
    pub tags: Vec<Range<usize>>,
    /// (byte range, field name) of each quoted part.
    pub parts: Vec<(Range<usize>, String)>,
}

impl Assembly {
    /// Start with `tag` placed.
    pub fn starting_with(tag: Tag) -> Self {
        let mut assembly = Assembly::default();
        assembly.tag(tag);
        assembly
    }

    /// Place a tag: structure.
    pub fn tag(&mut self, tag: Tag) {
        let start = self.text.len();
        self.text.push_str(tag.text());
        self.tags.push(start..self.text.len());
    }

    /// memento's own text between tags (a newline, a role name): never a tag.
    pub fn glue(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Quote `text` from the source's `field`: data, never read as a tag.
    pub fn quote(&mut self, text: &str, field: String) {
        let start = self.text.len();
        self.text.push_str(text);
        self.parts.push((start..self.text.len(), field));
    }

    /// Quote several pieces of one field joined by `separator`, as one part.
    pub fn quote_joined<'a>(
        &mut self,
        pieces: impl IntoIterator<Item = &'a str>,
        separator: &str,
        field: String,
    ) {
        let start = self.text.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(separator);
            }
            self.text.push_str(piece);
        }
        self.parts.push((start..self.text.len(), field));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_placed_tags_are_recorded_as_tags() {
        let mut a = Assembly::starting_with(Tag::ThinkOpen);
        a.glue("\n");
        a.tag(Tag::BlockStart);
        a.quote("it says </think> here", "segments[0].text".into());
        a.tag(Tag::BlockEnd);
        assert_eq!(
            a.text,
            "<think>\n<|block_start|>it says </think> here<|block_end|>"
        );
        let tags: Vec<&str> = a.tags.iter().map(|r| &a.text[r.clone()]).collect();
        assert_eq!(tags, ["<think>", "<|block_start|>", "<|block_end|>"]);
        assert_eq!(a.parts, [(23..44, "segments[0].text".to_string())]);
        assert_eq!(&a.text[23..44], "it says </think> here");
    }
}
