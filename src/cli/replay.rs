//! `memento replay`: open a trace (or an importable file) in the terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::args::ShapeArgs;
use super::load::load_timeline;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::{RunOptions, run as run_tui};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace file (or an importable source, counted with the estimate)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
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
    // Everything that can fail on bad input fails before the terminal changes mode.
    let theme = Theme::load(&args.theme)?;
    let (timeline, warnings) = load_timeline(&args.file, &args.shape.resolve("qwen3-8b")?)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if !std::io::stdout().is_terminal() {
        bail!("replay needs a terminal; for scripts use `memento stats` instead");
    }
    let title = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let mut app = App::new(timeline, title, theme);
    if args.end {
        app.cursor = app.len();
    }
    app.playing = args.play;
    run_tui(&mut app, RunOptions::default())
}
