//! The event loop: read input and worker messages, apply them, and draw when something
//! changed, coalesced to at most `fps` frames a second. Decoding runs on the worker's own
//! thread, so neither input nor drawing ever waits for a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::Frame;

use super::terminal::TerminalGuard;
use super::view::highlight;
use crate::live::LiveMsg;

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The most frames drawn per second.
    pub fps: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { fps: 60 }
    }
}

/// Everything the loop reacts to, on one channel.
pub enum UiEvent {
    Input(Event),
    Live(LiveMsg),
}

/// What the loop drives: a replay, a replayed pair, or the live workbench.
pub trait Screen {
    fn draw(&mut self, frame: &mut Frame);
    /// Apply an input event; true to quit.
    fn input(&mut self, event: Event) -> bool;
    /// Apply a worker message; true to quit.
    fn live(&mut self, _msg: LiveMsg) -> bool {
        false
    }
    /// Advance playback by `dt`; true when something visible changed.
    fn tick(&mut self, _dt: Duration) -> bool {
        false
    }
    /// True while playback needs frame-rate ticks.
    fn animating(&self) -> bool {
        false
    }
}

/// Run `screen` in the terminal until it quits or a termination signal arrives. `tx` is the
/// sender of `rx`: input is read onto it (worker messages already arrive there).
pub fn run_screen(
    screen: &mut dyn Screen,
    tx: Sender<UiEvent>,
    rx: Receiver<UiEvent>,
    options: RunOptions,
) -> anyhow::Result<()> {
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
    spawn_input(tx);
    let frame = Duration::from_secs_f64(1.0 / options.fps.max(1) as f64);
    let idle = Duration::from_millis(250);
    let mut last_tick = Instant::now();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut highlighted = highlight::ready();
    loop {
        let now = Instant::now();
        let due = last_draw.is_none_or(|t| now >= t + frame);
        if dirty && due {
            let mut out = std::io::stdout();
            execute!(out, BeginSynchronizedUpdate)?;
            guard.terminal.draw(|f| screen.draw(f))?;
            execute!(out, EndSynchronizedUpdate)?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        if stop.load(Ordering::Relaxed) || hung_up() {
            // A signal, or the terminal is gone (and SIGHUP may never come).
            return Ok(());
        }
        // While a frame is owed, sleep until it is due and let input and tokens queue: waking
        // for every token would preempt the decode threads, whose pool waits on its slowest
        // member. Otherwise wait for the next event (or the next playback frame).
        let mut pending = if dirty {
            std::thread::sleep(last_draw.map_or(Duration::ZERO, |t| {
                (t + frame).saturating_duration_since(Instant::now())
            }));
            rx.try_recv().ok()
        } else {
            let timeout = if screen.animating() { frame } else { idle };
            match rx.recv_timeout(timeout) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        };
        // Drain everything pending, so a burst of keys or tokens costs one frame.
        while let Some(event) = pending.take() {
            match event {
                UiEvent::Input(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                    panic_on_request(&key);
                    if screen.input(Event::Key(key)) {
                        return Ok(());
                    }
                    dirty = true;
                }
                UiEvent::Input(Event::Resize(..)) => dirty = true,
                UiEvent::Input(event @ Event::Paste(_)) => {
                    if screen.input(event) {
                        return Ok(());
                    }
                    dirty = true;
                }
                UiEvent::Input(_) => {}
                UiEvent::Live(msg) => {
                    if screen.live(msg) {
                        return Ok(());
                    }
                    dirty = true;
                }
            }
            pending = rx.try_recv().ok();
        }
        let now = Instant::now();
        if screen.animating() {
            dirty |= screen.tick(now - last_tick);
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
fn spawn_input(tx: Sender<UiEvent>) {
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if tx.send(UiEvent::Input(event)).is_err() {
                return;
            }
        }
    });
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
