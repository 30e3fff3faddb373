//! Fuzzing the readers: the trace reader, the importers (segments JSON, OpenMementos and raw-CoT
//! rows, tagged text) and the streaming segmenter take arbitrary and mutated input without a
//! panic, and whatever the importers accept records into a trace that reads back.
//!
//! In CI each target runs a few hundred generated cases. For a long run:
//!
//!     MEMENTO_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --ignored --nocapture
//!
//! which cycles through the targets until the time is up and prints the cases run per target.

use std::path::Path;
use std::time::{Duration, Instant};

use memento::import::{ImportOptions, RecordSettings, read_transcripts, record};
use memento::kv::{KvPolicy, KvShape};
use memento::structure::{Segmenter, SegmenterConfig};
use memento::tokenize::TextTokenizer;
use memento::trace::{TraceWriter, parse_trace};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const TRACE: &str = "sample-traces/synthetic-memento.trace.jsonl";
const SEGMENTS: &str = "../shared/data/memento-examples";
const TAGS: &[&str] = &[
    "<think>",
    "</think>",
    "<|block_start|>",
    "<|block_end|>",
    "<|summary_start|>",
    "<|summary_end|>",
    "<|im_start|>",
    "<|im_end|>",
    "assistant\n",
    "user\n",
];

/// Seeds for mutation, each with the file name it is imported as: a real trace, real segments
/// files, OpenMementos rows, tagged text.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("a.trace.jsonl", std::fs::read(TRACE).unwrap()),
        (
            "rows.jsonl",
            std::fs::read("tests/fixtures/openmementos-full.jsonl").unwrap(),
        ),
        (
            "tagged.txt",
            b"<think><|block_start|>a b c<|block_end|><|summary_start|>abc<|summary_end|></think>42"
                .to_vec(),
        ),
    ];
    if let Ok(dir) = std::fs::read_dir(SEGMENTS) {
        let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.to_string_lossy().ends_with(".json") {
                v.push(("example.json", std::fs::read(&f).unwrap()));
            }
        }
    }
    v
}

/// Mutations of `seed`: flipped bytes, cut ranges, duplicated ranges, inserted tags, truncation.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    let edit = prop_oneof![
        (0..len, any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (0..len, 0..64usize).prop_map(|(at, n)| Edit::Cut(at, n)),
        (0..len, 0..64usize).prop_map(|(at, n)| Edit::Dup(at, n)),
        (0..len, 0..TAGS.len()).prop_map(|(at, t)| Edit::Tag(at, t)),
        (0..len).prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut b = seed.clone();
        for e in edits {
            e.apply(&mut b);
        }
        b
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Cut(usize, usize),
    Dup(usize, usize),
    Tag(usize, usize),
    Truncate(usize),
}

impl Edit {
    fn apply(self, b: &mut Vec<u8>) {
        let n = b.len();
        match self {
            Edit::Set(at, v) if at < n => b[at] = v,
            Edit::Cut(at, k) if at < n => {
                b.drain(at..(at + k).min(n));
            }
            Edit::Dup(at, k) if at < n => {
                let piece = b[at..(at + k).min(n)].to_vec();
                b.splice(at..at, piece);
            }
            Edit::Tag(at, t) if at <= n => {
                b.splice(at..at, TAGS[t].bytes());
            }
            Edit::Truncate(at) if at < n => b.truncate(at),
            _ => {}
        }
    }
}

/// Any bytes, mutated seeds, or text built from tags and words, with the name to import it as.
fn input() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let seeds = seeds();
    let names: Vec<&'static str> = seeds.iter().map(|s| s.0).collect();
    let n = seeds.len();
    let by_seed = (0..n).prop_flat_map(move |i| {
        let (name, bytes) = seeds[i].clone();
        mutated(bytes).prop_map(move |b| (name, b))
    });
    let random_names = names.clone();
    let words = proptest::collection::vec(
        prop_oneof![
            (0..TAGS.len()).prop_map(|t| TAGS[t].to_string()),
            "[a-z0-9 {}\":,\\[\\]\\n]{0,12}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat().into_bytes());
    prop_oneof![
        3 => by_seed,
        1 => (0..n).prop_flat_map(move |i| {
            let name = random_names[i];
            proptest::collection::vec(any::<u8>(), 0..512).prop_map(move |b| (name, b))
        }),
        1 => (0..n).prop_flat_map(move |i| {
            let name = names[i];
            words.clone().prop_map(move |b| (name, b))
        }),
    ]
}

/// The trace reader takes the bytes without a panic.
fn trace_target(bytes: &[u8]) {
    let _ = parse_trace(Path::new("fuzz.trace.jsonl"), bytes);
}

/// The importers take the bytes (as the kind of file `name` says) without a panic; what they
/// accept records into a trace, and that trace reads back.
fn import_target(dir: &Path, name: &str, bytes: &[u8], tokenizer: &TextTokenizer) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let Ok(transcripts) = read_transcripts(&path, &ImportOptions::default()) else {
        return;
    };
    let settings = RecordSettings {
        tokenizer,
        shape: KvShape::preset("qwen3-8b").unwrap(),
        policy: KvPolicy::MEMENTO,
        lenient: true,
        snapshot_every: 16,
    };
    for t in transcripts.iter().take(4) {
        let Ok(sink) = record(t, &settings) else {
            continue;
        };
        let mut out = Vec::new();
        sink.replay_into(&mut TraceWriter::new(&mut out)).unwrap();
        if let Err(e) = parse_trace(&path, &out) {
            panic!("a recorded import does not read back: {e}");
        }
    }
}

/// The segmenter takes the text cut into arbitrary token pieces without a panic, and its
/// blocks never outnumber the block tags it saw.
fn segmenter_target(bytes: &[u8], cuts: &[usize]) {
    let text = String::from_utf8_lossy(bytes);
    let mut seg = Segmenter::new(SegmenterConfig::default());
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0usize;
    let mut pos = 0u64;
    for &c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
        let end = at.saturating_add(c.max(1)).min(chars.len());
        let piece: String = chars[at..end].iter().collect();
        seg.push(pos, &piece);
        pos += 1;
        at = end;
        if at >= chars.len() {
            break;
        }
    }
    seg.finish(pos);
    let tags = text.matches("<|block_start|>").count() as u32;
    assert!(
        seg.blocks_opened() <= tags,
        "{} blocks from {tags} tags",
        seg.blocks_opened()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_trace_reader_never_panics((_, bytes) in input()) {
        trace_target(&bytes);
    }

    #[test]
    fn the_segmenter_never_panics((_, bytes) in input(), cuts in proptest::collection::vec(0..24usize, 0..64)) {
        segmenter_target(&bytes, &cuts);
    }
}

#[test]
fn the_importers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = TextTokenizer::Estimate;
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&input(), |(name, bytes)| {
            import_target(dir.path(), name, &bytes, &tokenizer);
            Ok(())
        })
        .unwrap();
}

/// The long run: every target in turn until MEMENTO_FUZZ_SECONDS (default 600) are up.
#[test]
#[ignore]
fn fuzz_for_a_while() {
    let seconds: u64 = std::env::var("MEMENTO_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = TextTokenizer::Estimate;
    let mut runner = TestRunner::default();
    let strategy = (input(), proptest::collection::vec(0..24usize, 0..64));
    let mut counts = [0u64; 3];
    while Instant::now() < deadline {
        let ((name, bytes), cuts) = strategy.new_tree(&mut runner).unwrap().current();
        trace_target(&bytes);
        counts[0] += 1;
        segmenter_target(&bytes, &cuts);
        counts[1] += 1;
        import_target(dir.path(), name, &bytes, &tokenizer);
        counts[2] += 1;
    }
    println!(
        "fuzzed {seconds} s: trace reader {} inputs, segmenter {}, importers {}; no panic",
        counts[0], counts[1], counts[2]
    );
}
