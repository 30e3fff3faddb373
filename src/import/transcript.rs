//! A transcript — prompt plus tagged response — recorded into a trace by the same recorder
//! the engine uses, with structure problems traced back to where they sit in the source.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::kv::{KvPolicy, KvShape};
use crate::structure::{SegmenterConfig, Severity};
use crate::tokenize::{Piece, TextTokenizer};
use crate::trace::{
    EndReason, Event, FORMAT_NAME, Header, MemorySink, ModelInfo, Recorder, RecorderOptions,
    SourceInfo, TokenInput, format_version,
};

use super::ImportError;
use super::chatml;

/// Where a byte offset of the response came from, for messages.
#[derive(Debug, Clone)]
pub enum Locator {
    /// The response is the text of `path` starting at byte `start`.
    TextFile {
        path: PathBuf,
        start: usize,
        text: String,
    },
    /// The response is one field of a record (a JSONL line or a Parquet row).
    Field {
        path: PathBuf,
        record: String,
        field: String,
    },
    /// The response was assembled from several fields: (response byte range, field name).
    Assembled {
        path: PathBuf,
        record: Option<String>,
        parts: Vec<(Range<usize>, String)>,
    },
}

impl Locator {
    /// "file:line:col" or "file: <record>, field `x`" for a byte offset of the response.
    pub fn describe(&self, offset: usize) -> String {
        match self {
            Locator::TextFile { path, start, text } => {
                let at = (start + offset).min(text.len());
                let before = &text[..floor_char_boundary(text, at)];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("{}:{line}:{col}", path.display())
            }
            Locator::Field {
                path,
                record,
                field,
            } => {
                format!(
                    "{}: {record}, field `{field}` (byte {offset})",
                    path.display()
                )
            }
            Locator::Assembled {
                path,
                record,
                parts,
            } => {
                let field = parts
                    .iter()
                    .find(|(r, _)| r.contains(&offset))
                    .or(parts.last())
                    .map_or("?", |(_, f)| f.as_str());
                match record {
                    Some(record) => format!("{}: {record}, field `{field}`", path.display()),
                    None => format!("{}: field `{field}`", path.display()),
                }
            }
        }
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[derive(Debug, Clone)]
pub struct Transcript {
    /// A ChatML prompt ending with the assistant header, or nothing.
    pub prompt: Option<String>,
    /// The assistant's tagged response.
    pub response: String,
    pub source: SourceInfo,
    pub locator: Locator,
}

impl Transcript {
    /// A transcript for a user problem and a response.
    pub fn for_problem(
        problem: Option<&str>,
        response: String,
        source: SourceInfo,
        locator: Locator,
    ) -> Self {
        Transcript {
            prompt: problem.map(chatml::user_prompt),
            response,
            source,
            locator,
        }
    }
}

/// How to record transcripts.
pub struct RecordSettings<'a> {
    pub tokenizer: &'a TextTokenizer,
    pub shape: KvShape,
    pub policy: KvPolicy,
    /// Keep going when the structure is malformed (diagnostics stay in the trace).
    pub lenient: bool,
    pub snapshot_every: u32,
}

/// Record a transcript into memory: header plus events.
pub fn record(t: &Transcript, settings: &RecordSettings) -> Result<MemorySink, ImportError> {
    let header = Header {
        format: FORMAT_NAME.to_string(),
        version: format_version(),
        created: created_now(),
        generator: format!("memento {}", env!("CARGO_PKG_VERSION")),
        model: ModelInfo {
            name: settings.shape.name.clone(),
            shape: settings.shape.clone(),
        },
        tokenizer: settings.tokenizer.info(),
        policy: settings.policy,
        source: Some(t.source.clone()),
        snapshot_every: Some(settings.snapshot_every),
    };
    let segmenter = if t.prompt.is_some() {
        SegmenterConfig::default()
    } else {
        SegmenterConfig::response_only()
    };
    let options = RecorderOptions {
        segmenter,
        snapshot_every: settings.snapshot_every,
    };
    let io = |e: std::io::Error| ImportError::Invalid {
        location: t.source.path.clone().unwrap_or_default(),
        message: e.to_string(),
    };
    let mut recorder = Recorder::start(&header, options, MemorySink::default()).map_err(io)?;
    let tokenize = |text: &str| -> Result<Vec<Piece>, ImportError> {
        settings
            .tokenizer
            .pieces(text)
            .map_err(|e| ImportError::Invalid {
                location: t.locator.describe(0),
                message: e.to_string(),
            })
    };
    if let Some(prompt) = &t.prompt {
        let pieces = tokenize(prompt)?;
        recorder.prompt(prompt, &pieces, None).map_err(io)?;
    }
    let pieces = tokenize(&t.response)?;
    // Byte offset in the response where each token starts, to locate diagnostics.
    let mut starts = Vec::with_capacity(pieces.len());
    let mut offset = 0;
    for (text, id) in pieces {
        starts.push(offset);
        offset += text.len();
        recorder
            .token(TokenInput {
                text,
                id,
                ..TokenInput::default()
            })
            .map_err(io)?;
    }
    let prompt_len = recorder.prompt_len();
    let (sink, _) = recorder
        .finish(EndReason::Complete, None, None)
        .map_err(io)?;
    if !settings.lenient {
        let first_problem = sink.events.iter().find_map(|e| match e {
            Event::Diagnostic(d) if d.severity == Severity::Warning => Some(d),
            _ => None,
        });
        if let Some(d) = first_problem {
            let offset =
                d.at.checked_sub(prompt_len)
                    .and_then(|i| starts.get(i as usize).copied())
                    .unwrap_or(t.response.len());
            return Err(ImportError::Structure {
                location: t.locator.describe(offset),
                message: format!("{} (use --lenient to import anyway)", d.message),
            });
        }
    }
    Ok(sink)
}

/// Creation time: `SOURCE_DATE_EPOCH` when set (reproducible sample traces), else now.
pub fn created_now() -> String {
    let fixed = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| jiff::Timestamp::from_second(s).ok());
    fixed.unwrap_or_else(jiff::Timestamp::now).to_string()
}

pub fn source(kind_format: &str, path: &Path) -> SourceInfo {
    SourceInfo {
        kind: crate::trace::SourceKind::Import,
        format: Some(kind_format.to_string()),
        path: Some(path.display().to_string()),
        row: None,
        id: None,
        seed: None,
        answer: None,
    }
}
