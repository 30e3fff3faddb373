//! `memento bench decode`: prefill and decode speed of our engine at several context lengths,
//! next to llama.cpp on the same GGUF in the same invocation (through the committed
//! `scripts/bench_llamacpp.py`), plus memento mode at the same logical positions with its
//! smaller live cache, and the cost of one eviction against one decode step. At each context
//! the two engines take turns (ours, llama.cpp, ours, …) for `--rounds` rounds, so the machine's
//! drift falls on both; the table gives each figure's median and range over the rounds, and the
//! ratios of the medians.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, NamedModel, load_model};
use super::output::emit;
use crate::model::{LogitRows, Model, argmax};

use crate::serving::workload::FILLER;

#[derive(Args, Debug)]
pub struct DecodeBench {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Context lengths to measure at
    #[arg(long, value_delimiter = ',', default_value = "64,1024,4096,7168")]
    pub contexts: Vec<usize>,
    /// Tokens decoded (and timed) at each context length
    #[arg(long, default_value_t = 32)]
    pub decode_tokens: usize,
    /// Memento mode's synthetic structure: blocks of this many tokens ...
    #[arg(long, default_value_t = 256)]
    pub block: usize,
    /// ... each leaving this many memento tokens live after its eviction
    #[arg(long, default_value_t = 40)]
    pub memento: usize,
    /// Rounds at each context; each round measures ours, then llama.cpp
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    /// Python with llama-cpp-python for the peer run (default: $MEMENTO_PYTHON, else python3)
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Skip the llama.cpp peer
    #[arg(long)]
    pub no_llama_cpp: bool,
    #[arg(long)]
    pub json: bool,
}

/// A figure's median over the rounds and its range.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub(super) fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        Some(Spread {
            median: super::eval::median(values.to_vec()),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    pub(super) fn show(&self) -> String {
        if self.min == self.max {
            format!("{:.1}", self.median)
        } else {
            format!("{:.1} ({:.1}–{:.1})", self.median, self.min, self.max)
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    context: usize,
    rounds: u32,
    /// Medians over the rounds.
    prefill_tok_s: f64,
    decode_tok_s: f64,
    prefill: Spread,
    decode: Spread,
    llama_cpp_prefill: Option<Spread>,
    llama_cpp_decode: Option<Spread>,
    memento_live: usize,
    memento_decode_tok_s: f64,
    /// Memento decode speed over full decode speed at the same positions.
    memento_speedup: f64,
    eviction_ms: f64,
    decode_step_ms: f64,
    llama_cpp_prefill_tok_s: Option<f64>,
    llama_cpp_decode_tok_s: Option<f64>,
    /// Ours over llama.cpp.
    decode_ratio: Option<f64>,
    prefill_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    threads: usize,
    /// Our KV storage type (llama.cpp's is f16, its default).
    kv_dtype: &'static str,
    decode_tokens: usize,
    llama_cpp: Option<String>,
    rows: Vec<Row>,
}

pub fn run(b: DecodeBench) -> anyhow::Result<()> {
    // The peer, llama.cpp, reads GGUF: SmolLM2 unless another model is named.
    let path = b.model.path_or(NamedModel::Smollm2)?;
    let (model, tokenizer) = load_model(&path, b.model.device)?;
    // Both peers run with the same count: memento's (`--threads`, else the free cores).
    let thread_choice = crate::threads::current();
    let threads = thread_choice.count;
    eprintln!("threads: {thread_choice}");
    let max_ctx = b.contexts.iter().copied().max().unwrap_or(0);
    if max_ctx + b.decode_tokens > model.config.context {
        return Err(anyhow!(
            "--contexts: {max_ctx} + {} decoded tokens exceed the model's context of {}",
            b.decode_tokens,
            model.config.context
        ));
    }
    let base: Vec<u32> = tokenizer.encode(FILLER)?.iter().map(|p| p.1).collect();
    let ids: Vec<u32> = base.iter().copied().cycle().take(max_ctx).collect();

    let mut peer_version = None;
    let mut peer_error = None;
    let mut rows = Vec::new();
    for &ctx in &b.contexts {
        let ctx_ids = &ids[..ctx];
        let spans = block_spans(ctx, b.block, b.memento);
        let (mut prefills, mut decodes, mut memento_decodes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut peer_prefills, mut peer_decodes) = (Vec::new(), Vec::new());
        let mut memento_live = 0;
        let mut eviction_ms = 0.0;
        for round in 1..=b.rounds {
            eprintln!("context {ctx}, round {round}/{}: memento…", b.rounds);
            let (prefill_s, full) = prefill(&model, ctx_ids)?;
            let (decode_s, _) = decode(&model, &mut full.clone(), ctx, b.decode_tokens)?;
            // Memento mode at the same logical positions: every completed block keeps only its
            // memento; the last, open block stays whole.
            let mut memento = full.clone();
            for s in &spans {
                model.evict(&mut memento, s.clone());
            }
            memento_live = memento.len();
            let (memento_s, _) = decode(&model, &mut memento, ctx, b.decode_tokens)?;
            if round == 1 {
                eviction_ms = time_eviction(&model, &full, &spans);
            }
            prefills.push(ctx as f64 / prefill_s);
            decodes.push(b.decode_tokens as f64 / decode_s);
            memento_decodes.push(b.decode_tokens as f64 / memento_s);
            if b.no_llama_cpp || peer_error.is_some() {
                continue;
            }
            eprintln!("context {ctx}, round {round}/{}: llama.cpp…", b.rounds);
            match llama_cpp(&b, &path, threads, ctx) {
                Ok((peer_rows, version)) => {
                    peer_version = Some(version);
                    if let Some(r) = peer_rows.iter().find(|r| r.context == ctx) {
                        peer_prefills.push(r.prefill_tok_s);
                        peer_decodes.push(r.decode_tok_s);
                    }
                }
                Err(e) => peer_error = Some(format!("unavailable: {e:#}")),
            }
        }
        let prefill = Spread::of(&prefills).expect("at least one round");
        let decode = Spread::of(&decodes).expect("at least one round");
        let memento_decode = Spread::of(&memento_decodes).expect("at least one round");
        let peer_prefill = Spread::of(&peer_prefills);
        let peer_decode = Spread::of(&peer_decodes);
        rows.push(Row {
            context: ctx,
            rounds: b.rounds,
            prefill_tok_s: prefill.median,
            decode_tok_s: decode.median,
            prefill,
            decode,
            llama_cpp_prefill: peer_prefill,
            llama_cpp_decode: peer_decode,
            memento_live,
            memento_decode_tok_s: memento_decode.median,
            memento_speedup: memento_decode.median / decode.median,
            eviction_ms,
            decode_step_ms: 1000.0 / decode.median,
            llama_cpp_prefill_tok_s: peer_prefill.map(|p| p.median),
            llama_cpp_decode_tok_s: peer_decode.map(|p| p.median),
            decode_ratio: peer_decode.map(|p| decode.median / p.median),
            prefill_ratio: peer_prefill.map(|p| prefill.median / p.median),
        });
    }
    let peer_note = if b.no_llama_cpp {
        None
    } else {
        peer_error.or(peer_version.map(|v| format!("llama.cpp {v}")))
    };
    let report = Report {
        model: model.name(),
        threads,
        kv_dtype: crate::kv::KvDtype::engine_default().name(),
        decode_tokens: b.decode_tokens,
        llama_cpp: peer_note,
        rows,
    };
    if b.json {
        emit(&serde_json::to_string_pretty(&report)?)?;
    } else {
        print_table(&report)?;
    }
    Ok(())
}

fn prefill(model: &Model, ids: &[u32]) -> anyhow::Result<(f64, crate::kv::KvStore)> {
    let mut store = model.new_store_in(crate::kv::KvDtype::engine_default())?;
    let t0 = Instant::now();
    for (i, chunk) in ids.chunks(512).enumerate() {
        let from = (i * 512) as u64;
        let positions: Vec<u64> = (from..from + chunk.len() as u64).collect();
        model.forward(&mut store, chunk, &positions, LogitRows::Last)?;
    }
    Ok((t0.elapsed().as_secs_f64(), store))
}

/// Greedy decode of `n` tokens from logical position `from`; seconds over the `n` steps.
fn decode(
    model: &Model,
    store: &mut crate::kv::KvStore,
    from: usize,
    n: usize,
) -> anyhow::Result<(f64, Vec<u32>)> {
    let mut next = 0u32;
    let mut out = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let logits = model.forward(store, &[next], &[(from + i) as u64], LogitRows::Last)?;
        next = argmax(&logits[0]);
        out.push(next);
    }
    Ok((t0.elapsed().as_secs_f64(), out))
}

/// The content spans memento mode would have evicted from `ctx` tokens cut into blocks.
fn block_spans(ctx: usize, block: usize, memento: usize) -> Vec<std::ops::Range<u64>> {
    let block = block.max(memento + 2);
    let complete = ctx / block;
    (0..complete.saturating_sub(1))
        .map(|b| {
            let start = (b * block) as u64;
            start + 1..start + (block - memento - 1) as u64
        })
        .collect()
}

/// Median milliseconds of one eviction (span removal and compaction) from a full cache.
fn time_eviction(model: &Model, full: &crate::kv::KvStore, spans: &[std::ops::Range<u64>]) -> f64 {
    let Some(span) = spans.first() else {
        return 0.0;
    };
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let mut s = full.clone();
            let t0 = Instant::now();
            model.evict(&mut s, span.clone());
            t0.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

#[derive(Debug, serde::Deserialize)]
struct PeerRow {
    context: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
}

#[derive(Debug, serde::Deserialize)]
struct PeerReport {
    version: String,
    results: Vec<PeerRow>,
}

/// llama.cpp's prefill and decode at `context`, through the bench script.
fn llama_cpp(
    b: &DecodeBench,
    model: &std::path::Path,
    threads: usize,
    context: usize,
) -> anyhow::Result<(Vec<PeerRow>, String)> {
    let python = b
        .python
        .clone()
        .or_else(|| std::env::var_os("MEMENTO_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_llamacpp.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .args(["--threads", &threads.to_string()])
        .args(["--contexts", &context.to_string()])
        .args(["--decode-tokens", &b.decode_tokens.to_string()])
        .arg("--json")
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no output").to_string();
        return Err(anyhow!("{} {}: {last}", python.display(), script.display()));
    }
    let report: PeerReport =
        serde_json::from_slice(&out.stdout).context("reading the llama.cpp benchmark's JSON")?;
    Ok((report.results, report.version))
}

fn print_table(r: &Report) -> anyhow::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "context",
        "prefill tok/s",
        "decode tok/s",
        "llama.cpp prefill",
        "llama.cpp decode",
        "decode ours/llama.cpp",
        "memento live",
        "memento decode",
        "speed-up",
        "evict ms / step ms",
    ]);
    let opt = |v: Option<f64>, fmt: &dyn Fn(f64) -> String| v.map_or("-".to_string(), fmt);
    for row in &r.rows {
        t.add_row(vec![
            row.context.to_string(),
            row.prefill.show(),
            row.decode.show(),
            row.llama_cpp_prefill.map_or("-".into(), |s| s.show()),
            row.llama_cpp_decode.map_or("-".into(), |s| s.show()),
            opt(row.decode_ratio, &|v| format!("{v:.2}×")),
            row.memento_live.to_string(),
            format!("{:.1}", row.memento_decode_tok_s),
            format!("{:.2}×", row.memento_speedup),
            format!("{:.3} / {:.2}", row.eviction_ms, row.decode_step_ms),
        ]);
    }
    let peer = r.llama_cpp.as_deref().unwrap_or("skipped");
    emit(&format!(
        "{} · {} threads · KV {} · {} decoded tokens per context · {} rounds, medians (ranges) · peer: {peer}\n{t}",
        r.model,
        r.threads,
        r.kv_dtype,
        r.decode_tokens,
        r.rows.first().map_or(0, |row| row.rounds)
    ))
}
