//! `memento replay`: open a trace (or an importable file) in the terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::args::ShapeArgs;
use super::load::load_timeline;
use crate::live::partner_of;
use crate::tui::app::App;
use crate::tui::pair::PairApp;
use crate::tui::replay::Replay;
use crate::tui::screens::{PairScreen, ReplayScreen};
use crate::tui::theme::Theme;
use crate::tui::{RunOptions, run_screen};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace file (or an importable source, counted with the estimate), or an ablation
    /// result directory
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
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

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    // A directory is an ablation run's results.
    if args.file.is_dir() {
        if let Some(other) = &args.other {
            bail!(
                "{}: a result directory opens alone (not beside {})",
                args.file.display(),
                other.display()
            );
        }
        return super::ablate::view(&args.file, &args.theme);
    }
    // Everything that can fail on bad input fails before the terminal changes mode.
    let theme = Theme::load(&args.theme)?;
    let shape = args.shape.resolve("qwen3-8b")?;
    let other = match (&args.other, args.single) {
        (Some(o), _) => Some(o.clone()),
        (None, false) => partner_of(&args.file),
        (None, true) => None,
    };
    // A pair shows full context on the left, as the workbench does.
    let files: Vec<PathBuf> = match other {
        Some(o) if o.to_string_lossy().contains("-compare-full.") => vec![o, args.file.clone()],
        Some(o) => vec![args.file.clone(), o],
        None => vec![args.file.clone()],
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
            let mut replay = Replay::new(one.remove(0), theme);
            let mut screen = ReplayScreen::new(&mut replay, Some(files[0].clone()));
            run_screen(&mut screen, tx, rx, RunOptions::default())
        }
    }
}
