//! The reasoning pane: the stream up to the playhead, coloured by span, with each block,
//! memento and answer introduced by a header, tags hidden, and evicted text dimmed.
//!
//! Only the tail that fits is laid out: the builder walks back from the playhead until it has
//! enough text for the visible lines (and the scroll offset), then wraps forward from the start
//! of that paragraph. A frame costs the same at token 100 and at token 200,000.

use std::ops::Range;

use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::wrap::wrap;
use super::{AtCursor, ViewCache};
use crate::structure::{Boundary, Edge, SpanKind, Tag};
use crate::timeline::{Timeline, TokenSpan};
use crate::tui::theme::Theme;

/// The lines of the pane, the last of which ends at the playhead (less `scroll` lines), and
/// the largest useful scroll.
#[allow(clippy::too_many_arguments)]
pub fn reasoning_lines(
    timeline: &Timeline,
    cursor: u64,
    here: &AtCursor,
    theme: &Theme,
    cache: &mut ViewCache,
    width: u16,
    height: usize,
    scroll: usize,
) -> (Vec<Line<'static>>, usize) {
    let tokens = timeline.tokens();
    let cursor = (cursor as usize).min(tokens.len());
    let budget = (height + scroll + 2) * (width as usize).max(1);
    let start = window_start(timeline, cursor, budget);
    cache.code.update(tokens.all_text());

    let mut out = Segments::default();
    let evicted = &here.evicted;
    if start == 0 {
        prompt_segments(timeline, theme, &mut out);
    }
    let p = timeline.prompt_len();
    let cuts = cuts(timeline.boundaries(), p, start, cursor);
    let mut next_cut = 0;
    let hold = held_tag_start(timeline, cursor);
    // Text from `hold` on is a tag still being spelled: it is not shown as text.
    let clip = |from: usize, text: &'_ str| -> usize {
        hold.map_or(text.len(), |h| h.saturating_sub(from).min(text.len()))
    };
    // Inside a tag's bytes (carried across tokens, since tags may span several).
    let mut skipping = false;
    for i in start..cursor {
        let text = tokens.text(i);
        let mut at = 0usize;
        let token_base = tokens.range(i).start;
        let style = token_style(
            theme,
            tokens.span(i),
            in_spans(evicted, p + i as u64),
            tokens.scaffold(i),
        );
        while next_cut < cuts.len() && cuts[next_cut].token == i {
            let cut = &cuts[next_cut];
            let byte = (cut.byte as usize).min(text.len());
            let byte = byte.min(clip(token_base, text).max(at));
            if !skipping && byte > at {
                out.text(
                    &text[at..byte],
                    token_base + at,
                    style,
                    tokens.all_text(),
                    cache,
                    theme,
                );
            }
            at = at.max(byte);
            match cut.kind {
                CutKind::SkipStart => skipping = true,
                CutKind::SkipEnd => skipping = false,
                CutKind::Marker(b) => marker(
                    &timeline.boundaries()[b],
                    here,
                    timeline,
                    cursor as u64,
                    theme,
                    &mut out,
                ),
            }
            next_cut += 1;
        }
        let until = ceil_char(text, clip(token_base, text));
        if !skipping && at < until {
            out.text(
                &text[at..until],
                token_base + at,
                style,
                tokens.all_text(),
                cache,
                theme,
            );
        }
    }
    let mut lines = wrap(&out.runs, width);
    let total = lines.len();
    let max_scroll = total.saturating_sub(height);
    let end = total - scroll.min(max_scroll);
    lines.truncate(end);
    lines.drain(..end.saturating_sub(height));
    (lines, max_scroll)
}

/// Where a structure tag still being spelled starts (a byte offset into the token text), when
/// the text shown so far ends in one: `<|block_` at the live edge becomes a block marker once
/// its last token arrives, and until then shows as nothing rather than as raw text. A
/// finished stream holds nothing back.
pub(super) fn held_tag_start(timeline: &Timeline, cursor: usize) -> Option<usize> {
    if cursor == 0 || (timeline.end().is_some() && cursor >= timeline.tokens().len()) {
        return None;
    }
    let tokens = timeline.tokens();
    let all = tokens.all_text();
    let end = tokens.range(cursor - 1).end;
    let from = ceil_char(all, end.saturating_sub(Tag::max_len()));
    let lt = all[from..end].rfind('<')? + from;
    let tail = &all[lt..end];
    // A whole tag whose token just arrived waits for the segmenter's boundary, which the
    // stream sends right after it.
    let recognized = timeline
        .boundaries()
        .last()
        .and_then(|b| b.tag)
        .is_some_and(|t| t.to >= timeline.prompt_len() + cursor as u64);
    let whole = Tag::from_text(tail).is_some() && !recognized;
    (Tag::could_complete(tail) || whole).then_some(lt)
}

/// The first token to lay out: far enough back to fill `budget` characters, then back to
/// the start of that paragraph (bounded, so one huge paragraph cannot stall a frame).
fn window_start(timeline: &Timeline, cursor: usize, budget: usize) -> usize {
    let tokens = timeline.tokens();
    let mut chars = 0usize;
    let mut i = cursor;
    while i > 0 && chars < budget {
        i -= 1;
        chars += tokens.range(i).len();
    }
    let limit = chars + budget * 4;
    while i > 0 && chars < limit {
        if tokens.text(i - 1).ends_with('\n') {
            break;
        }
        i -= 1;
        chars += tokens.range(i).len();
    }
    i
}

#[derive(Debug, Clone, Copy)]
enum CutKind {
    /// Draw the header or break for boundary `usize` here.
    Marker(usize),
    SkipStart,
    SkipEnd,
}

#[derive(Debug, Clone, Copy)]
struct Cut {
    token: usize,
    byte: u32,
    kind: CutKind,
}

/// Where markers go and which tag bytes to hide, within tokens `start..cursor`.
fn cuts(boundaries: &[Boundary], prompt_len: u64, start: usize, cursor: usize) -> Vec<Cut> {
    let token = |pos: u64| pos.saturating_sub(prompt_len) as usize;
    let window = start..cursor;
    let mut cuts = Vec::new();
    let first = boundaries.partition_point(|b| b.at < prompt_len + start as u64);
    // A tag that began before the window still hides its bytes inside it.
    let from = boundaries[..first]
        .iter()
        .rposition(|b| b.tag.is_some_and(|t| t.to > prompt_len + start as u64))
        .unwrap_or(first);
    for (index, b) in boundaries.iter().enumerate().skip(from) {
        if b.at < prompt_len {
            continue;
        }
        match b.tag {
            Some(tag) => {
                let (t0, t1) = (token(tag.from), token(tag.to - 1));
                if t0 >= cursor {
                    break;
                }
                if window.contains(&t0) {
                    cuts.push(Cut {
                        token: t0,
                        byte: tag.from_byte,
                        kind: CutKind::SkipStart,
                    });
                    cuts.push(Cut {
                        token: t0,
                        byte: tag.from_byte,
                        kind: CutKind::Marker(index),
                    });
                } else if t1 >= start {
                    cuts.push(Cut {
                        token: start,
                        byte: 0,
                        kind: CutKind::SkipStart,
                    });
                }
                if window.contains(&t1) {
                    cuts.push(Cut {
                        token: t1,
                        byte: tag.to_byte,
                        kind: CutKind::SkipEnd,
                    });
                }
            }
            None => {
                let t = token(b.at);
                if t >= cursor {
                    break;
                }
                if window.contains(&t) {
                    cuts.push(Cut {
                        token: t,
                        byte: 0,
                        kind: CutKind::Marker(index),
                    });
                }
            }
        }
    }
    cuts.sort_by_key(|c| (c.token, c.byte));
    cuts
}

fn in_spans(spans: &[Range<u64>], pos: u64) -> bool {
    let i = spans.partition_point(|r| r.end <= pos);
    spans.get(i).is_some_and(|r| r.contains(&pos))
}

fn token_style(theme: &Theme, span: TokenSpan, evicted: bool, scaffold: bool) -> Style {
    let color = if evicted {
        theme.evicted
    } else {
        match span {
            TokenSpan::Outside => theme.text,
            TokenSpan::Think => theme.think,
            TokenSpan::Block(_) => theme.block,
            TokenSpan::Memento(_) => theme.memento,
            TokenSpan::Answer => theme.answer,
        }
    };
    let style = Style::new().fg(color);
    if scaffold {
        style.add_modifier(Modifier::ITALIC)
    } else {
        style
    }
}

/// Styled runs with a note of whether the last one ended a line.
#[derive(Default)]
struct Segments {
    runs: Vec<(String, Style)>,
    at_line_start: bool,
}

impl Segments {
    fn push(&mut self, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
        self.at_line_start = text.ends_with('\n');
        match self.runs.last_mut() {
            Some((t, s)) if *s == style => t.push_str(text),
            _ => self.runs.push((text.to_string(), style)),
        }
    }

    /// Token text at byte `base` of the stream text `all`: code inside fences takes
    /// syntect's colours and fence lines are dimmed, unless the text is evicted (then it stays
    /// dimmed like the rest of its block).
    fn text(
        &mut self,
        piece: &str,
        base: usize,
        style: Style,
        all: &str,
        cache: &mut ViewCache,
        theme: &Theme,
    ) {
        let region = match cache.code.region_at(base) {
            Some(r) if style.fg != Some(theme.evicted) => r.clone(),
            _ => return self.push(piece, style),
        };
        let region_end = region.close.as_ref().map_or(usize::MAX, |c| c.end);
        let runs = cache.highlights.colours(all, &region, &theme.code_theme);
        let fence = style.fg(theme.dim);
        let mut at = 0;
        while at < piece.len() {
            let abs = base + at;
            let (until, run_style) = if abs >= region_end {
                (usize::MAX, style)
            } else if abs < region.body.start {
                (region.body.start, fence)
            } else if abs >= region.body.end {
                (region_end, fence)
            } else {
                let coloured = runs.and_then(|runs| {
                    let i = runs.partition_point(|r| r.0.end <= abs);
                    runs.get(i)
                        .filter(|r| r.0.start <= abs)
                        .map(|(r, c)| (r.end, style.fg(*c)))
                });
                coloured.unwrap_or((region.body.end, style))
            };
            let end = ceil_char(piece, until.saturating_sub(base).clamp(at + 1, piece.len()));
            self.push(&piece[at..end], run_style);
            at = end;
        }
    }

    fn line_break(&mut self, style: Style) {
        if !self.runs.is_empty() && !self.at_line_start {
            self.push("\n", style);
        }
    }

    fn header(&mut self, text: &str, style: Style) {
        self.line_break(style);
        self.push(text, style);
        self.push("\n", style);
    }
}

fn ceil_char(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at.min(text.len())
}

fn prompt_segments(timeline: &Timeline, theme: &Theme, out: &mut Segments) {
    let Some(prompt) = timeline.prompt_text() else {
        return;
    };
    let dim = Style::new().fg(theme.prompt);
    out.header(
        &format!("▍prompt · {} tok", timeline.prompt_len()),
        dim.add_modifier(Modifier::BOLD),
    );
    let shown = prompt.replace("<|im_start|>", "").replace("<|im_end|>", "");
    out.push(shown.trim_end(), dim);
    out.push("\n", dim);
}

fn marker(
    b: &Boundary,
    at: &AtCursor,
    timeline: &Timeline,
    cursor: u64,
    theme: &Theme,
    out: &mut Segments,
) {
    let outline = &at.outline;
    let shown_to = timeline.prompt_len() + cursor;
    let bold = |c| Style::new().fg(c).add_modifier(Modifier::BOLD);
    let block = b
        .block
        .and_then(|k| outline.blocks.iter().rev().find(|o| o.index == k));
    match (b.span, b.edge) {
        (SpanKind::Think, Edge::Open) => out.header("⟨think⟩", Style::new().fg(theme.tag)),
        (SpanKind::Think, Edge::Close) => out.header("⟨/think⟩", Style::new().fg(theme.tag)),
        (SpanKind::Answer, Edge::Open) => out.header("▍answer", bold(theme.answer)),
        (SpanKind::Answer, Edge::Close) => out.line_break(Style::new()),
        (SpanKind::Block, Edge::Open) => {
            let k = b.block.map_or(0, |k| k + 1);
            let content = block.map(|o| o.content(shown_to));
            let n = content.as_ref().map_or(0, |r| r.end - r.start);
            let evicted = content.as_ref().is_some_and(|c| at.is_evicted(c));
            let (label, colour) = if evicted {
                (format!("▍block {k} · {n} tok · evicted"), theme.evicted)
            } else {
                (format!("▍block {k} · {n} tok"), theme.block)
            };
            out.header(&label, bold(colour));
        }
        (SpanKind::Block, Edge::Close) => out.line_break(Style::new()),
        (SpanKind::Summary, Edge::Open) => {
            let label = match (b.block, block) {
                (Some(k), Some(o)) => {
                    let m = o.memento_tokens(shown_to);
                    let blk = o.content_tokens(shown_to);
                    if m > 0 && blk > 0 && o.memento_close.is_some() {
                        format!(
                            "▍memento {} · {m} tok · {:.1}×",
                            k + 1,
                            blk as f64 / m as f64
                        )
                    } else {
                        format!("▍memento {} · {m} tok", k + 1)
                    }
                }
                _ => "▍memento (no block)".to_string(),
            };
            out.header(&label, bold(theme.memento));
        }
        (SpanKind::Summary, Edge::Close) => {
            out.line_break(Style::new());
            // The eviction this memento triggered, once the playhead has passed it.
            if let Some(e) = timeline
                .evictions()
                .iter()
                .find(|e| Some(e.block) == b.block && e.pos < shown_to)
            {
                out.push(
                    &format!("✂ block {} evicted: −{} KV entries\n", e.block + 1, e.freed),
                    Style::new().fg(theme.dim).add_modifier(Modifier::ITALIC),
                );
            }
        }
    }
}
