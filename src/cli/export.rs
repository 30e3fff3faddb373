//! `memento export`: a run as a Markdown report, and its KV chart as SVG and PNG.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::args::ShapeArgs;
use super::load::load_timeline;
use crate::export::{
    ExportPaths, base_for_trace, check_size, kv_chart_png, kv_chart_svg, markdown, png_font, write,
};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Trace file (or an importable source, counted with the estimate)
    #[arg(value_name = "TRACE")]
    pub file: PathBuf,
    /// Write the Markdown report to FILE
    #[arg(long, value_name = "FILE")]
    pub md: Option<PathBuf>,
    /// Write the KV chart as SVG to FILE
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write the KV chart as PNG to FILE
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Directory for all three files (default: beside the trace); not with --md/--svg/--png
    #[arg(short, long, value_name = "DIR", conflicts_with_all = ["md", "svg", "png"])]
    pub output: Option<PathBuf>,
    /// Chart size in pixels
    #[arg(long, value_name = "WxH", default_value = DEFAULT_SIZE_ARG, value_parser = parse_size)]
    pub size: (u32, u32),
    /// KV shape for sources imported on the fly
    #[command(flatten)]
    pub shape: ShapeArgs,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let (width, height) = args.size;
    let (timeline, warnings) = load_timeline(&args.file, &args.shape.resolve("qwen3-8b")?)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let base = base_for_trace(&args.file);
    let targets = targets(&args, &base)?;
    let title = base.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    // Each path is printed once written, so a later failure still lists what exists.
    let done = |path: &Path| super::output::emit(&path.display().to_string());
    if let Some(path) = &targets.markdown {
        write(path, &markdown(&timeline, &title))?;
        done(path)?;
    }
    if let Some(path) = &targets.svg {
        write(path, &kv_chart_svg(&timeline, width, height)?)?;
        done(path)?;
    }
    if let Some(path) = &targets.png {
        if png_font().is_none() {
            eprintln!(
                "warning: no TrueType font found (set MEMENTO_FONT to one); {} has no text",
                path.display()
            );
        }
        kv_chart_png(&timeline, path, width, height)?;
        done(path)?;
    }
    Ok(())
}

struct Targets {
    markdown: Option<PathBuf>,
    svg: Option<PathBuf>,
    png: Option<PathBuf>,
}

/// The files named by flags, or all three beside the trace (or in `--output`).
fn targets(args: &ExportArgs, base: &Path) -> anyhow::Result<Targets> {
    if args.md.is_some() || args.svg.is_some() || args.png.is_some() {
        return Ok(Targets {
            markdown: args.md.clone(),
            svg: args.svg.clone(),
            png: args.png.clone(),
        });
    }
    let base = match &args.output {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
            dir.join(base.file_name().unwrap_or(base.as_os_str()))
        }
        None => base.to_path_buf(),
    };
    let ExportPaths { markdown, svg, png } = ExportPaths::for_base(&base);
    Ok(Targets {
        markdown: Some(markdown),
        svg: Some(svg),
        png: Some(png),
    })
}

/// [`crate::export::DEFAULT_SIZE`] as `--size` spells it.
const DEFAULT_SIZE_ARG: &str = "1200x600";

/// `1200x600` → (1200, 600), checked when the arguments are parsed so a bad size is a usage
/// error.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (width, height) = s
        .split_once(['x', 'X', '×'])
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .ok_or_else(|| "expected WIDTHxHEIGHT, e.g. 1200x600".to_string())?;
    check_size(width, height).map_err(|e| e.to_string())?;
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::DEFAULT_SIZE;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size(DEFAULT_SIZE_ARG), Ok(DEFAULT_SIZE));
        assert_eq!(parse_size("640X480"), Ok((640, 480)));
        assert!(parse_size("640").is_err());
        assert!(parse_size("10x10").is_err());
        assert!(parse_size("ax480").is_err());
    }
}
