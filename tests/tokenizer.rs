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
