//! `memento export`: the Markdown report against the traces' own events, model text that
//! tries to break out of its fence, the SVG and PNG charts, and the command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use memento::cli::load_timeline;
use memento::export::{
    ExportPaths, base_for_trace, export_all, kv_chart_png, kv_chart_svg, markdown,
};
use memento::kv::KvShape;
use memento::timeline::Timeline;

const SAMPLES: [&str; 2] = [
    "sample-traces/synthetic-memento.trace.jsonl",
    "sample-traces/smollm2-memento.trace.jsonl",
];

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn load(path: &Path) -> Timeline {
    load_timeline(path, &KvShape::preset("qwen3-8b").unwrap())
        .unwrap()
        .0
}

/// Entries freed per block (1-based), read straight from the file's evict events.
fn freed_per_block(path: &Path) -> BTreeMap<u64, u64> {
    let mut freed = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines().skip(1) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["type"] == "evict" {
            let block = event["block"].as_u64().unwrap() + 1;
            *freed.entry(block).or_default() += event["freed"].as_u64().unwrap();
        }
    }
    freed
}

/// A line that opens or closes a fenced code block: its backtick count.
fn fence_len(line: &str) -> Option<usize> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let run = line[indent..].chars().take_while(|&c| c == '`').count();
    (indent <= 3 && run >= 3).then_some(run)
}

/// The document's lines outside fenced blocks, and the contents of each fenced block, read
/// the way CommonMark does: a fence closes only with at least as many backticks and nothing
/// else on the line.
fn split_fences(md: &str) -> (Vec<&str>, Vec<String>) {
    let (mut prose, mut blocks) = (Vec::new(), Vec::new());
    let mut open: Option<(usize, Vec<&str>)> = None;
    for line in md.lines() {
        match &mut open {
            None => match fence_len(line) {
                Some(n) => open = Some((n, Vec::new())),
                None => prose.push(line),
            },
            Some((n, body)) => {
                let closes = fence_len(line).is_some_and(|m| m >= *n)
                    && line.trim().chars().all(|c| c == '`');
                if closes {
                    blocks.push(body.join("\n"));
                    open = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    assert!(open.is_none(), "a fence is left open");
    (prose, blocks)
}

#[test]
fn markdown_has_a_section_per_block_and_memento_with_what_each_eviction_freed() {
    for name in SAMPLES {
        let path = sample(name);
        let timeline = load(&path);
        let outline = timeline.outline();
        let md = markdown(&timeline, name);
        let (prose, _) = split_fences(&md);

        let blocks: Vec<&str> = prose
            .iter()
            .copied()
            .filter(|l| l.starts_with("### Block "))
            .collect();
        assert_eq!(blocks.len(), outline.blocks.len(), "{name}");
        let mementos = prose
            .iter()
            .filter(|l| l.starts_with("#### Memento "))
            .count();
        assert_eq!(
            mementos,
            outline.mementos().count() + outline.orphan_mementos.len(),
            "{name}"
        );
        assert!(mementos > 0 && !blocks.is_empty(), "{name}");

        let freed = freed_per_block(&path);
        assert!(!freed.is_empty(), "{name} has evictions");
        for (i, heading) in blocks.iter().enumerate() {
            let k = i as u64 + 1;
            assert!(
                heading.starts_with(&format!("### Block {k} · ")),
                "{heading}"
            );
            match freed.get(&k) {
                Some(n) => assert!(
                    heading.ends_with(&format!(" · evicted (freed {n} KV entries)")),
                    "{name}: {heading}"
                ),
                None => assert!(heading.contains(" · kept"), "{name}: {heading}"),
            }
        }
        let recorded = format!("| evictions | {} |", timeline.evictions().len());
        assert!(md.contains(&recorded), "{name}");
    }
}

#[test]
fn markdown_ends_with_the_answer_and_quotes_each_memento() {
    let timeline = load(&sample(SAMPLES[0]));
    let md = markdown(&timeline, "synthetic");
    let answer = md.split("\n## Answer\n").nth(1).expect("an answer section");
    assert!(answer.contains("the sum is \\boxed{1640897}."), "{answer}");
    assert!(md.contains("- **Reference answer:** 1640897"));
    // Memento text is quoted and escaped: `a_k` would otherwise start emphasis.
    assert!(md.contains("> Setup: a\\_k = 17 + (k-1)\\*2"));

    // The engine run stops at its token limit inside memento 3, with no answer.
    let engine = markdown(&load(&sample(SAMPLES[1])), "smollm2");
    assert!(!engine.contains("## Answer"));
    assert!(engine.contains("#### Memento 3 · 17 tokens · unclosed"));
    assert!(
        engine.contains("| decode speed | "),
        "engine traces are timed"
    );
    assert!(engine.contains("- **End:** token limit reached"));
}

/// A tagged transcript whose block, memento and answer are written to break Markdown.
const HOSTILE: &str = "<think>\n<|block_start|>Look:\n```\n# not a heading\n```\nand ```` four, then `````\n<script>alert(1)</script>\n<|block_end|>\n<|summary_start|># Fake heading\n```\n- not a list <b>bold</b> | pipe |\n<|summary_end|>\n</think>\n```\n# Answer in a fence\n";

#[test]
fn model_text_stays_inside_its_fence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.txt");
    std::fs::write(&path, HOSTILE).unwrap();
    let timeline = load(&path);
    let outline = timeline.outline();
    assert_eq!(outline.blocks.len(), 1);
    let end = timeline.next_pos();
    let (block_tokens, memento_tokens) = (
        outline.blocks[0].content_tokens(end),
        outline.blocks[0].memento_tokens(end),
    );
    let freed = timeline.evictions()[0].freed;
    let md = markdown(&timeline, "hostile # title");
    let (prose, fenced) = split_fences(&md);

    // Every heading outside fences is one the report wrote (there is no prompt).
    let headings: Vec<&str> = prose
        .iter()
        .copied()
        .filter(|l| l.starts_with('#'))
        .collect();
    let block_heading =
        format!("### Block 1 · {block_tokens} tokens · evicted (freed {freed} KV entries)");
    let memento_heading = format!("#### Memento 1 · {memento_tokens} tokens");
    assert_eq!(
        headings,
        [
            "# hostile \\# title",
            "## Summary",
            "## Reasoning",
            block_heading.as_str(),
            memento_heading.as_str(),
            "## Answer",
        ],
        "{md}"
    );
    // The block comes back whole, five backticks included, from a six-backtick fence.
    let block =
        "Look:\n```\n# not a heading\n```\nand ```` four, then `````\n<script>alert(1)</script>";
    assert!(fenced.iter().any(|f| f == block), "{md}");
    assert!(md.contains(&format!("``````text\n{block}\n``````\n")));
    // The answer keeps its own fence inside a longer one.
    assert!(
        fenced.iter().any(|f| f == "```\n# Answer in a fence"),
        "{md}"
    );
    // The memento is a quote in which nothing is markup.
    assert!(prose.contains(&"> \\# Fake heading"), "{md}");
    assert!(prose.contains(&"> \\`\\`\\`"), "{md}");
    assert!(
        prose.contains(&"> \\- not a list \\<b\\>bold\\</b\\> \\| pipe \\|"),
        "{md}"
    );
    assert!(
        !prose
            .iter()
            .any(|l| l.contains("<script>") || l.contains("<b>"))
    );
}

#[test]
fn a_trace_without_structure_is_one_section() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.txt");
    std::fs::write(
        &path,
        "Just thinking out loud, no tags at all.\n# Still text",
    )
    .unwrap();
    let md = markdown(&load(&path), "plain");
    let (prose, fenced) = split_fences(&md);
    assert!(!prose.iter().any(|l| l.starts_with("### Block")));
    assert!(prose.iter().any(|l| l.starts_with("*Text · ")), "{md}");
    assert!(
        fenced
            .iter()
            .any(|f| f == "Just thinking out loud, no tags at all.\n# Still text"),
        "{md}"
    );
    assert!(md.contains("| blocks | 0 |"));
}

#[test]
fn an_empty_run_still_exports() {
    let header = load(&sample(SAMPLES[1])).header;
    let timeline = Timeline::new(header);
    let md = markdown(&timeline, "empty");
    assert!(md.contains("*No tokens were generated.*"), "{md}");
    assert!(md.contains("- **End:** no end event"), "{md}");
    roxmltree::Document::parse(&kv_chart_svg(&timeline, 400, 300).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("empty.png");
    kv_chart_png(&timeline, &png, 400, 300).unwrap();
    assert_eq!(decode_png(&png).0, (400, 300));
}

/// The sample engine run with a ten-minute pause after its 100th token, as a paused
/// workbench run records it: the token clock runs on, the engine's decode time does not.
fn paused_trace(dir: &Path, decode_seconds: Option<f64>) -> PathBuf {
    let text =
        std::fs::read_to_string(sample("sample-traces/smollm2-memento.trace.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().take(1).map(str::to_string).collect();
    let mut tokens = 0;
    for line in text.lines().skip(1) {
        let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["type"] == "token" {
            tokens += 1;
        }
        if tokens > 100 {
            if let Some(t) = event["t"].as_f64() {
                event["t"] = serde_json::json!(t + 600.0);
            }
        }
        if event["type"] == "end" {
            if let Some(s) = decode_seconds {
                event["decode_seconds"] = serde_json::json!(s);
            }
        }
        lines.push(event.to_string());
    }
    let path = dir.join("paused.trace.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn decode_speed_row(md: &str) -> &str {
    md.lines()
        .find(|l| l.starts_with("| decode speed | "))
        .unwrap_or_else(|| panic!("no decode speed row:\n{md}"))
}

#[test]
fn decode_speed_leaves_out_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let timeline = load(&paused_trace(dir.path(), Some(2.5)));
    assert_eq!(timeline.end().unwrap().totals.generated, 320);
    let md = markdown(&timeline, "paused");
    // 320 generated tokens over 2.5 s of decoding; the clock across the pause would give 0.5.
    assert_eq!(decode_speed_row(&md), "| decode speed | 128.0 tokens/s |");
    assert_eq!(memento::timeline::decode_rate(&timeline), Some(128.0));
}

#[test]
fn decode_speed_without_engine_time_uses_the_token_clock() {
    let dir = tempfile::tempdir().unwrap();
    let timeline = load(&paused_trace(dir.path(), None));
    let first = timeline.time_of(0).unwrap();
    let last = timeline.time_of(timeline.len() - 1).unwrap();
    let expected = (timeline.len() - 1) as f64 / (last - first);
    assert!(expected < 1.0, "the pause is in the clock: {expected}");
    let md = markdown(&timeline, "paused");
    assert_eq!(
        decode_speed_row(&md),
        format!("| decode speed | {expected:.1} tokens/s |")
    );
}

#[test]
fn svg_has_a_polyline_per_series_and_the_axis_labels() {
    for name in SAMPLES {
        let timeline = load(&sample(name));
        let svg = kv_chart_svg(&timeline, 900, 450).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("the SVG is XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("width"), Some("900"));
        assert_eq!(root.attribute("height"), Some("450"));

        // Axes and ticks are two-point polylines; every series has many points.
        let series: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .filter(|n| {
                n.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
                    > 2
            })
            .collect();
        // The recorded readings get a line of their own only when they differ from every
        // simulated series; otherwise the series they equal says "= recorded".
        let recorded = timeline.recorded_live();
        let hidden = timeline.series().iter().any(|s| s.live() == recorded);
        let expected = timeline.series().len() + usize::from(!recorded.is_empty() && !hidden);
        assert_eq!(series.len(), expected, "{name}");
        let colours: std::collections::HashSet<_> = series
            .iter()
            .filter_map(|n| n.attribute("stroke"))
            .collect();
        assert_eq!(colours.len(), expected, "{name}: one colour per series");

        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect();
        if hidden {
            assert!(
                texts.iter().any(|t| t.ends_with("= recorded")),
                "{name}: the legend says which line the readings equal: {texts:?}"
            );
            assert!(!texts.iter().any(|t| t.starts_with("recorded (")), "{name}");
        }
        for label in [
            "tokens generated",
            "live KV entries",
            "full context",
            "eviction",
        ] {
            assert!(texts.iter().any(|t| t == label), "{name}: no {label:?}");
        }
        // The title gives both peaks and their ratio.
        let (full, kept) = (
            timeline.series()[0].peak_live(),
            timeline.series()[1].peak_live(),
        );
        let title = format!(
            "Peak live KV: full context {} · memento {} ({:.2}× full)",
            memento::units::count(full),
            memento::units::count(kept),
            kept as f64 / full as f64
        );
        assert_eq!(texts.first(), Some(&title), "{name}");
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        // One per eviction, and one in the legend.
        assert_eq!(circles, timeline.evictions().len() + 1, "{name}");
    }
}

#[test]
fn png_decodes_at_the_requested_size() {
    let timeline = load(&sample(SAMPLES[1]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chart.png");
    kv_chart_png(&timeline, &path, 640, 360).unwrap();
    let (info, pixels) = decode_png(&path);
    assert_eq!((info.0, info.1), (640, 360));
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(colours.len() > 4, "{} colours", colours.len());
}

fn decode_png(path: &Path) -> ((u32, u32), Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    buf.truncate(frame.buffer_size());
    ((frame.width, frame.height), buf)
}

#[test]
fn sizes_out_of_range_are_refused() {
    let timeline = load(&sample(SAMPLES[1]));
    assert!(kv_chart_svg(&timeline, 10, 10).is_err());
    let dir = tempfile::tempdir().unwrap();
    let err = kv_chart_png(&timeline, &dir.path().join("x.png"), 100_000, 400).unwrap_err();
    assert!(err.to_string().contains("100000x400"), "{err}");
}

#[test]
fn export_all_writes_beside_the_base() {
    let timeline = load(&sample(SAMPLES[0]));
    let dir = tempfile::tempdir().unwrap();
    let base = base_for_trace(&dir.path().join("run1.trace.jsonl"));
    assert_eq!(base, dir.path().join("run1"));
    let paths = export_all(&timeline, &base).unwrap();
    assert_eq!(paths, ExportPaths::for_base(&base));
    assert_eq!(paths.markdown, dir.path().join("run1.md"));
    for p in [&paths.markdown, &paths.svg, &paths.png] {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    assert!(
        std::fs::read_to_string(&paths.markdown)
            .unwrap()
            .starts_with("# run1\n")
    );
    // A directory that does not exist is an error naming the file.
    let missing = dir.path().join("no/such/dir/run");
    let err = format!("{:#}", export_all(&timeline, &missing).unwrap_err());
    assert!(err.contains("no/such/dir/run.md"), "{err}");
}

fn memento() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memento"))
}

#[test]
fn cli_writes_all_three_files_into_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = memento()
        .arg("export")
        .arg(sample(SAMPLES[1]))
        .arg("-o")
        .arg(dir.path().join("out"))
        .args(["--size", "800x400"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = ExportPaths::for_base(&dir.path().join("out/smollm2-memento"));
    let listed: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    assert_eq!(
        listed,
        [
            expected.markdown.clone(),
            expected.svg,
            expected.png.clone()
        ]
    );
    let md = std::fs::read_to_string(&expected.markdown).unwrap();
    assert!(md.starts_with("# smollm2-memento\n"));
    assert_eq!(decode_png(&expected.png).0, (800, 400));
}

#[test]
fn cli_writes_only_the_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let png = dir.path().join("chart.png");
    let out = memento()
        .arg("export")
        .arg(sample(SAMPLES[0]))
        .arg("--svg")
        .arg(&svg)
        .arg("--png")
        .arg(&png)
        // Text off: the PNG is still drawn.
        .env("MEMENTO_FONT", "none")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("has no text"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    roxmltree::Document::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    let (size, pixels) = decode_png(&png);
    assert_eq!(size, (1200, 600));
    assert!(pixels.chunks(3).any(|p| p != [255, 255, 255]));
}

#[test]
fn cli_errors_name_the_file_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.trace.jsonl");
    std::fs::write(&garbage, "this is not json\n").unwrap();
    let binary = dir.path().join("image.bin");
    std::fs::write(&binary, [0u8, 159, 146, 150, 1, 2, 3]).unwrap();
    let missing = dir.path().join("missing.trace.jsonl");
    for path in [&missing, &garbage, &binary] {
        let out = memento()
            .arg("export")
            .arg(path)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", path.display());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(stderr.contains(name.as_ref()), "{stderr}");
    }
    // Nothing was written for the failed exports.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    let out = memento()
        .arg("export")
        .arg(sample(SAMPLES[0]))
        .args(["--size", "12"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size"));
}
