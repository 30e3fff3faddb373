//! How many CPU threads the engine decodes with.
//!
//! candle's CPU kernels (and ours, which run on candle's barrier pool) split each matrix
//! product over a fixed set of threads that wait for one another at every step. When another
//! process holds a core, the thread that shares it falls behind and every step waits for it:
//! on a 2-core machine with one busy process, SmolLM2 decode fell from 111 to 11–29 tok/s with
//! two threads, against 56 tok/s with one. So the default counts only the cores that are free:
//! the physical cores less those other processes keep busy, at least one. Busy cores are
//! measured over [`SAMPLE`] while memento sleeps: the CPU time of every process that has run
//! for at least [`SETTLED`], from `/proc/<pid>/stat`. The load average would count memento's
//! own last run for a minute after it; the whole machine's time would count a process that is
//! only starting, such as the other end of a pipe. `--threads N` (or `MEMENTO_THREADS`) sets
//! the count outright.
//!
//! candle sizes its pools from `CANDLE_NUM_THREADS` and `RAYON_NUM_THREADS` the first time a
//! kernel runs (candle-core `utils.rs`), so [`configure`] must run before any model work, while
//! the program is still single-threaded.

use std::fmt;

/// Where the thread count came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThreadSource {
    /// `--threads N` or `MEMENTO_THREADS`.
    Asked,
    /// `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS`, already set when memento started.
    Environment,
    /// Chosen from the cores and the load: `cores` physical cores, `busy` of them held by
    /// other processes when memento started (0 where `/proc/stat` could not be read).
    Auto { cores: usize, busy: usize },
}

/// The thread count the engine runs with, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadChoice {
    pub count: usize,
    pub source: ThreadSource,
}

impl fmt::Display for ThreadChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.count == 1 { "" } else { "s" };
        write!(f, "{} thread{plural}", self.count)?;
        match self.source {
            ThreadSource::Asked => write!(f, " (--threads)"),
            ThreadSource::Environment => write!(f, " (CANDLE/RAYON_NUM_THREADS)"),
            ThreadSource::Auto { cores, busy } => {
                write!(f, " (auto: {cores} cores, {busy} busy)")
            }
        }
    }
}

/// How long the CPU time of other processes is sampled before the engine's first run.
pub const SAMPLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Processes younger than this are left out of the sample: they are starting, not loading the
/// machine.
pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);

/// Physical cores other processes hold: `busy_ticks` CPU ticks used over `window_ticks` of
/// wall time, on `logical` CPUs of which `physical` are cores. A core counts once it is at
/// least three quarters used.
pub fn busy_cores(busy_ticks: u64, window_ticks: u64, logical: usize, physical: usize) -> usize {
    if window_ticks == 0 || logical == 0 {
        return 0;
    }
    let busy_logical = busy_ticks as f64 / window_ticks as f64;
    (busy_logical * physical as f64 / logical as f64 + 0.25).floor() as usize
}

/// The automatic count: `cores` less the `busy` ones, at least 1.
pub fn auto_count(cores: usize, busy: usize) -> usize {
    cores.saturating_sub(busy).max(1)
}

/// Pick the thread count (`asked` wins, then the candle/rayon variables, then [`auto_count`],
/// which sleeps for [`SAMPLE`] to measure the load) and set both variables candle reads, so its
/// pools start with it. Call once, first thing in `main`, before any other thread exists, and
/// only for commands that decode.
pub fn configure(asked: Option<usize>) -> ThreadChoice {
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let choice = match asked.filter(|&n| n > 0) {
        Some(count) => ThreadChoice {
            count,
            source: ThreadSource::Asked,
        },
        None => match from_env("CANDLE_NUM_THREADS").or_else(|| from_env("RAYON_NUM_THREADS")) {
            Some(count) => ThreadChoice {
                count,
                source: ThreadSource::Environment,
            },
            None => {
                let cores = num_cpus::get_physical().max(1);
                let busy = measure_busy_cores(cores).unwrap_or(0);
                ThreadChoice {
                    count: auto_count(cores, busy),
                    source: ThreadSource::Auto { cores, busy },
                }
            }
        },
    };
    // SAFETY: called from `main` before any thread is spawned, so nothing reads the
    // environment concurrently.
    unsafe {
        std::env::set_var("CANDLE_NUM_THREADS", choice.count.to_string());
        std::env::set_var("RAYON_NUM_THREADS", choice.count.to_string());
    }
    let _ = CHOICE.set(choice);
    choice
}

static CHOICE: std::sync::OnceLock<ThreadChoice> = std::sync::OnceLock::new();

/// The choice [`configure`] made; in a process that never called it (tests, embedders),
/// what candle's pool actually runs with.
pub fn current() -> ThreadChoice {
    *CHOICE.get().unwrap_or(&ThreadChoice {
        count: candle_core::utils::barrier_pool().n_workers() + 1,
        source: ThreadSource::Environment,
    })
}

/// Clock ticks per second in `/proc`'s times (`USER_HZ`, fixed at 100 by Linux's ABI).
const TICKS_PER_SECOND: u64 = 100;

/// [`busy_cores`] over [`SAMPLE`], from the settled processes in `/proc` (Linux only).
fn measure_busy_cores(physical: usize) -> Option<usize> {
    let me = std::process::id();
    let uptime_ticks = (uptime_seconds()? * TICKS_PER_SECOND as f64) as u64;
    let settled_before = uptime_ticks.checked_sub(SETTLED.as_secs() * TICKS_PER_SECOND)?;
    let before = process_ticks(me, settled_before);
    let start = std::time::Instant::now();
    std::thread::sleep(SAMPLE);
    let after = process_ticks(me, settled_before);
    let window = (start.elapsed().as_secs_f64() * TICKS_PER_SECOND as f64).round() as u64;
    let used: u64 = after
        .iter()
        .filter_map(|(pid, t)| before.get(pid).map(|b| t.saturating_sub(*b)))
        .sum();
    Some(busy_cores(used, window, num_cpus::get().max(1), physical))
}

fn uptime_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// CPU ticks (user + system) of each process but `me` started before `settled_before`
/// (ticks since boot).
fn process_ticks(me: u32, settled_before: u64) -> std::collections::HashMap<u32, u64> {
    let mut ticks = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ticks;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // A process may end between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((used, started)) = parse_process_stat(&stat)
            && started < settled_before
        {
            ticks.insert(pid, used);
        }
    }
    ticks
}

/// (utime + stime, starttime) in ticks from one `/proc/<pid>/stat` line. The command name
/// (field 2) sits in parentheses and may hold spaces or parentheses itself, so fields are
/// counted from the last `)`: utime, stime and starttime are fields 14, 15 and 22.
fn parse_process_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((field(14)? + field(15)?, field(22)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_count_leaves_the_busy_cores_out() {
        assert_eq!(auto_count(2, 0), 2);
        assert_eq!(auto_count(2, 1), 1);
        assert_eq!(auto_count(2, 5), 1);
        assert_eq!(auto_count(8, 3), 5);
        assert_eq!(auto_count(0, 0), 1);
    }

    #[test]
    fn busy_cores_come_from_the_ticks_of_the_sample() {
        // 2 cores, one process busy all along: 10 ticks in a 10-tick window.
        assert_eq!(busy_cores(10, 10, 2, 2), 1);
        // Two half-busy processes: one core's worth, at the threshold.
        assert_eq!(busy_cores(8, 10, 2, 2), 1);
        // Background noise.
        assert_eq!(busy_cores(3, 10, 2, 2), 0);
        // 8 logical CPUs on 4 cores, 4 logical CPUs busy: two cores' worth.
        assert_eq!(busy_cores(40, 10, 8, 4), 2);
        assert_eq!(busy_cores(5, 0, 2, 2), 0);
    }

    #[test]
    fn a_process_stat_line_gives_its_ticks_and_start() {
        let line = "1871 (tmux: server (x)) S 1 1871 1871 0 -1 4194560 300 0 0 0 \
                    25 17 0 0 20 0 1 0 5120 9000000 900 18446744073709551615";
        assert_eq!(parse_process_stat(line), Some((42, 5120)));
        assert_eq!(parse_process_stat("1 (init"), None);
    }

    #[test]
    fn a_process_running_for_a_while_is_sampled_and_one_just_started_is_not() {
        let spin = || {
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap()
        };
        let mut old = spin();
        std::thread::sleep(SETTLED + std::time::Duration::from_millis(300));
        let mut young = spin();
        let uptime = (uptime_seconds().unwrap() * TICKS_PER_SECOND as f64) as u64;
        let settled_before = uptime - SETTLED.as_secs() * TICKS_PER_SECOND;
        let before = process_ticks(std::process::id(), settled_before);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let after = process_ticks(std::process::id(), settled_before);
        for child in [&mut old, &mut young] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(!before.contains_key(&std::process::id()), "memento itself");
        assert!(!before.contains_key(&young.id()), "the young spinner");
        let (b, a) = (before[&old.id()], after[&old.id()]);
        assert!(a > b, "the old spinner used no CPU: {b} → {a}");
    }

    #[test]
    fn the_choice_says_where_it_came_from() {
        let auto = ThreadChoice {
            count: 1,
            source: ThreadSource::Auto { cores: 2, busy: 1 },
        };
        assert_eq!(auto.to_string(), "1 thread (auto: 2 cores, 1 busy)");
        let asked = ThreadChoice {
            count: 4,
            source: ThreadSource::Asked,
        };
        assert_eq!(asked.to_string(), "4 threads (--threads)");
    }
}
