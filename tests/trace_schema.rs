//! docs/trace-format.schema.json describes exactly what the writer writes: every line of a
//! varied set of real traces validates, and lines that break the format do not.

use std::path::Path;

use memento::import::{ImportOptions, RecordSettings, read_transcripts, record};
use memento::kv::{KvPolicy, KvShape};
use memento::synth::{SynthSettings, synthesize};
use memento::tokenize::TextTokenizer;
use memento::trace::{
    Alternative, EndReason, MemorySink, Recorder, RecorderOptions, StageSeconds, TokenInput,
    TraceWriter,
};

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/trace-format.schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn jsonl(sink: &MemorySink) -> String {
    let mut buf = Vec::new();
    sink.replay_into(&mut TraceWriter::new(&mut buf)).unwrap();
    String::from_utf8(buf).unwrap()
}

fn check_all(name: &str, text: &str, v: &jsonschema::Validator) -> usize {
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Err(e) = v.validate(&value) {
            panic!("{name}:{}: {e}\n{line}", i + 1);
        }
        n += 1;
    }
    n
}

fn settings<'a>(
    tokenizer: &'a TextTokenizer,
    shape: &str,
    policy: KvPolicy,
    lenient: bool,
) -> RecordSettings<'a> {
    RecordSettings {
        tokenizer,
        shape: KvShape::preset(shape).unwrap(),
        policy,
        lenient,
        snapshot_every: 64,
    }
}

#[test]
fn every_kind_of_line_the_writer_produces_validates() {
    let v = validator();
    let mut kinds = std::collections::BTreeSet::new();
    let mut note = |text: &str| {
        for line in text.lines().skip(1) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            kinds.insert(value["type"].as_str().unwrap().to_string());
        }
    };

    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".trace.jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(check_all(&path.display().to_string(), &text, &v) > 100);
            note(&text);
        }
    }

    // Restart (recompute spans), a sliding-window shape, and keep_last_block_for_answer.
    let estimate = TextTokenizer::Estimate;
    let t = synthesize(&SynthSettings {
        seed: 9,
        tokens: 800,
        mean_block_tokens: 100,
    });
    for (shape, policy) in [
        ("olmo-3-7b", KvPolicy::restart()),
        (
            "phi-4-reasoning",
            KvPolicy {
                keep_last_block_for_answer: true,
                ..KvPolicy::MEMENTO
            },
        ),
    ] {
        let text = jsonl(&record(&t, &settings(&estimate, shape, policy, false)).unwrap());
        check_all(shape, &text, &v);
        note(&text);
    }

    // A GGUF tokenizer (ids on every token) and malformed structure (diagnostics).
    let gguf = TextTokenizer::load(&memento::fetch::ensure_default_model(false).unwrap()).unwrap();
    let code = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/memento-examples/code.segments.json");
    let transcript = &read_transcripts(&code, &ImportOptions::default()).unwrap()[0];
    let text = jsonl(
        &record(
            transcript,
            &settings(&gguf, "qwen3-32b", KvPolicy::MEMENTO, false),
        )
        .unwrap(),
    );
    check_all("gguf", &text, &v);
    let mut broken = transcript.clone();
    broken.response = broken.response.replacen("<|block_end|>", "", 1);
    // Edited by hand, the response is tagged text: its tags are read from it.
    broken.response_tags = None;
    let text = jsonl(
        &record(
            &broken,
            &settings(&estimate, "qwen3-8b", KvPolicy::MEMENTO, true),
        )
        .unwrap(),
    );
    check_all("diagnostics", &text, &v);
    note(&text);

    // Live-run fields: times, logprobs, alternatives, scaffold flags, markers, an end reason.
    let header = record(
        &t,
        &settings(&estimate, "smollm2-135m", KvPolicy::MEMENTO, false),
    )
    .unwrap()
    .header
    .unwrap();
    let mut rec =
        Recorder::start(&header, RecorderOptions::default(), MemorySink::default()).unwrap();
    rec.prompt(
        "<|im_start|>assistant\n",
        &[
            ("<|im_start|>".into(), Some(1)),
            ("assistant\n".into(), Some(2)),
        ],
        Some(0.0),
    )
    .unwrap();
    rec.token(TokenInput {
        text: "<think>".into(),
        id: Some(3),
        logprob: Some(-0.5),
        top: Some(vec![Alternative {
            id: Some(3),
            text: "<think>".into(),
            logprob: -0.5,
            sampled_logprob: Some(-0.7),
        }]),
        scaffold: true,
        literal: false,
        t: Some(0.01),
    })
    .unwrap();
    rec.marker("here", Some("why".into())).unwrap();
    let (sink, _) = rec
        .finish(
            EndReason::MaxTokens,
            Some(0.02),
            Some(StageSeconds {
                prefill: 0.005,
                decode: 0.015,
            }),
        )
        .unwrap();
    let text = jsonl(&sink);
    check_all("live", &text, &v);
    note(&text);

    for kind in [
        "prompt",
        "token",
        "structure",
        "kv",
        "evict",
        "marker",
        "snapshot",
        "diagnostic",
        "end",
    ] {
        assert!(kinds.contains(kind), "no {kind} line was checked");
    }
}

#[test]
fn lines_that_break_the_format_do_not_validate() {
    let v = validator();
    let bad = [
        r#"{"type":"kv","seq":1,"pos":2,"live":"3","bytes":4}"#,
        r#"{"type":"kv","seq":1,"pos":2,"live":3}"#,
        r#"{"type":"token","seq":1,"pos":2,"text":"a","surprise":true}"#,
        r#"{"type":"hologram","seq":1}"#,
        r#"{"type":"structure","seq":1,"span":"chapter","edge":"open","at":0}"#,
        r#"{"format":"memento-trace","version":"2.0"}"#,
        r#"{"type":"token","seq":-1,"pos":2,"text":"a"}"#,
    ];
    for line in bad {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(!v.is_valid(&value), "should not validate: {line}");
    }
}

/// A decoded run's header records the sampler as it took effect, with what was automatic: a
/// scaffolded greedy run's repeat penalty of 1.2 says it was chosen for the run. The trace
/// validates, and the replay's title shows the sampler.
#[test]
fn a_decoded_run_records_its_effective_sampler() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("run.trace.jsonl");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_memento"))
            .env("MEMENTO_CACHE_DIR", dir.path().join("cache"))
            .args(["generate", "--model", "organism", "--scaffold", "on"])
            .args(["--max-tokens", "6", "--trace"])
            .arg(&trace)
            .args(extra)
            .arg("What is 2+3?")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&trace).unwrap();
        check_all("decoded", &text, &validator());
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["version"], "1.1");
        header["sampler"].clone()
    };
    let auto = run(&[]);
    assert_eq!(auto["temperature"], 0.0);
    assert!(
        (auto["repeat_penalty"].as_f64().unwrap() - 1.2).abs() < 1e-6,
        "{auto}"
    );
    assert_eq!(auto["automatic"]["repeat_penalty"], "scaffolded");
    let set = run(&["--repeat-penalty", "1.0", "--seed", "7"]);
    assert_eq!(set["repeat_penalty"], 1.0);
    assert_eq!(set["seed"], 7);
    assert!(set.get("automatic").is_none(), "{set}");

    let (timeline, _) = memento::timeline::Timeline::read(&trace).unwrap();
    assert_eq!(
        timeline.header.sampler.as_ref().unwrap().summary(),
        "greedy · seed 7"
    );
}
