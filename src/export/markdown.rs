//! One run as a Markdown report: what ran, the numbers, the prompt, then the reasoning in
//! order, each block with the KV entries its eviction freed and each memento beneath it, and
//! the answer. Model output is arbitrary text, so every piece of it is either fenced (with a
//! fence longer than any backtick run inside) or escaped, and cannot break the document.

use std::fmt::Write;
use std::ops::Range;

use crate::structure::{Boundary, Edge, SpanKind};
use crate::timeline::{Timeline, decode_rate};
use crate::trace::{EndReason, EvictEvent, SourceKind, TokenizerInfo};
use crate::units::{bytes, count};

/// The report for `timeline`, headed `title` (usually the trace's name).
pub fn markdown(timeline: &Timeline, title: &str) -> String {
    let mut out = String::new();
    let one_line = title.replace(['\r', '\n'], " ");
    let _ = writeln!(out, "# {}\n", escape_inline(one_line.trim()));
    metadata(timeline, &mut out);
    summary(timeline, &mut out);
    prompt(timeline, &mut out);
    reasoning(timeline, &mut out);
    diagnostics(timeline, &mut out);
    out
}

fn metadata(timeline: &Timeline, out: &mut String) {
    let h = &timeline.header;
    let shape = &h.model.shape;
    let mut kv = format!(
        "{} layers × {} KV heads × {} dims, {} ({} per token), context {}",
        shape.layers,
        shape.kv_heads,
        shape.head_dim,
        shape.dtype.name(),
        bytes(shape.bytes_per_token()),
        count(shape.context_tokens)
    );
    if let Some(w) = shape.sliding_window {
        let _ = write!(
            kv,
            ", {} sliding-window layers of {}",
            w.layers,
            count(w.window)
        );
    }
    item(out, "Model", &escape_inline(&h.model.name));
    item(
        out,
        "KV shape",
        &format!("{}: {kv}", escape_inline(&shape.name)),
    );
    item(out, "Policy", &escape_inline(&h.policy.label()));
    if let Some(sampler) = &h.sampler {
        item(out, "Sampler", &escape_inline(&sampler.summary()));
    }
    item(out, "Tokenizer", &tokenizer(&h.tokenizer));
    if let Some(source) = &h.source {
        let kind = match source.kind {
            SourceKind::Import => "import",
            SourceKind::Synthetic => "synthetic",
            SourceKind::Engine => "engine",
        };
        let mut s = kind.to_string();
        for (name, value) in [
            ("format", source.format.clone()),
            ("file", source.path.clone()),
            ("row", source.row.map(|r| r.to_string())),
            ("id", source.id.clone()),
        ] {
            if let Some(v) = value {
                let _ = write!(s, ", {name} {}", escape_inline(&v));
            }
        }
        item(out, "Source", &s);
        if let Some(seed) = source.seed {
            item(out, "Seed", &seed.to_string());
        }
        if let Some(answer) = &source.answer {
            item(out, "Reference answer", &escape_inline(answer));
        }
    }
    item(
        out,
        "Created",
        &format!(
            "{} by {}",
            escape_inline(&h.created),
            escape_inline(&h.generator)
        ),
    );
    let end = match timeline.end().map(|e| e.reason) {
        Some(EndReason::Eos) => "end of sequence",
        Some(EndReason::MaxTokens) => "token limit reached",
        Some(EndReason::ContextFull) => "the model's context was full",
        Some(EndReason::Stopped) => "stopped by the user",
        Some(EndReason::Complete) => "complete",
        Some(EndReason::Error) => "error",
        None => "no end event (the trace was cut off)",
    };
    item(out, "End", end);
    out.push('\n');
}

fn tokenizer(info: &TokenizerInfo) -> String {
    match info {
        TokenizerInfo::Estimate { rule } => format!("estimate ({})", escape_inline(rule)),
        TokenizerInfo::HfJson { path, vocab_size } => format!(
            "tokenizer.json {} ({} tokens)",
            escape_inline(path),
            count(*vocab_size)
        ),
        TokenizerInfo::Gguf {
            path,
            pre,
            vocab_size,
        } => format!(
            "GGUF {} ({}, {} tokens)",
            escape_inline(path),
            escape_inline(pre),
            count(*vocab_size)
        ),
        TokenizerInfo::Model { name, vocab_size } => format!(
            "the model's own, {} ({} tokens)",
            escape_inline(name),
            count(*vocab_size)
        ),
    }
}

fn item(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "- **{name}:** {value}");
}

fn summary(timeline: &Timeline, out: &mut String) {
    let outline = timeline.outline();
    let state = timeline.state();
    let mementos = outline.mementos().count() + outline.orphan_mementos.len();
    let freed: u64 = timeline.evictions().iter().map(|e| e.freed).sum();
    let mut rows: Vec<(String, String)> = [
        ("generated tokens", count(timeline.len())),
        ("prompt tokens", count(timeline.prompt_len())),
        ("blocks", count(outline.blocks.len() as u64)),
        ("mementos", count(mementos as u64)),
        ("evictions", count(timeline.evictions().len() as u64)),
        ("KV entries evicted", count(freed)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let recorded = if timeline.recorded_live().is_empty() {
        "not recorded".to_string()
    } else {
        peak(state.peak, state.peak_bytes)
    };
    let recorded_label = format!(
        "peak live KV, recorded ({})",
        escape_inline(&timeline.header.policy.label())
    );
    rows.push((recorded_label, recorded));
    let series = timeline.series();
    for s in series {
        let name = match s.policy.keep_last_n_blocks {
            n if n < 0 => "full context".to_string(),
            _ => escape_inline(&s.policy.label()),
        };
        rows.push((
            format!("peak KV, {name}"),
            peak(s.peak_live(), s.peak_bytes()),
        ));
    }
    if let [full, memento, ..] = series {
        let tokens = ratio(memento.peak_live(), full.peak_live());
        let by_bytes = ratio(memento.peak_bytes(), full.peak_bytes());
        // Sliding-window layers make the byte ratio differ from the token ratio.
        let value = if by_bytes == tokens {
            tokens
        } else {
            format!("{tokens} in tokens, {by_bytes} in bytes")
        };
        rows.push(("memento / full context".to_string(), value));
    }
    if let Some(rate) = decode_rate(timeline) {
        rows.push(("decode speed".to_string(), format!("{rate:.1} tokens/s")));
    }
    out.push_str("## Summary\n\n| measure | value |\n|---|---|\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');
}

fn peak(tokens: u64, b: u64) -> String {
    format!("{} tokens, {}", count(tokens), bytes(b))
}

fn ratio(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.2}×", part as f64 / whole as f64)
    }
}

fn prompt(timeline: &Timeline, out: &mut String) {
    let Some(text) = timeline.prompt_text() else {
        return;
    };
    let _ = writeln!(
        out,
        "## Prompt\n\n*{}*\n",
        tokens_label(timeline.prompt_len())
    );
    out.push_str(&fence(text));
    out.push('\n');
}

/// A piece of the generated text that gets its own section.
enum Piece<'a> {
    Block {
        index: u32,
        tokens: u64,
        closed: bool,
        evictions: Vec<&'a EvictEvent>,
    },
    Memento {
        block: Option<u32>,
        tokens: u64,
        closed: bool,
    },
    Answer,
}

/// A piece with where it sits in the generated text: `extent` with its delimiters (for
/// ordering and for what lies between pieces), `text` without them.
struct Placed<'a> {
    piece: Piece<'a>,
    extent: Range<usize>,
    text: Range<usize>,
}

fn reasoning(timeline: &Timeline, out: &mut String) {
    let text = timeline.tokens().all_text();
    let map = ByteMap { timeline };
    let mut placed = pieces(timeline, &map);
    placed.sort_by_key(|p| (p.extent.start, p.extent.end));
    out.push_str("## Reasoning\n\n");
    if text.is_empty() {
        out.push_str("*No tokens were generated.*\n\n");
        return;
    }
    let unstructured = placed.is_empty();
    let mut cursor = 0;
    for p in &placed {
        if p.extent.start > cursor {
            between(timeline, &map, cursor..p.extent.start, unstructured, out);
        }
        cursor = cursor.max(p.extent.end);
        // Blank lines at either end are the model's spacing around tags, not content.
        let body = text[p.text.clone()].trim_matches(['\n', '\r']);
        match &p.piece {
            Piece::Block {
                index,
                tokens,
                closed,
                evictions,
            } => {
                let _ = write!(out, "### Block {} · {}", index + 1, tokens_label(*tokens));
                if evictions.is_empty() {
                    out.push_str(" · kept");
                } else {
                    let freed: u64 = evictions.iter().map(|e| e.freed).sum();
                    let noun = if freed == 1 { "entry" } else { "entries" };
                    let _ = write!(out, " · evicted (freed {freed} KV {noun})");
                }
                if !closed {
                    out.push_str(" · unclosed");
                }
                out.push_str("\n\n");
                out.push_str(&fence(body));
                out.push('\n');
            }
            Piece::Memento {
                block,
                tokens,
                closed,
            } => {
                match block {
                    Some(b) => {
                        let _ = write!(out, "#### Memento {}", b + 1);
                    }
                    None => out.push_str("#### Memento (no block)"),
                }
                let _ = write!(out, " · {}", tokens_label(*tokens));
                if !closed {
                    out.push_str(" · unclosed");
                }
                out.push_str("\n\n");
                out.push_str(&blockquote(body));
                out.push('\n');
            }
            Piece::Answer => {
                out.push_str("## Answer\n\n");
                out.push_str(&fence(body));
                out.push('\n');
            }
        }
    }
    if cursor < text.len() {
        between(timeline, &map, cursor..text.len(), unstructured, out);
    }
}

/// Every block, memento and the answer, placed in the generated text.
fn pieces<'t>(timeline: &'t Timeline, map: &ByteMap) -> Vec<Placed<'t>> {
    let outline = timeline.outline();
    let end = timeline.next_pos();
    let text_end = timeline.tokens().all_text().len();
    let mut placed = Vec::new();
    for b in &outline.blocks {
        let span = b.with_delimiters(end);
        // An eviction belongs to this block when it names it and lies inside it (indices can
        // repeat in malformed streams).
        let evictions = timeline
            .evictions()
            .iter()
            .filter(|e| e.block == b.index && e.from >= span.start && e.to <= span.end)
            .collect();
        let (text_to, extent_to) = match &b.close {
            Some(c) => (map.start_of(c), map.end_of(c)),
            None => (text_end, text_end),
        };
        placed.push(Placed::new(
            Piece::Block {
                index: b.index,
                tokens: b.content_tokens(end),
                closed: b.close.as_ref().is_some_and(|c| !c.is_implicit()),
                evictions,
            },
            map.start_of(&b.open),
            map.end_of(&b.open),
            text_to,
            extent_to,
        ));
        if let Some(open) = &b.memento_open {
            placed.push(memento(
                map,
                Some(b.index),
                b.memento_tokens(end),
                open,
                b.memento_close.as_ref(),
                text_end,
            ));
        }
    }
    for (open, close) in &outline.orphan_mementos {
        let to = close.as_ref().map_or(end, Boundary::tag_from);
        let tokens = to.saturating_sub(open.tag_to());
        placed.push(memento(map, None, tokens, open, close.as_ref(), text_end));
    }
    if outline.answer.is_some() {
        let bounds = timeline.boundaries();
        let open = bounds
            .iter()
            .rposition(|b| b.span == SpanKind::Answer && b.edge == Edge::Open);
        if let Some(i) = open {
            let close = bounds[i..]
                .iter()
                .find(|b| b.span == SpanKind::Answer && b.edge == Edge::Close);
            let (text_to, extent_to) =
                close.map_or((text_end, text_end), |c| (map.start_of(c), map.end_of(c)));
            let o = &bounds[i];
            placed.push(Placed::new(
                Piece::Answer,
                map.start_of(o),
                map.end_of(o),
                text_to,
                extent_to,
            ));
        }
    }
    placed
}

fn memento<'t>(
    map: &ByteMap,
    block: Option<u32>,
    tokens: u64,
    open: &Boundary,
    close: Option<&Boundary>,
    text_end: usize,
) -> Placed<'t> {
    let (text_to, extent_to) =
        close.map_or((text_end, text_end), |c| (map.start_of(c), map.end_of(c)));
    Placed::new(
        Piece::Memento {
            block,
            tokens,
            closed: close.is_some_and(|c| !c.is_implicit()),
        },
        map.start_of(open),
        map.end_of(open),
        text_to,
        extent_to,
    )
}

impl<'a> Placed<'a> {
    fn new(
        piece: Piece<'a>,
        extent_from: usize,
        text_from: usize,
        text_to: usize,
        extent_to: usize,
    ) -> Self {
        let text_to = text_to.max(text_from);
        Placed {
            piece,
            extent: extent_from..extent_to.max(text_to),
            text: text_from..text_to,
        }
    }
}

/// Text outside every block, memento and answer (the think preamble, scaffold prompts,
/// anything after the answer), without the think and answer tags; skipped when blank.
fn between(
    timeline: &Timeline,
    map: &ByteMap,
    range: Range<usize>,
    unstructured: bool,
    out: &mut String,
) {
    let tokens = timeline.tokens();
    let text = tokens.all_text();
    let mut tags: Vec<Range<usize>> = timeline
        .boundaries()
        .iter()
        .filter(|b| !b.is_implicit())
        .map(|b| map.start_of(b)..map.end_of(b))
        .filter(|t| t.start < range.end && t.end > range.start)
        .collect();
    tags.sort_by_key(|t| t.start);
    let mut kept = String::new();
    let mut at = range.start;
    for t in tags {
        if t.start > at {
            kept.push_str(&text[at..t.start.min(range.end)]);
        }
        at = at.max(t.end);
    }
    if at < range.end {
        kept.push_str(&text[at..range.end]);
    }
    if kept.trim().is_empty() {
        return;
    }
    let first = tokens.token_at_byte(range.start);
    let last = tokens.token_at_byte(range.end - 1);
    let label = if unstructured {
        "Text"
    } else {
        "Outside blocks"
    };
    let _ = writeln!(
        out,
        "*{label} · {}*\n",
        tokens_label((last + 1 - first) as u64)
    );
    out.push_str(&fence(kept.trim_matches('\n')));
    out.push('\n');
}

/// Logical positions and boundary tags as byte offsets in the generated text, so a tag
/// spelled inside a token cuts the text exactly where the tag starts or ends.
struct ByteMap<'t> {
    timeline: &'t Timeline,
}

impl ByteMap<'_> {
    /// Where the token at logical position `pos` starts.
    fn pos(&self, pos: u64) -> usize {
        let tokens = self.timeline.tokens();
        let Some(i) = pos.checked_sub(self.timeline.prompt_len()) else {
            return 0;
        };
        if i >= tokens.len() as u64 {
            return tokens.all_text().len();
        }
        tokens.range(i as usize).start
    }

    /// A byte inside token `pos`, clamped to that token and to a character boundary.
    fn inside(&self, pos: u64, byte: u32) -> usize {
        let start = self.pos(pos);
        let end = self.pos(pos + 1).max(start);
        let text = self.timeline.tokens().all_text();
        let mut at = (start + byte as usize).min(end);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// Where the boundary's tag starts; an implicit boundary takes effect before the token
    /// at `at`.
    fn start_of(&self, b: &Boundary) -> usize {
        match b.tag {
            Some(t) => self.inside(t.from, t.from_byte),
            None => self.pos(b.at),
        }
    }

    /// One past the boundary's tag.
    fn end_of(&self, b: &Boundary) -> usize {
        match b.tag {
            Some(t) if t.to > t.from => self.inside(t.to - 1, t.to_byte),
            Some(t) => self.pos(t.from),
            None => self.pos(b.at),
        }
        .max(self.start_of(b))
    }
}

fn tokens_label(n: u64) -> String {
    if n == 1 {
        "1 token".into()
    } else {
        format!("{} tokens", count(n))
    }
}

fn diagnostics(timeline: &Timeline, out: &mut String) {
    let diagnostics = timeline.diagnostics();
    if diagnostics.is_empty() && timeline.inconsistencies.is_empty() {
        return;
    }
    out.push_str("## Diagnostics\n\n");
    for d in diagnostics {
        let _ = writeln!(
            out,
            "- position {}: {}",
            d.at,
            escape_inline(&d.message.replace(['\r', '\n'], " "))
        );
    }
    for i in &timeline.inconsistencies {
        let _ = writeln!(out, "- {}", escape_inline(&i.replace(['\r', '\n'], " ")));
    }
    out.push('\n');
}

/// `text` in a fenced `text` block whose fence is longer than any backtick run inside, so
/// nothing in it can close the block early.
pub(crate) fn fence(text: &str) -> String {
    let longest = longest_run(text, '`');
    let bar = "`".repeat((longest + 1).max(3));
    let mut out = format!("{bar}text\n{text}");
    if !text.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&bar);
    out.push('\n');
    out
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// `text` as a blockquote of escaped lines; blank lines keep the paragraphs apart.
fn blockquote(text: &str) -> String {
    let text = text.trim_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return "> *(empty)*\n".into();
    }
    let mut out = String::new();
    for line in text.lines() {
        let line = escape_inline(line);
        if line.is_empty() {
            out.push_str(">\n");
        } else {
            let _ = writeln!(out, "> {line}");
        }
    }
    out
}

/// Escape one line of model text for Markdown prose: every character with inline meaning
/// (emphasis, code, links, HTML, entities, tables, math) gets a backslash, and so does
/// anything at the line start that would make a heading, list, quote or rule. Leading
/// whitespace is dropped so indentation cannot turn it into a code block.
pub(crate) fn escape_inline(line: &str) -> String {
    let line = line.replace('\r', " ");
    let line = line.trim_start();
    let mut out = String::with_capacity(line.len() + 8);
    // An ordered-list marker: up to nine digits, then `.` or `)`, then a space or the end.
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let after = line.as_bytes().get(digits + 1);
    let numbered = (1..=9).contains(&digits) && after.is_none_or(u8::is_ascii_whitespace);
    for (i, c) in line.char_indices() {
        let at_start = i == 0 && matches!(c, '#' | '-' | '+' | '=');
        let list_marker = numbered && i == digits && matches!(c, '.' | ')');
        let inline = matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '$' | '&' | '#'
        );
        if at_start || list_marker || inline {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outgrow_the_longest_backtick_run() {
        assert!(fence("plain").starts_with("```text\n"));
        let f = fence("a ```` b");
        assert!(f.starts_with("`````text\n"));
        assert!(f.ends_with("\n`````\n"));
    }

    #[test]
    fn escapes_what_markdown_would_read() {
        assert_eq!(escape_inline("# x"), "\\# x");
        assert_eq!(escape_inline("  - item"), "\\- item");
        assert_eq!(escape_inline("12. twelve"), "12\\. twelve");
        assert_eq!(escape_inline("<b>*x*</b>"), "\\<b\\>\\*x\\*\\</b\\>");
        assert_eq!(escape_inline("a | b"), "a \\| b");
        assert_eq!(escape_inline("3.5 and 2-1"), "3.5 and 2-1");
        assert_eq!(escape_inline("7)"), "7\\)");
    }
}
