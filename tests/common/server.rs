//! `memento serve` as a child process on a free loopback port, for the tests that talk to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _cache: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary `bin` as `memento serve --model organism --port 0` with `args`, in a model
/// cache of its own; returns once it listens.
pub fn serve(bin: &str, args: &[&str]) -> Server {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .env("MEMENTO_CACHE_DIR", cache.path())
        .args([
            "--threads",
            "2",
            "serve",
            "--model",
            "organism",
            "--port",
            "0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_string();
        }
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url,
        _cache: cache,
    }
}
