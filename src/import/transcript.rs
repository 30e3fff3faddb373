//! A transcript — prompt plus tagged response — recorded into a trace by the same recorder
//! the engine uses, with structure problems traced back to where they sit in the source.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::kv::{KvPolicy, KvShape};
use crate::structure::{SegmenterConfig, Severity};
use crate::tokenize::{Piece, TextTokenizer, TokenizeError};
use crate::trace::{
    EndReason, Event, FORMAT_NAME, Header, MemorySink, ModelInfo, Recorder, RecorderOptions,
    SourceInfo, TokenInput, format_version,
};

use super::ImportError;
use super::assembly::Assembly;
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
    /// The byte ranges of the tags memento placed in the prompt, which are then its only
    /// structure (the rest is quoted data); `None`: every tag the prompt spells is structure.
    pub prompt_tags: Option<Vec<Range<usize>>>,
    /// As `prompt_tags`, for the response.
    pub response_tags: Option<Vec<Range<usize>>>,
    pub source: SourceInfo,
    pub locator: Locator,
}

impl Transcript {
    /// A transcript for a user problem (quoted data) and a tagged response.
    pub fn for_problem(
        problem: Option<&str>,
        response: String,
        source: SourceInfo,
        locator: Locator,
    ) -> Self {
        let prompt = problem.map(chatml::user_prompt_assembly);
        Transcript {
            prompt_tags: prompt.as_ref().map(|p| p.tags.clone()),
            prompt: prompt.map(|p| p.text),
            response,
            response_tags: None,
            source,
            locator,
        }
    }

    /// A transcript assembled from a file's fields: the problem and the response's parts are
    /// quoted data, and only the tags memento placed are structure.
    pub fn assembled(
        problem: Option<&str>,
        response: Assembly,
        source: SourceInfo,
        path: &Path,
        record: Option<String>,
    ) -> Self {
        let prompt = problem.map(chatml::user_prompt_assembly);
        Transcript {
            prompt_tags: prompt.as_ref().map(|p| p.tags.clone()),
            prompt: prompt.map(|p| p.text),
            response: response.text,
            response_tags: Some(response.tags),
            source,
            locator: Locator::Assembled {
                path: path.to_path_buf(),
                record,
                parts: response.parts,
            },
        }
    }

    /// The user problem, when the prompt was assembled around it (it may quote any tag).
    pub fn quoted_problem(&self) -> Option<&str> {
        let (prompt, tags) = (self.prompt.as_deref()?, self.prompt_tags.as_deref()?);
        let (open, close) = (tags.first()?, tags.get(1)?);
        prompt.get(open.end..close.start)?.strip_prefix("user\n")
    }

    /// Token pieces of the prompt (when there is one) and of the response, each with a flag
    /// per piece that marks quoted data (never read as a tag).
    #[allow(clippy::type_complexity)]
    pub fn pieces(
        &self,
        tokenizer: &TextTokenizer,
    ) -> Result<(Option<(Vec<Piece>, Vec<bool>)>, (Vec<Piece>, Vec<bool>)), TokenizeError> {
        let prompt = match &self.prompt {
            Some(text) => Some(placed_pieces(tokenizer, text, self.prompt_tags.as_ref())?),
            None => None,
        };
        Ok((
            prompt,
            placed_pieces(tokenizer, &self.response, self.response_tags.as_ref())?,
        ))
    }
}

/// Pieces of `text` with their quoted-data flags: with no placed tags, tagged text (nothing
/// quoted); with placed tags, every piece outside them is quoted.
fn placed_pieces(
    tokenizer: &TextTokenizer,
    text: &str,
    tags: Option<&Vec<Range<usize>>>,
) -> Result<(Vec<Piece>, Vec<bool>), TokenizeError> {
    let Some(tags) = tags else {
        return Ok((tokenizer.pieces(text)?, Vec::new()));
    };
    let pieces = tokenizer.pieces_placed(text, tags)?;
    let mut literal = Vec::with_capacity(pieces.len());
    let mut offset = 0;
    for (piece, _) in &pieces {
        let range = offset..offset + piece.len();
        literal.push(
            !tags
                .iter()
                .any(|t| t.start < range.end && range.start < t.end),
        );
        offset = range.end;
    }
    Ok((pieces, literal))
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
    let (prompt, (pieces, literal)) =
        t.pieces(settings.tokenizer)
            .map_err(|e| ImportError::Invalid {
                location: t.locator.describe(0),
                message: e.to_string(),
            })?;
    if let (Some(text), Some((pieces, literal))) = (&t.prompt, prompt) {
        recorder
            .prompt_quoting(text, &pieces, &literal, None)
            .map_err(io)?;
    }
    // Byte offset in the response where each token starts, to locate diagnostics.
    let mut starts = Vec::with_capacity(pieces.len());
    let mut offset = 0;
    for (i, (text, id)) in pieces.into_iter().enumerate() {
        starts.push(offset);
        offset += text.len();
        recorder
            .token(TokenInput {
                text,
                id,
                literal: literal.get(i).copied().unwrap_or(false),
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
