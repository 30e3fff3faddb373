//! The organism's tokenizer: byte-level (ids 0–255, GPT-2's byte-to-char table) with one kind
//! of merge, `>` with the capital letter after it (`>A` … `>Z`, ids 256–281), plus the chat
//! markers, the think tags and MEMENTO's four tags as special tokens (DESIGN §1.1). Written as
//! a standard `tokenizer.json` (a small BPE), so HF tokenizers, transformers and memento's own
//! loader all read it.
//!
//! The merges make a road's destination one token (`C>F` is `C`, `>F`): each place then names
//! itself with a token of its own, once, where its road starts, so finding a road is the
//! plainest lookup a transformer learns (find the earlier `C`, copy what follows).

use crate::structure::Tag;

/// Padding and end of text.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// The special tokens after the 256 bytes, in id order.
pub fn special_tokens() -> Vec<&'static str> {
    let mut out = vec![END_OF_TEXT, Tag::ImStart.text(), Tag::ImEnd.text()];
    out.extend(Tag::MEMENTO_TOKENS.iter().map(|t| t.text()));
    out
}

/// The merged tokens after the bytes: `>A` … `>Z`.
pub fn merged_tokens() -> Vec<String> {
    (b'A'..=b'Z')
        .map(|c| format!(">{}", char::from(c)))
        .collect()
}

/// Vocabulary size: the bytes, the merges and the special tokens.
pub fn vocab_size() -> usize {
    256 + merged_tokens().len() + special_tokens().len()
}

/// The id of a special token.
pub fn special_id(text: &str) -> Option<u32> {
    let at = special_tokens().iter().position(|t| *t == text)?;
    Some((256 + merged_tokens().len() + at) as u32)
}

/// GPT-2's printable stand-in for each byte.
pub fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut table = vec!['\0'; 256];
    for (b, c) in printable.into_iter().zip(chars) {
        table[b as usize] = char::from_u32(c).expect("a valid char");
    }
    table
}

/// The `tokenizer.json` text.
pub fn tokenizer_json() -> String {
    let mut vocab: serde_json::Map<String, serde_json::Value> = byte_chars()
        .into_iter()
        .enumerate()
        .map(|(b, c)| (c.to_string(), serde_json::json!(b)))
        .collect();
    let merged = merged_tokens();
    for (i, t) in merged.iter().enumerate() {
        vocab.insert(t.clone(), serde_json::json!(256 + i));
    }
    let merges: Vec<serde_json::Value> = merged
        .iter()
        .map(|t| serde_json::json!([&t[..1], &t[1..]]))
        .collect();
    let added: Vec<serde_json::Value> = special_tokens()
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": 256 + merged.len() + i,
                "content": t,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": true
            })
        })
        .collect();
    let byte_level = serde_json::json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": false,
        "use_regex": false
    });
    let doc = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges
        }
    });
    serde_json::to_string_pretty(&doc).expect("JSON serialises") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn bytes_are_their_own_ids_and_tags_are_single_tokens() {
        let t = tokenizers::Tokenizer::from_str(&tokenizer_json()).unwrap();
        assert_eq!(t.get_vocab_size(true), vocab_size());
        let text =
            "<|im_start|>user\nWalk 3 é<|im_end|>\n<think>\n<|block_start|>1 A>B 2<|block_end|>";
        let ids = t.encode(text, false).unwrap().get_ids().to_vec();
        assert_eq!(Some(ids[0]), special_id("<|im_start|>"));
        assert_eq!(ids[1], u32::from(b'u'));
        // `A>B` is `A`, `>B`; a `>` before anything but a capital stays a byte.
        let road = t.encode("A>B 2 >x", false).unwrap().get_ids().to_vec();
        assert_eq!(road, vec![65, 256 + 1, 32, 50, 32, 62, 120]);
        // é is two bytes, two tokens.
        assert!(ids.contains(&0xC3) && ids.contains(&0xA9));
        for tag in Tag::ALL {
            assert!(t.token_to_id(tag.text()).is_some(), "{}", tag.text());
        }
        assert_eq!(t.decode(&ids, false).unwrap(), text);
    }
}
