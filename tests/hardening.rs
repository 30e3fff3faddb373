//! Nothing is lost, nothing hangs, nothing grows without bound, and whatever memento writes it
//! reads back. Run through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn memento(sessions: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("MEMENTO_SESSIONS_DIR", sessions)
        .env("MEMENTO_CACHE_DIR", sessions.join("cache"));
    c
}

/// Run with a deadline: a hang fails the test instead of stalling the suite.
fn output_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn trace_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn traces_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".trace.jsonl"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.trace.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo_s = fifo.display().to_string();
    let fifo_gguf = dir.path().join("model.gguf");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo_gguf)
            .status()
            .unwrap()
            .success()
    );
    let fifo_gguf_s = fifo_gguf.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["stats", &fifo_s],
        vec!["import", &fifo_s],
        vec!["generate", "--model", &fifo_s, "hi"],
        vec!["generate", "--model", "organism", "--prompt-file", &fifo_s],
        vec!["stats", "/dev/zero"],
        vec!["import", "/dev/zero"],
        vec![
            "generate",
            "--model",
            "organism",
            "--prompt-file",
            "/dev/zero",
        ],
        vec![
            "replay",
            "sample-traces/synthetic-memento.trace.jsonl",
            "--theme",
            "/dev/zero",
        ],
        vec!["fetch", "--from", "/dev/zero"],
        vec!["fetch", "--from", &fifo_gguf_s],
    ];
    for args in cases {
        let mut cmd = memento(dir.path());
        cmd.args(&args);
        let out = output_within(cmd, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("FIFO") || stderr.contains("character device"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn file_names_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = memento(dir.path());
    cmd.args(["stats", "/nonexistent/\u{1b}]2;X\u{7}.trace.jsonl"]);
    let out = output_within(cmd, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\x1b]2;X\\x07"), "{stderr}");
}

#[test]
fn command_line_values_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    // Refused by memento's own checks: one line, exit 1, no trace left behind.
    for (args, needle) in [
        (vec!["--temperature", "-1"], "temperature -1"),
        (vec!["--top-p", "-0.5"], "top-p"),
        (vec!["--mode", "keep--1"], "unknown mode `keep--1`"),
    ] {
        let mut cmd = memento(dir.path());
        cmd.args(["generate", "--model", "organism"])
            .args(&args)
            .arg("hi");
        let out = output_within(cmd, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(
        traces_in(dir.path()).is_empty(),
        "a refused run left a trace"
    );
    // Refused by the argument parser: exit 2, naming the flag and the range.
    for args in [
        vec!["generate", "--model", "organism", "--max-tokens", "0", "hi"],
        vec!["bench", "tui", "--width", "65535"],
        vec![
            "synth",
            "--tokens",
            "1000000000000",
            "--out",
            "x.trace.jsonl",
        ],
    ] {
        let mut cmd = memento(dir.path());
        cmd.args(&args);
        let out = output_within(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let flag = args
            .iter()
            .find(|a| a.starts_with("--") && **a != "--model" && **a != "--out")
            .unwrap();
        assert!(
            stderr.contains(flag) && stderr.contains("not in"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn two_runs_started_together_get_two_traces() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = || {
        memento(dir.path())
            .args(["generate", "--model", "organism", "--max-tokens", "3", "hi"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let traces = traces_in(dir.path());
    assert_eq!(traces.len(), 2, "{traces:?}");
    for t in &traces {
        let lines = trace_lines(t);
        assert_eq!(lines[0]["format"], "memento-trace");
        assert_eq!(
            lines.iter().filter(|l| l["type"] == "end").count(),
            1,
            "{t:?}"
        );
        // Each reads back on its own.
        let out = memento(dir.path()).arg("stats").arg(t).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn standard_output_errors_are_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = memento(dir.path())
        .args(["generate", "--model", "organism", "--max-tokens", "4", "hi"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing to standard output"), "{stderr}");
}

#[test]
fn a_closed_pipe_stops_the_decode() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.trace.jsonl");
    let mut child = memento(dir.path())
        .args([
            "generate",
            "--model",
            "organism",
            "--max-tokens",
            "400",
            "--trace",
        ])
        .arg(&trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe (`| head -c 1`).
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut one).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    assert!(status.success());
    let lines = trace_lines(&trace);
    let end = lines
        .iter()
        .find(|l| l["type"] == "end")
        .expect("an end event");
    assert_eq!(end["reason"], "stopped");
    assert!(end["generated"].as_u64().unwrap() < 400, "{end}");
}

#[test]
fn prompt_files_are_read_as_editors_save_them() {
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, "\u{feff}What is 2+2?\r\nAnswer briefly.\r\n").unwrap();
    let trace = dir.path().join("t.trace.jsonl");
    let out = memento(dir.path())
        .args([
            "generate",
            "--model",
            "organism",
            "--max-tokens",
            "1",
            "--prompt-file",
        ])
        .arg(&prompt)
        .arg("--trace")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = trace_lines(&trace);
    let text = lines.iter().find(|l| l["type"] == "prompt").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("What is 2+2?\nAnswer briefly.<|im_end|>"),
        "{text:?}"
    );
    assert!(
        !text.contains('\u{feff}') && !text.contains('\r'),
        "{text:?}"
    );
}

/// A tiny model whose final norm holds a NaN: every logit is NaN.
fn nan_model(dir: &Path) {
    common::write_tiny_model(dir, &common::TINY_QWEN3, 1);
    common::write_tiny_tokenizer(dir);
    let path = dir.join("model.safetensors");
    let mut w = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let mut norm: Vec<f32> = w["model.norm.weight"].to_vec1().unwrap();
    norm[0] = f32::NAN;
    let n = norm.len();
    w.insert(
        "model.norm.weight".into(),
        Tensor::from_vec(norm, n, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&w, &path).unwrap();
}

#[test]
fn non_finite_logits_stop_the_run_and_the_trace_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nan-model");
    nan_model(&model);
    let trace = dir.path().join("nan.trace.jsonl");
    let out = memento(dir.path())
        .args(["generate", "--max-tokens", "5", "--model"])
        .arg(&model)
        .arg("--trace")
        .arg(&trace)
        .arg("hi")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not finite"), "{stderr}");
    let lines = trace_lines(&trace);
    let diag = lines
        .iter()
        .find(|l| l["type"] == "diagnostic")
        .expect("a diagnostic event");
    assert_eq!(diag["code"], "non_finite_logits");
    assert_eq!(diag["severity"], "error");
    let end = lines.iter().find(|l| l["type"] == "end").unwrap();
    assert_eq!(end["reason"], "error");
    let out = memento(dir.path())
        .arg("stats")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stats refused the trace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_lines_saved_as_json_import_as_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.json");
    std::fs::copy("tests/fixtures/openmementos-default.jsonl", &rows).unwrap();
    let out = memento(dir.path())
        .arg("import")
        .arg(&rows)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("segments"), "{stderr}");
}

/// `text` as a Windows editor saves it: a byte-order mark, and CRLF line ends.
fn windows_text(text: &str) -> String {
    format!("\u{feff}{}", text.replace('\n', "\r\n"))
}

#[test]
fn every_text_input_reads_with_a_bom_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A trace.
    let trace = d.join("bom.trace.jsonl");
    let text = std::fs::read_to_string("sample-traces/synthetic-memento.trace.jsonl").unwrap();
    std::fs::write(&trace, windows_text(&text)).unwrap();
    let out = memento(d).arg("stats").arg(&trace).output().unwrap();
    assert!(
        out.status.success(),
        "trace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A segments file, imported.
    let segments = d.join("bom.segments.json");
    let text =
        std::fs::read_to_string("../shared/data/memento-examples/aime25-p5.segments.json").unwrap();
    std::fs::write(&segments, windows_text(&text)).unwrap();
    let out = memento(d)
        .arg("import")
        .arg(&segments)
        .arg("--out")
        .arg(d.join("seg.trace.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "segments: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenMementos rows.
    let rows = d.join("bom.jsonl");
    let text = std::fs::read_to_string("tests/fixtures/openmementos-default.jsonl").unwrap();
    std::fs::write(&rows, windows_text(&text)).unwrap();
    let out = memento(d)
        .arg("import")
        .arg(&rows)
        .arg("--out")
        .arg(d.join("rows"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rows: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A theme.
    let theme = d.join("bom.toml");
    let text = std::fs::read_to_string("themes/light.toml").unwrap();
    std::fs::write(&theme, windows_text(&text)).unwrap();
    memento::tui::theme::Theme::load(&theme.display().to_string()).unwrap();
    // A problem set.
    let problems = d.join("bom-problems.jsonl");
    std::fs::write(
        &problems,
        windows_text("{\"prompt\": \"What is 2+2?\", \"answer\": \"4\"}\n{\"prompt\": \"And 3+3?\", \"answer\": 6}\n"),
    )
    .unwrap();
    let loaded = memento::ablate::problems::load_jsonl(&problems).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].prompt, "What is 2+2?");
    // The organism's task file.
    let task = d.join("bom-task.json");
    let text = std::fs::read_to_string("models/organism/memento_task.json").unwrap();
    std::fs::write(&task, windows_text(&text)).unwrap();
    memento::task::Task::from_file(&task).unwrap();
}

#[test]
fn a_refused_import_leaves_no_file_and_a_whole_one_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    // A memento with no block before it: malformed structure, refused unless --lenient.
    std::fs::write(
        &bad,
        "<think>\n<|summary_start|>m<|summary_end|>\n</think>\nx",
    )
    .unwrap();
    let out = dir.path().join("out.trace.jsonl");
    let run = memento(dir.path())
        .arg("import")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("malformed structure"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["bad.txt"], "nothing written, nothing partial left");

    let run = memento(dir.path())
        .arg("import")
        .arg(&bad)
        .arg("--lenient")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(memento::trace::is_whole_trace(&out));
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, 2, "the trace and its source");
}

#[test]
fn a_trace_streamed_window_by_window_reads_as_the_whole_file() {
    // About 12 MB of trace: more than one 8 MiB read window, and lines cut at their edges.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.trace.jsonl");
    let out = memento(dir.path())
        .args(["synth", "--tokens", "90000", "--seed", "5", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&path).unwrap().len() > 9 << 20);
    let (streamed, warnings) = memento::timeline::Timeline::read(&path).unwrap();
    assert!(warnings.is_empty());
    let whole =
        memento::timeline::Timeline::from_file(memento::trace::read_trace(&path).unwrap()).unwrap();
    assert_eq!(streamed.tokens().all_text(), whole.tokens().all_text());
    assert_eq!(streamed.len(), whole.len());
    assert_eq!(streamed.boundaries(), whole.boundaries());
    assert_eq!(streamed.recorded_live(), whole.recorded_live());
    assert_eq!(streamed.recorded_bytes(), whole.recorded_bytes());
    assert_eq!(streamed.evictions(), whole.evictions());
    assert_eq!(streamed.state(), whole.state());
    assert_eq!(streamed.state_at(4321), whole.state_at(4321));
    assert_eq!(streamed.end(), whole.end());

    // An error past the first window is reported at its line.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.len() - 10;
    let mut broken = lines.clone();
    broken[at] = "{\"type\":\"token\",\"seq\":\"x\"}";
    let bad = dir.path().join("bad.trace.jsonl");
    std::fs::write(&bad, broken.join("\n") + "\n").unwrap();
    let err = memento::timeline::Timeline::read(&bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!(":{}:", at + 1)), "{err}");
}
