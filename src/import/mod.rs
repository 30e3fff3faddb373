//! Importers: published MEMENTO examples, OpenMementos rows, raw chain of thought and tagged
//! text become traces, recorded by the same recorder as a live run.

mod assembly;
mod chatml;
mod json;
mod rows;
mod segments;
mod transcript;

use std::path::{Path, PathBuf};

pub use assembly::Assembly;
pub use chatml::{
    ASSISTANT_HEADER, split_at_assistant, user_message, user_prompt, user_prompt_assembly,
};
pub use rows::{RowKind, RowSelect, detect_row_kind};
pub use transcript::{Locator, RecordSettings, Transcript, created_now, record, record_into};

use crate::trace::{MemorySink, RunState, TraceWriter};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error("{location}: malformed structure: {message}")]
    Structure { location: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportFormat {
    #[default]
    Auto,
    /// `{problem, answer, segments: [...]}` (published MEMENTO examples).
    Segments,
    /// OpenMementos rows, JSONL or Parquet.
    OpenMementos,
    /// Rows with a raw `cot` (one think span, no blocks).
    RawCot,
    /// Plain text with MEMENTO tags (and optionally its own ChatML prompt).
    Tagged,
}

impl ImportFormat {
    pub fn parse(s: &str) -> Result<ImportFormat, String> {
        Ok(match s {
            "auto" => ImportFormat::Auto,
            "segments" | "segments-json" => ImportFormat::Segments,
            "openmementos" => ImportFormat::OpenMementos,
            "raw-cot" | "cot" => ImportFormat::RawCot,
            "tagged" | "text" => ImportFormat::Tagged,
            other => {
                return Err(format!(
                    "unknown format `{other}`: expected auto, segments, openmementos, raw-cot or tagged"
                ));
            }
        })
    }
}

/// For OpenMementos rows that carry both: build from the tagged `response`, or from the
/// `full` config's `sentences`/`blocks`/`block_summaries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowSource {
    #[default]
    Auto,
    Response,
    Blocks,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub format: ImportFormat,
    pub prefer: RowSource,
    pub select: RowSelect,
    /// The user problem, for tagged text that has no prompt of its own.
    pub problem: Option<String>,
}

/// Read a source file into transcripts (one per row for row formats).
pub fn read_transcripts(
    path: &Path,
    options: &ImportOptions,
) -> Result<Vec<Transcript>, ImportError> {
    let invalid = |message: String| ImportError::Invalid {
        location: path.display().to_string(),
        message,
    };
    let is_parquet = extension(path) == "parquet";
    let bytes = if is_parquet {
        Vec::new()
    } else {
        crate::textfile::open_regular(path)
            .and_then(|mut f| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
            })
            .map(crate::textfile::normalize_bytes)
            .map_err(|source| ImportError::Io {
                path: path.to_path_buf(),
                source,
            })?
    };
    if !is_parquet && bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("the file is empty".into()));
    }
    let format = match options.format {
        ImportFormat::Auto => detect(path, &bytes)?,
        f => f,
    };
    match format {
        ImportFormat::Segments => Ok(vec![segments::import_segments(path, &bytes)?]),
        ImportFormat::OpenMementos | ImportFormat::RawCot => {
            let kind = if format == ImportFormat::RawCot {
                RowKind::RawCot
            } else {
                RowKind::OpenMementos
            };
            if is_parquet {
                rows::import_parquet(path, kind, options.prefer, &options.select)
            } else {
                rows::import_jsonl(path, &bytes, kind, options.prefer, &options.select)
            }
        }
        ImportFormat::Tagged => Ok(vec![tagged_text(path, bytes, options)?]),
        ImportFormat::Auto => unreachable!("detect never answers Auto"),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn detect(path: &Path, bytes: &[u8]) -> Result<ImportFormat, ImportError> {
    match extension(path).as_str() {
        "parquet" => {
            let first = rows::import_parquet(
                path,
                RowKind::OpenMementos,
                RowSource::Auto,
                &RowSelect {
                    row: Some(0),
                    limit: None,
                },
            );
            // A raw-CoT Parquet file fails as OpenMementos for lack of `response`.
            Ok(match first {
                Err(ImportError::Invalid { message, .. }) if message.contains("`response`") => {
                    ImportFormat::RawCot
                }
                _ => ImportFormat::OpenMementos,
            })
        }
        "jsonl" | "ndjson" => detect_rows(path, bytes),
        // `datasets` saves JSON Lines as `.json` by default: one object per line is rows, a
        // single JSON value is a segments file.
        "json"
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err()
                && looks_like_json_lines(bytes) =>
        {
            detect_rows(path, bytes)
        }
        "json" => Ok(ImportFormat::Segments),
        _ => Ok(ImportFormat::Tagged),
    }
}

/// Two or more non-blank lines, the first two each a whole JSON object.
fn looks_like_json_lines(bytes: &[u8]) -> bool {
    let mut objects = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(2)
        .filter(|l| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(l).is_ok()
        });
    objects.next().is_some() && objects.next().is_some()
}

/// Which row format a JSON Lines file holds, from its first row.
fn detect_rows(path: &Path, bytes: &[u8]) -> Result<ImportFormat, ImportError> {
    let invalid = |message: String| ImportError::Invalid {
        location: path.display().to_string(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 text: {e}")))?;
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| invalid("the file is empty".into()))?;
    let first: serde_json::Value =
        serde_json::from_str(line).map_err(|e| ImportError::Invalid {
            location: format!("{}:{}", path.display(), n + 1),
            message: format!("not a JSON object: {e}"),
        })?;
    match detect_row_kind(&first) {
        Some(RowKind::OpenMementos) => Ok(ImportFormat::OpenMementos),
        Some(RowKind::RawCot) => Ok(ImportFormat::RawCot),
        None => Err(ImportError::Invalid {
            location: format!("{}:{}", path.display(), n + 1),
            message: "unknown row: expected OpenMementos fields (`response`, or `sentences` and `blocks`) or a raw `cot`".into(),
        }),
    }
}

fn tagged_text(
    path: &Path,
    bytes: Vec<u8>,
    options: &ImportOptions,
) -> Result<Transcript, ImportError> {
    let text = String::from_utf8(bytes).map_err(|e| ImportError::Invalid {
        location: path.display().to_string(),
        message: format!(
            "not UTF-8 text (byte {}): expected tagged text",
            e.utf8_error().valid_up_to()
        ),
    })?;
    let mut info = transcript::source("tagged-text", path);
    info.id = None;
    let (prompt, response, start) = match (&options.problem, split_at_assistant(&text)) {
        (Some(problem), _) => {
            let prompt = user_prompt_assembly(problem);
            (Some((prompt.text, Some(prompt.tags))), text.clone(), 0)
        }
        (None, Some((prompt, response))) => (
            Some((prompt.to_string(), None)),
            response.to_string(),
            prompt.len(),
        ),
        (None, None) => (None, text.clone(), 0),
    };
    let (prompt, prompt_tags) = prompt.unzip();
    Ok(Transcript {
        prompt,
        response,
        prompt_tags: prompt_tags.flatten(),
        response_tags: None,
        source: info,
        locator: Locator::TextFile {
            path: path.to_path_buf(),
            start,
            text,
        },
    })
}

/// Record a transcript straight into a trace file at `path`, event by event (see
/// [`record_into`]). The trace is written beside `path` under a temporary name and renamed
/// onto it only once whole, so a refused transcript leaves no file behind.
pub fn import_to(
    path: &Path,
    transcript: &Transcript,
    settings: &RecordSettings,
) -> Result<RunState, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| ImportError::Invalid {
        location: path.display().to_string(),
        message: "expected a file name for the trace".into(),
    })?;
    let partial = path.with_file_name(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    // Created as any new file is (the user's umask applies), exclusively.
    let writer = TraceWriter::create_new(&partial).map_err(io)?;
    let written = record_into(transcript, settings, writer).and_then(|(writer, state)| {
        writer.into_inner().map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)?;
        Ok(state)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Write recorded events to a trace file (flushing every event).
pub fn write_trace(path: &Path, recorded: &MemorySink) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = TraceWriter::create(path).map_err(io)?;
    recorded.replay_into(&mut writer).map_err(io)
}
