//! Export a run for reading outside the terminal: the reasoning as a Markdown report
//! ([`markdown`]) and the KV occupancy chart as SVG ([`kv_chart_svg`]) and PNG
//! ([`kv_chart_png`]). [`export_all`] writes all three beside a base path.

mod chart;
pub(crate) mod draw;
mod font;
mod markdown;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use chart::{kv_chart_png, kv_chart_svg};
pub use draw::{MAX_SIZE, MIN_SIZE, check_size};
pub use font::png_font;
pub use markdown::markdown;

/// The chart size [`export_all`] uses, in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (1200, 600);

/// Where an export's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPaths {
    pub markdown: PathBuf,
    pub svg: PathBuf,
    pub png: PathBuf,
}

impl ExportPaths {
    /// `<base>.md`, `<base>.kv.svg` and `<base>.kv.png`.
    pub fn for_base(base: &Path) -> ExportPaths {
        // Appended, not `with_extension`: a base like `run.v2` keeps its dot.
        let with = |suffix: &str| {
            let mut name = OsString::from(base.as_os_str());
            name.push(suffix);
            PathBuf::from(name)
        };
        ExportPaths {
            markdown: with(".md"),
            svg: with(".kv.svg"),
            png: with(".kv.png"),
        }
    }
}

/// The trace's path without `.trace.jsonl` (or, for other files, the last extension):
/// `/x/run1.trace.jsonl` → `/x/run1`.
pub fn base_for_trace(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.strip_suffix(".trace.jsonl") {
        Some(stem) if !stem.is_empty() => path.with_file_name(stem),
        _ => path.with_extension(""),
    }
}

/// Write the Markdown report, the SVG chart and the PNG chart (at [`DEFAULT_SIZE`]) for
/// `timeline` beside `base`, titled with `base`'s file name; returns the paths written.
pub fn export_all(
    timeline: &crate::timeline::Timeline,
    base: &Path,
) -> anyhow::Result<ExportPaths> {
    let paths = ExportPaths::for_base(base);
    let title = base.file_name().map_or_else(
        || base.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (width, height) = DEFAULT_SIZE;
    write(&paths.markdown, &markdown(timeline, &title))?;
    write(&paths.svg, &kv_chart_svg(timeline, width, height)?)?;
    kv_chart_png(timeline, &paths.png, width, height)?;
    Ok(paths)
}

/// Write a text file, naming it in the error.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_drop_the_trace_suffix() {
        let base = |p: &str| base_for_trace(Path::new(p));
        assert_eq!(base("/x/run1.trace.jsonl"), PathBuf::from("/x/run1"));
        assert_eq!(
            base("/x/aime.segments.json"),
            PathBuf::from("/x/aime.segments")
        );
        assert_eq!(base("notes.txt"), PathBuf::from("notes"));
        assert_eq!(base("/x/.trace.jsonl"), PathBuf::from("/x/.trace"));
        let paths = ExportPaths::for_base(Path::new("/x/run.v2"));
        assert_eq!(paths.markdown, PathBuf::from("/x/run.v2.md"));
        assert_eq!(paths.svg, PathBuf::from("/x/run.v2.kv.svg"));
        assert_eq!(paths.png, PathBuf::from("/x/run.v2.kv.png"));
    }
}
