//! The real binary in a real terminal (tmux): open a trace, send keys, read the screen, and
//! check the terminal is restored afterwards (alternate screen off, cursor on, stty intact).

#[path = "common/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_memento");
const TRACE: &str = "sample-traces/synthetic-memento.trace.jsonl";

fn replay_command() -> String {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join(TRACE);
    format!("{BIN} replay {}", trace.display())
}

/// The status bar's `tok N/…` count.
fn token_count(screen: &str) -> u64 {
    let at = screen.rfind("tok ").expect("status bar");
    let digits: String = screen[at + 4..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .collect();
    digits.replace(',', "").parse().unwrap()
}

#[test]
fn replay_in_a_real_terminal() {
    let t = Tmux::start("keys", 100, 30, &replay_command());
    // Conditions are waited for whole: a capture can land in the middle of a frame.
    let s = t.wait("first frame", |s| {
        [
            "synthetic-memento.trace.jsonl",
            "Reasoning",
            "KV cache",
            "Mementos",
            "q quit",
        ]
        .iter()
        .all(|x| s.contains(x))
    });
    assert_eq!(token_count(&s), 0);

    // Step one token.
    t.keys(&["."]);
    t.wait("one step", |s| s.contains("⏸") && token_count(s) == 1);

    // Play, then pause: the count moves, then holds.
    t.keys(&["Space"]);
    t.wait("playing", |s| s.contains("▶") && token_count(s) > 5);
    t.keys(&["Space"]);
    let paused = t.wait("paused", |s| s.contains("⏸"));
    let held = token_count(&paused);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(token_count(&t.screen()), held, "pause holds");

    // Next block: the playhead is at a block's start and its header is on screen.
    t.keys(&["Home", "]"]);
    t.wait("block 1", |s| {
        s.contains("▍block 1") && s.contains("· block 1")
    });
    // Step to the end of block 1 and of its memento: block 1 is evicted.
    t.keys(&[">", ">"]);
    t.wait("eviction", |s| {
        s.contains("✂ block 1 evicted") && s.contains("▼ 1 (−")
    });

    // Help, then close it.
    t.keys(&["?"]);
    t.wait("help", |s| {
        s.contains("keys · ? or esc closes")
            && s.contains("play / pause")
            && s.contains("next block")
    });
    t.keys(&["Escape"]);
    t.wait("help closed", |s| !s.contains("esc closes"));

    // Resize: the layout redraws at the new size.
    assert!(
        t.cmd(&["resize-window", "-t", "m", "-x", "80", "-y", "24"])
            .status()
            .unwrap()
            .success()
    );
    t.wait("resized", |s| {
        s.lines().any(|l| l.contains("KV cache")) && s.lines().all(|l| l.chars().count() <= 80)
    });

    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn ctrl_c_quits_and_restores() {
    let t = Tmux::start("ctrlc", 90, 26, &replay_command());
    t.wait_for("Reasoning");
    t.keys(&["Space"]);
    t.keys(&["C-c"]);
    t.assert_restored();
}

#[test]
fn a_panic_restores_the_terminal() {
    // Debug builds (the ones tests run) panic on request, to exercise the panic hook.
    let command = format!(
        "MEMENTO_TEST_PANIC_KEY=P {} 2>{}",
        replay_command(),
        "/dev/null"
    );
    let t = Tmux::start("panic", 90, 26, &command);
    t.wait_for("Reasoning");
    t.keys(&["P"]);
    t.wait_for("__EXIT__101");
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.file("after").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = std::fs::read_to_string(t.file("before")).unwrap();
    let after = std::fs::read_to_string(t.file("after")).unwrap();
    assert_eq!(before, after, "raw mode off after the panic");
}

#[test]
fn sigterm_restores_the_terminal() {
    let t = Tmux::start(
        "term",
        90,
        26,
        &format!(
            "{} & pid=$!; sleep 1.5; kill -TERM $pid; wait $pid",
            replay_command()
        ),
    );
    t.assert_restored();
}

/// Wait up to `secs` for process `pid` to be gone.
fn exits_within(pid: u32, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        // A zombie (state Z) has exited; only its parent has not collected it yet.
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"));
        if !alive {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn children(pid: &str) -> Vec<u32> {
    let out = Command::new("pgrep").args(["-P", pid]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn a_vanished_terminal_ends_the_process() {
    // As the pane's own process: the kernel's SIGHUP reaches it.
    let t = Tmux::start("hup", 90, 26, &replay_command());
    t.wait_for("Reasoning");
    let shell = t.format("#{pane_pid}");
    let pid = children(&shell)[0];
    t.cmd(&["kill-server"]).status().unwrap();
    assert!(
        exits_within(pid, 5),
        "replay kept running after its terminal closed"
    );
}

#[test]
fn a_vanished_terminal_ends_the_process_even_without_sighup() {
    // Under a shell that ignores SIGHUP nothing signals the replay; it must notice itself.
    let socket = format!("memento-test-nohup-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    };
    let script = format!("trap '' HUP; {}; sleep 30", replay_command());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "m",
        "-x",
        "90",
        "-y",
        "26",
        "sh",
        "-c",
        &script,
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let shell = String::from_utf8_lossy(
            &tmux(&["display-message", "-t", "m", "-p", "#{pane_pid}"]).stdout,
        )
        .trim()
        .to_string();
        let screen =
            String::from_utf8_lossy(&tmux(&["capture-pane", "-t", "m", "-p"]).stdout).to_string();
        if screen.contains("Reasoning") {
            break children(&shell)[0];
        }
        assert!(Instant::now() < deadline, "replay did not start: {screen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux(&["kill-server"]);
    let gone = exits_within(pid, 5);
    if !gone {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        gone,
        "replay kept running (and spinning) after its terminal closed"
    );
}
