//! A Hugging Face tokenizer (from `tokenizer.json`, or rebuilt from GGUF metadata), with the
//! MEMENTO tags registered as single tokens where the vocabulary lacks them.

use tokenizers::{AddedToken, Tokenizer};

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
    let encoding = tokenizer.encode(text, false).map_err(|e| e.to_string())?;
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
        out.push((text[done..end].to_string(), id));
        done = end;
    }
    if done < text.len() {
        match out.last_mut() {
            Some(last) => last.0.push_str(&text[done..]),
            None => return Err("the tokenizer produced no tokens for non-empty text".into()),
        }
    }
    Ok(out)
}
