//! A Hugging Face tokenizer (from `tokenizer.json`, or rebuilt from GGUF metadata), with the
//! MEMENTO tags registered as single tokens where the vocabulary lacks them.

use std::ops::Range;

use tokenizers::normalizer::Range as OriginalRange;
use tokenizers::{
    AddedToken, Encoding, Model, Normalizer, OffsetType, PreTokenizedString, PreTokenizer, Split,
    Token, Tokenizer,
};

use crate::structure::Tag;

/// Register every MEMENTO and ChatML tag the vocabulary does not already hold as one token.
pub fn ensure_tags(tokenizer: &mut Tokenizer) -> Result<(), String> {
    let missing: Vec<AddedToken> = Tag::ALL
        .iter()
        .filter(|t| tokenizer.token_to_id(t.text()).is_none())
        .map(|t| AddedToken::from(t.text(), true))
        .collect();
    if !missing.is_empty() {
        tokenizer
            .add_special_tokens(missing)
            .map_err(|e| e.to_string())?;
    }
    // Tags already in the vocabulary as ordinary tokens must still be matched whole.
    match_present_tags(tokenizer)
}

/// Make the tags the vocabulary already holds match whole, registering nothing new.
pub fn match_present_tags(tokenizer: &mut Tokenizer) -> Result<(), String> {
    let present: Vec<AddedToken> = Tag::ALL
        .iter()
        .filter(|t| tokenizer.token_to_id(t.text()).is_some())
        .filter(|t| {
            !tokenizer
                .get_added_vocabulary()
                .get_vocab()
                .contains_key(t.text())
        })
        .map(|t| AddedToken::from(t.text(), true))
        .collect();
    if !present.is_empty() {
        tokenizer
            .add_special_tokens(present)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Tokenise `text` into (piece, id) whose pieces concatenate to exactly `text`.
pub fn pieces(tokenizer: &Tokenizer, text: &str) -> Result<Vec<(String, u32)>, String> {
    Ok(pieces_at(text, &cuts(tokenizer, text)?))
}

/// As [`pieces_placed`].
pub fn pieces_placed(
    tokenizer: &Tokenizer,
    text: &str,
    tags: &[Range<usize>],
) -> Result<Vec<(String, u32)>, String> {
    Ok(pieces_at(text, &cuts_placed(tokenizer, text, tags)?))
}

/// (end byte, id) of each token of `text`: [`pieces`] without a string per token.
pub fn cuts(tokenizer: &Tokenizer, text: &str) -> Result<Vec<(usize, u32)>, String> {
    let encoding = tokenizer.encode(text, false).map_err(|e| e.to_string())?;
    cuts_of(&encoding, text)
}

fn pieces_at(text: &str, cuts: &[(usize, u32)]) -> Vec<(String, u32)> {
    let mut start = 0;
    cuts.iter()
        .map(|&(end, id)| {
            let piece = text[start..end].to_string();
            start = end;
            (piece, id)
        })
        .collect()
}

/// (end byte, id) of each token of `text` whose only structure is the tags at the byte
/// ranges `tags` (sorted, disjoint, each one whole tag): every other byte is data, where no
/// added or special token is matched, so a quoted `</think>` is spelled by ordinary tokens,
/// as a model must spell it. The rest of the pipeline is `encode`'s own (normalizer,
/// pre-tokenizer, model and post-processor, each split between tags on its own), so text
/// without quoted tags gets the ids `encode` gives it.
pub fn cuts_placed(
    tokenizer: &Tokenizer,
    text: &str,
    tags: &[Range<usize>],
) -> Result<Vec<(usize, u32)>, String> {
    let mut pretokenized = PreTokenizedString::from(text);
    pretokenized
        .split(|_, whole| {
            let mut splits: Vec<Split> = Vec::with_capacity(2 * tags.len() + 1);
            let mut done = 0;
            let slice = |range: Range<usize>| {
                whole
                    .slice(OriginalRange::Original(range.clone()))
                    .ok_or_else(|| format!("byte range {range:?} is not inside the text"))
            };
            for tag in tags {
                if done < tag.start {
                    splits.push(slice(done..tag.start)?.into());
                }
                let part = slice(tag.clone())?;
                let tokens = tokenizer.token_to_id(&text[tag.clone()]).map(|id| {
                    vec![Token::new(
                        id,
                        text[tag.clone()].to_string(),
                        (0, tag.len()),
                    )]
                });
                splits.push((part, tokens).into());
                done = tag.end;
            }
            if done < text.len() {
                splits.push(slice(done..text.len())?.into());
            }
            Ok(splits)
        })
        .map_err(|e| e.to_string())?;
    if let Some(normalizer) = tokenizer.get_normalizer() {
        pretokenized
            .normalize(|s| normalizer.normalize(s))
            .map_err(|e| e.to_string())?;
    }
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer
            .pre_tokenize(&mut pretokenized)
            .map_err(|e| e.to_string())?;
    }
    let model = tokenizer.get_model();
    pretokenized
        .tokenize(|s| model.tokenize(s.get()))
        .map_err(|e| e.to_string())?;
    let encoding = pretokenized
        .into_encoding(None, 0, OffsetType::Byte)
        .map_err(|e| e.to_string())?;
    let encoding = tokenizer
        .post_process(encoding, None, false)
        .map_err(|e| e.to_string())?;
    cuts_of(&encoding, text)
}

/// Where an encoding's byte offsets cut `text`, with each token's id.
fn cuts_of(encoding: &Encoding, text: &str) -> Result<Vec<(usize, u32)>, String> {
    let ids = encoding.get_ids();
    let offsets = encoding.get_offsets();
    let mut out = Vec::with_capacity(ids.len());
    let mut done = 0usize;
    for (i, (&id, &(_, end))) in ids.iter().zip(offsets).enumerate() {
        // The last token takes whatever the offsets left uncovered.
        let mut end = if i + 1 == ids.len() {
            text.len()
        } else {
            end.clamp(done, text.len())
        };
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push((end, id));
        done = end;
    }
    if done < text.len() {
        match out.last_mut() {
            Some(last) => last.0 = text.len(),
            None => return Err("the tokenizer produced no tokens for non-empty text".into()),
        }
    }
    Ok(out)
}
