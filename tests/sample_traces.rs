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
        assert!(timeline.end().is_some());
        assert!(
            timeline.state().evictions > 0,
            "{} shows evictions",
            path.display()
        );
    }
}
