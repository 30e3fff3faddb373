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
        let width = Table::new().width();
        super::output::emit(&render_traces(&all, width))?;
        if all.len() > 1 {
            super::output::emit(&aggregate_table(&total).to_string())?;
        }
    }
    Ok(())
}

/// The column names of the per-trace table.
const COLUMNS: [&str; 9] = [
    "trace",
    "tokens",
    "blocks",
    "mean block",
    "mean memento",
    "compression",
    "peak KV full",
    "peak KV memento",
    "memento/full",
];

/// The per-trace numbers as one table when it fits in `width` columns (the terminal's, when
/// known), else as one field/value table per trace, so a narrow terminal never squeezes a
/// column until its numbers wrap.
fn render_traces(all: &[TraceStats], width: Option<u16>) -> String {
    let wide = traces_table(all).to_string();
    let natural = wide.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    if width.is_none_or(|w| natural <= w as usize) {
        return wide;
    }
    all.iter()
        .map(|s| {
            let mut table = Table::new();
            table.load_style(UTF8_FULL_CONDENSED);
            let row = cells(s);
            table.set_header(["trace", &row[0]]);
            for (name, value) in COLUMNS.iter().zip(&row).skip(1) {
                table.add_row([name.to_string(), value.replace('\n', ", ")]);
            }
            table.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn traces_table(all: &[TraceStats]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(COLUMNS);
    for s in all {
        table.add_row(cells(s));
    }
    table
}

/// One trace's cells, in the order of [`COLUMNS`].
fn cells(s: &TraceStats) -> [String; 9] {
    {
        [
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
        ]
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<TraceStats> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces");
        [
            "synthetic-memento.trace.jsonl",
            "synthetic-phi4-keep1.trace.jsonl",
        ]
        .iter()
        .map(|name| {
            let shape = crate::kv::KvShape::preset("qwen3-8b").unwrap();
            let (timeline, _) = load_timeline(&dir.join(name), &shape).unwrap();
            let shape = timeline.shape().clone();
            trace_stats(name, &timeline, &shape, false)
        })
        .collect()
    }

    #[test]
    fn a_narrow_terminal_gets_one_table_per_trace_with_every_number_whole() {
        let all = samples();
        let wide = render_traces(&all, Some(200));
        assert!(wide.lines().all(|l| l.chars().count() <= 200));
        assert!(wide.lines().next().unwrap().chars().count() > 80);
        let narrow = render_traces(&all, Some(80));
        assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
        for number in [
            "4207 tok, 591.6 MiB",
            "1036 tok, 145.7 MiB",
            "0.25×",
            "6.5×",
        ] {
            assert!(narrow.contains(number), "{number} missing:\n{narrow}");
        }
        assert!(narrow.contains("peak KV memento"), "{narrow}");
        // Unknown width (a pipe): the one table.
        assert_eq!(render_traces(&all, None), wide);
    }
}
