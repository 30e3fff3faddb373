//! Open a trace file, or import a source file on the fly, as a validated timeline.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::import::{ImportOptions, RecordSettings, read_transcripts, record_into};
use crate::kv::{KvPolicy, KvShape};
use crate::timeline::{Timeline, TimelineSink};
use crate::tokenize::TextTokenizer;
use crate::trace::FORMAT_NAME;

/// True when the file's first line is a memento trace header.
pub fn looks_like_trace(path: &Path) -> bool {
    let Ok(mut file) = crate::textfile::open_regular(path) else {
        return false;
    };
    let mut head = vec![0u8; 4096];
    let n = file.read(&mut head).unwrap_or(0);
    let head = &head[..n];
    let first = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let first = String::from_utf8_lossy(first);
    first.trim_start().starts_with('{') && first.contains(FORMAT_NAME)
}

/// Source formats memento can import, by extension (`*.trace.jsonl` is always a trace).
fn importable(path: &Path) -> bool {
    if path.to_string_lossy().ends_with(".trace.jsonl") {
        return false;
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "json" | "jsonl" | "ndjson" | "parquet" | "txt" | "md"
    )
}

/// A timeline from a trace, or from the first transcript of an importable file (counted
/// with the estimate, KV sized for `shape`).
pub fn load_timeline(path: &Path, shape: &KvShape) -> anyhow::Result<(Timeline, Vec<String>)> {
    if looks_like_trace(path) || !importable(path) {
        let (timeline, warnings) = Timeline::read(path)?;
        let warnings = warnings
            .iter()
            .map(|w| format!("{}:{}: {}", path.display(), w.line, w.message))
            .collect();
        return Ok((timeline, warnings));
    }
    let options = ImportOptions {
        select: crate::import::RowSelect {
            row: None,
            limit: Some(1),
        },
        ..ImportOptions::default()
    };
    let transcript = read_transcripts(path, &options)?
        .into_iter()
        .next()
        .with_context(|| format!("{}: nothing to import", path.display()))?;
    let tokenizer = TextTokenizer::Estimate;
    let (sink, _) = record_into(
        &transcript,
        &RecordSettings {
            tokenizer: &tokenizer,
            shape: shape.clone(),
            policy: KvPolicy::MEMENTO,
            lenient: true,
            snapshot_every: 256,
        },
        TimelineSink::default(),
    )
    .with_context(|| path.display().to_string())?;
    let timeline = sink.finish().context("recorder wrote no header")?;
    Ok((timeline, Vec::new()))
}
