//! Token counts for imported text: a real tokenizer when one is given (`tokenizer.json` or a
//! GGUF file), otherwise the documented estimate.

mod estimate;
mod gguf;
mod hf;
mod pre_split;

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::structure::Tag;

pub use estimate::{
    ESTIMATE_RULE, estimate_ends, estimate_ends_placed, estimate_pieces, estimate_run,
    split_at_tags,
};
pub use gguf::{GgufTokenizer, from_metadata as tokenizer_from_gguf_metadata, load_gguf_tokenizer};
pub use hf::{match_present_tags, pieces as hf_pieces, pieces_placed as hf_pieces_placed};
pub use pre_split::{PRE_SPLITS, PreSplit, REFUSED_PRE};

use crate::trace::TokenizerInfo;

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("{}: {message}", path.display())]
    Load { path: PathBuf, message: String },
    #[error("tokenizing failed: {0}")]
    Encode(String),
}

/// A token piece: its exact text and, with a real tokenizer, its id.
pub type Piece = (String, Option<u32>);

pub enum TextTokenizer {
    Estimate,
    Hf {
        tokenizer: Box<tokenizers::Tokenizer>,
        info: TokenizerInfo,
    },
}

impl TextTokenizer {
    /// Load from a `tokenizer.json`, a directory holding one, or a `.gguf` file, with the
    /// MEMENTO tags registered as single tokens.
    pub fn load(path: &Path) -> Result<TextTokenizer, TokenizeError> {
        TextTokenizer::load_with(path, true)
    }

    /// Load as [`TextTokenizer::load`]; `register_tags = false` keeps the vocabulary exactly
    /// as the file defines it.
    pub fn load_with(path: &Path, register_tags: bool) -> Result<TextTokenizer, TokenizeError> {
        let fail = |message: String| TokenizeError::Load {
            path: path.to_path_buf(),
            message,
        };
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        if !file.exists() {
            return Err(fail(if path.is_dir() {
                "directory has no tokenizer.json".into()
            } else {
                "no such file".into()
            }));
        }
        let is_gguf = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        let (mut tokenizer, info) = if is_gguf {
            let g = load_gguf_tokenizer(&file).map_err(fail)?;
            let info = TokenizerInfo::Gguf {
                path: file.display().to_string(),
                pre: g.pre.clone(),
                vocab_size: g.vocab_size,
            };
            (g.tokenizer, info)
        } else {
            let t = read_tokenizer_json(&file).map_err(fail)?;
            let info = TokenizerInfo::HfJson {
                path: file.display().to_string(),
                vocab_size: t.get_vocab_size(false) as u64,
            };
            (t, info)
        };
        if register_tags {
            hf::ensure_tags(&mut tokenizer).map_err(fail)?;
        }
        Ok(TextTokenizer::Hf {
            tokenizer: Box::new(tokenizer),
            info,
        })
    }

    pub fn info(&self) -> TokenizerInfo {
        match self {
            TextTokenizer::Estimate => TokenizerInfo::Estimate {
                rule: ESTIMATE_RULE.to_string(),
            },
            TextTokenizer::Hf { info, .. } => info.clone(),
        }
    }

    /// Split `text` into token pieces that concatenate to exactly `text`.
    pub fn pieces(&self, text: &str) -> Result<Vec<Piece>, TokenizeError> {
        Ok(self.cuts(text)?.pieces(text).collect())
    }

    /// Where each token of `text` ends (and its id): [`TextTokenizer::pieces`] in 4 to 12
    /// bytes a token rather than a string each.
    pub fn cuts(&self, text: &str) -> Result<TokenCuts, TokenizeError> {
        match self {
            TextTokenizer::Estimate => Ok(TokenCuts {
                ends: estimate_ends(text),
                ids: None,
            }),
            TextTokenizer::Hf { tokenizer, .. } => Ok(TokenCuts::from_pairs(
                hf::cuts(tokenizer, text).map_err(TokenizeError::Encode)?,
            )),
        }
    }

    /// Cut `text` as [`TextTokenizer::cuts`] does, where the byte ranges `tags` (sorted,
    /// disjoint, each one whole tag) are the only structure: everything else is quoted data,
    /// in which no tag or special token is matched.
    ///
    /// Errors: a range that does not spell a tag of `text` in order, or the tokenizer's own
    /// failure.
    pub fn cuts_placed(
        &self,
        text: &str,
        tags: &[Range<usize>],
    ) -> Result<TokenCuts, TokenizeError> {
        let mut done = 0;
        for tag in tags {
            let spells_a_tag = text
                .get(tag.clone())
                .is_some_and(|t| Tag::from_text(t).is_some());
            if tag.start < done || !spells_a_tag {
                return Err(TokenizeError::Encode(format!(
                    "byte range {tag:?} is not a tag of the text in order"
                )));
            }
            done = tag.end;
        }
        match self {
            TextTokenizer::Estimate => Ok(TokenCuts {
                ends: estimate_ends_placed(text, tags),
                ids: None,
            }),
            TextTokenizer::Hf { tokenizer, .. } => Ok(TokenCuts::from_pairs(
                hf::cuts_placed(tokenizer, text, tags).map_err(TokenizeError::Encode)?,
            )),
        }
    }

    pub fn count(&self, text: &str) -> Result<usize, TokenizeError> {
        Ok(self.pieces(text)?.len())
    }
}

/// Where each token of a text ends, in bytes (ascending; the last is the text's length), and
/// each token's id when a real tokenizer cut it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCuts {
    pub ends: Vec<usize>,
    pub ids: Option<Vec<u32>>,
}

impl TokenCuts {
    fn from_pairs(pairs: Vec<(usize, u32)>) -> Self {
        let (ends, ids) = pairs.into_iter().unzip();
        TokenCuts {
            ends,
            ids: Some(ids),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The pieces of `text` (the text these cuts were made in), with their ids.
    pub fn pieces<'a>(&'a self, text: &'a str) -> impl Iterator<Item = Piece> + 'a {
        (0..self.ends.len()).map(move |i| {
            let (text, id) = self.piece(text, i);
            (text.to_string(), id)
        })
    }

    /// Token `i`'s text in `text`, and its id.
    pub fn piece<'a>(&self, text: &'a str, i: usize) -> (&'a str, Option<u32>) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (
            &text[start..self.ends[i]],
            self.ids.as_ref().map(|ids| ids[i]),
        )
    }
}

/// Per token, given where each ends (ascending byte offsets), whether it lies outside every
/// one of `tags` (sorted, disjoint byte ranges that never straddle a token edge): the quoted
/// tokens of a text whose only structure is those placed tags.
pub fn outside_tags(ends: impl IntoIterator<Item = usize>, tags: &[Range<usize>]) -> Vec<bool> {
    let mut tags = tags.iter().peekable();
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            // Skip the tags wholly before this token.
            while tags.next_if(|t| t.end <= start).is_some() {}
            start = end;
            tags.peek().is_none_or(|t| t.start >= end)
        })
        .collect()
}

/// A `tokenizer.json`, read as a bounded regular file (a real one is a few MB; 64 MiB at most).
pub fn read_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer, String> {
    let text = crate::textfile::read_text(path, crate::textfile::DATA_LIMIT)?;
    text.parse::<tokenizers::Tokenizer>()
        .map_err(|e| format!("not a valid tokenizer.json: {e}"))
}
