//! `memento bench replay`: how fast a large trace opens and how long a frame takes, measured
//! next to a peer in the same run (a generic JSON parse of the same file) because these
//! machines are shared and noisy.

use clap::builder::TypedValueParser as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::output::emit;
use crate::import::{RecordSettings, record, write_trace};
use crate::kv::{KvPolicy, KvShape};
use crate::synth::{SynthSettings, synthesize};
use crate::timeline::Timeline;
use crate::tokenize::TextTokenizer;
use crate::trace::read_trace;
use crate::tui::app::App;
use crate::tui::replay::Replay;
use crate::tui::theme::Theme;
use crate::tui::view::{self, ViewCache, highlight};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Time to first frame and per-frame render cost of the replay view on a large trace
    Replay(ReplayBench),
    /// Prefill and decode tok/s of the engine next to llama.cpp, memento mode's speed-up, and
    /// the cost of an eviction
    Decode(super::bench_decode::DecodeBench),
    /// Many requests at once under a fixed KV budget, full context against memento mode:
    /// throughput, TTFT, TPOT and ITL, and KV pages over time
    Serve(super::bench_serve::ServeBench),
    /// An OpenAI-compatible server under load over loopback: 1 client against N, batching's gain
    Http(super::bench_http::HttpBench),
    /// Decode tok/s inside the live workbench next to the same run done as `generate` does it
    Tui(super::bench_tui::TuiBench),
}

#[derive(Args, Debug)]
pub struct ReplayBench {
    /// Trace to open (default: generate a synthetic one of --tokens tokens)
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,
    /// Tokens in the generated trace
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000).map(|n| n as usize))]
    pub tokens: usize,
    /// Frame size
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub width: u16,
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub height: u16,
    /// Opens to time (the median is reported)
    #[arg(long, default_value_t = 5)]
    pub opens: usize,
    /// Frames to time, at playheads spread over the trace
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Replay(b) => replay(b),
        BenchCommand::Decode(b) => super::bench_decode::run(b),
        BenchCommand::Serve(b) => super::bench_serve::run(b),
        BenchCommand::Http(b) => super::bench_http::run(b),
        BenchCommand::Tui(b) => super::bench_tui::run(b),
    }
}

fn replay(b: ReplayBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = match &b.trace {
        Some(p) => p.clone(),
        None => {
            let path = dir.path().join("bench.trace.jsonl");
            let transcript = synthesize(&SynthSettings {
                seed: 42,
                tokens: b.tokens,
                mean_block_tokens: 1150,
            });
            let recorded = record(
                &transcript,
                &RecordSettings {
                    tokenizer: &TextTokenizer::Estimate,
                    shape: KvShape::preset("qwen3-8b").context("preset")?,
                    policy: KvPolicy::MEMENTO,
                    lenient: false,
                    snapshot_every: 256,
                },
            )?;
            write_trace(&path, &recorded)?;
            path
        }
    };
    let size = std::fs::metadata(&path)?.len();
    highlight::wait_ready();

    // Start to first frame: read, validate and fold every event, draw one frame.
    let mut opens = Vec::new();
    let mut parse_only = Vec::new();
    let mut peer = Vec::new();
    let mut app = None;
    for _ in 0..b.opens.max(1) {
        let start = Instant::now();
        read_trace(&path)?;
        parse_only.push(start.elapsed());
        let start = Instant::now();
        let (timeline, _) = Timeline::read(&path)?;
        let a = Replay::new(App::new(timeline, "bench".into()), Theme::dark());
        let mut terminal = Terminal::new(TestBackend::new(b.width, b.height))?;
        let mut cache = ViewCache::default();
        terminal.draw(|f| view::draw(f, &a, &mut cache))?;
        opens.push(start.elapsed());
        app = Some(a);

        // Peer: parse every line into a generic JSON value, nothing else.
        let start = Instant::now();
        let bytes = std::fs::read(&path)?;
        let mut n = 0usize;
        for line in bytes.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line)?;
            n += v.is_object() as usize;
        }
        std::hint::black_box(n);
        peer.push(start.elapsed());
    }
    let mut app = app.context("no open")?;
    let tokens = app.app.len();

    // Frames: playheads spread evenly, each drawn twice (a cold move, then a redraw).
    let mut terminal = Terminal::new(TestBackend::new(b.width, b.height))?;
    let mut cache = ViewCache::default();
    let mut moved = Vec::new();
    let mut redraw = Vec::new();
    for i in 0..b.frames.max(1) {
        app.app.cursor = (tokens * i as u64) / b.frames.max(1) as u64;
        let start = Instant::now();
        terminal.draw(|f| view::draw(f, &app, &mut cache))?;
        moved.push(start.elapsed());
        let start = Instant::now();
        terminal.draw(|f| view::draw(f, &app, &mut cache))?;
        redraw.push(start.elapsed());
    }

    let report = serde_json::json!({
        "trace": path.display().to_string(),
        "tokens": tokens,
        "file_bytes": size,
        "frame": format!("{}x{}", b.width, b.height),
        "first_frame_ms": stats(&opens),
        "parse_ms": stats(&parse_only),
        "peer_generic_json_parse_ms": stats(&peer),
        "first_frame_over_peer": median(&opens).as_secs_f64() / median(&peer).as_secs_f64(),
        "frame_after_move_ms": stats(&moved),
        "frame_redraw_ms": stats(&redraw),
    });
    if b.json {
        emit(&serde_json::to_string_pretty(&report)?)?;
    } else {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        emit(&format!(
            "replay benchmark: {} tokens, {:.1} MB, frames {}x{}\n\
             start to first frame   median {}  (min {})   goal < 300 ms\n\
               of which read+parse  median {}\n\
               peer: generic JSON   median {}  (first frame / peer = {:.2}×)\n\
             frame after a move     median {}  p95 {}  max {}   goal < 2 ms\n\
             redraw in place        median {}  p95 {}",
            crate::units::count(tokens),
            size as f64 / 1e6,
            b.width,
            b.height,
            ms(median(&opens)),
            ms(*opens.iter().min().unwrap_or(&Duration::ZERO)),
            ms(median(&parse_only)),
            ms(median(&peer)),
            median(&opens).as_secs_f64() / median(&peer).as_secs_f64(),
            ms(median(&moved)),
            ms(percentile(&moved, 0.95)),
            ms(*moved.iter().max().unwrap_or(&Duration::ZERO)),
            ms(median(&redraw)),
            ms(percentile(&redraw, 0.95)),
        ))?;
    }
    Ok(())
}

fn median(v: &[Duration]) -> Duration {
    percentile(v, 0.5)
}

fn percentile(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn stats(v: &[Duration]) -> serde_json::Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    serde_json::json!({
        "median": ms(median(v)),
        "p95": ms(percentile(v, 0.95)),
        "min": ms(*v.iter().min().unwrap_or(&Duration::ZERO)),
        "max": ms(*v.iter().max().unwrap_or(&Duration::ZERO)),
        "n": v.len(),
    })
}
