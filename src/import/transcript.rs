//! A transcript — prompt plus tagged response — recorded into a trace by the same recorder
//! the engine uses, with structure problems traced back to where they sit in the source.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::kv::{KvPolicy, KvShape};
use crate::structure::{SegmenterConfig, Severity};
use crate::tokenize::{Piece, TextTokenizer, TokenCuts, TokenizeError, outside_tags};
use crate::trace::{
    EndReason, Event, EventSink, FORMAT_NAME, Header, MemorySink, ModelInfo, Recorder,
    RecorderOptions, RunState, SourceInfo, TokenInput, format_version,
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
        let (prompt, response) = self.cuts(tokenizer)?;
        let prompt = prompt.map(|(cuts, quoted)| {
            let text = self.prompt.as_deref().unwrap_or_default();
            (cuts.pieces(text).collect(), quoted)
        });
        let (cuts, quoted) = response;
        Ok((prompt, (cuts.pieces(&self.response).collect(), quoted)))
    }

    /// [`Transcript::pieces`] as cuts (where each token ends), a few bytes a token.
    #[allow(clippy::type_complexity)]
    pub fn cuts(
        &self,
        tokenizer: &TextTokenizer,
    ) -> Result<(Option<(TokenCuts, Vec<bool>)>, (TokenCuts, Vec<bool>)), TokenizeError> {
        let prompt = match &self.prompt {
            Some(text) => Some(placed_cuts(tokenizer, text, self.prompt_tags.as_deref())?),
            None => None,
        };
        Ok((
            prompt,
            placed_cuts(tokenizer, &self.response, self.response_tags.as_deref())?,
        ))
    }
}

/// Cuts of `text` with their quoted-data flags: with no placed tags, tagged text (nothing
/// quoted, no flags); with placed tags, every token outside them is quoted.
fn placed_cuts(
    tokenizer: &TextTokenizer,
    text: &str,
    tags: Option<&[Range<usize>]>,
) -> Result<(TokenCuts, Vec<bool>), TokenizeError> {
    let Some(tags) = tags else {
        return Ok((tokenizer.cuts(text)?, Vec::new()));
    };
    let cuts = tokenizer.cuts_placed(text, tags)?;
    let quoted = outside_tags(cuts.ends.iter().copied(), tags);
    Ok((cuts, quoted))
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
    record_into(t, settings, MemorySink::default()).map(|(sink, _)| sink)
}

/// Record a transcript into `sink`, event by event: memory holds the transcript and a few
/// bytes a token, never the events. Unless `settings.lenient`, the first malformed structure
/// stops the recording with where it sits in the source; the sink then holds a partial trace
/// for the caller to discard.
pub fn record_into<S: EventSink>(
    t: &Transcript,
    settings: &RecordSettings,
    sink: S,
) -> Result<(S, RunState), ImportError> {
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
        sampler: None,
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
    let (prompt, (cuts, quoted)) =
        t.cuts(settings.tokenizer)
            .map_err(|e| ImportError::Invalid {
                location: t.locator.describe(0),
                message: e.to_string(),
            })?;
    let watch = WarningWatch { sink, first: None };
    let mut recorder = Recorder::start(&header, options, watch).map_err(io)?;
    if let (Some(text), Some((cuts, quoted))) = (&t.prompt, prompt) {
        let pieces: Vec<Piece> = cuts.pieces(text).collect();
        recorder
            .prompt_quoting(text, &pieces, &quoted, None)
            .map_err(io)?;
    }
    let prompt_len = recorder.prompt_len();
    // Where a diagnostic at position `at` sits in the source.
    let located = |at: u64, message: &str| {
        let offset = at
            .checked_sub(prompt_len)
            .and_then(|i| match i {
                0 => Some(0),
                i => cuts.ends.get(i as usize - 1).copied(),
            })
            .unwrap_or(t.response.len());
        ImportError::Structure {
            location: t.locator.describe(offset),
            message: format!("{message} (use --lenient to import anyway)"),
        }
    };
    for i in 0..cuts.len() {
        if let (false, Some((at, message))) = (settings.lenient, &recorder.sink().first) {
            return Err(located(*at, message));
        }
        let (text, id) = cuts.piece(&t.response, i);
        recorder
            .token(TokenInput {
                text: text.to_string(),
                id,
                literal: quoted.get(i).copied().unwrap_or(false),
                ..TokenInput::default()
            })
            .map_err(io)?;
    }
    let (watch, state) = recorder
        .finish(EndReason::Complete, None, None)
        .map_err(io)?;
    match (settings.lenient, watch.first) {
        (false, Some((at, message))) => Err(located(at, &message)),
        _ => Ok((watch.sink, state)),
    }
}

/// Passes events on, noting the first warning diagnostic (position, message).
struct WarningWatch<S> {
    sink: S,
    first: Option<(u64, String)>,
}

impl<S: EventSink> EventSink for WarningWatch<S> {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.sink.header(header)
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        if let Event::Diagnostic(d) = event {
            if d.severity == Severity::Warning && self.first.is_none() {
                self.first = Some((d.at, d.message.clone()));
            }
        }
        self.sink.event(event)
    }
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
