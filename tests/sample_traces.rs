//! The committed sample traces are exactly what the generator produces, and they replay.

use std::path::Path;
use std::process::Command;

use memento::timeline::Timeline;
use memento::trace::read_trace;

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn regenerate(args: &[&str], committed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.trace.jsonl");
    let status = Command::new(BIN)
        .args(["synth"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .status()
        .unwrap();
    assert!(status.success());
    let fresh = std::fs::read(&out).unwrap();
    let kept = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(committed)).unwrap();
    assert!(
        fresh == kept,
        "{committed} is stale: regenerate it as sample-traces/README.md says"
    );
}

#[test]
fn sample_traces_are_reproducible() {
    regenerate(
        &["--seed", "1", "--tokens", "4000", "--block-tokens", "400"],
        "sample-traces/synthetic-memento.trace.jsonl",
    );
    regenerate(
        &[
            "--seed",
            "2",
            "--tokens",
            "3000",
            "--block-tokens",
            "300",
            "--shape",
            "phi-4-reasoning",
            "--mode",
            "keep-1",
            "--mask-delimiters",
        ],
        "sample-traces/synthetic-phi4-keep1.trace.jsonl",
    );
}

#[test]
fn sample_traces_replay_consistently() {
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces")).unwrap()
    {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".trace.jsonl") {
            continue;
        }
        let file = read_trace(&path).unwrap();
        assert!(file.warnings.is_empty(), "{}", path.display());
        let timeline = Timeline::from_file(file).unwrap();
        assert!(
            timeline.inconsistencies.is_empty(),
            "{}: {:?}",
            path.display(),
            timeline.inconsistencies
        );
        let full = timeline.header.policy.keep_last_n_blocks < 0;
        assert!(timeline.end().is_some());
        assert_eq!(
            timeline.state().evictions > 0,
            !full,
            "{} shows evictions unless it keeps full context",
            path.display()
        );
    }
}

/// The engine-recorded SmolLM2 pair: the same prompt decoded in full and in memento mode, with
/// real token ids and logprobs, and memento mode holding less KV at its peak.
#[test]
fn smollm2_pair_shares_its_prompt_and_memento_mode_peaks_lower() {
    use memento::trace::Event;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces");
    let read = |name: &str| read_trace(&dir.join(name)).unwrap();
    let (full, memento) = (
        read("smollm2-full.trace.jsonl"),
        read("smollm2-memento.trace.jsonl"),
    );
    let prompt = |f: &memento::trace::TraceFile| {
        f.events
            .iter()
            .find_map(|e| match e {
                Event::Prompt(p) => Some((p.text.clone(), p.ids.clone())),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(prompt(&full), prompt(&memento));
    for f in [&full, &memento] {
        let tokens: Vec<_> = f
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Token(t) => Some(t),
                _ => None,
            })
            .collect();
        assert!(tokens.len() > 200);
        assert!(tokens.iter().all(|t| t.id.is_some() && t.logprob.is_some()));
    }
    let (full, memento) = (
        Timeline::from_file(full).unwrap(),
        Timeline::from_file(memento).unwrap(),
    );
    assert_eq!(full.state().evictions, 0);
    assert!(memento.state().evictions >= 2);
    assert!(memento.state().mementos_closed >= 2);
    assert!(memento.state().peak < full.state().peak);
}
