//! A private tmux server for end-to-end tests of the real binary: start a command in a pane
//! of a given size, send keys, read the screen, and check the terminal is restored after.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server, killed on drop.
pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let socket = format!("memento-test-{name}-{}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux { socket, dir };
        // The shell records the terminal modes (stty -g: modes, not size) before and after.
        let script = format!(
            "stty -g > {before}; {command}; echo __EXIT__$?; stty -g > {after}; sleep 30",
            before = t.file("before").display(),
            after = t.file("after").display(),
        );
        let ok = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "m",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "sh",
                "-c",
                &script,
            ])
            .status()
            .expect("tmux must be installed")
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c.env("TERM", "xterm-256color");
        c
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "m"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status().unwrap().success());
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-t", "m", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn format(&self, f: &str) -> String {
        let out = self
            .cmd(&["display-message", "-t", "m", "-p", f])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen satisfies `ok`, or fail showing the screen.
    pub fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_secs(what, 20, ok)
    }

    /// As [`Tmux::wait`], with its own time limit.
    pub fn wait_secs(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for(&self, text: &str) -> String {
        self.wait(text, |s| s.contains(text))
    }

    /// After the program exits: normal screen, visible cursor, terminal modes as before.
    pub fn assert_restored(&self) {
        self.wait_for("__EXIT__0");
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "left the alternate screen"
        );
        assert_eq!(self.format("#{cursor_flag}"), "1", "cursor visible again");
        let deadline = Instant::now() + Duration::from_secs(5);
        // The shell creates the file before stty writes to it: wait for its line.
        let written =
            |name: &str| std::fs::read_to_string(self.file(name)).is_ok_and(|s| s.ends_with('\n'));
        while !written("after") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = std::fs::read_to_string(self.file("before")).unwrap();
        let after = std::fs::read_to_string(self.file("after")).unwrap();
        assert_eq!(before, after, "stty settings restored (raw mode off)");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}
