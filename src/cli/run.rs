//! `memento run` (and `memento` alone): the live workbench on a local model.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use super::args::{ModelArgs, SamplerArgs, load_model};
use crate::engine::scripted::ScriptShape;
use crate::live::{
    DecodeEngine, LiveMsg, ModeChoice, ModelEngine, RunSettings, ScaffoldChoice, ScriptedEngine,
    Worker, sessions_dir,
};
use crate::remote::{RemoteConfig, RemoteEngine};
use crate::task::{ProblemDraw, Task};
use crate::tui::history::{self, History};
use crate::tui::screens::WorkbenchScreen;
use crate::tui::theme::Theme;
use crate::tui::workbench::Workbench;
use crate::tui::{RunOptions, UiEvent, run_screen};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A prompt to put in the editor (default: a problem of the model's task, when it has one)
    pub prompt: Option<String>,
    /// Read the prompt from a file
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,
    /// Start decoding the prompt at once
    #[arg(long)]
    pub start: bool,
    /// Start at once, in full context and memento mode side by side
    #[arg(long)]
    pub compare: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Eviction mode: full, memento, keep-N or restart
    #[arg(long, default_value = "memento", value_name = "MODE")]
    pub mode: String,
    /// Runtime-inserted blocks and mementos, for models not trained on them
    #[arg(long, value_enum, default_value = "auto")]
    pub scaffold: ScaffoldChoice,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Tokens to generate at most (default: what the model's task needs, else 256)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Decode at most this many tokens per second per stream, to watch blocks close and get
    /// evicted at human speed (0: as fast as the model; the settings panel changes it too)
    #[arg(long, value_name = "TOK_PER_S", default_value_t = 0)]
    pub pace: u32,
    /// The seed of the task problems the editor draws (default: fresh ones each time)
    #[arg(long, value_name = "SEED")]
    pub problem_seed: Option<u64>,
    /// Theme: dark, light, or a path to a theme TOML file
    #[arg(long, default_value = "dark")]
    pub theme: String,
    /// Quit when the run finishes (for scripts and benchmarks)
    #[arg(long)]
    pub exit_when_done: bool,
    /// On closing, write each stream's mode, trace and summary to FILE as JSON
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Attach to an OpenAI-compatible server at URL (`memento serve`, or vLLM serving a MEMENTO
    /// checkpoint) instead of running a local model: its stream is recorded and segmented
    /// here, and the KV occupancy rebuilt under --mode (vLLM's own policy is a server flag
    /// memento cannot read)
    #[arg(long, value_name = "URL", conflicts_with = "fake_engine")]
    pub remote: Option<String>,
    /// With --remote and --compare: a second server for the memento stream (say, vLLM with
    /// block masking), the full stream going to --remote's (the same model without it)
    #[arg(long, value_name = "URL", requires = "remote")]
    pub remote_compare: Option<String>,
    /// With --remote: the model to ask for (default: the first the server lists)
    #[arg(long, value_name = "NAME", requires = "remote")]
    pub remote_model: Option<String>,
    /// With --remote: the model's KV shape, a preset name (default: one named like the model,
    /// else Qwen3-8B's)
    #[arg(long, value_name = "PRESET", requires = "remote")]
    pub remote_shape: Option<String>,
    /// The real decode loop over a scripted decoder without weights (for trying the controls
    /// and for tests)
    #[arg(long, hide = true)]
    pub fake_engine: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // Everything that can fail on bad input fails before the terminal changes mode.
    let theme = Theme::load(&args.theme)?;
    let prompt = match &args.prompt_file {
        Some(f) => Some(crate::textfile::prompt_text(
            &crate::textfile::read_text(f, crate::textfile::PROMPT_LIMIT).map_err(|e| {
                anyhow::anyhow!("{}: cannot read the prompt file: {e}", f.display())
            })?,
        )),
        None => args.prompt.clone(),
    };
    if let Some(file) = &args.summary {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            bail!(
                "{}: --summary: the folder {} does not exist",
                file.display(),
                dir.display()
            );
        }
    }
    let path = match args.fake_engine || args.remote.is_some() {
        true => None,
        false => Some(args.model.path()?),
    };
    let remote_shape = match &args.remote_shape {
        None => None,
        Some(name) => Some(crate::kv::KvShape::preset(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--remote-shape: no preset {name:?}; known: {}",
                crate::kv::KvShape::preset_names()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?),
    };
    let task = match &path {
        Some(p) => Task::of_model(p)?,
        None => None,
    };
    let mut settings = RunSettings {
        mode: ModeChoice::parse(&args.mode)
            .map_err(|e| anyhow::anyhow!(e))
            .context("--mode")?,
        scaffold: args.scaffold,
        max_tokens: args
            .max_tokens
            .unwrap_or(crate::task::default_max_tokens(task.as_ref())),
        pace: args.pace,
        ..RunSettings::default()
    };
    args.sampler.apply_to(&mut settings);
    settings
        .sampler(true)
        .check()
        .map_err(|e| anyhow::anyhow!(e))?;
    let no_prompt = prompt.as_deref().is_none_or(|p| p.trim().is_empty());
    if (args.start || args.compare) && no_prompt && task.is_none() {
        bail!("--start and --compare need a prompt (this model has no task to draw one from)");
    }
    if !std::io::stdout().is_terminal() {
        bail!("the workbench needs a terminal; for scripts use `memento generate` instead");
    }
    let engine: Box<dyn DecodeEngine + Send> = match (&path, &args.remote) {
        (None, Some(url)) => Box::new(
            RemoteEngine::connect(RemoteConfig {
                url: url.clone(),
                compare_url: args.remote_compare.clone(),
                model: args.remote_model.clone(),
                shape: remote_shape,
                top_logprobs: 5,
            })
            .with_context(|| format!("--remote {url}"))?,
        ),
        (None, None) => Box::new(ScriptedEngine::new(
            ScriptShape::default(),
            std::time::Duration::from_millis(20),
        )?),
        (Some(path), _) => {
            let (model, tokenizer) = load_model(path, args.model.device)?;
            Box::new(ModelEngine { model, tokenizer })
        }
    };
    let history = match history::default_path() {
        Some(path) => History::load(&path)?,
        None => History::in_memory(),
    };
    let sessions = sessions_dir()?;
    let name = engine.name();
    let device = engine.device();
    let (tx, rx) = std::sync::mpsc::channel();
    let to_ui = tx.clone();
    let emit = Arc::new(move |msg: LiveMsg| {
        let _ = to_ui.send(UiEvent::Live(msg));
    });
    let worker = Worker::spawn(engine, Some(sessions), emit);
    let mut wb = Workbench::new(name, history, theme);
    wb.settings = settings;
    wb.exit_when_done = args.exit_when_done;
    wb.threads = Some(crate::threads::current().to_string());
    wb.device = device;
    wb.problems = task.map(|t| ProblemDraw::new(t, args.problem_seed));
    match &prompt {
        Some(p) => wb.editor.set_text(p),
        None if wb.problems.is_some() => wb.draw_problem(),
        None => {}
    }
    if args.start || args.compare {
        let p = wb.editor.text();
        if let Err(e) = wb.history.push(&p) {
            eprintln!("warning: {e}");
        }
        let effects = wb.start(p, args.compare, false);
        let mut screen = WorkbenchScreen::new(wb, worker);
        screen.carry_out(effects);
        return finish(screen, tx, rx, &args);
    }
    finish(WorkbenchScreen::new(wb, worker), tx, rx, &args)
}

/// Run the workbench until it quits, then report what was recorded.
fn finish(
    mut screen: WorkbenchScreen,
    tx: std::sync::mpsc::Sender<UiEvent>,
    rx: std::sync::mpsc::Receiver<UiEvent>,
    args: &RunArgs,
) -> anyhow::Result<()> {
    run_screen(&mut screen, tx, rx, RunOptions::default())?;
    let wb = screen.wb;
    let paths = wb.recorded_paths();
    if !paths.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| super::printable_path(p)).collect();
        eprintln!("recorded {}", shown.join(" and "));
    }
    if let Some(file) = &args.summary {
        let summaries: Vec<_> = wb
            .streams
            .iter()
            .map(|s| {
                serde_json::json!({
                    "mode": s.label,
                    "trace": s.path,
                    "summary": s.summary,
                })
            })
            .collect();
        std::fs::write(file, serde_json::to_string_pretty(&summaries)? + "\n")
            .with_context(|| format!("{}: cannot write the summary", file.display()))?;
    }
    // A recording that failed (or a run that could not start) is an error of the whole command.
    if let Some(first) = wb.errors.first() {
        let more = match wb.errors.len() {
            1 => String::new(),
            n => format!(" ({} errors in all)", n),
        };
        bail!("{first}{more}");
    }
    Ok(())
}
