//! Importers against their sources: the shared MEMENTO examples (../shared), the raw chain
//! of thought, OpenMementos rows in JSONL and Parquet, and tagged text.

use std::path::{Path, PathBuf};

use memento::import::{
    ImportFormat, ImportOptions, RecordSettings, RowSelect, RowSource, read_transcripts, record,
};
use memento::kv::{KvPolicy, KvShape};
use memento::stats::trace_stats;
use memento::timeline::Timeline;
use memento::tokenize::TextTokenizer;
use memento::trace::TokenizerInfo;

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/memento-examples")
        .join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn qwen3() -> KvShape {
    KvShape::preset("qwen3-8b").unwrap()
}

fn timelines(path: &Path, options: &ImportOptions) -> Vec<Timeline> {
    timelines_with(path, options, &TextTokenizer::Estimate)
}

fn timelines_with(
    path: &Path,
    options: &ImportOptions,
    tokenizer: &TextTokenizer,
) -> Vec<Timeline> {
    read_transcripts(path, options)
        .unwrap()
        .iter()
        .map(|t| {
            let sink = record(
                t,
                &RecordSettings {
                    tokenizer,
                    shape: qwen3(),
                    policy: KvPolicy::MEMENTO,
                    lenient: false,
                    snapshot_every: 256,
                },
            )
            .unwrap();
            let mut timeline = Timeline::new(sink.header.unwrap());
            for e in sink.events {
                timeline.push(e).unwrap();
            }
            timeline
        })
        .collect()
}

/// Memento texts as the timeline holds them.
fn memento_texts(t: &Timeline) -> Vec<String> {
    let p = t.prompt_len();
    t.outline()
        .mementos()
        .map(|b| {
            let r = b.memento_content(t.next_pos()).unwrap();
            t.tokens()
                .text_between((r.start - p) as usize, (r.end - p) as usize)
                .to_string()
        })
        .collect()
}

/// The documented estimate, written again here: a run of n characters is max(1, n/4).
fn est(text: &str) -> u64 {
    let n = text.chars().count() as u64;
    if n == 0 { 0 } else { (n / 4).max(1) }
}

/// Independent recount of a segments file under the estimate: the token count of each piece
/// of the assembled stream, in order, as (is_block_content, block index, tokens, ends_memento).
struct Recount {
    prompt: u64,
    blocks: Vec<u64>,
    mementos: Vec<u64>,
    /// Positions (from 0, prompt included) of each `<|summary_end|>`.
    summary_ends: Vec<u64>,
    total: u64,
}

fn recount(json: &serde_json::Value) -> Recount {
    let problem = json["problem"].as_str().unwrap();
    // <|im_start|> "user\n{problem}" <|im_end|> "\n" <|im_start|> "assistant\n"
    let prompt = 1 + est(&format!("user\n{problem}")) + 1 + est("\n") + 1 + est("assistant\n");
    let mut pos = prompt;
    pos += 1 + est("\n"); // <think> "\n"
    let mut r = Recount {
        prompt,
        blocks: vec![],
        mementos: vec![],
        summary_ends: vec![],
        total: 0,
    };
    let mut answer = None;
    for seg in json["segments"].as_array().unwrap() {
        let text = seg["text"].as_str().unwrap();
        match seg["type"].as_str().unwrap() {
            "block" => {
                r.blocks.push(est(text));
                pos += 1 + est(text) + 1 + est("\n"); // bs text be "\n"
            }
            "summary" => {
                r.mementos.push(est(text));
                pos += 1 + est(text); // ss text
                r.summary_ends.push(pos);
                pos += 1 + est("\n"); // se "\n"
            }
            _ => answer = Some(text.to_string()),
        }
    }
    pos += 1 + est(&format!("\n{}", answer.unwrap_or_default())); // </think> "\n" + answer
    r.total = pos;
    r
}

#[test]
fn shared_segment_examples_import_exactly() {
    for name in ["aime25-p5.segments.json", "code.segments.json"] {
        let path = shared(name);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let segments = json["segments"].as_array().unwrap();
        let t = &timelines(&path, &ImportOptions::default())[0];
        let outline = t.outline();

        let json_blocks: Vec<&serde_json::Value> =
            segments.iter().filter(|s| s["type"] == "block").collect();
        let json_mementos: Vec<&str> = segments
            .iter()
            .filter(|s| s["type"] == "summary")
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            outline.blocks.len(),
            json_blocks.len(),
            "{name}: block count"
        );
        assert_eq!(memento_texts(t), json_mementos, "{name}: memento texts");

        // Block and memento lengths: the test's own count, and the file's approx_tokens.
        let r = recount(&json);
        let end = t.next_pos();
        let ours: Vec<u64> = outline
            .blocks
            .iter()
            .map(|b| b.content_tokens(end))
            .collect();
        assert_eq!(ours, r.blocks, "{name}: block tokens");
        let file_counts: Vec<u64> = json_blocks
            .iter()
            .map(|b| b["approx_tokens"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ours, file_counts,
            "{name}: the estimate reproduces approx_tokens"
        );
        let ours_m: Vec<u64> = outline.mementos().map(|b| b.memento_tokens(end)).collect();
        assert_eq!(ours_m, r.mementos);

        // Statistics against the recount.
        let stats = trace_stats(name, t, &qwen3(), false);
        let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64;
        assert_eq!(stats.blocks, r.blocks.len() as u64);
        assert!((stats.mean_block_tokens.unwrap() - mean(&r.blocks)).abs() < 1e-9);
        assert!((stats.mean_memento_tokens.unwrap() - mean(&r.mementos)).abs() < 1e-9);
        let compression =
            r.blocks.iter().sum::<u64>() as f64 / r.mementos.iter().sum::<u64>() as f64;
        assert!((stats.compression.unwrap() - compression).abs() < 1e-9);
        assert_eq!(t.prompt_len(), r.prompt, "{name}: prompt tokens");
        assert_eq!(t.next_pos(), r.total, "{name}: total tokens");

        // Peak KV: full holds everything; memento peaks just before some <|summary_end|>
        // (its own block still cached, earlier blocks' content gone) or at the end.
        assert_eq!(stats.full.peak_tokens, r.total);
        let mut candidates: Vec<u64> = r
            .summary_ends
            .iter()
            .enumerate()
            .map(|(i, &at)| at - r.blocks[..i].iter().sum::<u64>())
            .collect();
        candidates.push(r.total - r.blocks.iter().sum::<u64>());
        let memento_peak = *candidates.iter().max().unwrap();
        assert_eq!(
            stats.memento.peak_tokens, memento_peak,
            "{name}: memento peak"
        );
        let per_token = 2 * 36 * 8 * 128 * 2;
        assert_eq!(stats.full.peak_bytes, r.total * per_token);
        assert_eq!(stats.memento.peak_bytes, memento_peak * per_token);
        assert!(
            (stats.peak_ratio_tokens.unwrap() - memento_peak as f64 / r.total as f64).abs() < 1e-12
        );

        // The answer is recorded as the source's reference answer.
        let source = t.header.source.as_ref().unwrap();
        assert_eq!(source.answer.as_deref(), json["answer"].as_str());
    }
}

#[test]
fn raw_chain_of_thought_is_one_think_span_with_nothing_to_evict() {
    let path = shared("raw-cot.jsonl");
    let line = std::fs::read_to_string(&path).unwrap();
    let row: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let cot = row["cot"].as_str().unwrap();
    let t = &timelines(&path, &ImportOptions::default())[0];
    let outline = t.outline();
    assert!(outline.blocks.is_empty());
    let think = outline.think.clone().unwrap();
    let inner = cot
        .trim_start_matches("<think>")
        .trim_end_matches("</think>");
    assert_eq!(think.end - think.start, est(inner), "think span tokens");
    let stats = trace_stats("raw", t, &qwen3(), false);
    assert_eq!(stats.full.peak_tokens, stats.memento.peak_tokens);
    assert_eq!(t.state().evictions, 0);
    assert_eq!(
        t.header.source.as_ref().unwrap().id.as_deref(),
        row["task_id"].as_str()
    );
}

#[test]
fn openmementos_jsonl_and_parquet_give_the_same_traces() {
    for stem in ["openmementos-default", "openmementos-full"] {
        let a = timelines(
            &fixture(&format!("{stem}.jsonl")),
            &ImportOptions::default(),
        );
        let b = timelines(
            &fixture(&format!("{stem}.parquet")),
            &ImportOptions::default(),
        );
        assert_eq!(a.len(), 3);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.tokens().all_text(), y.tokens().all_text());
            assert_eq!(x.boundaries(), y.boundaries());
            assert_eq!(x.recorded_live(), y.recorded_live());
        }
    }
}

#[test]
fn openmementos_full_fields_agree_with_the_response() {
    let path = fixture("openmementos-full.jsonl");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let from = |prefer| {
        timelines(
            &path,
            &ImportOptions {
                prefer,
                ..ImportOptions::default()
            },
        )
    };
    let by_response = from(RowSource::Response);
    let by_blocks = from(RowSource::Blocks);
    for ((row, r), b) in rows.iter().zip(&by_response).zip(&by_blocks) {
        let summaries: Vec<&str> = row["block_summaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            r.outline().blocks.len(),
            row["blocks"].as_array().unwrap().len()
        );
        assert_eq!(b.outline().blocks.len(), r.outline().blocks.len());
        assert_eq!(memento_texts(r), summaries);
        assert_eq!(memento_texts(b), summaries);
        // Each block's text is its sentences joined by spaces.
        let sentences: Vec<&str> = row["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let p = b.prompt_len();
        for (block, pair) in b
            .outline()
            .blocks
            .iter()
            .zip(row["blocks"].as_array().unwrap())
        {
            let (first, last) = (
                pair[0].as_u64().unwrap() as usize,
                pair[1].as_u64().unwrap() as usize,
            );
            let range = block.content(b.next_pos());
            let text = b
                .tokens()
                .text_between((range.start - p) as usize, (range.end - p) as usize);
            assert_eq!(text, sentences[first..=last].join(" "));
        }
    }
}

#[test]
fn row_selection_and_limits() {
    let path = fixture("openmementos-default.parquet");
    let one = read_transcripts(
        &path,
        &ImportOptions {
            select: RowSelect {
                row: Some(2),
                limit: None,
            },
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].source.row, Some(2));
    let two = read_transcripts(
        &fixture("openmementos-full.jsonl"),
        &ImportOptions {
            select: RowSelect {
                row: None,
                limit: Some(2),
            },
            ..ImportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(two.len(), 2);
}

#[test]
fn tagged_text_keeps_prompt_tags_out_of_the_structure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.txt");
    std::fs::write(
        &path,
        "<|im_start|>user\nExplain <|block_start|> and <|summary_end|>.<|im_end|>\n<|im_start|>assistant\n<think>\n<|block_start|>They delimit blocks.<|block_end|>\n<|summary_start|>delimiters<|summary_end|>\n</think>\nThey mark blocks.",
    )
    .unwrap();
    let t = &timelines(
        &path,
        &ImportOptions {
            format: ImportFormat::Tagged,
            ..ImportOptions::default()
        },
    )[0];
    assert_eq!(
        t.outline().blocks.len(),
        1,
        "tags in the user turn are ignored"
    );
    assert_eq!(memento_texts(t), ["delimiters"]);
    assert!(t.prompt_text().unwrap().contains("Explain <|block_start|>"));
    assert_eq!(t.state().evictions, 1);
}

#[test]
fn a_real_tokenizer_is_recorded_in_the_header() {
    let gguf = memento::fetch::ensure_default_model(false).unwrap();
    let tokenizer = TextTokenizer::load(&gguf).unwrap();
    let transcripts =
        read_transcripts(&shared("code.segments.json"), &ImportOptions::default()).unwrap();
    let sink = record(
        &transcripts[0],
        &RecordSettings {
            tokenizer: &tokenizer,
            shape: qwen3(),
            policy: KvPolicy::MEMENTO,
            lenient: false,
            snapshot_every: 256,
        },
    )
    .unwrap();
    let header = sink.header.unwrap();
    assert!(
        matches!(header.tokenizer, TokenizerInfo::Gguf { ref pre, vocab_size: 49152, .. } if pre == "smollm")
    );
    let ids = sink.events.iter().filter_map(|e| match e {
        memento::trace::Event::Token(t) => Some(t.id),
        _ => None,
    });
    assert!(
        ids.into_iter().all(|id| id.is_some()),
        "every token carries its id"
    );
}

/// The text of each block's content, as the timeline holds it.
fn block_texts(t: &Timeline) -> Vec<String> {
    let p = t.prompt_len();
    t.outline()
        .blocks
        .iter()
        .map(|b| {
            let r = b.content(t.next_pos());
            t.tokens()
                .text_between((r.start - p) as usize, (r.end - p) as usize)
                .to_string()
        })
        .collect()
}

/// SmolLM2's tokenizer (byte-level BPE), from the default model's GGUF.
fn smollm2_tokenizer() -> TextTokenizer {
    TextTokenizer::load(&memento::fetch::ensure_default_model(false).unwrap()).unwrap()
}

#[test]
fn segments_that_quote_tags_are_data_not_structure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quoting.segments.json");
    let problem = "Why does <|im_end|>\n<|im_start|>assistant\n<think> appear here?";
    let blocks = [
        "The model closes thinking with </think> and opens a block with <|block_start|>.",
        "A block ends at <|block_end|>; then <|summary_start|> opens the memento.",
    ];
    let mementos = [
        "quoted </think> and <|block_start|>",
        "memento ends at <|summary_end|>",
    ];
    let answer = "So <think>...</think> wraps the reasoning.";
    let file = serde_json::json!({
        "problem": problem,
        "answer": "tags",
        "segments": [
            {"type": "block", "block_idx": 1, "text": blocks[0]},
            {"type": "summary", "block_idx": 1, "text": mementos[0]},
            {"type": "block", "block_idx": 2, "text": blocks[1]},
            {"type": "summary", "block_idx": 2, "text": mementos[1]},
            {"type": "answer", "text": answer},
        ]
    });
    std::fs::write(&path, file.to_string()).unwrap();
    let tokenizer = smollm2_tokenizer();
    let think_close = match &tokenizer {
        TextTokenizer::Hf { tokenizer, .. } => tokenizer.token_to_id("</think>").unwrap(),
        TextTokenizer::Estimate => unreachable!(),
    };
    for tokenizer in [&TextTokenizer::Estimate, &tokenizer] {
        let t = &timelines_with(&path, &ImportOptions::default(), tokenizer)[0];
        assert!(t.diagnostics().is_empty(), "{:?}", t.diagnostics());
        assert_eq!(block_texts(t), blocks);
        assert_eq!(memento_texts(t), mementos);
        assert_eq!(t.state().evictions, 2);
        assert!(t.prompt_text().unwrap().contains(problem));
        assert!(
            t.tokens()
                .all_text()
                .ends_with(&format!("</think>\n{answer}"))
        );
        // Exactly one `</think>` is the tag: the rest are spelled by ordinary tokens, as a
        // model must spell a tag it quotes.
        if t.tokens().id(0).is_some() {
            let closes = (0..t.tokens().len())
                .filter(|&i| t.tokens().id(i) == Some(think_close))
                .count();
            assert_eq!(closes, 1);
        }
    }
}

#[test]
fn placed_tags_tokenize_as_encode_does_when_nothing_is_quoted() {
    let tokenizer = smollm2_tokenizer();
    for name in ["aime25-p5.segments.json", "code.segments.json"] {
        let transcripts = read_transcripts(&shared(name), &ImportOptions::default()).unwrap();
        let t = &transcripts[0];
        let (prompt, (pieces, literal)) = t.pieces(&tokenizer).unwrap();
        assert_eq!(pieces, tokenizer.pieces(&t.response).unwrap(), "{name}");
        let (prompt_pieces, _) = prompt.unwrap();
        assert_eq!(
            prompt_pieces,
            tokenizer.pieces(t.prompt.as_deref().unwrap()).unwrap(),
            "{name}: prompt"
        );
        // Quoted pieces are everything but the placed tags.
        let tags = pieces
            .iter()
            .zip(&literal)
            .filter(|&(_, &quoted)| !quoted)
            .map(|((text, _), _)| text.as_str());
        assert!(
            tags.clone()
                .all(|t| memento::structure::Tag::from_text(t).is_some())
        );
        assert_eq!(
            tags.count(),
            t.response_tags.as_ref().unwrap().len(),
            "{name}: tag pieces"
        );
    }
}

#[test]
fn openmementos_full_rows_that_quote_tags_are_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quoting.jsonl");
    let row = serde_json::json!({
        "problem": "What does <|block_end|> do?",
        "sentences": ["It ends a block: <|block_end|>.", "Then </think> ends thought.", "Done."],
        "blocks": [[0, 1]],
        "block_summaries": ["<|summary_end|> closes me"],
        "response": "ignored</think>\nIt ends a block.",
    });
    std::fs::write(&path, format!("{row}\n{row}\n")).unwrap();
    let options = ImportOptions {
        prefer: RowSource::Blocks,
        ..ImportOptions::default()
    };
    for tokenizer in [&TextTokenizer::Estimate, &smollm2_tokenizer()] {
        let t = &timelines_with(&path, &options, tokenizer)[0];
        assert!(t.diagnostics().is_empty(), "{:?}", t.diagnostics());
        assert_eq!(
            block_texts(t),
            ["It ends a block: <|block_end|>. Then </think> ends thought."]
        );
        assert_eq!(memento_texts(t), ["<|summary_end|> closes me"]);
        assert!(
            t.tokens()
                .all_text()
                .ends_with("Done.\n</think>\nIt ends a block.")
        );
    }
}
