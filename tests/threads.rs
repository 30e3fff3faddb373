//! `--threads`: the count reaches candle's pools, and every way of setting it is reported.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn memento(sessions: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memento"));
    c.env("MEMENTO_SESSIONS_DIR", sessions)
        .env("MEMENTO_CACHE_DIR", sessions.join("cache"))
        .stdin(Stdio::null());
    c
}

fn output(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

/// The only test here that runs candle in this process, so nothing has started its pools.
#[test]
fn the_configured_count_sizes_candles_pools() {
    let choice = memento::threads::configure(Some(3));
    assert_eq!(choice.count, 3);
    assert_eq!(candle_core::utils::barrier_pool().n_workers() + 1, 3);
    assert_eq!(candle_core::utils::get_num_threads(), 3);
    assert_eq!(memento::threads::current(), choice);
}

#[test]
fn generate_reports_the_thread_count_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let run = |configure: &dyn Fn(&mut Command)| {
        let mut cmd = memento(dir.path());
        cmd.env_remove("MEMENTO_THREADS")
            .env_remove("CANDLE_NUM_THREADS")
            .env_remove("RAYON_NUM_THREADS");
        configure(&mut cmd);
        cmd.args(["generate", "--model", "organism", "--max-tokens", "4", "hi"]);
        let out = output(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let asked = run(&|c| {
        c.args(["--threads", "1"]);
    });
    assert!(asked.contains("on 1 thread (--threads)"), "{asked}");
    let from_memento_env = run(&|c| {
        c.env("MEMENTO_THREADS", "2");
    });
    assert!(
        from_memento_env.contains("on 2 threads (--threads)"),
        "{from_memento_env}"
    );
    let from_rayon_env = run(&|c| {
        c.env("RAYON_NUM_THREADS", "1");
    });
    assert!(
        from_rayon_env.contains("on 1 thread (CANDLE/RAYON_NUM_THREADS)"),
        "{from_rayon_env}"
    );
    let auto = run(&|_| {});
    assert!(auto.contains("(auto: "), "{auto}");
}

#[test]
fn zero_threads_is_refused_by_the_parser() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = memento(dir.path());
    cmd.args(["--threads", "0", "stats", "x"]);
    let out = output(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--threads"), "{stderr}");
}
