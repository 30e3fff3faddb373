//! The event loop: read input, apply actions, advance playback, and draw when something
//! changed, at most 60 times a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};

use super::app::{App, Effect};
use super::terminal::TerminalGuard;
use super::view::{self, ViewCache, highlight};

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Frames per second while playing.
    pub fps: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { fps: 60 }
    }
}

/// Run the app in the terminal until the user quits or a termination signal arrives.
pub fn run(app: &mut App, options: RunOptions) -> anyhow::Result<()> {
    highlight::prewarm();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut guard = TerminalGuard::enter()?;
    let input = spawn_input();
    let mut cache = ViewCache::default();
    let frame = Duration::from_secs_f64(1.0 / options.fps.max(1) as f64);
    let idle = Duration::from_millis(250);
    let mut last_tick = Instant::now();
    let mut dirty = true;
    let mut highlighted = highlight::ready();
    loop {
        if dirty {
            let mut out = std::io::stdout();
            execute!(out, BeginSynchronizedUpdate)?;
            guard.terminal.draw(|f| view::draw(f, app, &mut cache))?;
            execute!(out, EndSynchronizedUpdate)?;
            app.scroll = app.scroll.min(cache.max_scroll);
            app.page = cache.page;
            dirty = false;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if hung_up() {
            // The terminal is gone (and SIGHUP may never come): nothing left to draw on.
            return Ok(());
        }
        let timeout = if app.playing { frame } else { idle };
        let mut pending = match input.recv_timeout(timeout) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        // Drain everything pending, so a burst of keys or resizes costs one frame.
        while let Some(event) = pending.take() {
            match event {
                Event::Key(key) if key.kind != KeyEventKind::Release => {
                    panic_on_request(&key);
                    if let Some(action) = app.keymap.action_for(&key) {
                        if app.update(action) == Effect::Quit {
                            return Ok(());
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
            pending = input.try_recv().ok();
        }
        let now = Instant::now();
        if app.playing {
            let before = (app.cursor, app.playing);
            app.tick(now - last_tick);
            dirty |= before != (app.cursor, app.playing);
        }
        last_tick = now;
        if !highlighted && highlight::ready() {
            highlighted = true;
            dirty = true;
        }
    }
}

/// Read terminal input on its own thread. The main loop then never blocks inside the input
/// library, which spins without returning when the terminal hangs up
/// (crossterm-rs/crossterm#793), and can always notice a stop request.
fn spawn_input() -> Receiver<Event> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

/// True when standard input is a terminal that has hung up.
fn hung_up() -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let stdin = rustix::stdio::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::empty())];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => false,
    }
}

/// Fault injection for the end-to-end tests, compiled into debug builds only: with
/// `MEMENTO_TEST_PANIC_KEY=x` set, pressing `x` panics, to prove the terminal is restored.
fn panic_on_request(key: &crossterm::event::KeyEvent) {
    if cfg!(debug_assertions) {
        if let (Some(wanted), crossterm::event::KeyCode::Char(c)) =
            (std::env::var_os("MEMENTO_TEST_PANIC_KEY"), key.code)
        {
            if wanted.to_str() == Some(c.to_string().as_str()) {
                panic!("panic requested by MEMENTO_TEST_PANIC_KEY");
            }
        }
    }
}
