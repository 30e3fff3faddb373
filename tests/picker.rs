//! The session picker and `replay --last`: the recorded runs newest first (a compare run as
//! one row), driven by its actions through a TestBackend at every size, and the real binary in
//! tmux opening the newest run and picking one.

#[path = "common/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};

use memento::live::list_sessions;
use memento::tui::chrome::{Effect, Keyed};
use memento::tui::keys::{AppAction, PickAction};
use memento::tui::picker::Picker;
use memento::tui::theme::Theme;
use memento::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn sample(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sample-traces")
            .join(name),
    )
    .unwrap()
}

/// `text` with the header's creation time replaced.
fn created_at(text: &str, created: &str) -> String {
    let (head, rest) = text.split_once('\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_str(head).unwrap();
    header["created"] = created.into();
    format!("{header}\n{rest}")
}

/// A sessions directory: a compare run (newest), a single synthetic run, an older Phi-4 run.
fn sessions() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, sample_name: &str, created: &str| {
        std::fs::write(
            dir.path().join(name),
            created_at(&sample(sample_name), created),
        )
        .unwrap();
    };
    put(
        "20261130-120000-compare-full.trace.jsonl",
        "smollm2-full.trace.jsonl",
        "2026-11-30T12:00:00Z",
    );
    put(
        "20261130-120000-compare-memento.trace.jsonl",
        "smollm2-memento.trace.jsonl",
        "2026-11-30T12:00:00Z",
    );
    put(
        "20261130-110000-memento.trace.jsonl",
        "synthetic-memento.trace.jsonl",
        "2026-11-30T11:00:00Z",
    );
    put(
        "20261130-100000-keep-1.trace.jsonl",
        "synthetic-phi4-keep1.trace.jsonl",
        "2026-11-30T10:00:00Z",
    );
    dir
}

/// The picker over `dir`, titled `sessions/` so the snapshots do not hold a temporary path.
fn picker(dir: &Path) -> Picker {
    let mut p = Picker::new(
        dir.to_path_buf(),
        list_sessions(dir).unwrap(),
        Theme::dark(),
    );
    p.dir = PathBuf::from("sessions/");
    p
}

fn screen(buffer: &Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn draw(p: &mut Picker, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::picker::draw(f, p)).unwrap();
    screen(terminal.backend().buffer())
}

/// Every size the screens are checked at, and 160×48.
#[test]
fn the_picker_at_every_size_lists_runs_newest_first_with_their_numbers_whole() {
    let dir = sessions();
    for (w, h) in [(80, 24), (120, 36), (160, 48), (200, 60)] {
        let mut p = picker(dir.path());
        let s = draw(&mut p, w, h);
        // Newest first, the compare run one row with both streams' numbers.
        let rows: Vec<&str> = s.lines().filter(|l| l.contains("2026-11-30")).collect();
        assert_eq!(rows.len(), 3, "{w}×{h}:\n{s}");
        assert!(
            rows[0].contains("12:00:00") && rows[0].contains("compare"),
            "{s}"
        );
        assert!(
            rows[1].contains("11:00:00") && rows[1].contains("memento"),
            "{s}"
        );
        assert!(
            rows[2].contains("10:00:00") && rows[2].contains("keep-1"),
            "{s}"
        );
        for number in [
            "368 / 274",
            "320",
            "4,176",
            "1,036",
            "3,169",
            "1,282",
            "3 runs",
        ] {
            assert!(s.contains(number), "{w}×{h} lacks {number}:\n{s}");
        }
        assert!(
            s.contains("A farmer has 17 sheep"),
            "{w}×{h}: the prompt:\n{s}"
        );
        insta::assert_snapshot!(format!("picker_{w}x{h}"), s);
    }
}

#[test]
fn keys_move_the_selection_and_enter_opens_the_selected_run() {
    let dir = sessions();
    let mut p = picker(dir.path());
    assert!(p.apply(PickAction::Up).is_empty());
    assert_eq!(p.selected, 0);
    p.apply(PickAction::Down);
    p.apply(PickAction::Down);
    p.apply(PickAction::Down);
    assert_eq!(p.selected, 2, "the selection stops at the oldest run");
    let effects = p.apply(PickAction::Open);
    let [Effect::OpenTrace(path)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert!(
        path.ends_with("20261130-100000-keep-1.trace.jsonl"),
        "{path:?}"
    );
    p.apply(PickAction::First);
    let effects = p.apply(PickAction::Open);
    let [Effect::OpenTrace(path)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    // A compare run opens from its full-context trace; its partner joins it.
    assert!(
        path.ends_with("20261130-120000-compare-full.trace.jsonl"),
        "{path:?}"
    );
    let s = draw(&mut p, 120, 36);
    assert!(s.contains("run 1/3"), "{s}");
    assert!(
        s.contains("-compare-memento.trace.jsonl"),
        "the detail names both files:\n{s}"
    );
    // Esc quits the picker; with the help open it closes the help first.
    p.apply(AppAction::Help);
    let help = draw(&mut p, 120, 36);
    assert!(
        help.contains("replay the run (q comes back here)"),
        "{help}"
    );
    assert!(p.apply(AppAction::Back).is_empty());
    assert!(!p.chrome.help);
    assert!(matches!(
        p.apply(AppAction::Back).as_slice(),
        [Effect::Quit]
    ));
}

fn replay(args: &str, sessions: &Path) -> String {
    format!(
        "MEMENTO_SESSIONS_DIR={} {BIN} replay {args}",
        sessions.display()
    )
}

#[test]
fn replay_last_opens_the_newest_run_as_its_pair() {
    let dir = sessions();
    let t = Tmux::start("last", 160, 48, &replay("--last", dir.path()));
    // At its end: both columns' token counts are whole, and the summary is shown.
    t.wait("the newest run, as a pair, at its end", |s| {
        s.contains("compare replay") && s.contains("tok 320/320") && s.contains("Summary")
    });
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn replay_without_a_file_picks_a_run_and_q_comes_back_to_the_list() {
    let dir = sessions();
    let t = Tmux::start("pick", 120, 36, &replay("", dir.path()));
    t.wait("the list", |s| {
        s.contains("recorded runs, newest first") && s.contains("3 runs")
    });
    t.keys(&["j", "Enter"]);
    t.wait("the single run", |s| {
        s.contains("20261130-110000-memento.trace.jsonl") && s.contains("Reasoning")
    });
    t.keys(&["q"]);
    t.wait("back to the list", |s| {
        s.contains("recorded runs") && s.contains("run 2/3")
    });
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn an_empty_sessions_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["replay"], vec!["replay", "--last"]] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .env("MEMENTO_SESSIONS_DIR", dir.path().join("none-yet"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no recorded runs yet"),
            "{args:?}: {stderr}"
        );
    }
    let file: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces/synthetic-memento.trace.jsonl");
    let out = std::process::Command::new(BIN)
        .args(["replay", "--last"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--last opens the newest run of a directory"),
        "{stderr}"
    );
}
