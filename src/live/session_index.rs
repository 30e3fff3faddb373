//! What the sessions directory holds, newest first: one entry per run (a compare run's two
//! traces are one entry), each with what a picker shows (when, mode, model, prompt, tokens,
//! peak KV, why it ended). Only a trace's first two lines and its last 64 KiB are read, so a
//! long run lists as fast as a short one and a damaged file lists with what could be read.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::sessions::partner_of;
use crate::trace::{EndEvent, Event, Header};

/// The bytes read from a trace's start for its header and prompt, and from its end for the
/// `end` event.
const HEAD_BYTES: u64 = 1 << 20;
const TAIL_BYTES: u64 = 64 << 10;

/// One stream of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    pub path: PathBuf,
    /// The KV policy's label (`memento`, `full`, `keep-2` …).
    pub mode: String,
    /// Generated tokens and peak live KV entries; None when the trace has no `end` event.
    pub tokens: Option<u64>,
    pub peak: Option<u64>,
    /// Why the stream ended (`end of answer`, `max tokens` …), or `unfinished`.
    pub ended: String,
}

/// One run: a single stream, or a compare run's full-context and memento streams.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// RFC 3339 creation time from the header.
    pub created: String,
    pub model: String,
    /// The prompt's text (whole; the view cuts it).
    pub prompt: String,
    /// Full context first in a compare run.
    pub streams: Vec<StreamSummary>,
}

impl SessionSummary {
    pub fn is_compare(&self) -> bool {
        self.streams.len() == 2
    }

    /// `compare`, or the single stream's mode.
    pub fn mode(&self) -> String {
        if self.is_compare() {
            "compare".into()
        } else {
            self.streams[0].mode.clone()
        }
    }

    /// The user's words from the prompt, on one line: the last user turn of a ChatML prompt
    /// (`<|im_start|>user\n…<|im_end|>`), else the text without its `<|…|>` tags.
    pub fn prompt_preview(&self) -> String {
        const USER: &str = "<|im_start|>user";
        let text = match self.prompt.rfind(USER) {
            Some(at) => {
                let turn = &self.prompt[at + USER.len()..];
                turn.split("<|im_end|>").next().unwrap_or(turn).to_string()
            }
            None => strip_tags(&self.prompt),
        };
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The trace to open (a compare run's partner is found beside it).
    pub fn path(&self) -> &Path {
        &self.streams[0].path
    }
}

/// The sessions in `dir`, newest first. Files that are not traces are skipped; a trace whose
/// header cannot be read is skipped too (it names no run to go back to).
///
/// # Errors
/// `dir` cannot be listed.
pub fn list_sessions(dir: &Path) -> anyhow::Result<Vec<SessionSummary>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("listing sessions in {}", dir.display()))?;
    let mut traces: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".trace.jsonl"))
        .collect();
    traces.sort();
    let mut sessions = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for path in &traces {
        if taken.contains(path) {
            continue;
        }
        let mut paths = vec![path.clone()];
        if let Some(partner) = partner_of(path) {
            taken.insert(partner.clone());
            paths.push(partner);
            // Full context on the left, as the workbench shows it.
            paths.sort_by_key(|p| !p.to_string_lossy().contains("-compare-full."));
        }
        if let Some(session) = summarise(&paths) {
            sessions.push(session);
        }
    }
    sessions.sort_by(|a, b| b.created.cmp(&a.created).then(b.path().cmp(a.path())));
    Ok(sessions)
}

/// The sessions in `dir`, newest first, as [`list_sessions`]; none when `dir` does not exist
/// yet (no run has been recorded).
///
/// # Errors
/// `dir` exists but cannot be listed.
pub fn sessions_in(dir: &Path) -> anyhow::Result<Vec<SessionSummary>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    list_sessions(dir)
}

/// The error for a directory with no recorded run to open.
pub fn no_runs_yet(dir: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: no recorded runs yet (`memento run` records each run there)",
        dir.display()
    )
}

/// `text` with every `<|…|>` tag replaced by a space.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<|") {
        out.push_str(&rest[..start]);
        match rest[start..].find("|>") {
            Some(end) => {
                out.push(' ');
                rest = &rest[start + end + 2..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn summarise(paths: &[PathBuf]) -> Option<SessionSummary> {
    let mut streams = Vec::new();
    let mut first = None;
    for path in paths {
        let (header, prompt) = read_head(path)?;
        let end = read_end(path);
        streams.push(StreamSummary {
            path: path.clone(),
            mode: header.policy.label(),
            tokens: end.as_ref().map(|e| e.totals.generated),
            peak: end.as_ref().map(|e| e.totals.peak),
            ended: end.map_or("unfinished".into(), |e| e.reason.label().to_string()),
        });
        first.get_or_insert((header, prompt));
    }
    let (header, prompt) = first?;
    Some(SessionSummary {
        created: header.created,
        model: header.model.name,
        prompt: prompt.unwrap_or_default(),
        streams,
    })
}

/// The header and, when the first event is one, the prompt's text.
fn read_head(path: &Path) -> Option<(Header, Option<String>)> {
    let file = std::fs::File::open(path).ok()?;
    let mut lines = std::io::BufReader::new(file.take(HEAD_BYTES)).lines();
    let header: Header = serde_json::from_str(&lines.next()?.ok()?).ok()?;
    if header.format != "memento-trace" {
        return None;
    }
    let prompt = lines
        .next()
        .and_then(|l| l.ok())
        .and_then(|l| serde_json::from_str::<Event>(&l).ok())
        .and_then(|e| match e {
            Event::Prompt(p) => Some(p.text),
            _ => None,
        });
    Some((header, prompt))
}

/// The `end` event, when the trace's last line is one.
fn read_end(path: &Path) -> Option<EndEvent> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
        .ok()?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    match serde_json::from_str::<Event>(last).ok()? {
        Event::End(end) => Some(end),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("sample-traces")
                .join(name),
        )
        .unwrap()
    }

    /// `text` with the header's creation time replaced.
    fn created_at(text: &str, created: &str) -> String {
        let (head, rest) = text.split_once('\n').unwrap();
        let mut header: serde_json::Value = serde_json::from_str(head).unwrap();
        header["created"] = created.into();
        format!("{header}\n{rest}")
    }

    #[test]
    fn sessions_list_newest_first_with_pairs_as_one_and_unfinished_runs_marked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("20261130-100000-compare-full.trace.jsonl"),
            created_at(&sample("smollm2-full.trace.jsonl"), "2026-11-30T10:00:00Z"),
        )
        .unwrap();
        std::fs::write(
            d.join("20261130-100000-compare-memento.trace.jsonl"),
            created_at(
                &sample("smollm2-memento.trace.jsonl"),
                "2026-11-30T10:00:00Z",
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("20261130-090000-memento.trace.jsonl"),
            created_at(
                &sample("synthetic-memento.trace.jsonl"),
                "2026-11-30T09:00:00Z",
            ),
        )
        .unwrap();
        // A run cut off mid-way: no end event.
        let whole = created_at(
            &sample("synthetic-memento.trace.jsonl"),
            "2026-11-30T11:00:00Z",
        );
        let cut: Vec<&str> = whole.lines().take(40).collect();
        std::fs::write(
            d.join("20261130-110000-memento.trace.jsonl"),
            cut.join("\n"),
        )
        .unwrap();
        // Not runs: another file, a file that only looks like a trace.
        std::fs::write(d.join("history.txt"), "x").unwrap();
        std::fs::write(d.join("junk.trace.jsonl"), "not json\n").unwrap();

        let sessions = list_sessions(d).unwrap();
        let created: Vec<&str> = sessions.iter().map(|s| s.created.as_str()).collect();
        assert_eq!(
            created,
            [
                "2026-11-30T11:00:00Z",
                "2026-11-30T10:00:00Z",
                "2026-11-30T09:00:00Z"
            ]
        );
        let unfinished = &sessions[0];
        assert_eq!(unfinished.streams[0].ended, "unfinished");
        assert_eq!(unfinished.streams[0].tokens, None);

        let pair = &sessions[1];
        assert!(pair.is_compare());
        assert_eq!(pair.mode(), "compare");
        assert!(
            pair.path()
                .to_string_lossy()
                .ends_with("-compare-full.trace.jsonl")
        );
        assert_eq!(pair.streams[0].mode, "full");
        assert_eq!(pair.streams[1].mode, "memento");
        assert_eq!(pair.streams[0].tokens, Some(320));
        assert_eq!(pair.streams[0].peak, Some(368));
        assert_eq!(pair.streams[1].peak, Some(274));
        assert_eq!(pair.streams[1].ended, "max tokens");
        assert_eq!(pair.model, "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            pair.prompt_preview()
                .starts_with("A farmer has 17 sheep. He buys"),
            "{}",
            pair.prompt_preview()
        );
        assert!(pair.prompt_preview().ends_with("Think step by step."));

        let single = &sessions[2];
        assert_eq!(single.mode(), "memento");
        assert_eq!(single.streams[0].tokens, Some(4176));
        assert_eq!(single.streams[0].peak, Some(1036));
        assert_eq!(single.streams[0].ended, "complete");

        assert_eq!(sessions_in(d).unwrap(), sessions);
    }

    #[test]
    fn the_preview_is_the_users_words_on_one_line() {
        let with = |prompt: &str| SessionSummary {
            created: String::new(),
            model: String::new(),
            prompt: prompt.into(),
            streams: Vec::new(),
        };
        let chat = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nTwo\nlines<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(with(chat).prompt_preview(), "Two lines");
        assert_eq!(
            with("<|user|>What is 2+2?<|end|>").prompt_preview(),
            "What is 2+2?"
        );
        assert_eq!(
            with("plain  text <|unclosed").prompt_preview(),
            "plain text <|unclosed"
        );
    }

    #[test]
    fn an_empty_or_missing_directory_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sessions_in(dir.path()).unwrap().is_empty());
        assert!(sessions_in(&dir.path().join("nope")).unwrap().is_empty());
        let err = no_runs_yet(dir.path()).to_string();
        assert!(err.contains("no recorded runs yet"), "{err}");
        let err = format!("{:#}", list_sessions(&dir.path().join("nope")).unwrap_err());
        assert!(
            err.contains("listing sessions in") && err.contains("nope"),
            "{err}"
        );
    }
}
