//! The ablation view in a real terminal (tmux): open a result directory the test writes, go
//! through the tabs, open an item's trace and come back, and check the terminal is restored
//! afterwards (alternate screen off, cursor on, stty intact).

#[path = "common/tmux.rs"]
mod tmux;

#[path = "common/results.rs"]
mod results;

use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn written() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    results::write(dir.path(), true);
    dir
}

#[test]
fn the_ablation_view_in_a_real_terminal() {
    let dir = written();
    let command = format!("{BIN} ablate --view {}", dir.path().display());
    let t = Tmux::start("ablation", 100, 30, &command);
    // Conditions are waited for whole: a capture can land in the middle of a frame.
    t.wait("overview", |s| {
        ["1 Overview", "Per arm", "0.1600", "4.6–69.9%", "q quit"]
            .iter()
            .all(|x| s.contains(x))
    });

    // tab, a digit and shift-tab move between the tabs.
    t.keys(&["Tab"]);
    t.wait("blocks", |s| {
        s.contains("Mean KL by block index") && s.contains("0.0750 (4)")
    });
    t.keys(&["3"]);
    t.wait("channel", |s| {
        s.contains("Implicit channel") && s.contains("K layer") && s.contains("0.16000 (max)")
    });
    t.keys(&["Right", "Right", "Right"]);
    t.wait("layer 3", |s| s.contains("L3") && s.contains("0.08000"));
    t.keys(&["BTab"]);
    t.wait("blocks again", |s| s.contains("Mean KL by block index"));
    t.keys(&["5"]);
    t.wait("probe", |s| s.contains("L2 75.0% (60–90%)"));

    // Items: Enter opens the selected item's trace in the replay; q comes back.
    t.keys(&["4"]);
    t.wait("items", |s| {
        s.contains("Items · mean KL") && s.contains("0.1667")
    });
    t.keys(&["Enter"]);
    t.wait("the trace", |s| {
        s.contains("alpha.trace.jsonl") && s.contains("Reasoning") && s.contains("KV cache")
    });
    t.keys(&["."]);
    t.wait("a step in the trace", |s| s.contains("tok 1/"));
    t.keys(&["q"]);
    t.wait("back", |s| {
        s.contains("Items · mean KL") && s.contains("item 1/2")
    });

    // Help, then close it.
    t.keys(&["?"]);
    t.wait("help", |s| {
        s.contains("keys · ? or esc closes") && s.contains("go to that tab")
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
        s.contains("Items · mean KL") && s.lines().all(|l| l.chars().count() <= 80)
    });

    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn replay_of_a_result_directory_opens_the_view_and_ctrl_c_restores() {
    let dir = written();
    let command = format!("{BIN} replay {}", dir.path().display());
    let t = Tmux::start("ablation-replay", 90, 26, &command);
    t.wait_for("Per arm");
    t.keys(&["4", "Enter"]);
    t.wait_for("Reasoning");
    // Ctrl-C inside the trace quits the whole view.
    t.keys(&["C-c"]);
    t.assert_restored();
}
