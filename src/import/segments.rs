//! The `segments` JSON of published MEMENTO examples:
//! `{problem, answer, segments: [{type: block|summary|answer, block_idx, text}]}`.

use std::path::Path;

use serde::Deserialize;

use super::ImportError;
use super::assembly::Assembly;
use super::json::{from_json_slice, string_or_number};
use super::transcript::{Transcript, source};
use crate::structure::Tag;

#[derive(Deserialize)]
struct SegmentsFile {
    #[serde(default)]
    problem: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    answer: Option<String>,
    #[serde(default)]
    problem_source: Option<String>,
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct Segment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    block_idx: Option<i64>,
    text: String,
}

pub fn import_segments(path: &Path, bytes: &[u8]) -> Result<Transcript, ImportError> {
    let file: SegmentsFile = from_json_slice(path, bytes)?;
    let field_error = |field: String, message: String| ImportError::Invalid {
        location: format!("{}: field `{field}`", path.display()),
        message,
    };
    let mut response = Assembly::starting_with(Tag::ThinkOpen);
    response.glue("\n");
    let mut last_block: Option<i64> = None;
    let mut in_answer = false;
    for (i, seg) in file.segments.iter().enumerate() {
        let field = format!("segments[{i}].text");
        match seg.kind.as_str() {
            "block" | "summary" if in_answer => {
                return Err(field_error(
                    format!("segments[{i}].type"),
                    format!("a {} after the answer segment", seg.kind),
                ));
            }
            "block" => {
                response.tag(Tag::BlockStart);
                response.quote(&seg.text, field);
                response.tag(Tag::BlockEnd);
                response.glue("\n");
                last_block = seg.block_idx.or(last_block.map(|b| b + 1)).or(Some(1));
            }
            "summary" => {
                if let (Some(idx), Some(block)) = (seg.block_idx, last_block) {
                    if idx != block {
                        return Err(field_error(
                            format!("segments[{i}].block_idx"),
                            format!("memento for block {idx} follows block {block}"),
                        ));
                    }
                }
                response.tag(Tag::SummaryStart);
                response.quote(&seg.text, field);
                response.tag(Tag::SummaryEnd);
                response.glue("\n");
            }
            "answer" => {
                if !in_answer {
                    response.tag(Tag::ThinkClose);
                    response.glue("\n");
                    in_answer = true;
                }
                response.quote(&seg.text, field);
            }
            other => {
                return Err(field_error(
                    format!("segments[{i}].type"),
                    format!("expected \"block\", \"summary\" or \"answer\", found \"{other}\""),
                ));
            }
        }
    }
    if !in_answer {
        response.tag(Tag::ThinkClose);
        response.glue("\n");
    }
    let mut source = source("segments-json", path);
    source.answer = file.answer;
    source.id = file.problem_source;
    Ok(Transcript::assembled(
        file.problem.as_deref(),
        response,
        source,
        path,
        None,
    ))
}
