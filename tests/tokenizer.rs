//! The GGUF tokenizer against llama.cpp's tokenization of the same file
//! (fixture: tests/fixtures/smollm2-tokenizer.json, made by make_tokenizer_fixture.py).

use memento::tokenize::TextTokenizer;

#[derive(serde::Deserialize)]
struct Fixture {
    gguf_sha256: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/smollm2-tokenizer.json")).unwrap()
}

fn smollm2() -> std::path::PathBuf {
    memento::fetch::ensure_default_model(false).expect("the default model (memento fetch)")
}

#[test]
fn gguf_tokenizer_ids_equal_llama_cpp() {
    let f = fixture();
    assert_eq!(
        f.gguf_sha256,
        memento::fetch::GGUF_SHA256,
        "fixture made from another file"
    );
    let tok = TextTokenizer::load_with(&smollm2(), false).unwrap();
    for case in &f.cases {
        let pieces = tok.pieces(&case.text).unwrap();
        let ids: Vec<u32> = pieces.iter().map(|p| p.1.unwrap()).collect();
        assert_eq!(ids, case.ids, "ids differ for {:?}", case.text);
        assert_eq!(
            pieces.iter().map(|p| p.0.as_str()).collect::<String>(),
            case.text
        );
    }
}

#[test]
fn saved_tokenizer_json_tokenizes_like_the_gguf() {
    let f = fixture();
    let TextTokenizer::Hf { tokenizer, .. } = TextTokenizer::load_with(&smollm2(), false).unwrap()
    else {
        panic!("expected a real tokenizer");
    };
    let dir = tempfile::tempdir().unwrap();
    tokenizer
        .save(dir.path().join("tokenizer.json"), false)
        .unwrap();
    let from_json = TextTokenizer::load_with(dir.path(), false).unwrap();
    for case in &f.cases {
        let ids: Vec<u32> = from_json
            .pieces(&case.text)
            .unwrap()
            .iter()
            .map(|p| p.1.unwrap())
            .collect();
        assert_eq!(ids, case.ids, "{:?}", case.text);
    }
}

#[test]
fn registered_tags_are_single_tokens_and_text_survives() {
    let tok = TextTokenizer::load(&smollm2()).unwrap();
    let text =
        "<think>\n<|block_start|>2+2<|block_end|>\n<|summary_start|>=4<|summary_end|>\n</think>4";
    let pieces = tok.pieces(text).unwrap();
    for tag in [
        "<think>",
        "<|block_start|>",
        "<|block_end|>",
        "<|summary_start|>",
        "<|summary_end|>",
        "</think>",
    ] {
        assert!(
            pieces.iter().any(|p| p.0 == tag),
            "{tag} is not one token: {pieces:?}"
        );
    }
    assert_eq!(
        pieces.iter().map(|p| p.0.as_str()).collect::<String>(),
        text
    );
    // Without registration the vocabulary splits them, as llama.cpp does.
    let raw = TextTokenizer::load_with(&smollm2(), false).unwrap();
    assert!(raw.count("<|block_start|>").unwrap() > 1);
}

/// llama.cpp's tokenization of a set of strings under every pre-tokenizer name it knows
/// (fixture: tests/fixtures/llamacpp-pretokenizers.json, made by
/// make_pretokenizer_fixture.py over pretokenizer-vocab.gguf).
#[derive(serde::Deserialize)]
struct PreFixture {
    strings: Vec<String>,
    names: std::collections::BTreeMap<String, Option<Vec<Vec<u32>>>>,
}

#[test]
fn every_mapped_pretokenizer_name_tokenizes_as_llama_cpp_does() {
    use memento::tokenize::{PRE_SPLITS, REFUSED_PRE, tokenizer_from_gguf_metadata};
    let fixture: PreFixture =
        serde_json::from_str(include_str!("fixtures/llamacpp-pretokenizers.json")).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pretokenizer-vocab.gguf");
    let mut file = std::fs::File::open(&path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut checked = 0;
    for (name, expected) in &fixture.names {
        let mut md = content.metadata.clone();
        md.insert(
            "tokenizer.ggml.pre".into(),
            candle_core::quantized::gguf_file::Value::String(name.clone()),
        );
        let ours = tokenizer_from_gguf_metadata(&md);
        // An empty name is llama.cpp's default split, as a missing one is.
        let mapped = name.is_empty() || PRE_SPLITS.iter().any(|(n, _, _)| n == name);
        match expected {
            None => {
                let err = ours
                    .err()
                    .unwrap_or_else(|| panic!("llama.cpp refuses {name:?}, memento accepted it"));
                assert!(err.contains("tokenizer.ggml.pre"), "{name}: {err}");
            }
            Some(_) if !mapped => {
                let err = ours
                    .err()
                    .unwrap_or_else(|| panic!("{name:?} is not mapped"));
                let why = REFUSED_PRE.iter().find(|(n, _)| n == name);
                assert!(
                    why.is_some(),
                    "{name:?}: neither mapped nor refused with a reason"
                );
                assert!(err.contains(name.as_str()), "{name}: {err}");
            }
            Some(per_string) => {
                let tok = ours.unwrap_or_else(|e| panic!("{name}: {e}")).tokenizer;
                for (text, ids) in fixture.strings.iter().zip(per_string) {
                    let got = tok.encode(text.as_str(), false).unwrap().get_ids().to_vec();
                    assert_eq!(&got, ids, "{name}: ids differ for {text:?}");
                }
                checked += 1;
            }
        }
    }
    // Every mapped name is in the fixture and was checked against llama.cpp.
    for (name, _, _) in PRE_SPLITS {
        assert!(
            matches!(fixture.names.get(*name), Some(Some(_))),
            "{name} is mapped but has no llama.cpp reference"
        );
    }
    assert_eq!(
        checked,
        PRE_SPLITS.len() + 1,
        "the mapped names and the empty name"
    );
}
