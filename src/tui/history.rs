//! The prompt history: past prompts, newest last, kept in memory and appended to a JSON Lines
//! file (one JSON string per line) so that prompts survive restarts and crashes. Also the
//! browsing cursor that the editor's up/down keys walk.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Entries beyond this many are forgotten, oldest first.
pub const MAX_ENTRIES: usize = 1_000;

/// The file is rewritten with only the kept entries once it holds this many lines, so that
/// appending forever does not grow it forever.
const COMPACT_AT: usize = 2 * MAX_ENTRIES;

#[derive(Debug, thiserror::Error)]
#[error("prompt history {}: {source}", path.display())]
pub struct HistoryError {
    path: PathBuf,
    source: io::Error,
}

#[derive(Debug, Default)]
pub struct History {
    entries: Vec<String>,
    /// Where entries are appended; `None` keeps them in memory only.
    path: Option<PathBuf>,
    /// The file does not end with a newline (a write was cut short), so the next append
    /// starts a fresh line rather than extending the broken one.
    torn_tail: bool,
    /// The entry being shown while browsing; `None` while the user edits their own draft.
    browsing: Option<usize>,
    /// What the editor held when browsing began, given back when browsing runs past the newest.
    draft: String,
    /// A write failure that happened where no caller could be handed it (see `take_error`).
    unreported: Option<HistoryError>,
}

/// `$MEMENTO_HISTORY_FILE` if set, else `<data dir>/memento/prompt-history.jsonl`.
pub fn default_path() -> Option<PathBuf> {
    path_from(std::env::var_os("MEMENTO_HISTORY_FILE"), dirs::data_dir())
}

fn path_from(var: Option<OsString>, data_dir: Option<PathBuf>) -> Option<PathBuf> {
    match var {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => data_dir.map(|d| d.join("memento").join("prompt-history.jsonl")),
    }
}

impl History {
    pub fn in_memory() -> History {
        History::default()
    }

    /// Reads the history file. A missing file is an empty history; a line that is not a JSON
    /// string (a torn write, a hand edit) is skipped rather than failing the whole file.
    pub fn load(path: impl AsRef<Path>) -> Result<History, HistoryError> {
        let path = path.as_ref().to_path_buf();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(HistoryError { path, source }),
        };
        let mut history = History {
            torn_tail: !bytes.is_empty() && !bytes.ends_with(b"\n"),
            path: Some(path),
            ..History::default()
        };
        let mut lines = 0;
        for line in bytes.split(|&b| b == b'\n') {
            lines += 1;
            if let Ok(prompt) = serde_json::from_slice::<String>(line) {
                history.remember(prompt);
            }
        }
        if lines > COMPACT_AT {
            // Failing to shrink the file loses nothing; the caller may report it.
            if let Err(e) = history.rewrite() {
                history.unreported = Some(e);
            }
        }
        Ok(history)
    }

    /// Past prompts, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Records a submitted prompt (blank prompts and a repeat of the newest are not kept) and
    /// appends it to the file. The entry stays in memory even when the write fails.
    pub fn push(&mut self, prompt: &str) -> Result<(), HistoryError> {
        self.reset_navigation();
        if !self.remember(prompt.to_string()) {
            return Ok(());
        }
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut line = if self.torn_tail {
            "\n".to_string()
        } else {
            String::new()
        };
        let written = serde_json::to_string(prompt)
            .map_err(io::Error::other)
            .and_then(|json| {
                line.push_str(&json);
                line.push('\n');
                append(&path, line.as_bytes())
            });
        // After a failed write the file may end mid-line; assume it does.
        self.torn_tail = written.is_err();
        written.map_err(|source| HistoryError { path, source })
    }

    /// The previous (older) entry, starting browsing from `draft` (the editor's text) if not
    /// browsing yet. `None` at the oldest entry or with no history.
    pub fn prev(&mut self, draft: &str) -> Option<String> {
        let at = match self.browsing {
            Some(i) => i.checked_sub(1)?,
            None => {
                let newest = self.entries.len().checked_sub(1)?;
                // The editor keeps a submitted prompt, so the newest entry is often exactly
                // what is already shown: showing it again would look like a dead key.
                let at = if self.entries.get(newest).is_some_and(|e| e == draft) {
                    newest.checked_sub(1)?
                } else {
                    newest
                };
                self.draft = draft.to_string();
                at
            }
        };
        self.browsing = Some(at);
        self.entries.get(at).cloned()
    }

    /// The next (newer) entry; past the newest, the draft saved when browsing began. `None`
    /// when not browsing.
    // Named as the pair of `prev`; it is not an iterator (it ends by handing back the draft).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<String> {
        let after = self.browsing? + 1;
        let newest = after + 1 == self.entries.len();
        match self.entries.get(after) {
            // Skipped on the way up (see `prev`), so skipped on the way down too.
            Some(e) if !(newest && *e == self.draft) => {
                self.browsing = Some(after);
                Some(e.clone())
            }
            _ => {
                self.browsing = None;
                Some(std::mem::take(&mut self.draft))
            }
        }
    }

    /// Stops browsing and forgets the saved draft (after a submit, or when the user edits a
    /// recalled entry, which makes it their new draft).
    pub fn reset_navigation(&mut self) {
        self.browsing = None;
        self.draft.clear();
    }

    pub fn is_browsing(&self) -> bool {
        self.browsing.is_some()
    }

    /// A write failure nobody has been told about yet (from compaction at load, or a push made
    /// on the editor's behalf), so the app can show it once.
    pub fn take_error(&mut self) -> Option<HistoryError> {
        self.unreported.take()
    }

    pub(super) fn note_error(&mut self, error: HistoryError) {
        self.unreported = Some(error);
    }

    /// Adds an entry in memory; false when it is blank or repeats the newest.
    fn remember(&mut self, prompt: String) -> bool {
        if prompt.trim().is_empty() || self.entries.last() == Some(&prompt) {
            return false;
        }
        self.entries.push(prompt);
        let excess = self.entries.len().saturating_sub(MAX_ENTRIES);
        self.entries.drain(..excess);
        true
    }

    /// Replaces the file with the kept entries, atomically, so a crash mid-way leaves the old
    /// file rather than half a new one.
    fn rewrite(&mut self) -> Result<(), HistoryError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let mut text = String::new();
        for entry in &self.entries {
            let json = serde_json::to_string(entry).map_err(|e| HistoryError {
                path: path.clone(),
                source: io::Error::other(e),
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let result = tempfile::NamedTempFile::new_in(&dir).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.flush()?;
            file.persist(&path).map(drop).map_err(|e| e.error)
        });
        result.map_err(|source| HistoryError { path, source })?;
        self.torn_tail = false;
        Ok(())
    }
}

/// Appends one whole line in a single write, so that a crash (or a second memento appending to
/// the same file) never interleaves half lines.
fn append(path: &Path, line: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn file_round_trip_creates_parent_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/history.jsonl");
        let mut h = History::load(&path).unwrap();
        assert!(h.entries().is_empty());
        h.push("one").unwrap();
        h.push("two\nlines \"quoted\"").unwrap();
        h.push("two\nlines \"quoted\"").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let again = History::load(&path).unwrap();
        assert_eq!(
            again.entries(),
            strings(&["one", "two\nlines \"quoted\""]).as_slice()
        );
    }

    #[test]
    fn bad_lines_are_skipped_and_a_torn_tail_is_not_extended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        fs::write(&path, "\"ok\"\nnot json\n{\"a\":1}\n\n\"fine\"\r\n\"torn").unwrap();
        let mut h = History::load(&path).unwrap();
        assert_eq!(h.entries(), strings(&["ok", "fine"]).as_slice());
        h.push("next").unwrap();
        let again = History::load(&path).unwrap();
        assert_eq!(again.entries(), strings(&["ok", "fine", "next"]).as_slice());
    }

    #[test]
    fn consecutive_duplicates_and_blanks_collapse() {
        let mut h = History::in_memory();
        for p in ["a", "a", "b", "a", "  ", "", "a"] {
            h.push(p).unwrap();
        }
        assert_eq!(h.entries(), strings(&["a", "b", "a"]).as_slice());
    }

    #[test]
    fn keeps_the_newest_thousand_and_compacts_a_long_file() {
        let mut h = History::in_memory();
        for i in 0..MAX_ENTRIES + 5 {
            h.push(&i.to_string()).unwrap();
        }
        assert_eq!(h.entries().len(), MAX_ENTRIES);
        assert_eq!(h.entries().first().map(String::as_str), Some("5"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let long: String = (0..COMPACT_AT + 10).map(|i| format!("\"{i}\"\n")).collect();
        fs::write(&path, long).unwrap();
        let mut h = History::load(&path).unwrap();
        assert!(h.take_error().is_none());
        assert_eq!(h.entries().len(), MAX_ENTRIES);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), MAX_ENTRIES);
        assert_eq!(
            text.lines().last(),
            Some(format!("\"{}\"", COMPACT_AT + 9).as_str())
        );
    }

    #[test]
    fn write_errors_are_returned_and_the_entry_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut h = History::load(&path).unwrap();
        // A directory where the file should be makes every append fail.
        fs::create_dir(&path).unwrap();
        assert!(h.push("kept").is_err());
        assert_eq!(h.entries(), strings(&["kept"]).as_slice());
    }

    #[test]
    fn browsing_walks_back_and_restores_the_draft() {
        let mut h = History::in_memory();
        assert_eq!(h.prev("draft"), None);
        for p in ["one", "two", "three"] {
            h.push(p).unwrap();
        }
        assert_eq!(h.next(), None);
        assert_eq!(h.prev("draft").as_deref(), Some("three"));
        assert_eq!(h.prev("ignored").as_deref(), Some("two"));
        assert_eq!(h.prev("").as_deref(), Some("one"));
        assert_eq!(h.prev(""), None);
        assert_eq!(h.next().as_deref(), Some("two"));
        assert_eq!(h.next().as_deref(), Some("three"));
        assert_eq!(h.next().as_deref(), Some("draft"));
        assert!(!h.is_browsing());
        assert_eq!(h.next(), None);
    }

    #[test]
    fn browsing_skips_the_newest_when_it_is_already_shown() {
        let mut h = History::in_memory();
        h.push("one").unwrap();
        h.push("two").unwrap();
        assert_eq!(h.prev("two").as_deref(), Some("one"));
        assert_eq!(h.next().as_deref(), Some("two"));
        assert!(!h.is_browsing());
        let mut single = History::in_memory();
        single.push("only").unwrap();
        assert_eq!(single.prev("only"), None);
    }

    #[test]
    fn default_path_prefers_the_variable() {
        let data = Some(PathBuf::from("/data"));
        assert_eq!(
            path_from(Some("/x/h.jsonl".into()), data.clone()),
            Some(PathBuf::from("/x/h.jsonl"))
        );
        assert_eq!(
            path_from(Some("".into()), data.clone()),
            Some(PathBuf::from("/data/memento/prompt-history.jsonl"))
        );
        assert_eq!(path_from(None, None), None);
    }
}
