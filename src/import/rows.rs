//! Row sources: OpenMementos rows (JSONL or Parquet; `default` fields with a tagged
//! `response`, or `full` fields with `sentences`, `blocks` and `block_summaries`) and raw
//! chain-of-thought rows (`cot`, one think span with no blocks).

use std::path::Path;

use serde::Deserialize;

use super::assembly::Assembly;
use super::json::{from_json_line, from_json_value, string_or_number};
use super::transcript::{Locator, Transcript, source};
use super::{ImportError, RowSource};
use crate::structure::Tag;
use crate::trace::SourceInfo;

#[derive(Debug, Deserialize)]
struct Row {
    #[serde(default)]
    problem: Option<String>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    sentences: Option<Vec<String>>,
    #[serde(default)]
    blocks: Option<Vec<Vec<i64>>>,
    #[serde(default)]
    block_summaries: Option<Vec<String>>,
    #[serde(default)]
    cot: Option<String>,
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    answer: Option<String>,
}

/// Which kind of row a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    OpenMementos,
    RawCot,
}

/// A row's number for messages: `line N` (JSONL, 1-based) or `row N` (Parquet, 0-based).
struct Record {
    label: String,
    index: u64,
}

/// Read JSONL rows into transcripts.
pub fn import_jsonl(
    path: &Path,
    bytes: &[u8],
    kind: RowKind,
    prefer: RowSource,
    select: &RowSelect,
) -> Result<Vec<Transcript>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::Invalid {
        location: path.display().to_string(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    let mut out = Vec::new();
    let mut index = 0u64;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let this = index;
        index += 1;
        if !select.wants(this) {
            continue;
        }
        let row: Row = from_json_line(path, n + 1, line.as_bytes())?;
        let record = Record {
            label: format!("line {}", n + 1),
            index: this,
        };
        out.push(transcript(path, &record, row, kind, prefer)?);
        if select.done(out.len()) {
            break;
        }
    }
    if index == 0 {
        return Err(ImportError::Invalid {
            location: path.display().to_string(),
            message: "no rows: the file holds no JSON lines".into(),
        });
    }
    Ok(out)
}

/// Read Parquet rows into transcripts.
pub fn import_parquet(
    path: &Path,
    kind: RowKind,
    prefer: RowSource,
    select: &RowSelect,
) -> Result<Vec<Transcript>, ImportError> {
    use parquet::file::reader::SerializedFileReader;
    let invalid = |message: String| ImportError::Invalid {
        location: path.display().to_string(),
        message,
    };
    let file = crate::textfile::open_regular(path).map_err(|e| invalid(e.to_string()))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| invalid(format!("not a Parquet file: {e}")))?;
    let mut out = Vec::new();
    let mut seen = 0u64;
    for (index, row) in reader.into_iter().enumerate() {
        seen += 1;
        let index = index as u64;
        if !select.wants(index) {
            continue;
        }
        let row = row.map_err(|e| invalid(format!("row {index}: {e}")))?;
        let record = Record {
            label: format!("row {index}"),
            index,
        };
        let row: Row = from_json_value(path, &record.label, row.to_json_value())?;
        out.push(transcript(path, &record, row, kind, prefer)?);
        if select.done(out.len()) {
            break;
        }
    }
    if seen == 0 {
        return Err(invalid("no rows: the Parquet file is empty".into()));
    }
    Ok(out)
}

/// Which rows to import.
#[derive(Debug, Clone, Default)]
pub struct RowSelect {
    pub row: Option<u64>,
    pub limit: Option<usize>,
}

impl RowSelect {
    fn wants(&self, index: u64) -> bool {
        self.row.is_none_or(|r| r == index)
    }

    fn done(&self, taken: usize) -> bool {
        self.row.is_some() || self.limit.is_some_and(|l| taken >= l)
    }
}

/// Guess the row kind from the first row's fields.
pub fn detect_row_kind(first: &serde_json::Value) -> Option<RowKind> {
    let has = |k: &str| first.get(k).is_some();
    if has("response") || (has("sentences") && has("blocks")) {
        Some(RowKind::OpenMementos)
    } else if has("cot") {
        Some(RowKind::RawCot)
    } else {
        None
    }
}

fn transcript(
    path: &Path,
    record: &Record,
    row: Row,
    kind: RowKind,
    prefer: RowSource,
) -> Result<Transcript, ImportError> {
    let missing = |what: &str| ImportError::Invalid {
        location: format!("{}: {}", path.display(), record.label),
        message: what.to_string(),
    };
    let mut info = source(
        match kind {
            RowKind::OpenMementos => "openmementos",
            RowKind::RawCot => "raw-cot",
        },
        path,
    );
    info.row = Some(record.index);
    info.id = row.task_id.clone().or(row.source.clone());
    info.answer = row.answer.clone();
    let field = |name: &str| Locator::Field {
        path: path.to_path_buf(),
        record: record.label.clone(),
        field: name.to_string(),
    };
    match kind {
        RowKind::RawCot => {
            let cot = row
                .cot
                .ok_or_else(|| missing("expected field `cot` (the raw chain of thought)"))?;
            Ok(Transcript::for_problem(
                row.problem.as_deref(),
                cot,
                info,
                field("cot"),
            ))
        }
        RowKind::OpenMementos => {
            let has_full = row.sentences.is_some() && row.blocks.is_some();
            let use_full = match prefer {
                RowSource::Blocks => true,
                RowSource::Response => false,
                RowSource::Auto => row.response.is_none() && has_full,
            };
            if use_full {
                from_blocks(path, record, row, info)
            } else {
                let response = row.response.ok_or_else(|| {
                    missing("expected field `response` (default config) or `sentences`, `blocks` and `block_summaries` (full config)")
                })?;
                Ok(Transcript::for_problem(
                    row.problem.as_deref(),
                    response,
                    info,
                    field("response"),
                ))
            }
        }
    }
}

/// Assemble the tagged response from the `full` config's sentence-level segmentation.
fn from_blocks(
    path: &Path,
    record: &Record,
    row: Row,
    info: SourceInfo,
) -> Result<Transcript, ImportError> {
    let bad = |field: String, message: String| ImportError::Invalid {
        location: format!("{}: {}, field `{field}`", path.display(), record.label),
        message,
    };
    let sentences = row
        .sentences
        .ok_or_else(|| bad("sentences".into(), "missing".into()))?;
    let blocks = row
        .blocks
        .ok_or_else(|| bad("blocks".into(), "missing".into()))?;
    let summaries = row
        .block_summaries
        .ok_or_else(|| bad("block_summaries".into(), "missing".into()))?;
    if summaries.len() != blocks.len() {
        return Err(bad(
            "block_summaries".into(),
            format!("{} summaries for {} blocks", summaries.len(), blocks.len()),
        ));
    }
    let n = sentences.len() as i64;
    let mut response = Assembly::starting_with(Tag::ThinkOpen);
    response.glue("\n");
    let mut next = 0i64;
    let quote_sentences = |response: &mut Assembly, from: i64, to: i64| {
        response.quote_joined(
            sentences[from as usize..=to as usize]
                .iter()
                .map(String::as_str),
            " ",
            format!("sentences[{from}..={to}]"),
        );
    };
    for (i, pair) in blocks.iter().enumerate() {
        let &[first, last] = pair.as_slice() else {
            return Err(bad(
                format!("blocks[{i}]"),
                format!(
                    "expected a [first, last] pair, found {} numbers",
                    pair.len()
                ),
            ));
        };
        if first < next || last < first || last >= n {
            return Err(bad(
                format!("blocks[{i}]"),
                format!(
                    "[{first}, {last}] is not an ascending range of unused sentences in 0..{n}"
                ),
            ));
        }
        if first > next {
            quote_sentences(&mut response, next, first - 1);
            response.glue("\n");
        }
        response.tag(Tag::BlockStart);
        quote_sentences(&mut response, first, last);
        response.tag(Tag::BlockEnd);
        response.glue("\n");
        response.tag(Tag::SummaryStart);
        response.quote(&summaries[i], format!("block_summaries[{i}]"));
        response.tag(Tag::SummaryEnd);
        response.glue("\n");
        next = last + 1;
    }
    if next < n {
        quote_sentences(&mut response, next, n - 1);
        response.glue("\n");
    }
    response.tag(Tag::ThinkClose);
    // The answer lives after `</think>` in `response`, when the row has one.
    if let Some(answer) = row
        .response
        .as_deref()
        .and_then(|r| r.split_once("</think>").map(|(_, a)| a))
    {
        response.quote(answer, "response".to_string());
    }
    Ok(Transcript::assembled(
        row.problem.as_deref(),
        response,
        info,
        path,
        Some(record.label.clone()),
    ))
}
