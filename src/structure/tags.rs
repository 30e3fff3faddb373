//! The literal tags of the MEMENTO format (DESIGN §1.1) and the ChatML markers around them.

use serde::{Deserialize, Serialize};

/// A tag the segmenter recognises in the text stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    ThinkOpen,
    ThinkClose,
    BlockStart,
    BlockEnd,
    SummaryStart,
    SummaryEnd,
    ImStart,
    ImEnd,
}

impl Tag {
    pub const ALL: [Tag; 8] = [
        Tag::ThinkOpen,
        Tag::ThinkClose,
        Tag::BlockStart,
        Tag::BlockEnd,
        Tag::SummaryStart,
        Tag::SummaryEnd,
        Tag::ImStart,
        Tag::ImEnd,
    ];

    /// The four tokens MEMENTO adds to a vocabulary, plus the model's own think tags.
    pub const MEMENTO_TOKENS: [Tag; 6] = [
        Tag::ThinkOpen,
        Tag::ThinkClose,
        Tag::BlockStart,
        Tag::BlockEnd,
        Tag::SummaryStart,
        Tag::SummaryEnd,
    ];

    pub fn text(self) -> &'static str {
        match self {
            Tag::ThinkOpen => "<think>",
            Tag::ThinkClose => "</think>",
            Tag::BlockStart => "<|block_start|>",
            Tag::BlockEnd => "<|block_end|>",
            Tag::SummaryStart => "<|summary_start|>",
            Tag::SummaryEnd => "<|summary_end|>",
            Tag::ImStart => "<|im_start|>",
            Tag::ImEnd => "<|im_end|>",
        }
    }

    /// The tag spelled exactly by `text`, if any.
    pub fn from_text(text: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.text() == text)
    }

    /// The tag that `text` starts with, if any.
    pub fn at_start_of(text: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| text.starts_with(t.text()))
    }

    /// True when `text` is a proper prefix of at least one tag, so more input may complete it.
    pub fn could_complete(text: &str) -> bool {
        Tag::ALL
            .iter()
            .any(|t| t.text().len() > text.len() && t.text().starts_with(text))
    }

    /// Longest tag length in bytes: the most text the segmenter ever holds back.
    pub fn max_len() -> usize {
        Tag::ALL.iter().map(|t| t.text().len()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_tags_can_complete_but_whole_tags_cannot() {
        assert!(Tag::could_complete("<"));
        assert!(Tag::could_complete("<|blo"));
        assert!(Tag::could_complete("</thi"));
        assert!(!Tag::could_complete("<|block_end|>"));
        assert!(!Tag::could_complete("<x"));
    }

    #[test]
    fn every_tag_round_trips_through_its_text() {
        for tag in Tag::ALL {
            assert_eq!(Tag::from_text(tag.text()), Some(tag));
        }
    }
}
