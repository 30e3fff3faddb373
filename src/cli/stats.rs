//! `memento stats`: a table per trace and in aggregate, or JSON.

use std::path::PathBuf;

use clap::Args;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::args::ShapeArgs;
use super::load::load_timeline;
use crate::stats::{AggregateStats, TraceStats, aggregate, trace_stats};
use crate::units::bytes;

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Trace files (or importable sources, counted with the estimate)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
    /// Evict block delimiters too in the memento column (Phi-4 style)
    #[arg(long)]
    pub mask_delimiters: bool,
    #[command(flatten)]
    pub shape: ShapeArgs,
}

pub fn run(args: StatsArgs) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for path in &args.files {
        let default_shape = args.shape.resolve("qwen3-8b")?;
        let (timeline, warnings) = load_timeline(path, &default_shape)?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        // A trace carries its own shape; --shape overrides it.
        let shape = args
            .shape
            .explicit()?
            .unwrap_or_else(|| timeline.shape().clone());
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        all.push(trace_stats(&name, &timeline, &shape, args.mask_delimiters));
    }
    let total = aggregate(&all);
    if args.json {
        let out = serde_json::json!({ "traces": all, "aggregate": total });
        super::output::emit(&serde_json::to_string_pretty(&out)?)?;
    } else {
        super::output::emit(&traces_table(&all).to_string())?;
        if all.len() > 1 {
            super::output::emit(&aggregate_table(&total).to_string())?;
        }
    }
    Ok(())
}

fn traces_table(all: &[TraceStats]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        "trace",
        "tokens",
        "blocks",
        "mean block",
        "mean memento",
        "compression",
        "peak KV full",
        "peak KV memento",
        "memento/full",
    ]);
    for s in all {
        table.add_row([
            s.name.clone(),
            s.generated_tokens.to_string(),
            s.blocks.to_string(),
            opt(s.mean_block_tokens, 0),
            opt(s.mean_memento_tokens, 0),
            s.compression.map_or("-".into(), |c| format!("{c:.1}×")),
            format!("{} tok\n{}", s.full.peak_tokens, bytes(s.full.peak_bytes)),
            format!(
                "{} tok\n{}",
                s.memento.peak_tokens,
                bytes(s.memento.peak_bytes)
            ),
            s.peak_ratio_bytes
                .map_or("-".into(), |r| format!("{r:.2}×")),
        ]);
    }
    table
}

fn aggregate_table(a: &AggregateStats) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(["all traces", "value"]);
    let rows = [
        ("traces", a.traces.to_string()),
        (
            "blocks (per trace)",
            format!("{} ({})", a.blocks, opt(a.mean_blocks_per_trace, 1)),
        ),
        ("mean block tokens", opt(a.mean_block_tokens, 1)),
        ("mean memento tokens", opt(a.mean_memento_tokens, 1)),
        (
            "compression",
            a.compression.map_or("-".into(), |c| format!("{c:.1}×")),
        ),
        (
            "mean peak KV, full",
            format!(
                "{} tok, {}",
                opt(a.mean_full_peak_tokens, 0),
                a.mean_full_peak_bytes
                    .map_or("-".into(), |b| bytes(b as u64))
            ),
        ),
        (
            "mean peak KV, memento",
            format!(
                "{} tok, {}",
                opt(a.mean_memento_peak_tokens, 0),
                a.mean_memento_peak_bytes
                    .map_or("-".into(), |b| bytes(b as u64))
            ),
        ),
        (
            "memento / full (bytes)",
            a.peak_ratio_bytes
                .map_or("-".into(), |r| format!("{r:.2}×")),
        ),
    ];
    for (k, v) in rows {
        table.add_row([k.to_string(), v]);
    }
    table
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}
