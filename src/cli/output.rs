//! Standard output for results. A reader that goes away (`memento stats … | head`) ends the
//! program quietly instead of panicking.

use std::io::Write;

/// Write `text` and a newline to stdout.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}
