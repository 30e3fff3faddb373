//! Fenced code in reasoning and answers, highlighted with syntect. Regions are found by an
//! incremental scan of the token text; highlighting is done per region, on demand, and cached.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use ratatui::style::Color;
use syntect::easy::HighlightLines;
use syntect::highlighting::ThemeSet;
use syntect::parsing::SyntaxSet;

struct Syntaxes {
    syntaxes: SyntaxSet,
    themes: ThemeSet,
}

static SYNTAXES: OnceLock<Syntaxes> = OnceLock::new();

/// Load syntect's definitions on a background thread; until they are ready code is drawn
/// in one colour.
pub fn prewarm() {
    std::thread::spawn(|| {
        SYNTAXES.get_or_init(load);
    });
}

fn load() -> Syntaxes {
    let s = Syntaxes {
        syntaxes: SyntaxSet::load_defaults_newlines(),
        themes: ThemeSet::load_defaults(),
    };
    // syntect compiles a syntax's regexes on first use; do it here, off the UI thread, for
    // the languages reasoning traces use most.
    for lang in ["python", "cpp", "rust", "js"] {
        highlight(&s, "x = f(1, 'a') # c\n", lang, "base16-ocean.dark", 0);
    }
    s
}

/// True once the definitions are loaded.
pub fn ready() -> bool {
    SYNTAXES.get().is_some()
}

/// Block until the definitions are loaded (tests, benchmarks).
pub fn wait_ready() {
    SYNTAXES.get_or_init(load);
}

/// A fenced code region in the text, by byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRegion {
    /// The opening fence line, newline included.
    pub open: Range<usize>,
    pub lang: String,
    /// The code between the fences.
    pub body: Range<usize>,
    /// The closing fence line, once seen.
    pub close: Option<Range<usize>>,
}

#[derive(Debug, Default, Clone)]
pub struct CodeIndex {
    scanned: usize,
    regions: Vec<CodeRegion>,
}

impl CodeIndex {
    /// Scan the complete lines of `text` not seen yet. `text` only ever grows.
    pub fn update(&mut self, text: &str) {
        if text.len() < self.scanned {
            *self = CodeIndex::default();
        }
        while let Some(nl) = text[self.scanned..].find('\n') {
            let line = self.scanned..self.scanned + nl + 1;
            self.scanned = line.end;
            let content = text[line.clone()].trim_start();
            if !content.starts_with("```") {
                continue;
            }
            match self.regions.last_mut() {
                Some(open) if open.close.is_none() => {
                    open.body.end = line.start;
                    open.close = Some(line);
                }
                _ => {
                    let lang = content.trim_start_matches('`').trim().to_string();
                    self.regions.push(CodeRegion {
                        open: line.clone(),
                        lang,
                        body: line.end..line.end,
                        close: None,
                    });
                }
            }
        }
        // An unclosed region runs to the end of what has been seen.
        if let Some(open) = self.regions.last_mut().filter(|r| r.close.is_none()) {
            open.body.end = text.len();
        }
    }

    /// The region holding byte `offset`, if any.
    pub fn region_at(&self, offset: usize) -> Option<&CodeRegion> {
        let i = self.regions.partition_point(|r| r.open.start <= offset);
        let r = self.regions.get(i.checked_sub(1)?)?;
        let end = r.close.as_ref().map_or(r.body.end, |c| c.end);
        (offset < end || (r.close.is_none() && offset >= r.open.start)).then_some(r)
    }
}

/// Colour runs over absolute byte ranges of the stream text.
pub type ColourRuns = Vec<(Range<usize>, Color)>;

/// Highlighted colours for code bodies, cached by (region start, region end, theme).
#[derive(Default)]
pub struct Highlights {
    cache: HashMap<(usize, usize, String), ColourRuns>,
}

impl Highlights {
    /// Colour runs (absolute byte ranges) for the body of `region`, or `None` while syntect
    /// is still loading.
    pub fn colours(
        &mut self,
        text: &str,
        region: &CodeRegion,
        theme: &str,
    ) -> Option<&[(Range<usize>, Color)]> {
        let syntaxes = SYNTAXES.get()?;
        let key = (region.open.start, region.body.end, theme.to_string());
        if !self.cache.contains_key(&key) {
            // Growing regions leave stale entries behind; drop those of the same region.
            self.cache.retain(|k, _| k.0 != region.open.start);
            let runs = highlight(
                syntaxes,
                &text[region.body.clone()],
                &region.lang,
                theme,
                region.body.start,
            );
            self.cache.insert(key.clone(), runs);
        }
        self.cache.get(&key).map(Vec::as_slice)
    }
}

fn highlight(
    s: &Syntaxes,
    body: &str,
    lang: &str,
    theme: &str,
    base: usize,
) -> Vec<(Range<usize>, Color)> {
    let syntax = s
        .syntaxes
        .find_syntax_by_token(lang)
        .unwrap_or_else(|| s.syntaxes.find_syntax_plain_text());
    let Some(theme) = s
        .themes
        .themes
        .get(theme)
        .or_else(|| s.themes.themes.values().next())
    else {
        return Vec::new();
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = Vec::new();
    let mut offset = base;
    for line in body.split_inclusive('\n') {
        if let Ok(runs) = h.highlight_line(line, &s.syntaxes) {
            for (style, piece) in runs {
                let c = style.foreground;
                out.push((offset..offset + piece.len(), Color::Rgb(c.r, c.g, c.b)));
                offset += piece.len();
            }
        } else {
            offset += line.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_closed_and_growing_regions() {
        let mut idx = CodeIndex::default();
        let text = "intro\n```python\nx = 1\n```\nafter\n```rust\nfn f";
        idx.update(text);
        let first = idx.region_at(text.find("x = 1").unwrap()).unwrap();
        assert_eq!(first.lang, "python");
        assert_eq!(&text[first.body.clone()], "x = 1\n");
        assert!(idx.region_at(text.find("after").unwrap()).is_none());
        assert!(idx.region_at(0).is_none());
        // The second fence is open; the partial last line is not scanned yet.
        let more = format!("{text}() {{}}\n");
        idx.update(&more);
        let second = idx.region_at(more.find("fn f").unwrap()).unwrap();
        assert_eq!(second.lang, "rust");
        assert!(second.close.is_none());
    }

    #[test]
    fn highlights_python_in_several_colours() {
        wait_ready();
        let text = "```python\ndef f(x):\n    return 'a' + str(x)  # c\n```\n";
        let mut idx = CodeIndex::default();
        idx.update(text);
        let region = idx.region_at(12).unwrap().clone();
        let mut h = Highlights::default();
        let runs = h.colours(text, &region, "base16-ocean.dark").unwrap();
        let colours: std::collections::HashSet<_> =
            runs.iter().map(|r| format!("{:?}", r.1)).collect();
        assert!(colours.len() >= 3, "{colours:?}");
        assert_eq!(runs.last().unwrap().0.end, region.body.end);
    }
}
