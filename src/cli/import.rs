//! `memento import`: source files in, trace files out.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use super::args::{PolicyArgs, ShapeArgs};
use crate::import::{
    ImportFormat, ImportOptions, RecordSettings, RowSelect, RowSource, import_to, read_transcripts,
};
use crate::tokenize::TextTokenizer;
use crate::trace::RunState;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Files to import: *.segments.json, OpenMementos *.jsonl or *.parquet, raw-CoT *.jsonl,
    /// or tagged text
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output: a .jsonl file for a single trace, otherwise a directory (default: current)
    #[arg(short, long = "output", alias = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Source format: auto, segments, openmementos, raw-cot or tagged
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// For OpenMementos rows with both: build from `response` or from `blocks`
    #[arg(long, value_name = "FIELD", default_value = "auto")]
    pub from: String,
    /// Import only this row (0-based)
    #[arg(long)]
    pub row: Option<u64>,
    /// Import at most this many rows per file
    #[arg(long)]
    pub limit: Option<usize>,
    /// Count tokens with this tokenizer.json, directory or GGUF file (default: the estimate)
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// The user problem for tagged text without its own prompt
    #[arg(long, value_name = "TEXT")]
    pub problem: Option<String>,
    /// Import even when the structure is malformed (diagnostics are kept in the trace)
    #[arg(long)]
    pub lenient: bool,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let format = ImportFormat::parse(&args.format)
        .map_err(anyhow::Error::msg)
        .context("--format")?;
    let prefer = match args.from.as_str() {
        "auto" => RowSource::Auto,
        "response" => RowSource::Response,
        "blocks" => RowSource::Blocks,
        other => bail!("--from {other}: expected auto, response or blocks"),
    };
    let tokenizer = match &args.tokenizer {
        Some(path) => TextTokenizer::load(path)?,
        None => TextTokenizer::Estimate,
    };
    let settings = RecordSettings {
        tokenizer: &tokenizer,
        shape: args.shape.resolve("qwen3-8b")?,
        policy: args.policy.resolve()?,
        lenient: args.lenient,
        snapshot_every: 256,
    };
    let options = ImportOptions {
        format,
        prefer,
        select: RowSelect {
            row: args.row,
            limit: args.limit,
        },
        problem: args.problem.clone(),
    };
    let mut jobs = Vec::new();
    for file in &args.files {
        let transcripts = read_transcripts(file, &options)?;
        let many = transcripts.len() > 1 || args.row.is_some();
        for t in transcripts {
            jobs.push((file.clone(), many, t));
        }
    }
    let single_file = args
        .out
        .as_ref()
        .filter(|o| jobs.len() == 1 && o.extension().is_some_and(|e| e == "jsonl"));
    for (file, many, transcript) in &jobs {
        let out = match single_file {
            Some(path) => path.clone(),
            None => {
                let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
                dir.join(output_name(
                    file,
                    many.then_some(transcript.source.row.unwrap_or(0)),
                ))
            }
        };
        let totals = import_to(&out, transcript, &settings)?;
        eprintln!("{}", summary(&out, totals));
    }
    Ok(())
}

fn summary(out: &Path, totals: RunState) -> String {
    format!(
        "wrote {}: {} tokens, {} blocks, {} mementos, {} evictions",
        out.display(),
        totals.generated,
        totals.blocks_closed,
        totals.mementos_closed,
        totals.evictions
    )
}

/// `aime25-p5.segments.json` → `aime25-p5.trace.jsonl`; rows get `-NNNN`.
pub fn output_name(source: &Path, row: Option<u64>) -> String {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for suffix in [
        ".segments.json",
        ".trace.jsonl",
        ".json",
        ".jsonl",
        ".ndjson",
        ".parquet",
        ".txt",
        ".md",
    ] {
        if let Some(s) = stem.strip_suffix(suffix) {
            stem = s;
            break;
        }
    }
    match row {
        Some(r) => format!("{stem}-{r:04}.trace.jsonl"),
        None => format!("{stem}.trace.jsonl"),
    }
}
