//! `memento bench serve`: many requests at once on the batched engine under a fixed KV budget,
//! full context against memento mode in one invocation, as `vllm bench serve` measures a
//! server: request and output token throughput, TTFT, TPOT and ITL (mean, median, p99), total
//! time, and the KV pages and running requests over time (a chart). Each request replays the
//! block/memento schedule of a real trace (by default, traces the model organism writes on the
//! spot), so memento mode evicts exactly where the trace's memento ends are. The budget is
//! swept so the point where memory binds is visible; at each budget the modes take turns for
//! `--rounds` rounds (full, memento, full, …) and the table gives medians and ranges.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, NamedModel, load_model};
use super::bench_decode::Spread;
use super::output::emit;
use crate::engine::batch::{Batch, BatchConfig, BatchSnapshot, Request};
use crate::engine::{RunOptions, SamplerConfig, chat_prompt};
use crate::kv::{KvDtype, KvPolicy, KvShape};
use crate::serving::chart::{self, BudgetRow, Series};
use crate::serving::metrics::ServeFigures;
use crate::serving::workload::{Schedule, organism_schedules};
use crate::trace::NullSink;

#[derive(Args, Debug)]
pub struct ServeBench {
    /// The serving model (default: smollm2)
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where each request's block/memento schedule comes from: `organism` (traces the model
    /// organism writes now), or trace files and MEMENTO outputs (segments JSON, OpenMementos
    /// rows), used in turn
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "organism",
        value_name = "SOURCE"
    )]
    pub schedules: Vec<String>,
    /// Requests, all arriving at the start
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub requests: u32,
    /// KV budgets in pages (default: 2, 4 and 8 times the pages of the longest request)
    #[arg(long, value_delimiter = ',', value_name = "PAGES")]
    pub budgets: Vec<usize>,
    /// Serve a model of this shape with random weights instead of --model (qwen3-8b,
    /// qwen3-0.6b, tiny-qwen3): serving speed does not depend on the weights' values
    #[arg(long, value_name = "NAME", conflicts_with = "model")]
    pub shape: Option<String>,
    /// Tokens per KV page
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub page_tokens: u32,
    /// Scale the schedules' token counts (0.1 makes a 10k-token MEMENTO output 1k)
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Most requests decoding at once (vLLM's max_num_seqs)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_running: u32,
    /// Rounds at each budget; each runs full context, then memento mode
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Write the chart of KV pages and running requests over time here (SVG)
    #[arg(long, value_name = "PATH")]
    pub chart: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

const MODES: [(&str, KvPolicy); 2] = [("full", KvPolicy::FULL), ("memento", KvPolicy::MEMENTO)];

/// One mode at one budget, over the rounds.
#[derive(Debug, Serialize)]
struct Row {
    budget_pages: usize,
    budget_tokens: usize,
    mode: &'static str,
    output_throughput: Spread,
    request_throughput: Spread,
    /// The round whose output throughput is the median: every other figure is its.
    median_round: ServeFigures,
    /// Memento mode's median output throughput over full context's, at this budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    memento_over_full: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    threads: usize,
    kv_dtype: &'static str,
    page_tokens: usize,
    requests: usize,
    schedules: Vec<String>,
    /// Output tokens per request (its schedule), mean.
    mean_request_tokens: f64,
    rows: Vec<Row>,
}

/// A random-weight model of a named shape on the chosen device (bf16 on a GPU, f32 on the
/// CPU), with the organism's tokenizer (its ids are within any shape's vocabulary).
fn random_model(
    shape: &str,
    device: crate::gpu::DeviceChoice,
) -> anyhow::Result<(crate::model::Model, crate::model::ModelTokenizer)> {
    let config = crate::model::named_shape(shape)?;
    let device = super::args::open_device(device)?;
    let dtype = if device.is_cpu() {
        candle_core::DType::F32
    } else {
        candle_core::DType::BF16
    };
    eprintln!(
        "model: random {shape} ({dtype:?}) on {}",
        crate::gpu::describe_device(&device)
    );
    let model = crate::model::Model::random(config, shape, &device, dtype, 2026)?;
    let tokenizer = crate::model::ModelTokenizer::load(&crate::organism::ensure()?)?;
    tokenizer.check_against(model.config.vocab)?;
    Ok((model, tokenizer))
}

pub fn run(b: ServeBench) -> anyhow::Result<()> {
    if !(b.scale > 0.0 && b.scale.is_finite()) {
        return Err(anyhow!("--scale {}: expected a positive number", b.scale));
    }
    let (model, tokenizer) = match &b.shape {
        Some(shape) => random_model(shape, b.model.device)?,
        None => load_model(&b.model.path_or(NamedModel::Smollm2)?, b.model.device)?,
    };
    let schedules = load_schedules(&b)?;
    let dtype = KvDtype::engine_default();
    let thread_choice = crate::threads::current();
    eprintln!("threads: {thread_choice}");
    // Each request: a schedule in turn, its script offset so no two requests write the same
    // filler.
    let mut requests = Vec::new();
    for i in 0..b.requests as usize {
        let schedule = &schedules[i % schedules.len()];
        let script = schedule.script(&tokenizer, i * 37)?;
        let prompt_tokens = tokenizer
            .encode(&chat_prompt(None, &schedule.prompt))?
            .len();
        requests.push((schedule.prompt.clone(), script, prompt_tokens));
    }
    let longest = requests
        .iter()
        .map(|(_, s, p)| s.len() + p)
        .max()
        .unwrap_or(1);
    let page_tokens = b.page_tokens as usize;
    let request_pages = longest.div_ceil(page_tokens);
    let budgets = if b.budgets.is_empty() {
        vec![2 * request_pages, 4 * request_pages, 8 * request_pages]
    } else {
        b.budgets.clone()
    };
    if let Some(&small) = budgets.iter().find(|&&p| p < request_pages) {
        return Err(anyhow!(
            "--budgets {small}: the longest request needs {request_pages} pages of {page_tokens} tokens; a smaller budget could never finish it"
        ));
    }
    let mut rows = Vec::new();
    let mut chart_rows = Vec::new();
    for &pages in &budgets {
        let config = BatchConfig {
            pages,
            page_tokens,
            dtype,
            max_running: b.max_running as usize,
        };
        let mut figures: Vec<Vec<(ServeFigures, Vec<BatchSnapshot>)>> =
            vec![Vec::new(); MODES.len()];
        for round in 0..b.rounds {
            for (m, (name, policy)) in MODES.iter().enumerate() {
                let (f, snapshots) = serve_once(&model, &tokenizer, config, *policy, &requests)?;
                eprintln!(
                    "budget {pages} pages · {name} · round {}: {} requests, {} tokens in {:.1} s ({:.1} tok/s, {} preempted)",
                    round + 1,
                    f.completed,
                    f.output_tokens,
                    f.duration_s,
                    f.output_throughput,
                    f.preemptions
                );
                figures[m].push((f, snapshots));
            }
        }
        let mut medians = Vec::new();
        let mut series_snapshots = Vec::new();
        for (m, (name, _)) in MODES.iter().enumerate() {
            let mut runs = std::mem::take(&mut figures[m]);
            let out: Vec<f64> = runs.iter().map(|r| r.0.output_throughput).collect();
            let req: Vec<f64> = runs.iter().map(|r| r.0.request_throughput).collect();
            runs.sort_by(|a, b| a.0.output_throughput.total_cmp(&b.0.output_throughput));
            let (median, snapshots) = runs.swap_remove(runs.len() / 2);
            let spread = Spread::of(&out).expect("at least one round");
            medians.push(spread.median);
            series_snapshots.push((*name, snapshots));
            rows.push(Row {
                budget_pages: pages,
                budget_tokens: pages * page_tokens,
                mode: name,
                output_throughput: spread,
                request_throughput: Spread::of(&req).expect("at least one round"),
                median_round: median,
                memento_over_full: None,
            });
        }
        if medians[0] > 0.0 {
            let last = rows.len() - 1;
            rows[last].memento_over_full = Some(medians[1] / medians[0]);
        }
        chart_rows.push((pages, series_snapshots));
    }
    if let Some(out) = &b.chart {
        let drawn: Vec<BudgetRow> = chart_rows
            .iter()
            .map(|(pages, series)| BudgetRow {
                pages: *pages,
                series: series
                    .iter()
                    .enumerate()
                    .map(|(i, (name, snapshots))| Series {
                        label: name,
                        colour: crate::palette::Series::of(name, i).rgb(),
                        snapshots,
                    })
                    .collect(),
            })
            .collect();
        chart::write_svg(out, &drawn).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("chart: {}", out.display());
    }
    let report = Report {
        model: model.name(),
        threads: thread_choice.count,
        kv_dtype: dtype.name(),
        page_tokens,
        requests: requests.len(),
        schedules: schedules.iter().map(|s| s.source.clone()).collect(),
        mean_request_tokens: requests.iter().map(|r| r.1.len()).sum::<usize>() as f64
            / requests.len() as f64,
        rows,
    };
    if b.json {
        emit(&serde_json::to_string_pretty(&report)?)
    } else {
        print_tables(&report)
    }
}

/// Every request through one batch under `policy`.
fn serve_once(
    model: &crate::model::Model,
    tokenizer: &crate::model::ModelTokenizer,
    config: BatchConfig,
    policy: KvPolicy,
    requests: &[(String, Vec<u32>, usize)],
) -> anyhow::Result<(ServeFigures, Vec<BatchSnapshot>)> {
    let mut batch = Batch::new(model, tokenizer, config)?;
    for (i, (prompt, script, _)) in requests.iter().enumerate() {
        let options = RunOptions {
            policy,
            sampler: SamplerConfig::default(),
            max_tokens: script.len() as u32,
            top_alternatives: 0,
            snapshot_every: u32::MAX,
            kv_dtype: config.dtype,
            ..RunOptions::default()
        };
        batch.submit(Request {
            id: i as u64,
            prompt: prompt.clone(),
            options,
            forced: script.clone(),
            sink: NullSink,
        })?;
    }
    let mut snapshots = Vec::new();
    batch.run_to_end(|s| snapshots.push(s.clone()))?;
    if let Some(refused) = batch.times().iter().find_map(|t| t.refused.clone()) {
        return Err(anyhow!("a request was refused: {refused}"));
    }
    Ok((ServeFigures::of(batch.times(), &snapshots), snapshots))
}

fn load_schedules(b: &ServeBench) -> anyhow::Result<Vec<Schedule>> {
    let mut out = Vec::new();
    for source in &b.schedules {
        if source == "organism" {
            let dir = crate::organism::ensure()?;
            let (model, tokenizer) = load_model(&dir, b.model.device)?;
            let task = crate::task::Task::of_model(&dir)?
                .ok_or_else(|| anyhow!("the organism has no task file"))?;
            let count = (b.requests as u64).min(8);
            eprintln!("schedules: {count} traces the organism writes now");
            let written = organism_schedules(&model, &tokenizer, &task, count, 2026)?;
            out.extend(written.iter().map(|s| s.scaled(b.scale)));
        } else {
            let path = PathBuf::from(source);
            let shape = KvShape::preset("qwen3-8b").expect("a preset");
            let (timeline, _) = super::load::load_timeline(&path, &shape)?;
            let schedule = Schedule::from_timeline(source.clone(), &timeline, b.scale);
            if schedule.blocks() == 0 {
                eprintln!("warning: {source}: no closed blocks; its requests never evict");
            }
            out.push(schedule);
        }
    }
    if out.is_empty() {
        return Err(anyhow!("--schedules: no schedule"));
    }
    Ok(out)
}

fn print_tables(r: &Report) -> anyhow::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "budget (pages / tokens)",
        "mode",
        "output tok/s",
        "req/s",
        "total s",
        "memento / full",
        "peak pages",
        "mean pages",
        "peak running",
        "mean running",
        "preempted",
    ]);
    for row in &r.rows {
        let f = &row.median_round;
        t.add_row(vec![
            format!("{} / {}", row.budget_pages, row.budget_tokens),
            row.mode.to_string(),
            row.output_throughput.show(),
            format!("{:.3}", row.request_throughput.median),
            format!("{:.1}", f.duration_s),
            row.memento_over_full
                .map_or("-".into(), |x| format!("{x:.2}×")),
            f.peak_pages.to_string(),
            format!("{:.1}", f.mean_pages),
            f.peak_running.to_string(),
            format!("{:.1}", f.mean_running),
            f.preemptions.to_string(),
        ]);
    }
    let mut l = comfy_table::Table::new();
    l.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    l.set_header(vec![
        "budget",
        "mode",
        "TTFT mean / median / p99 ms",
        "TPOT mean / median / p99 ms",
        "ITL mean / median / p99 ms",
    ]);
    let ms = |x: &crate::serving::metrics::Latency| {
        format!("{:.0} / {:.0} / {:.0}", x.mean_ms, x.median_ms, x.p99_ms)
    };
    for row in &r.rows {
        let f = &row.median_round;
        l.add_row(vec![
            row.budget_pages.to_string(),
            row.mode.to_string(),
            ms(&f.ttft),
            ms(&f.tpot),
            ms(&f.itl),
        ]);
    }
    emit(&format!(
        "{} · {} threads · KV {} · pages of {} tokens · {} requests of {:.0} output tokens on average · schedules: {} · medians (ranges) over rounds\n{t}\n{l}",
        r.model,
        r.threads,
        r.kv_dtype,
        r.page_tokens,
        r.requests,
        r.mean_request_tokens,
        r.schedules.join(", "),
    ))
}
