//! The replay app driven by actions, and its screens drawn into a test backend.

use std::path::Path;
use std::time::Duration;

use memento::structure::{Edge, SpanKind};
use memento::timeline::Timeline;
use memento::trace::read_trace;
use memento::tui::app::App;
use memento::tui::chrome::{Effect, Keyed};
use memento::tui::keys::{AppAction, KeyMap, LayerId, NavAction, PlayAction};
use memento::tui::replay::Replay;
use memento::tui::theme::Theme;
use memento::tui::view::{self, ViewCache};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

const SAMPLE: &str = "sample-traces/synthetic-memento.trace.jsonl";

fn app() -> Replay {
    let file = read_trace(Path::new(SAMPLE)).unwrap();
    let timeline = Timeline::from_file(file).unwrap();
    Replay::new(
        App::new(timeline, "synthetic-memento.trace.jsonl".into()),
        Theme::dark(),
    )
}

fn draw(app: &Replay, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut cache = ViewCache::default();
    terminal.draw(|f| view::draw(f, app, &mut cache)).unwrap();
    terminal
}

fn screen(buffer: &Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Token counts where blocks and mementos open and close.
fn edges(app: &Replay, span: SpanKind, edge: Edge) -> Vec<u64> {
    let p = app.app.timeline.prompt_len();
    app.app
        .timeline
        .boundaries()
        .iter()
        .filter(|b| b.span == span && b.edge == edge)
        .map(|b| b.at + 1 - p)
        .collect()
}

#[test]
fn step_advances_exactly_one_token_and_back() {
    let mut app = app();
    app.apply(NavAction::StepForward);
    assert_eq!(app.app.cursor, 1);
    app.apply(NavAction::StepForward);
    app.apply(NavAction::StepBack);
    assert_eq!(app.app.cursor, 1);
    app.apply(NavAction::StepBack);
    app.apply(NavAction::StepBack);
    assert_eq!(app.app.cursor, 0, "never below zero");
}

#[test]
fn next_and_previous_block_land_one_token_into_each_block() {
    let mut app = app();
    let starts = app.app.block_starts();
    assert!(starts.len() >= 5);
    app.apply(NavAction::NextBlock);
    assert_eq!(app.app.cursor, starts[0] + 1);
    app.apply(NavAction::NextBlock);
    assert_eq!(app.app.cursor, starts[1] + 1);
    app.apply(NavAction::PrevBlock);
    assert_eq!(app.app.cursor, starts[0] + 1);
    // The block's opening tag, then its first token, are shown: never "block · 0 tok".
    let tokens = app.app.timeline.tokens();
    assert_eq!(tokens.text(app.app.cursor as usize - 2), "<|block_start|>");
    let s = screen(draw(&app, 120, 36).backend().buffer());
    assert!(s.contains("block 1 · 1 tok"), "{s}");
    assert!(!s.contains("· 0 tok"), "{s}");
}

#[test]
fn step_block_stops_at_each_span_end_and_the_memento_end_evicts() {
    let mut app = app();
    let block_end = edges(&app, SpanKind::Block, Edge::Close)[0];
    let memento_end = edges(&app, SpanKind::Summary, Edge::Close)[0];
    app.apply(NavAction::SpanEndForward);
    assert_eq!(app.app.cursor, block_end);
    assert_eq!(app.app.timeline.state_at(app.app.cursor).evictions, 0);
    app.apply(NavAction::SpanEndForward);
    assert_eq!(app.app.cursor, memento_end);
    assert_eq!(app.app.timeline.state_at(app.app.cursor).evictions, 1);
    let before = app.app.timeline.state_at(app.app.cursor - 1).live;
    let after = app.app.timeline.state_at(app.app.cursor).live;
    assert!(
        after < before,
        "the gauge falls at the eviction: {before} → {after}"
    );
    app.apply(NavAction::SpanEndBack);
    assert_eq!(app.app.cursor, block_end);
}

#[test]
fn play_advances_with_time_and_pause_holds() {
    let mut app = app();
    assert_eq!(app.app.speed(), 4.0, "a replay starts at 4×");
    app.apply(PlayAction::Slower);
    app.apply(PlayAction::Slower);
    app.apply(PlayAction::Toggle);
    assert!(app.app.playing);
    app.app.tick(Duration::from_millis(500));
    let after_half_second = app.app.cursor;
    assert_eq!(
        after_half_second, 20,
        "untimed traces play at 40 tokens/s at 1×"
    );
    app.apply(PlayAction::Faster);
    app.app.tick(Duration::from_millis(500));
    assert_eq!(app.app.cursor, 60, "2× doubles the rate");
    app.apply(PlayAction::Toggle);
    app.app.tick(Duration::from_secs(10));
    assert_eq!(app.app.cursor, 60, "paused playback holds");
}

#[test]
fn playback_stops_at_the_end_and_home_end_jump() {
    let mut app = app();
    app.apply(NavAction::End);
    assert_eq!(app.app.cursor, app.app.len());
    app.apply(NavAction::Home);
    assert_eq!(app.app.cursor, 0);
    app.apply(NavAction::Scrub(10));
    let tenth = (app.app.len() as f64 * 0.1).round() as u64;
    assert_eq!(app.app.cursor, tenth);
    app.apply(NavAction::End);
    app.apply(PlayAction::Toggle);
    assert_eq!(app.app.cursor, 0, "play at the end restarts from the top");
    for _ in 0..100 {
        app.app.tick(Duration::from_secs(60));
    }
    assert_eq!(app.app.cursor, app.app.len());
    assert!(!app.app.playing);
}

fn press(app: &mut Replay, code: crossterm::event::KeyCode) -> Vec<Effect> {
    app.key(&crossterm::event::KeyEvent::from(code))
}

fn quits(effects: &[Effect]) -> bool {
    matches!(effects, [Effect::Quit])
}

#[test]
fn help_is_modal_and_quit_quits() {
    use crossterm::event::KeyCode::{Char, Esc};
    let mut app = app();
    app.apply(AppAction::Help);
    assert!(app.chrome.help);
    assert!(app.apply(NavAction::StepForward).is_empty());
    assert!(press(&mut app, Char('.')).is_empty());
    assert_eq!(app.app.cursor, 0, "keys do nothing under help");
    assert!(press(&mut app, Char('q')).is_empty(), "q closes help first");
    assert!(!app.chrome.help);
    assert!(quits(&press(&mut app, Char('q'))));
    app.apply(AppAction::Help);
    assert!(press(&mut app, Esc).is_empty(), "esc closes help first");
    assert!(!app.chrome.help);
    // Ctrl-C always quits.
    app.apply(AppAction::Help);
    let ctrl_c =
        crossterm::event::KeyEvent::new(Char('c'), crossterm::event::KeyModifiers::CONTROL);
    assert!(quits(&app.key(&ctrl_c)));
}

#[test]
fn esc_closes_the_inspector_before_it_quits() {
    use crossterm::event::KeyCode::{Char, Esc};
    let mut app = app();
    press(&mut app, Char('i'));
    assert!(app.app.inspect);
    assert_eq!(app.layers()[0], LayerId::Inspector);
    assert!(press(&mut app, Esc).is_empty(), "esc closes the inspector");
    assert!(!app.app.inspect);
    assert!(quits(&press(&mut app, Esc)), "and then quits");
    // `i` toggles it too.
    press(&mut app, Char('i'));
    press(&mut app, Char('i'));
    assert!(!app.app.inspect);
}

#[test]
fn selecting_a_memento_jumps_to_its_block() {
    let mut app = app();
    app.apply(NavAction::End);
    app.apply(NavAction::FocusNext);
    app.apply(NavAction::Up);
    app.apply(NavAction::Up);
    let row = app.app.selected;
    app.apply(NavAction::Select);
    assert_eq!(app.app.cursor, app.app.block_starts()[row]);
}

fn mid_block(app: &mut Replay) {
    app.apply(NavAction::NextBlock);
    app.apply(NavAction::NextBlock);
    for _ in 0..60 {
        app.apply(NavAction::StepForward);
    }
}

fn after_eviction(app: &mut Replay) {
    for _ in 0..4 {
        app.apply(NavAction::SpanEndForward);
    }
}

#[test]
fn snapshot_80x24_mid_block() {
    let mut app = app();
    mid_block(&mut app);
    insta::assert_snapshot!(screen(draw(&app, 80, 24).backend().buffer()));
}

#[test]
fn snapshot_80x24_after_eviction() {
    let mut app = app();
    after_eviction(&mut app);
    insta::assert_snapshot!(screen(draw(&app, 80, 24).backend().buffer()));
}

#[test]
fn snapshot_160x48_mid_block() {
    let mut app = app();
    mid_block(&mut app);
    insta::assert_snapshot!(screen(draw(&app, 160, 48).backend().buffer()));
}

#[test]
fn snapshot_160x48_after_eviction() {
    let mut app = app();
    after_eviction(&mut app);
    insta::assert_snapshot!(screen(draw(&app, 160, 48).backend().buffer()));
}

#[test]
fn snapshot_help_80x24() {
    let mut app = app();
    app.apply(AppAction::Help);
    insta::assert_snapshot!(screen(draw(&app, 80, 24).backend().buffer()));
}

/// Cells of the reasoning pane whose symbol starts `needle` on some row.
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        if let Some(at) = row.find(needle) {
            let x = row[..at].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

#[test]
fn evicted_block_text_dims_and_spans_take_their_colours() {
    let mut app = app();
    let theme = Theme::dark();
    // Block 1 closed, its memento not yet: block text in the block colour.
    app.apply(NavAction::SpanEndForward);
    let terminal = draw(&app, 160, 48);
    let buffer = terminal.backend().buffer();
    let header = find(buffer, "▍block 1").expect("block 1 header on screen");
    assert_eq!(buffer[header].fg, theme.block);
    assert_eq!(buffer[(header.0, header.1 + 1)].fg, theme.block);
    // Memento 1 ends: block 1 is evicted and dims; the memento keeps its colour.
    app.apply(NavAction::SpanEndForward);
    let terminal = draw(&app, 160, 48);
    let buffer = terminal.backend().buffer();
    let header = find(buffer, "▍block 1").expect("block 1 header on screen");
    assert!(screen(buffer).contains("▍block 1 · 290 tok · evicted"));
    assert_eq!(buffer[header].fg, theme.evicted);
    assert_eq!(buffer[(header.0, header.1 + 1)].fg, theme.evicted);
    let memento = find(buffer, "▍memento 1").expect("memento header");
    assert_eq!(buffer[(memento.0, memento.1 + 1)].fg, theme.memento);
    assert!(find(buffer, "✂ block 1 evicted: −290 KV entries").is_some());
}

#[test]
fn memento_list_knows_only_what_the_playhead_has_reached() {
    let mut app = app();
    app.apply(NavAction::NextBlock);
    app.apply(NavAction::NextBlock);
    for _ in 0..60 {
        app.apply(NavAction::StepForward);
    }
    let text = screen(draw(&app, 80, 24).backend().buffer());
    assert!(text.contains("… #2      61→-"), "{text}");
    assert!(text.contains("Mementos 1/2"), "{text}");
}

#[test]
fn tiny_terminals_get_a_message_not_a_panic() {
    let app = app();
    for (w, h) in [(10, 5), (39, 30), (80, 11), (1, 1)] {
        let terminal = draw(&app, w, h);
        let text = screen(terminal.backend().buffer());
        assert!(text.contains("small") || w < 20, "{w}×{h}: {text}");
    }
    for (w, h) in [(40, 12), (61, 20), (120, 40), (250, 70)] {
        draw(&app, w, h);
    }
}

#[test]
fn light_theme_draws_with_its_own_colours() {
    let mut app = app();
    app.apply(AppAction::CycleTheme);
    assert_eq!(app.chrome.theme.name, "light");
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let title = find(buffer, "memento").unwrap();
    assert_eq!(buffer[title].fg, Theme::light().title);
    // The theme sets its own background: every pane's cell, not the terminal's.
    let light = Theme::light();
    assert_ne!(light.background, ratatui::style::Color::Reset);
    let reasoning = find(buffer, "Reasoning").unwrap();
    let inside = (reasoning.0, reasoning.1 + 2);
    assert_eq!(buffer[inside].bg, light.background);
    let dark = Theme::dark();
    assert_ne!(dark.background, light.background);
}

#[test]
fn the_readme_documents_every_key() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let maps = [KeyMap::replay(), KeyMap::workbench(), KeyMap::ablation()];
    for row in maps.iter().flat_map(|m| m.help_rows()) {
        if row.keys == "other keys" {
            continue;
        }
        for key in row.keys.split(' ') {
            assert!(
                readme.contains(&format!("`{key}`")),
                "README lacks key `{key}`"
            );
        }
    }
}

#[test]
fn scrolling_shows_earlier_lines_and_follow_returns() {
    let mut app = app();
    app.apply(NavAction::End);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut cache = ViewCache::default();
    let mut frame = |app: &mut Replay, cache: &mut ViewCache| {
        terminal.draw(|f| view::draw(f, app, cache)).unwrap();
        app.app.scroll = app.app.scroll.min(cache.max_scroll);
        app.app.page = cache.page;
        screen(terminal.backend().buffer())
    };
    let bottom = frame(&mut app, &mut cache);
    assert!(bottom.contains("\\boxed{"), "the end shows the answer");
    app.apply(NavAction::PageUp);
    let up = frame(&mut app, &mut cache);
    assert_ne!(up, bottom);
    assert!(
        up.contains("scrolled"),
        "the status bar says the view is scrolled"
    );
    // Scrolling past the top stops at the first line.
    for _ in 0..10_000 {
        app.apply(NavAction::PageUp);
    }
    let top = frame(&mut app, &mut cache);
    assert!(
        top.contains("▍prompt"),
        "the top of the stream is the prompt"
    );
    app.apply(NavAction::Follow);
    assert_eq!(frame(&mut app, &mut cache), bottom);
}

#[test]
fn the_memento_list_has_a_row_for_a_block_without_a_memento() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(
        &path,
        "<think>\n<|block_start|>one two three four<|block_end|>\n<|block_start|>five six seven<|block_end|>\n<|summary_start|>m2<|summary_end|>\n<|block_start|>eight nine<|block_end|>\n<|summary_start|>m3<|summary_end|>\n</think>\nok",
    )
    .unwrap();
    let transcripts = memento::import::read_transcripts(&path, &Default::default()).unwrap();
    let sink = memento::import::record(
        &transcripts[0],
        &memento::import::RecordSettings {
            tokenizer: &memento::tokenize::TextTokenizer::Estimate,
            shape: memento::kv::KvShape::preset("qwen3-8b").unwrap(),
            policy: memento::kv::KvPolicy::MEMENTO,
            lenient: false,
            snapshot_every: 256,
        },
    )
    .unwrap();
    let mut timeline = Timeline::new(sink.header.unwrap());
    for e in sink.events {
        timeline.push(e).unwrap();
    }
    let mut app = Replay::new(App::new(timeline, "t".into()), Theme::dark());
    app.apply(NavAction::End);
    assert_eq!(app.app.rows_reached(), 3);
    assert_eq!(
        app.app.selected, 2,
        "the selection follows the latest memento"
    );
    let text = screen(draw(&app, 100, 30).backend().buffer());
    assert!(text.contains("Mementos 2/3"), "{text}");
    assert!(
        text.contains("#1") && text.contains("→-"),
        "block 1 is listed without a memento\n{text}"
    );
    app.apply(NavAction::FocusNext);
    app.apply(NavAction::Up);
    app.apply(NavAction::Select);
    assert_eq!(
        app.app.cursor,
        app.app.block_starts()[1],
        "enter jumps to the selected row's block"
    );
    assert_eq!(
        app.app.timeline.tokens().text(app.app.cursor as usize - 1),
        "<|block_start|>"
    );
}

/// A tag being spelled over several tokens shows as nothing until its last token arrives,
/// then as structure: the live edge never flashes `<|block_` or `<|summary_end`.
#[test]
fn a_tag_still_being_spelled_is_not_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(
        &path,
        "<think>\n<|block_start|>one two three four<|block_end|>\n<|summary_start|>the sum is 7<|summary_end|>\n</think>\nok",
    )
    .unwrap();
    let transcripts = memento::import::read_transcripts(&path, &Default::default()).unwrap();
    let model = memento::fetch::ensure_default_model(false).expect("the default model");
    // The model's own vocabulary, with no tag registered: SmolLM2 spells each tag in
    // several tokens, as an untrained model writing one does.
    let tokenizer = memento::tokenize::TextTokenizer::load_with(&model, false).unwrap();
    let sink = memento::import::record(
        &transcripts[0],
        &memento::import::RecordSettings {
            tokenizer: &tokenizer,
            shape: memento::kv::KvShape::preset("qwen3-8b").unwrap(),
            policy: memento::kv::KvPolicy::MEMENTO,
            lenient: false,
            snapshot_every: 256,
        },
    )
    .unwrap();
    let header = sink.header.unwrap();
    let mut partial_edges = 0;
    // Each prefix of the events is what a live view has seen at that moment.
    for n in 1..=sink.events.len() {
        let mut timeline = Timeline::new(header.clone());
        for e in &sink.events[..n] {
            timeline.push(e.clone()).unwrap();
        }
        let text = timeline.tokens().all_text().to_string();
        let tail = &text[text.rfind('<').unwrap_or(text.len())..];
        if tail.len() > 1 && memento::structure::Tag::could_complete(tail) {
            partial_edges += 1;
        }
        let mut app = Replay::new(App::new(timeline, "t".into()), Theme::dark());
        app.apply(NavAction::End);
        let s = screen(draw(&app, 100, 30).backend().buffer());
        assert!(!s.contains("<|") && !s.contains("</th"), "prefix {n}:\n{s}");
    }
    assert!(
        partial_edges > 3,
        "the tokenizer spells tags over several tokens"
    );
}

/// The three sizes every screen is checked at.
const SIZES: [(u16, u16); 3] = [(80, 24), (120, 36), (200, 60)];

/// The replay and the replayed pair at every size: each snapshot kept, and the numbers that
/// matter present whole (a bar drops a part, never cuts one).
#[test]
fn every_replay_screen_at_every_size_keeps_its_numbers_whole() {
    for (w, h) in SIZES {
        let mut app = app();
        after_eviction(&mut app);
        let s = screen(draw(&app, w, h).backend().buffer());
        for number in ["816/4,176", "live 161 tok", "290→58", "▼ 2 (−686 entries)"] {
            assert!(s.contains(number), "{w}×{h} lacks {number}:\n{s}");
        }
        insta::assert_snapshot!(format!("replay_{w}x{h}"), s);
        app.apply(AppAction::Help);
        let help = screen(draw(&app, w, h).backend().buffer());
        assert!(help.contains("keys · ? or esc closes"), "{help}");
        insta::assert_snapshot!(format!("replay_help_{w}x{h}"), help);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces");
    let open = |name: &str| {
        let timeline = Timeline::from_file(read_trace(&dir.join(name)).unwrap()).unwrap();
        App::new(timeline, name.into())
    };
    for (w, h) in SIZES {
        let mut pair = memento::tui::pair::PairApp::new(
            [
                open("smollm2-full.trace.jsonl"),
                open("smollm2-memento.trace.jsonl"),
            ],
            Theme::dark(),
        );
        pair.apply(NavAction::End);
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut caches = Vec::new();
        terminal
            .draw(|f| view::compare::draw_pair(f, &pair, &mut caches))
            .unwrap();
        let s = screen(terminal.backend().buffer());
        for number in ["tok 320/320", "at equal length", "= 0.", "tokens 320 / 320"] {
            assert!(s.contains(number), "{w}×{h} lacks {number}:\n{s}");
        }
        insta::assert_snapshot!(format!("pair_{w}x{h}"), s);
    }
}

/// The help explains the memento list's glyphs and the KV strip's marks, in full.
#[test]
fn the_help_explains_the_glyphs() {
    let mut app = app();
    app.apply(AppAction::Help);
    // Scrolled to its end, the legend is the last thing in the help.
    for _ in 0..20 {
        app.apply(memento::tui::keys::HelpAction::Scroll(10));
    }
    let s = screen(draw(&app, 200, 60).backend().buffer());
    for line in [
        "✂ ",
        "block evicted (its KV entries freed)",
        "memento being written",
        "▼",
        "an eviction (KV strip and chart)",
    ] {
        assert!(s.contains(line), "{line} missing:\n{s}");
    }
}

/// At 80×24 the compare panels have no room for the KV chart: the strip carries its shape,
/// the live entries per step as bar heights, with every eviction (▼) and a drop after it.
#[test]
fn at_80x24_the_compare_kv_strip_shows_occupancy_and_its_drops() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces");
    let open = |name: &str| {
        let timeline = Timeline::from_file(read_trace(&dir.join(name)).unwrap()).unwrap();
        App::new(timeline, name.into())
    };
    let mut pair = memento::tui::pair::PairApp::new(
        [
            open("smollm2-full.trace.jsonl"),
            open("smollm2-memento.trace.jsonl"),
        ],
        Theme::dark(),
    );
    pair.apply(NavAction::End);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut caches = Vec::new();
    terminal
        .draw(|f| view::compare::draw_pair(f, &pair, &mut caches))
        .unwrap();
    let s = screen(terminal.backend().buffer());
    let strip = s
        .lines()
        .find(|l| l.contains('▁') || l.contains('█') && l.contains('┃'))
        .unwrap_or_else(|| panic!("no occupancy strip:\n{s}"));
    let halves: Vec<&str> = strip.split("││").collect();
    assert_eq!(halves.len(), 2, "{strip}");
    let levels = |half: &str| -> Vec<usize> {
        half.chars()
            .filter_map(|c| "▁▂▃▄▅▆▇█".chars().position(|l| l == c))
            .collect()
    };
    // Full context only grows; memento mode drops after each of its evictions.
    let full = levels(halves[0]);
    assert!(full.windows(2).all(|w| w[0] <= w[1]), "{strip}");
    assert!(!halves[0].contains('▼'), "{strip}");
    assert_eq!(halves[1].matches('▼').count(), 2, "{strip}");
    // Each eviction frees a few dozen of about 230 entries: the level after it is never
    // higher than before, and at least one drop shows as a lower bar.
    let memento: Vec<char> = halves[1].chars().collect();
    let level = |c: char| "▁▂▃▄▅▆▇█".chars().position(|l| l == c).unwrap();
    let mut drops = 0;
    for (at, _) in memento.iter().enumerate().filter(|(_, c)| **c == '▼') {
        let (before, after) = (level(memento[at - 1]), level(memento[at + 1]));
        assert!(after <= before, "higher after an eviction: {strip}");
        drops += usize::from(after < before);
    }
    assert!(drops >= 1, "no drop shows: {strip}");
}
