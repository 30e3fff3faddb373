//! The Markdown report of a result directory, built from its files alone, so a resumed or
//! finished run (or one copied elsewhere) reports the same. The figures it shows are computed
//! in `tables.rs` and `figures.rs`, which the TUI's ablation view uses too.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::figures::{Figures, Paired, per_arm};
use super::metrics::SpanKind;
use super::plots::{self, Plot};
use super::probe::{CHANCE, ProbeConfig, ProbeRow, selected};
use super::results::{ResultDir, Results, ResultsError};
use super::tables::{by_block, by_span, mean_distances, mementos};

pub const REPORT: &str = "report.md";

/// Write `report.md` into the result directory; returns its path.
pub fn write(results: &ResultDir) -> Result<PathBuf, ResultsError> {
    let text = render(&Results::load(&results.dir)?);
    let path = results.dir.join(REPORT);
    std::fs::write(&path, text).map_err(|source| ResultsError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

pub fn render(results: &Results) -> String {
    let positions = &results.positions;
    let channel = &results.channel;
    let config = &results.settings;
    let arms = &config.arms;
    // The charts `plots::write` draws from these same files, linked where they belong.
    let charts = plots::charts(&Figures::of(arms, positions, channel, &results.answers));
    let link = |md: &mut String, plot: Plot| {
        if charts.contains(&plot) {
            let _ = writeln!(md, "\n![{}]({})", plot.title(), plot.svg());
        }
    };
    let mut md = String::new();
    let _ = writeln!(md, "# Dual-stream ablation\n");
    let seeds: Vec<String> = config.seeds.iter().map(u64::to_string).collect();
    let _ = writeln!(
        md,
        "Model `{}` · problems `{}` · arms {} · seeds [{}] · up to {} tokens · scaffolded: {}\n",
        config.model,
        config.problems,
        arms.join(", "),
        seeds.join(","),
        config.max_tokens,
        if config.scaffold.is_none() {
            "no"
        } else {
            "yes"
        }
    );
    let items = &results.items;
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
    for f in per_arm(arms, positions, &results.answers) {
        let (right, n) = (f.right, f.judged);
        let (lo, hi) = f.interval();
        let accuracy = match f.accuracy() {
            Some(a) => format!("{:.1}% ({right}/{n})", 100.0 * a),
            None => "—".into(),
        };
        let ci = if n > 0 {
            format!("{:.1}–{:.1}%", 100.0 * lo, 100.0 * hi)
        } else {
            "—".into()
        };
        let _ = writeln!(
            md,
            "| {} | {:.4} | {:.1}% | {:.3} | {accuracy} | {ci} |",
            f.arm,
            f.all.mean_kl,
            100.0 * f.all.top1_agreement,
            f.all.mean_logprob
        );
    }
    link(&mut md, Plot::AccuracyPerArm);
    if arms.iter().any(|a| a == "memento") && arms.iter().any(|a| a == "restart") {
        dual_stream_section(&mut md, &Paired::of(&results.answers, "memento", "restart"));
    }

    let _ = writeln!(md, "\n## Mean KL by span\n");
    let _ = writeln!(
        md,
        "| arm | {} |\n|---|{}",
        SpanKind::ALL.map(|k| k.name()).join(" | "),
        "---|".repeat(SpanKind::ALL.len())
    );
    for (arm, spans) in arms.iter().zip(by_span(arms, positions)) {
        let cells: Vec<String> = spans
            .iter()
            .map(|agg| {
                if agg.positions == 0 {
                    "—".into()
                } else {
                    format!("{:.4} ({} pos)", agg.mean_kl, agg.positions)
                }
            })
            .collect();
        let _ = writeln!(md, "| {arm} | {} |", cells.join(" | "));
    }

    let by_block = by_block(arms, positions);
    if !by_block.is_empty() {
        let _ = writeln!(md, "\n## Mean KL by block index\n");
        let _ = writeln!(
            md,
            "Positions in block *b* or in its memento.\n\n| block | {} |\n|---|{}",
            arms.join(" | "),
            "---|".repeat(arms.len())
        );
        for (block, per_arm) in &by_block {
            let cells: Vec<String> = per_arm
                .iter()
                .map(|a| format!("{:.4}", a.mean_kl))
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
            mementos(channel)
        );
        let _ = writeln!(md, "| layer | K distance | V distance |\n|---|---|---|");
        for (layer, d) in mean_distances(channel, |c| c.layer) {
            let _ = writeln!(md, "| {layer} | {:.5} | {:.5} |", d.k, d.v);
        }
        link(&mut md, Plot::ChannelHeatmap);
    }
    if let (Some(rows), Some(probe)) = (&results.probe, &config.probe) {
        probe_section(&mut md, rows, probe);
    }
    md
}

/// The memento arm against the restart arm on the same items and seeds: the paper's
/// dual-stream effect (§6.2.1).
fn dual_stream_section(md: &mut String, p: &Paired) {
    let _ = writeln!(md, "\n## Dual-stream effect\n");
    if p.pairs() == 0 {
        let _ = writeln!(md, "No paired answers with a reference to judge.");
        return;
    }
    let (lo, hi) = p.interval();
    let _ = writeln!(
        md,
        "The memento and restart arms decode the same prompts with the same seeds; restart \
         recomputes each memento's KV from its text alone. Over {} paired answers: both right \
         {}, memento only {}, restart only {}, neither {}.\n",
        p.pairs(),
        p.both,
        p.a_only,
        p.b_only,
        p.neither
    );
    let _ = writeln!(
        md,
        "Accuracy gap, memento − restart: **{:+.1} pp** (95% CI {:+.1} to {:+.1} pp, paired); \
         McNemar's exact test p = {:.2e}.",
        100.0 * p.gap(),
        100.0 * lo,
        100.0 * hi,
        p.mcnemar_p()
    );
}

/// The passcode probe: the headline per arm and memento (the layer chosen on the validation
/// split), then test accuracy per layer.
fn probe_section(md: &mut String, rows: &[ProbeRow], config: &ProbeConfig) {
    let _ = writeln!(md, "\n## Passcode probe\n");
    let _ = writeln!(
        md,
        "A random {}-digit passcode is written into block 2 of a forced three-block stream \
         ({} samples, {} context); no memento's text mentions it. A linear probe per arm, \
         memento and layer reads the code's digits from the memento's pooled K‖V entries, \
         trained on 60% of the samples, its penalty and the headline layer chosen on 20%, \
         tested on the other 20%. Chance is {:.0}% a digit; intervals are 95% Wilson intervals \
         over the test digits. Memento 1 was written before the code (control), memento 2 \
         while block 2 was visible (direct), memento 3 after block 2 was evicted (masked).\n",
        config.digits,
        config.samples,
        format!("{:?}", config.context).to_lowercase(),
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
