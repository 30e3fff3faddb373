//! The ablation view drawn into a test backend, tab by tab, from a result directory the test
//! writes with the lab's own types; the figures on screen are checked against values worked
//! out by hand from the rows written (see tests/common/results.rs).

#[path = "common/results.rs"]
mod results;

use std::path::{Path, PathBuf};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use memento::ablate::Results;
use memento::ablate::summary::{Scope, Summary};
use memento::tui::Screen;
use memento::tui::ablation::{AblationApp, Tab};
use memento::tui::chrome::{Effect, Keyed};
use memento::tui::keys::{AppAction, TabAction};
use memento::tui::screens::AblationScreen;
use memento::tui::theme::Theme;
use memento::tui::view::ablation::{self as view, AblationCache};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// The directory as the view shows it in snapshots: a fixed relative name instead of the
/// temporary directory's, so the screens do not depend on where temporary files go. (Its
/// traces are then not found from the test's working directory, which the Items snapshot
/// shows; `enter_opens_the_trace_and_q_comes_back` uses the real path.)
const SHOWN_AS: &str = "lab";

fn written(probe: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    results::write(dir.path(), probe);
    dir
}

fn summary(dir: &Path) -> Summary {
    let mut loaded = Results::load(dir).unwrap();
    loaded.dir = PathBuf::from(SHOWN_AS);
    Summary::of(&loaded)
}

fn app(probe: bool) -> AblationApp {
    let dir = written(probe);
    AblationApp::new(summary(dir.path()), Theme::dark())
}

fn draw(app: &AblationApp, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut cache = AblationCache::default();
    terminal.draw(|f| view::draw(f, app, &mut cache)).unwrap();
    terminal.backend().buffer().clone()
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

/// The screen from the first line containing `marker` on.
fn after<'a>(screen: &'a str, marker: &str) -> &'a str {
    let at = screen
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in\n{screen}"));
    &screen[screen[..at].rfind('\n').map_or(0, |n| n + 1)..]
}

/// The line whose text (inside its border) starts with `label`.
fn starting<'a>(screen: &'a str, label: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.trim_start_matches(['│', ' ']).starts_with(label))
        .unwrap_or_else(|| panic!("no line starting `{label}` in\n{screen}"))
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in\n{screen}"))
}

/// The whitespace-separated fields of the line that starts (inside its border) with `first`.
fn row<'a>(screen: &'a str, first: &str) -> Vec<&'a str> {
    let line = screen
        .lines()
        .find(|l| {
            l.trim_start_matches(['│', '▸', ' '])
                .split_whitespace()
                .next()
                == Some(first)
        })
        .unwrap_or_else(|| panic!("no row `{first}` in\n{screen}"));
    line.split(|c: char| c.is_whitespace() || c == '│')
        .filter(|f| !f.is_empty() && *f != "▸")
        .collect()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn overview_shows_each_arm_s_means_and_accuracy_with_its_wilson_interval() {
    let app = app(false);
    let s = screen(&draw(&app, 100, 30));
    // memento: KL 0,0,.4,.2 (alpha) and 0,0,.2,.1,.6,.1 (beta): 1.6 / 10 positions; top-1
    // 8 of 10; answers right 1 of 4 (alpha ✓✗, beta ✗✗).
    // Wilson 95% for 1/4: centre (0.25 + z²/8)/(1 + z²/4) = 0.3725, half-width
    // z·sqrt(0.25·0.75/4 + z²/64)/(1 + z²/4) = 0.3269 → 4.6–69.9%.
    let per_arm = after(&s, "Per arm");
    assert_eq!(
        row(per_arm, "memento"),
        [
            "memento",
            "10",
            "0.1600",
            "80.0%",
            "-1.500",
            "25.0%",
            "(1/4)",
            "4.6–69.9%"
        ]
    );
    // restart: KL 1.2 + 2.0 over 10; top-1 6 of 10; no answer right: 0–49.0%.
    assert_eq!(
        row(per_arm, "restart"),
        [
            "restart",
            "10",
            "0.3200",
            "60.0%",
            "-2.000",
            "0.0%",
            "(0/4)",
            "0.0–49.0%"
        ]
    );
    // full: 3 of 4 right → 0.3006–0.9544.
    assert_eq!(
        row(per_arm, "full"),
        [
            "full",
            "10",
            "0.0000",
            "100.0%",
            "-1.000",
            "75.0%",
            "(3/4)",
            "30.1–95.4%"
        ]
    );
    // By span, memento arm: blocks 0, 0, .2 → 0.0667; mementos 0, 0, .1 → 0.0333; answers
    // .4, .6 → 0.5; other .2, .1 → 0.15.
    let spans = after(&s, "Mean KL by span");
    assert_eq!(
        row(spans, "memento"),
        [
            "memento", "0.0667", "(3)", "0.0333", "(3)", "0.5000", "(2)", "0.1500", "(2)"
        ]
    );
    assert_eq!(
        row(spans, "restart"),
        [
            "restart", "0.1000", "(3)", "0.2000", "(3)", "0.9000", "(2)", "0.2500", "(2)"
        ]
    );
    assert!(s.contains("2 items · 100 tokens teacher-forced through every arm · 3 blocks"));
    insta::assert_snapshot!(s);
}

#[test]
fn the_overview_agrees_with_the_report() {
    // The view and report.md compute through the same functions.
    let dir = written(false);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("| memento | 0.1600 | 80.0% | -1.500 | 25.0% (1/4) | 4.6–69.9% |"));
    assert!(report.contains("| restart | 0.3200 | 60.0% | -2.000 | 0.0% (0/4) | 0.0–49.0% |"));
}

#[test]
fn blocks_tab_shows_mean_kl_per_block_index_for_all_items_and_for_one() {
    let mut app = app(false);
    app.apply(TabAction::Next);
    assert_eq!(app.tab, Tab::Blocks);
    let s = screen(&draw(&app, 100, 30));
    // Block 1 (alpha's and beta's first block and memento): memento 0,0,0,0; restart
    // 0,.1,0,.2 → 0.075. Block 2 (beta only): memento .2,.1 → 0.15; restart .3,.3 → 0.3.
    let numbers = s.split("keep").next().unwrap();
    let table: Vec<&str> = numbers.lines().rev().take(4).collect();
    let block1 = table.iter().find(|l| l.contains("block 1      ")).unwrap();
    let block2 = table.iter().find(|l| l.contains("block 2      ")).unwrap();
    assert!(
        block1.contains("0.0000 (4)") && block1.contains("0.0750 (4)"),
        "{block1}"
    );
    assert!(
        block2.contains("0.1500 (2)") && block2.contains("0.3000 (2)"),
        "{block2}"
    );
    assert!(s.contains("all 2 items"));
    insta::assert_snapshot!("blocks_all_items", s);

    // ↓ narrows to the first item, then the second: beta's block 1 is its own.
    app.apply(TabAction::Down);
    app.apply(TabAction::Down);
    assert_eq!(app.scope, Scope::Item(1));
    let s = screen(&draw(&app, 100, 30));
    assert!(s.contains("Mean KL by block index · beta"), "{s}");
    let line = line_with(&s, "0.1000 (2)");
    assert!(
        line.contains("block 1") && line.contains("0.0000 (2)"),
        "{line}"
    );
}

#[test]
fn channel_tab_colours_each_cell_by_its_distance_with_a_legend() {
    let mut app = app(false);
    app.apply(TabAction::Next);
    app.apply(TabAction::Next);
    assert_eq!(app.tab, Tab::Channel);
    // The cursor to layer 3, past the last layer it stays.
    for _ in 0..5 {
        app.apply(TabAction::NextLayer);
    }
    assert_eq!(app.layer, 3);
    let buffer = draw(&app, 100, 30);
    let s = screen(&buffer);
    let theme = Theme::dark();
    // K at layer 3: block 1 = (alpha .04 + beta .0)/2 = .02, block 2 = beta's .08 (the
    // largest K shown), all = (.04 + 0 + .08)/3 = .04.
    let k = s.split("V layer").next().unwrap();
    let at_cursor = |part: &str, label: &str| {
        starting(part, label)
            .trim_end_matches([' ', '│'])
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(at_cursor(k, "block 1"), "0.02000");
    assert_eq!(at_cursor(k, "block 2"), "0.08000");
    assert_eq!(at_cursor(k, "all "), "0.04000");
    assert!(k.contains("0.08000 (max)"), "{k}");
    // V: the largest is beta's block 2 at layer 3, .16.
    let v = after(&s, "V layer");
    assert!(v.contains("0.16000 (max)"), "{v}");
    // V at layer 3, all: (.08 + .01 + .16)/3.
    assert_eq!(at_cursor(v, "all "), "0.08333");
    assert!(s.contains("3 mementos"));

    // The cells: layer 0 (all zero) has the scale's bottom colour, block 2's layer 3 the
    // top one, and nothing else in the K map reaches the top.
    let y_of = |label: &str, after: u16| {
        (after..buffer.area.height)
            .find(|&y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .contains(label)
            })
            .unwrap()
    };
    let k_axis = y_of("K layer", 0);
    let all_row = y_of("all ", k_axis);
    let block2_row = y_of("block 2", k_axis);
    let bgs = |y: u16| -> Vec<ratatui::style::Color> {
        (0..buffer.area.width).map(|x| buffer[(x, y)].bg).collect()
    };
    let top = theme.memento;
    let bottom = theme.gauge_empty;
    let top_cells = |y: u16| bgs(y).iter().filter(|c| **c == top).count();
    assert!(
        top_cells(block2_row) > 0,
        "block 2's layer 3 is the maximum"
    );
    assert_eq!(top_cells(all_row), 0, "the mean stays below the maximum");
    // The first coloured cell of each row is layer 0, whose distance is 0.
    let first_coloured = bgs(all_row)
        .into_iter()
        .find(|c| *c != theme.background)
        .unwrap();
    assert_eq!(first_coloured, bottom);
    // The legend shows every step, bottom to top.
    let legend_row = y_of("scale", k_axis);
    let legend = bgs(legend_row);
    assert!(legend.contains(&bottom) && legend.contains(&top));
    insta::assert_snapshot!(s);
}

#[test]
fn items_tab_lists_each_item_with_its_answers_and_the_selected_one_s_detail() {
    let mut app = app(false);
    app.apply(TabAction::Next);
    app.apply(TabAction::Next);
    app.apply(TabAction::Next);
    assert_eq!(app.tab, Tab::Items);
    let s = screen(&draw(&app, 100, 30));
    // alpha: memento KL .6/4 = .15, answers ✓✗; restart 1.2/4 = .3, ✗✗; full ✓✓.
    assert_eq!(
        row(&s, "alpha"),
        [
            "alpha", "40", "1", "0.0000", "✓✓", "0.1500", "✓✗", "0.3000", "✗✗"
        ]
    );
    // beta: memento 1.0/6, restart 2.0/6.
    assert_eq!(
        row(&s, "beta"),
        [
            "beta", "60", "2", "0.0000", "✓✗", "0.1667", "✗✗", "0.3333", "✗✗"
        ]
    );
    // The selected item's detail: its prompt, its arms with their answers, where its trace
    // would be.
    assert!(s.contains("What is 6 × 7? (alpha)"));
    let detail = after(&s, "reference 42");
    assert!(
        starting(detail, "memento ").contains("42 ✓  7 ✗"),
        "{detail}"
    );
    assert!(
        starting(detail, "restart ").contains("7 ✗  7 ✗"),
        "{detail}"
    );
    assert!(
        s.contains("no trace at lab/traces/alpha.trace.jsonl"),
        "{s}"
    );
    insta::assert_snapshot!(s);

    app.apply(TabAction::Down);
    let s = screen(&draw(&app, 100, 30));
    assert!(s.contains("What is 6 × 7? (beta)"));
    assert!(s.contains("item 2/2"));
}

#[test]
fn probe_tab_says_when_there_is_no_probe_csv_and_shows_it_when_there_is() {
    let mut app = app(false);
    app.apply(TabAction::Prev);
    assert_eq!(
        app.tab,
        Tab::Probe,
        "shift-tab from the first tab wraps to the last"
    );
    let s = screen(&draw(&app, 100, 30));
    assert!(
        s.contains("No probe results: there is no probe.csv in lab."),
        "{s}"
    );
    insta::assert_snapshot!("probe_absent", s);

    let mut app = self::app(true);
    app.apply(TabAction::Prev);
    let s = screen(&draw(&app, 100, 30));
    // Per arm and memento (direct before masked), the layer chosen on validation: direct
    // at layer 2 (75%); masked at layer 0 (50%), not at layer 3, whose 100% on test comes
    // with the worst validation accuracy.
    assert!(line_with(&s, "direct").contains("L2 75.0% (60–90%)"), "{s}");
    assert!(line_with(&s, "masked").contains("L0 50.0% (35–65%)"), "{s}");
    assert!(s.contains("memento · memento 2 · direct · best L2"), "{s}");
    insta::assert_snapshot!("probe_present", s);
    app.apply(TabAction::Down);
    let s = screen(&draw(&app, 100, 30));
    assert!(
        s.contains("memento · memento 3 · masked · best L0 50.0%"),
        "{s}"
    );
}

#[test]
fn keys_switch_tabs_and_help_is_modal() {
    let mut app = app(false);
    for (c, tab) in [
        ('3', Tab::Channel),
        ('5', Tab::Probe),
        ('1', Tab::Overview),
        ('4', Tab::Items),
        ('2', Tab::Blocks),
    ] {
        assert!(app.key(&key(KeyCode::Char(c))).is_empty());
        assert_eq!(app.tab, tab);
    }
    app.key(&key(KeyCode::Tab));
    assert_eq!(app.tab, Tab::Channel);
    app.key(&KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.tab, Tab::Blocks);
    app.key(&key(KeyCode::Char('?')));
    assert!(app.chrome.help);
    let s = screen(&draw(&app, 80, 24));
    assert!(s.contains("keys · ? or esc closes") && s.contains("go to that tab"));
    insta::assert_snapshot!("help_80x24", s);
    // While help is open, keys do nothing; esc closes it; esc again quits.
    app.key(&key(KeyCode::Char('4')));
    assert_eq!(app.tab, Tab::Blocks);
    assert!(app.key(&key(KeyCode::Esc)).is_empty());
    assert!(!app.chrome.help);
    assert!(matches!(app.key(&key(KeyCode::Esc))[..], [Effect::Quit]));
    assert!(matches!(
        app.key(&key(KeyCode::Char('q')))[..],
        [Effect::Quit]
    ));
}

#[test]
fn every_tab_fits_80x24_and_tiny_terminals_get_a_message() {
    let mut app = app(true);
    for tab in 0..5 {
        let s = screen(&draw(&app, 80, 24));
        assert!(s.contains("1 Overview"), "tab {tab}:\n{s}");
        assert!(
            s.lines().last().unwrap().contains("q quit"),
            "tab {tab}:\n{s}"
        );
        if tab == 0 {
            insta::assert_snapshot!("overview_80x24", s);
        }
        app.apply(TabAction::Next);
    }
    let s = screen(&draw(&app, 30, 8));
    assert!(s.contains("terminal too small"));
    // Every tab at 80×24, 120×36 and 200×60, kept as snapshots: the title's counts and the
    // status bar's position are whole at each.
    for (w, h) in [(80, 24), (120, 36), (200, 60)] {
        for tab in ["overview", "blocks", "channel", "items", "probe"] {
            let s = screen(&draw(&app, w, h));
            assert!(
                s.contains("2 items · 3 arms"),
                "{w}×{h} {tab}:
{s}"
            );
            insta::assert_snapshot!(format!("{tab}_{w}x{h}"), s);
            app.apply(TabAction::Next);
        }
    }
}

#[test]
fn enter_opens_the_trace_and_q_comes_back() {
    let dir = written(false);
    let app = AblationApp::new(
        Summary::of(&Results::load(dir.path()).unwrap()),
        Theme::dark(),
    );
    let mut screen_ = AblationScreen::new(app);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut frame = |s: &mut AblationScreen| {
        terminal.draw(|f| s.draw(f)).unwrap();
        screen(terminal.backend().buffer())
    };
    // Not from the Overview: there is no item chosen there.
    assert!(!screen_.input(Event::Key(key(KeyCode::Enter))));
    assert!(!screen_.replaying());
    assert!(frame(&mut screen_).contains("choose an item first"));
    screen_.input(Event::Key(key(KeyCode::Char('4'))));
    let s = frame(&mut screen_);
    let trace = dir.path().join("traces").join("alpha.trace.jsonl");
    assert!(
        s.contains(&format!("memento replay {}", trace.display()))
            || s.contains("enter opens the trace"),
        "{s}"
    );
    screen_.input(Event::Key(key(KeyCode::Enter)));
    assert!(screen_.replaying());
    let s = frame(&mut screen_);
    assert!(
        s.contains("alpha.trace.jsonl") && s.contains("Reasoning") && s.contains("KV cache"),
        "{s}"
    );
    // The replay's own keys work; q comes back to the Items tab.
    screen_.input(Event::Key(key(KeyCode::Char('.'))));
    assert!(frame(&mut screen_).contains("tok 1/"));
    assert!(!screen_.input(Event::Key(key(KeyCode::Char('q')))));
    assert!(!screen_.replaying());
    let s = frame(&mut screen_);
    assert!(
        s.contains("Items · mean KL") && s.contains("item 1/2"),
        "{s}"
    );
    // beta has no trace: Enter says so and stays.
    screen_.input(Event::Key(key(KeyCode::Down)));
    screen_.input(Event::Key(key(KeyCode::Enter)));
    assert!(!screen_.replaying());
    let s = frame(&mut screen_);
    assert!(
        s.contains("cannot open the trace"),
        "{s}\n{:?}",
        screen_.app.chrome.notice
    );
    // Ctrl-C inside a trace quits everything.
    screen_.input(Event::Key(key(KeyCode::Up)));
    screen_.input(Event::Key(key(KeyCode::Enter)));
    assert!(screen_.replaying());
    assert!(screen_.input(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL
    ))));
}

#[test]
fn light_theme_draws_with_its_own_colours() {
    let mut app = app(false);
    app.apply(AppAction::CycleTheme);
    assert_eq!(app.chrome.theme.name, "light");
    let buffer = draw(&app, 100, 30);
    let s = screen(&buffer);
    let x = s.lines().next().unwrap().find("memento").unwrap();
    // The title's first cell (byte offset equals column on this ASCII prefix).
    assert_eq!(buffer[(x as u16, 0)].fg, Theme::light().title);
}
