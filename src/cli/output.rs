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

/// `text` with every control character escaped (`\x1b`, `\u{9b}`), so that a file name or
/// message cannot move the cursor, retitle the terminal or hide what follows.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for messages: [`printable`] of its display form.
pub fn printable_path(path: &std::path::Path) -> String {
    printable(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("/x/\u{1b}]2;X\u{7}"), "/x/\\x1b]2;X\\x07");
        assert_eq!(printable("tab\there"), "tab\\x09here");
        assert_eq!(printable("csi \u{9b}"), "csi \\u{9b}");
        assert_eq!(printable("plain é ✓"), "plain é ✓");
    }
}
