//! The workbench in a real terminal (tmux) on the real models: the organism's first screen,
//! and SmolLM2 (type a prompt, run a compare, watch a block get evicted, quit, and open the
//! recorded pair again).

#[path = "common/server.rs"]
mod server;
#[path = "common/stream_parts.rs"]
mod stream_parts;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::PathBuf;

use memento::timeline::Timeline;
use memento::trace::{EndReason, Event, read_trace};
use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_memento");
const PROMPT: &str = "A farmer has 17 sheep and buys 12 more. How many sheep does he have?";

/// Live and peak entries from the right-hand (memento) column's gauge line.
fn memento_gauge(screen: &str) -> Option<(u64, u64)> {
    let number = |s: &str| -> Option<u64> {
        let digits: String = s
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .collect();
        digits.replace(',', "").parse().ok()
    };
    // The gauge reads "live N tok · peak M …"; the memento column's is the second on its line.
    screen.lines().find_map(|line| {
        let gauges: Vec<usize> = line.match_indices("live ").map(|(i, _)| i).collect();
        let after = &line[*gauges.get(1)? + 5..];
        let live = number(after)?;
        let peak = number(&after[after.find("peak ")? + 5..])?;
        Some((live, peak))
    })
}

/// The "decode A / B tok/s" figures of a compare summary.
fn decode_speeds(screen: &str) -> String {
    let at = screen
        .find(" · decode ")
        .unwrap_or_else(|| panic!("no decode speeds in the summary:\n{screen}"));
    let rest = &screen[at + 10..];
    rest[..rest.find(" tok/s").expect("tok/s")].to_string()
}

#[test]
fn compare_on_smollm2_evicts_records_a_pair_and_replays_it() {
    let model = memento::fetch::ensure_default_model(false).expect("the default model");
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions");
    let command = format!(
        "MEMENTO_SESSIONS_DIR={} MEMENTO_HISTORY_FILE={} {BIN} run --model {} --max-tokens 200",
        sessions.display(),
        dir.path().join("history.jsonl").display(),
        model.display()
    );
    let t = Tmux::start("workbench", 120, 36, &command);
    t.wait_secs("the workbench", 60, |s| {
        s.contains("Prompt") && s.contains("ready") && s.contains("Type a prompt")
    });
    t.keys(&["-l", PROMPT]);
    t.wait("the typed prompt", |s| {
        s.contains("How many sheep does he have?")
    });
    t.keys(&["C-o"]);
    t.wait("two columns decoding", |s| {
        s.contains("│ compare │") && s.contains(" full ") && s.contains(" memento ")
    });
    // A memento closes, its block is evicted, and the memento stream's gauge falls below
    // its peak.
    let evicted = t.wait_secs("an eviction", 120, |s| {
        s.contains("evicted: −") && memento_gauge(s).is_some_and(|(live, peak)| live < peak)
    });
    assert!(evicted.contains("▍memento 1"), "{evicted}");
    let done = t.wait_secs("the end summary", 180, |s| {
        s.contains("■ finished") && s.contains("Summary") && s.contains("peak KV")
    });
    // The peak ratio at equal length and over the whole run, each labelled, and why each
    // stream ended, in the summary and the title bar.
    assert!(
        done.contains("memento/full at equal length") && done.contains("whole run"),
        "{done}"
    );
    assert_eq!(done.matches("ended: ").count(), 2, "{done}");
    assert!(done.contains("■ finished (full: "), "{done}");
    let live_speeds = decode_speeds(&done);
    assert!(done.contains("streams agree"), "{done}");
    t.keys(&["q"]);
    t.assert_restored();

    // The pair was recorded, each half complete.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{names:?}");
    assert!(names[0].ends_with("-compare-full.trace.jsonl"), "{names:?}");
    assert!(
        names[1].ends_with("-compare-memento.trace.jsonl"),
        "{names:?}"
    );
    for f in &files {
        let file = read_trace(f).unwrap();
        match file.events.last() {
            Some(Event::End(e)) => assert!(
                matches!(e.reason, EndReason::Eos | EndReason::MaxTokens),
                "{e:?}"
            ),
            other => panic!("{}: no end event: {other:?}", f.display()),
        }
        match file.events.last() {
            Some(Event::End(e)) => assert!(
                e.decode_seconds.is_some_and(|s| s > 0.0) && e.prefill_seconds.is_some(),
                "the engine's time is recorded: {e:?}"
            ),
            _ => unreachable!(),
        }
        let timeline = Timeline::from_file(file).unwrap();
        assert!(timeline.inconsistencies.is_empty());
    }

    // Either half opens both, side by side.
    let replay = format!("{BIN} replay {} --end", files[1].display());
    let r = Tmux::start("pair-replay", 120, 36, &replay);
    let replayed = r.wait_secs("the pair", 30, |s| {
        // The title gives why each stream ended before the file names, which a 120-column
        // bar has no room for.
        s.contains("compare replay") && s.contains("full: end of answer") && s.contains("Summary")
    });
    // The replayed summary measures speed as the live one did.
    assert_eq!(decode_speeds(&replayed), live_speeds, "{replayed}");
    r.keys(&["q"]);
    r.assert_restored();
}

/// The first screen, as a newcomer meets it: the organism, its editor holding a problem of
/// its task; compare runs it in full context and memento mode side by side.
#[test]
fn the_first_screen_compares_the_organism_on_a_problem_of_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "MEMENTO_SESSIONS_DIR={} MEMENTO_HISTORY_FILE={} {BIN} run --problem-seed 3",
        dir.path().join("sessions").display(),
        dir.path().join("history.jsonl").display(),
    );
    let t = Tmux::start("organism", 120, 36, &command);
    t.wait_secs("a problem in the editor", 60, |s| {
        s.contains("organism-") && s.contains("Walk 24 steps from A") && s.contains("ctrl-t")
    });
    t.keys(&["C-o"]);
    let done = t.wait_secs("the end summary", 180, |s| {
        s.contains("■ finished") && s.contains("at equal length")
    });
    // Six blocks, each closed by a memento and evicted; both sides reach the answer.
    assert!(done.contains("block 6 evicted: −"), "{done}");
    assert!(done.contains("24 steps, total 120"), "{done}");
    assert_eq!(done.matches("\\boxed{120}").count(), 4, "{done}");
    // The peak KV of memento mode is under half of full context's.
    let at = done.find("peak KV ").unwrap() + "peak KV ".len();
    let ratio: f64 = done[at..]
        .split(" = ")
        .nth(1)
        .and_then(|r| r.split('×').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no peak ratio:\n{done}"));
    assert!(ratio <= 0.5, "{ratio}\n{done}");
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn exit_when_done_quits_and_writes_the_summary_file() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let command = format!(
        "MEMENTO_SESSIONS_DIR={} MEMENTO_HISTORY_FILE={} {BIN} run --fake-engine \
         'Count the sheep.' --compare --exit-when-done --summary {}",
        dir.path().join("sessions").display(),
        dir.path().join("history.jsonl").display(),
        summary.display()
    );
    let t = Tmux::start("exit-when-done", 100, 30, &command);
    t.assert_restored();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let streams = json.as_array().expect("an array");
    assert_eq!(streams.len(), 2, "{json}");
    assert_eq!(streams[0]["mode"], "full");
    assert_eq!(streams[1]["mode"], "memento");
    for s in streams {
        assert_eq!(s["summary"]["generated_tokens"], 93, "{s}");
        assert!(std::path::Path::new(s["trace"].as_str().unwrap()).exists());
    }
}

/// A normal run on the default model, as a newcomer makes it (type, enter), paced so it can
/// be watched: an eviction shows while it decodes, and after the run ends the eviction is
/// still on screen (the strip's mark, the count freed, the memento list's log).
#[test]
fn a_normal_run_on_smollm2_shows_its_eviction_during_and_after_the_run() {
    let model = memento::fetch::ensure_default_model(false).expect("the default model");
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "MEMENTO_SESSIONS_DIR={} MEMENTO_HISTORY_FILE={} {BIN} run --model {} --max-tokens 120 --pace 40",
        dir.path().join("sessions").display(),
        dir.path().join("history.jsonl").display(),
        model.display()
    );
    let t = Tmux::start("normal", 120, 36, &command);
    t.wait_secs("the workbench", 60, |s| s.contains("Type a prompt"));
    t.keys(&["-l", PROMPT]);
    t.wait("the typed prompt", |s| s.contains("How many sheep"));
    t.keys(&["Enter"]);
    let during = t.wait_secs("an eviction while decoding", 120, |s| {
        s.contains("▶ decoding") && s.contains("▼ 1 (−")
    });
    assert!(during.contains("evicted: −"), "{during}");
    let after = t.wait_secs("the end of the run", 120, |s| s.contains("■ finished"));
    // Still there once the run is over: the count freed, the mark on the strip, and the log.
    assert!(
        after.contains("▼ 1 (−") || after.contains("▼ 2 (−"),
        "{after}"
    );
    let strip = after
        .lines()
        .find(|l| l.contains('▼') && l.contains('─'))
        .unwrap_or_else(|| panic!("no eviction strip:\n{after}"));
    assert!(strip.contains('▼'), "{after}");
    assert!(
        after
            .lines()
            .any(|l| l.contains("✂ #1") && l.contains(" −")),
        "the memento list logs the eviction:\n{after}"
    );
    t.keys(&["q"]);
    t.assert_restored();
}

/// Remote attach end to end: `memento serve` on loopback, the workbench attached to it in a
/// real terminal running a compare, and the same compare run locally: the screen says the KV is
/// reconstructed and shows the evictions, and the two recorded pairs hold the same tokens and
/// the same evictions.
#[test]
fn attached_to_memento_serve_the_workbench_shows_what_a_local_run_shows() {
    let task = memento::task::Task::TollWalk(memento::task::WalkConfig::default());
    let prompt = task.problem(memento::task::Split::Heldout, 41, 0).prompt;
    let server = server::serve(BIN, &[]);
    let url = server.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, source: &str| -> (Tmux, PathBuf) {
        let summary = dir.path().join(format!("{name}.json"));
        let command = format!(
            "MEMENTO_SESSIONS_DIR={} MEMENTO_HISTORY_FILE={} {BIN} run {source} '{prompt}' --compare --max-tokens 2000 --pace 200 --exit-when-done --summary {}",
            dir.path().join(format!("sessions-{name}")).display(),
            dir.path().join("history.jsonl").display(),
            summary.display()
        );
        (Tmux::start(name, 120, 36, &command), summary)
    };
    let (remote, remote_summary) = run("remote", &format!("--remote {url}"));
    // The title names the endpoint and says the KV is reconstructed; the gauge shows the
    // server's own reading beside it.
    let during = remote.wait_secs("an eviction from the remote stream", 120, |s| {
        s.contains("KV reconstructed") && s.contains("evicted: −") && s.contains("· server ")
    });
    assert!(
        during.contains(&url[7..]),
        "the endpoint is named:\n{during}"
    );
    remote.wait_secs("the remote compare's end", 180, |s| s.contains("__EXIT__"));
    remote.assert_restored();
    let (local, local_summary) = run("local", "--model organism");
    local.wait_secs("the local compare's end", 180, |s| s.contains("__EXIT__"));
    local.assert_restored();
    drop(server);
    // Per stream: (id, text) of each token, and the evicted spans.
    type Stream = (stream_parts::Tokens, Vec<(u64, u64)>);
    let streams = |file: &PathBuf| -> Vec<Stream> {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        json.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let trace = read_trace(std::path::Path::new(s["trace"].as_str().unwrap())).unwrap();
                stream_parts::tokens_and_evictions(&trace.events)
            })
            .collect()
    };
    let (remote, local) = (streams(&remote_summary), streams(&local_summary));
    assert_eq!(remote.len(), 2);
    assert!(local[1].1.len() >= 2, "the memento stream evicts");
    assert!(local[0].1.is_empty(), "the full stream does not");
    assert_eq!(
        remote, local,
        "the same tokens and evictions, stream by stream"
    );
}
