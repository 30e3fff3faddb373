//! A system font for the text in PNG charts, found at runtime: memento ships no font, and
//! plotters' bitmap text goes through ab_glyph (pure Rust), which needs the font's bytes.
//! SVG charts need none; the viewer draws their text.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// The family the font is registered under, and that the charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Well-known regular sans-serif fonts, tried before any directory is searched.
const WELL_KNOWN: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Directories searched when no well-known font exists.
const SEARCH_ROOTS: &[&str] = &[
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
];

/// Fonts read and tried from a search before giving up (a broken font directory should not
/// cost a read of every file in it).
const MAX_TRIED: usize = 24;

/// The font registered for PNG text, found and registered on first use. `MEMENTO_FONT`
/// names a font file to try first; set to `none` (or empty) it turns PNG text off. `None`
/// when no usable font exists: charts are then drawn without text.
pub fn png_font() -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(find_and_register).as_deref()
}

fn find_and_register() -> Option<PathBuf> {
    let chosen = std::env::var_os("MEMENTO_FONT");
    if let Some(v) = &chosen {
        let v = v.to_string_lossy();
        if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("none") {
            return None;
        }
    }
    let first = chosen.map(PathBuf::from).into_iter();
    let known = WELL_KNOWN.iter().map(PathBuf::from);
    if let Some(found) = first.chain(known).find(|p| register(p)) {
        return Some(found);
    }
    search().into_iter().take(MAX_TRIED).find(|p| register(p))
}

/// Register the font at `path` when it parses and draws digits and Latin letters.
fn register(path: &Path) -> bool {
    use ab_glyph::Font;
    // A font file is a few MB; a device or FIFO named by MEMENTO_FONT is not read at all.
    let Ok(bytes) = crate::textfile::read_bounded(path, crate::textfile::DATA_LIMIT) else {
        return false;
    };
    let usable = ab_glyph::FontRef::try_from_slice(&bytes)
        .is_ok_and(|font| "0123456789aeKM,.".chars().all(|c| font.glyph_id(c).0 != 0));
    if !usable {
        return false;
    }
    // plotters keeps fonts for the life of the process; this happens at most once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
}

/// Font files under the search roots and the user's font directories, regular sans-serif
/// faces first.
fn search() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = SEARCH_ROOTS.iter().map(PathBuf::from).collect();
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        roots.push(home.join(".local/share/fonts"));
        roots.push(home.join(".fonts"));
    }
    let mut found = Vec::new();
    for root in roots {
        walk(&root, 0, &mut found);
    }
    found.sort_by_key(|p| (preference(p), p.clone()));
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    const MAX_DEPTH: usize = 6;
    const MAX_FILES: usize = 20_000;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if found.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, found);
        } else if is_font_file(&path) {
            found.push(path);
        }
    }
}

fn is_font_file(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "ttf" | "otf" | "ttc"))
}

/// 0 for a regular sans-serif face, 1 for another regular face, 2 for the rest.
fn preference(path: &Path) -> u8 {
    let name = path
        .file_stem()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    const STYLED: &[&str] = &[
        "bold",
        "italic",
        "oblique",
        "mono",
        "condensed",
        "light",
        "thin",
        "black",
        "math",
        "symbol",
        "emoji",
        "serif",
    ];
    let styled = STYLED.iter().any(|s| name.replace("sans", "").contains(s));
    match (styled, name.contains("sans")) {
        (false, true) => 0,
        (false, false) => 1,
        (true, _) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_regular_sans_faces() {
        let p = |s: &str| preference(Path::new(s));
        assert_eq!(p("/f/DejaVuSans.ttf"), 0);
        assert_eq!(p("/f/NotoSans-Regular.ttf"), 0);
        assert_eq!(p("/f/Cantarell.otf"), 1);
        assert_eq!(p("/f/DejaVuSans-Bold.ttf"), 2);
        assert_eq!(p("/f/DejaVuSerif.ttf"), 2);
        assert_eq!(p("/f/DejaVuSansMono.ttf"), 2);
    }
}
