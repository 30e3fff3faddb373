//! The Markdown report of a result directory, built from its files alone, so a resumed or
//! finished run (or one copied elsewhere) reports the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::channel::ChannelRow;
use super::figures::Figures;
use super::metrics::{Aggregate, PositionRow, SpanKind};
use super::plots::{self, Plot};
use super::probe::{CHANCE, ProbeRow, selected};
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
    let probe_path = results.dir.join(super::results::PROBE);
    if probe_path.is_file() {
        let probe: Vec<ProbeRow> = read_rows(&probe_path)?;
        probe_section(&mut md, &probe, &config["probe"]);
    }
    Ok(md)
}

/// The passcode probe: the headline per arm and memento (the layer chosen on the validation
/// split), then test accuracy per layer.
fn probe_section(md: &mut String, rows: &[ProbeRow], config: &serde_json::Value) {
    let _ = writeln!(md, "\n## Passcode probe\n");
    let _ = writeln!(
        md,
        "A random {}-digit passcode is written into block 2 of a forced three-block stream \
         ({} samples); no memento's text mentions it. A linear probe per arm, memento and \
         layer reads the code's digits from the memento's pooled K‖V entries, trained on 60% \
         of the samples, its penalty and the headline layer chosen on 20%, tested on the \
         other 20%. Chance is {:.0}% a digit; intervals are 95% Wilson intervals over the \
         test digits. Memento 1 was written before the code (control), memento 2 while \
         block 2 was visible (direct), memento 3 after block 2 was evicted (masked).\n",
        config["digits"],
        config["samples"],
        100.0 * CHANCE
    );
    let _ = writeln!(
        md,
        "| arm | memento | layer (by validation) | test accuracy | 95% CI | vs chance |\n|---|---|---|---|---|---|"
    );
    for r in selected(rows) {
        let verdict = if r.ci_low > CHANCE {
            "above"
        } else if r.ci_high < CHANCE {
            "below"
        } else {
            "within"
        };
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {} | {:.1}% ({}/{}) | {:.1}–{:.1}% | {verdict} |",
            r.arm,
            r.memento,
            r.role,
            r.layer,
            100.0 * r.accuracy,
            r.digits_correct,
            r.digits_total,
            100.0 * r.ci_low,
            100.0 * r.ci_high
        );
    }
    let mut columns: Vec<(String, u32, String)> = Vec::new();
    for r in rows {
        let key = (r.arm.clone(), r.memento, r.role.clone());
        if !columns.contains(&key) {
            columns.push(key);
        }
    }
    let layers: std::collections::BTreeSet<u32> = rows.iter().map(|r| r.layer).collect();
    let _ = writeln!(
        md,
        "\nTest accuracy by layer:\n\n| layer | {} |\n|---|{}",
        columns
            .iter()
            .map(|(arm, _, role)| format!("{arm} {role}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(columns.len())
    );
    for layer in layers {
        let cells: Vec<String> = columns
            .iter()
            .map(|(arm, memento, _)| {
                rows.iter()
                    .find(|r| &r.arm == arm && r.memento == *memento && r.layer == layer)
                    .map_or("—".into(), |r| format!("{:.1}%", 100.0 * r.accuracy))
            })
            .collect();
        let _ = writeln!(md, "| {layer} | {} |", cells.join(" | "));
    }
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
