//! `memento bench tui`: decode speed inside the workbench against the same run done the way
//! `memento generate` does it, alternating in one invocation. The workbench side is the real
//! thing minus the terminal device: the decode worker on its thread, every event through the
//! channel into the timelines, and frames drawn at up to 60 a second through the crossterm
//! backend (into a sink instead of a tty).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use serde::Serialize;

use super::args::{ModelArgs, NamedModel, load_model};
use super::generate::BUILT_IN_PROMPT;
use super::output::emit;
use crate::live::{DecodeEngine, LiveMsg, ModelEngine, RunSettings, Worker, WorkerState};
use crate::trace::TraceWriter;
use crate::tui::chrome::Effect;
use crate::tui::history::History;
use crate::tui::theme::Theme;
use crate::tui::view::workbench::{WorkbenchCache, draw};
use crate::tui::workbench::Workbench;

#[derive(Args, Debug)]
pub struct TuiBench {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokens per run
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Runs of each (alternating); the median is reported
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Frame size of the workbench
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub width: u16,
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub height: u16,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    tokens: u64,
    generate_decode_tok_s: Vec<f64>,
    workbench_decode_tok_s: Vec<f64>,
    workbench_frames: Vec<u64>,
    /// The share of the run's wall time this thread spent applying events and drawing.
    workbench_ui_busy: Vec<f64>,
    generate_median: f64,
    workbench_median: f64,
    ratio: f64,
}

pub fn run(b: TuiBench) -> anyhow::Result<()> {
    let settings = RunSettings {
        max_tokens: b.max_tokens,
        ..RunSettings::default()
    };
    let dir = tempfile::tempdir()?;
    // SmolLM2 unless another model is named: the README's timings are on it. Two copies of
    // the weights: one for the plain loop here, one owned by the worker.
    let path = b.model.path_or(NamedModel::Smollm2)?;
    let (model, tokenizer) = load_model(&path, b.model.device)?;
    let plain = ModelEngine { model, tokenizer };
    let (model, tokenizer) = load_model(&path, b.model.device)?;
    let name = plain.name();
    let (tx, rx) = std::sync::mpsc::channel();
    let emit_live = Arc::new(move |m: LiveMsg| {
        let _ = tx.send(m);
    });
    let worker = Worker::spawn(
        Box::new(ModelEngine { model, tokenizer }),
        Some(dir.path().to_path_buf()),
        emit_live,
    );
    let mut wb = Workbench::new(name.clone(), History::in_memory(), Theme::dark());
    wb.settings = settings.clone();
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, b.width, b.height)),
        },
    )?;
    let mut report = Report {
        model: name,
        tokens: 0,
        generate_decode_tok_s: Vec::new(),
        workbench_decode_tok_s: Vec::new(),
        workbench_frames: Vec::new(),
        workbench_ui_busy: Vec::new(),
        generate_median: 0.0,
        workbench_median: 0.0,
        ratio: 0.0,
    };
    for round in 0..b.rounds.max(1) {
        // As `memento generate` does: step in this thread, record to a file.
        let options = settings.options(settings.mode, plain.has_memento_tags());
        let writer = TraceWriter::create(&dir.path().join(format!("plain-{round}.trace.jsonl")))?;
        let mut run = plain.start(BUILT_IN_PROMPT, options, Box::new(writer))?;
        while run.step()?.is_some() {}
        let summary = run.finish(None)?;
        report.tokens = summary.generated_tokens;
        report.generate_decode_tok_s.push(summary.decode_tok_s);

        // The workbench: the worker decodes while this thread applies events and draws.
        let before = wb.run;
        for effect in wb.start(BUILT_IN_PROMPT.to_string(), false, false) {
            if let Effect::Send(command) = effect {
                worker.send(command);
            }
        }
        let mut cache = WorkbenchCache::default();
        let frame = Duration::from_secs_f64(1.0 / 60.0);
        let mut last_draw = Instant::now() - frame;
        let mut dirty = true;
        let mut frames = 0u64;
        let mut draw_seconds = 0.0;
        let mut apply_seconds = 0.0;
        let started = Instant::now();
        loop {
            // The runner's pacing: while a frame is owed, sleep until it is due and let
            // messages queue; otherwise wait for the next message.
            let mut pending = None;
            if dirty {
                std::thread::sleep((last_draw + frame).saturating_duration_since(Instant::now()));
            } else {
                pending = rx.recv_timeout(Duration::from_millis(250)).ok();
            }
            let t0 = Instant::now();
            while let Some(m) = pending.take().or_else(|| rx.try_recv().ok()) {
                wb.on_live(m);
                dirty = true;
            }
            apply_seconds += t0.elapsed().as_secs_f64();
            if dirty && Instant::now() >= last_draw + frame {
                let t0 = Instant::now();
                terminal.draw(|f| draw(f, &wb, &mut cache))?;
                last_draw = Instant::now();
                draw_seconds += (last_draw - t0).as_secs_f64();
                frames += 1;
                dirty = false;
            }
            if wb.run > before
                && wb.state == WorkerState::Finished
                && wb.streams.iter().all(|s| s.summary.is_some())
            {
                break;
            }
        }
        let busy = (draw_seconds + apply_seconds) / started.elapsed().as_secs_f64();
        let s = wb.streams[0].summary.as_ref().expect("finished");
        report.workbench_decode_tok_s.push(s.decode_tok_s);
        report.workbench_frames.push(frames);
        report.workbench_ui_busy.push(busy);
        if !b.json {
            eprintln!(
                "round {}: generate {:.1} tok/s · workbench {:.1} tok/s ({} frames, {:.2} ms each; UI thread busy {:.1}%)",
                round + 1,
                summary.decode_tok_s,
                s.decode_tok_s,
                frames,
                draw_seconds * 1e3 / frames.max(1) as f64,
                busy * 100.0
            );
        }
    }
    report.generate_median = median(&report.generate_decode_tok_s);
    report.workbench_median = median(&report.workbench_decode_tok_s);
    report.ratio = report.workbench_median / report.generate_median.max(f64::MIN_POSITIVE);
    if b.json {
        emit(&serde_json::to_string_pretty(&report)?)
    } else {
        emit(&format!(
            "{} · {} tokens · decode tok/s, median of {}: generate {:.1} · workbench {:.1} · ratio {:.3}",
            report.model,
            report.tokens,
            b.rounds.max(1),
            report.generate_median,
            report.workbench_median,
            report.ratio
        ))
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}
