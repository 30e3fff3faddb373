//! The Markdown report of a result directory, built from its files alone, so a resumed or
//! finished run (or one copied elsewhere) reports the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::channel::ChannelRow;
use super::figures::Figures;
use super::metrics::{Aggregate, PositionRow, SpanKind};
use super::plots::{self, Plot};
use super::results::{
    ANSWERS, AnswerRow, CHANNEL, POSITIONS, ResultDir, ResultsError, config_arms, read_config,
    read_rows,
};

pub const REPORT: &str = "report.md";

/// A proportion's 95% Wilson score interval.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (s, n) = (successes as f64, n as f64);
    let p = s / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Write `report.md` into the result directory; returns its path.
pub fn write(results: &ResultDir) -> Result<PathBuf, ResultsError> {
    let text = render(results)?;
    let path = results.dir.join(REPORT);
    std::fs::write(&path, text).map_err(|source| ResultsError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

pub fn render(results: &ResultDir) -> Result<String, ResultsError> {
    let positions: Vec<PositionRow> = read_rows(&results.dir.join(POSITIONS))?;
    let channel: Vec<ChannelRow> = read_rows(&results.dir.join(CHANNEL))?;
    let answers: Vec<AnswerRow> = read_rows(&results.dir.join(ANSWERS))?;
    let config = read_config(&results.dir);
    let arms = config_arms(&config);
    let figures = Figures::of(&arms, &positions, &channel, &answers);
    // The charts `plots::write` draws from these same files, linked where they belong.
    let charts = plots::charts(&figures);
    let link = |md: &mut String, plot: Plot| {
        if charts.contains(&plot) {
            let _ = writeln!(md, "\n![{}]({})", plot.title(), plot.svg());
        }
    };
    let mut md = String::new();
    let _ = writeln!(md, "# Dual-stream ablation\n");
    let _ = writeln!(
        md,
        "Model `{}` · problems `{}` · arms {} · seeds {} · up to {} tokens · scaffolded: {}\n",
        config["model"].as_str().unwrap_or("?"),
        config["problems"].as_str().unwrap_or("?"),
        arms.join(", "),
        config["seeds"],
        config["max_tokens"],
        if config["scaffold"].is_null() {
            "no"
        } else {
            "yes"
        }
    );
    let items = &results.done;
    let tokens: u64 = items.iter().map(|i| i.tokens).sum();
    let blocks: u64 = items.iter().map(|i| i.blocks).sum();
    let _ = writeln!(
        md,
        "{} items; {} tokens teacher-forced through every arm; {} blocks closed. Every arm reads \
         the same memento-mode stream; KL is KL(full ‖ arm) of the next-token distributions, in \
         nats; top-1 is agreement with the full arm's most likely token.\n",
        items.len(),
        tokens,
        blocks
    );

    let _ = writeln!(md, "## Per arm\n");
    let _ = writeln!(
        md,
        "| arm | mean KL | top-1 agreement | mean logprob | accuracy (free-running) | 95% CI |\n|---|---|---|---|---|---|"
    );
    for (arm, accuracy) in arms.iter().zip(&figures.accuracy) {
        let agg = Aggregate::of(positions.iter().filter(|r| &r.arm == arm));
        let (right, n) = (accuracy.correct, accuracy.answered);
        let (lo, hi) = accuracy.interval();
        let accuracy = if n > 0 {
            format!("{:.1}% ({right}/{n})", 100.0 * right as f64 / n as f64)
        } else {
            "—".into()
        };
        let ci = if n > 0 {
            format!("{:.1}–{:.1}%", 100.0 * lo, 100.0 * hi)
        } else {
            "—".into()
        };
        let _ = writeln!(
            md,
            "| {arm} | {:.4} | {:.1}% | {:.3} | {accuracy} | {ci} |",
            agg.mean_kl,
            100.0 * agg.top1_agreement,
            agg.mean_logprob
        );
    }

    link(&mut md, Plot::AccuracyPerArm);

    let _ = writeln!(md, "\n## Mean KL by span\n");
    let kinds = [
        SpanKind::Block,
        SpanKind::Memento,
        SpanKind::Answer,
        SpanKind::Other,
    ];
    let _ = writeln!(
        md,
        "| arm | {} |\n|---|{}",
        kinds.map(|k| k.name()).join(" | "),
        "---|".repeat(kinds.len())
    );
    for arm in &arms {
        let cells: Vec<String> = kinds
            .iter()
            .map(|&k| {
                let agg = Aggregate::of(positions.iter().filter(|r| &r.arm == arm && r.span == k));
                if agg.positions == 0 {
                    "—".into()
                } else {
                    format!("{:.4} ({} pos)", agg.mean_kl, agg.positions)
                }
            })
            .collect();
        let _ = writeln!(md, "| {arm} | {} |", cells.join(" | "));
    }

    let by_block = &figures.kl_by_block;
    if !by_block.is_empty() {
        let _ = writeln!(md, "\n## Mean KL by block index\n");
        let _ = writeln!(
            md,
            "Positions in block *b* or in its memento.\n\n| block | {} |\n|---|{}",
            arms.join(" | "),
            "---|".repeat(arms.len())
        );
        for (block, per_arm) in by_block {
            let cells: Vec<String> = per_arm
                .iter()
                .map(|agg| format!("{:.4}", agg.mean_kl))
                .collect();
            let _ = writeln!(md, "| {} | {} |", block + 1, cells.join(" | "));
        }
        link(&mut md, Plot::KlPerBlock);
    }

    if !channel.is_empty() {
        let _ = writeln!(md, "\n## Implicit channel\n");
        let _ = writeln!(
            md,
            "Each memento's KV entries in the memento arm (computed with its block visible) \
             against the restart arm's (recomputed from the memento's text alone): mean cosine \
             distance per layer over {} mementos.\n",
            channel
                .iter()
                .map(|c| (c.item.clone(), c.block))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        );
        let _ = writeln!(md, "| layer | K distance | V distance |\n|---|---|---|");
        let mut layers: BTreeMap<u32, (f64, f64, u64)> = BTreeMap::new();
        for c in &channel {
            let e = layers.entry(c.layer).or_default();
            e.0 += c.k_distance;
            e.1 += c.v_distance;
            e.2 += 1;
        }
        for (layer, (k, v, n)) in layers {
            let _ = writeln!(
                md,
                "| {layer} | {:.5} | {:.5} |",
                k / n as f64,
                v / n as f64
            );
        }
        link(&mut md, Plot::ChannelHeatmap);
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_known_values() {
        // 5 of 10: 0.2366–0.7634 (the textbook Wilson interval at 95%).
        let (lo, hi) = wilson(5, 10);
        assert!(
            (lo - 0.2366).abs() < 1e-4 && (hi - 0.7634).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-4, "{hi}");
    }
}
