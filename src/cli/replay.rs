//! `memento replay`: open a trace (or an importable file) in the terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::args::ShapeArgs;
use super::load::load_timeline;
use crate::ablate::results::{CONFIG, ITEMS, is_result_dir};
use crate::live::{SessionSummary, no_runs_yet, partner_of, sessions_dir, sessions_in};
use crate::tui::app::App;
use crate::tui::pair::PairApp;
use crate::tui::picker::Picker;
use crate::tui::replay::Replay;
use crate::tui::screens::{PairScreen, PickerScreen, ReplayScreen};
use crate::tui::theme::Theme;
use crate::tui::{RunOptions, run_screen};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace file (or an importable source, counted with the estimate), an ablation result
    /// directory, or a directory of recorded runs to pick from (default: the sessions
    /// directory, where `memento run` records every run)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Open the newest recorded run (of FILE when it is a directory, else of the sessions
    /// directory), at its end unless --play is given
    #[arg(long)]
    pub last: bool,
    /// A second trace to show side by side (default: the other half of a compare pair
    /// recorded by the workbench, when FILE is one)
    #[arg(value_name = "OTHER")]
    pub other: Option<PathBuf>,
    /// Open only FILE, even when it is half of a compare pair
    #[arg(long, conflicts_with = "other")]
    pub single: bool,
    /// Theme: dark, light, or a path to a theme TOML file
    #[arg(long, default_value = "dark")]
    pub theme: String,
    /// Start playing at once
    #[arg(long)]
    pub play: bool,
    /// Start with the playhead at the end
    #[arg(long)]
    pub end: bool,
    /// KV shape for sources imported on the fly
    #[command(flatten)]
    pub shape: ShapeArgs,
}

pub fn run(mut args: ReplayArgs) -> anyhow::Result<()> {
    let file = match args.file.clone() {
        Some(f) if !f.is_dir() => {
            if args.last {
                bail!(
                    "--last opens the newest run of a directory, not a file ({})",
                    f.display()
                );
            }
            f
        }
        dir => {
            if let Some(other) = &args.other {
                bail!(
                    "{}: a directory opens alone (not beside {})",
                    dir.map_or_else(
                        || "the sessions directory".into(),
                        |d| d.display().to_string()
                    ),
                    other.display()
                );
            }
            // A result directory, or one begun as one (its loader says what is missing).
            if let Some(d) = &dir
                && (is_result_dir(d) || d.join(CONFIG).exists() || d.join(ITEMS).exists())
            {
                return super::ablate::view(d, &args.theme);
            }
            let named = dir.is_some();
            let dir = match dir {
                Some(d) => d,
                None => sessions_dir()?,
            };
            let sessions = sessions_in(&dir)?;
            if sessions.is_empty() {
                if !named {
                    return Err(no_runs_yet(&dir));
                }
                // A directory named that is neither kind: say what each would need.
                let Err(e) = super::ablate::view(&dir, &args.theme) else {
                    return Ok(());
                };
                bail!("{e:#}; nor does it hold recorded runs (*.trace.jsonl) to pick from");
            }
            if !args.last {
                return pick(dir, sessions, &args.theme);
            }
            // Back to the run as it ended, as the picker opens one (unless it is to play).
            args.end |= !args.play;
            sessions[0].path().to_path_buf()
        }
    };
    open(args, file)
}

/// The session picker over `sessions`, the runs of `dir`.
fn pick(dir: PathBuf, sessions: Vec<SessionSummary>, theme: &str) -> anyhow::Result<()> {
    let theme = Theme::load(theme)?;
    if !std::io::stdout().is_terminal() {
        bail!("replay needs a terminal; for scripts use `memento stats` instead");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut screen = PickerScreen::new(Picker::new(dir, sessions, theme));
    run_screen(&mut screen, tx, rx, RunOptions::default())
}

fn open(args: ReplayArgs, file: PathBuf) -> anyhow::Result<()> {
    // Everything that can fail on bad input fails before the terminal changes mode.
    let theme = Theme::load(&args.theme)?;
    let shape = args.shape.resolve("qwen3-8b")?;
    let other = match (&args.other, args.single) {
        (Some(o), _) => Some(o.clone()),
        (None, false) => partner_of(&file),
        (None, true) => None,
    };
    // A pair shows full context on the left, as the workbench does.
    let files: Vec<PathBuf> = match other {
        Some(o) if o.to_string_lossy().contains("-compare-full.") => vec![o, file.clone()],
        Some(o) => vec![file.clone(), o],
        None => vec![file.clone()],
    };
    let mut apps = Vec::new();
    for file in &files {
        let (timeline, warnings) = load_timeline(file, &shape)?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let title = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        let mut app = App::new(timeline, title);
        if args.end {
            app.cursor = app.len();
        }
        app.playing = args.play;
        apps.push(app);
    }
    if !std::io::stdout().is_terminal() {
        bail!("replay needs a terminal; for scripts use `memento stats` instead");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    match <[App; 2]>::try_from(apps) {
        Ok(pair) => {
            let sources = [files[0].clone(), files[1].clone()];
            let mut screen = PairScreen::new(PairApp::new(pair, theme), sources);
            run_screen(&mut screen, tx, rx, RunOptions::default())
        }
        Err(mut one) => {
            let replay = Replay::new(one.remove(0), theme);
            let mut screen = ReplayScreen::new(replay, Some(files[0].clone()));
            run_screen(&mut screen, tx, rx, RunOptions::default())
        }
    }
}
