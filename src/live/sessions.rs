//! The sessions directory: every live run is recorded there, a compare run as a pair of
//! traces whose names differ only in their last part (`…-compare-full` and `…-compare-memento`).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::trace::TraceWriter;

/// `MEMENTO_SESSIONS_DIR`, else `<data dir>/memento/sessions`.
pub fn sessions_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("MEMENTO_SESSIONS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let base = dirs::data_dir().ok_or_else(|| anyhow!("no data directory for sessions"))?;
    Ok(base.join("memento").join("sessions"))
}

const SUFFIX: &str = ".trace.jsonl";
const COMPARE: &str = "-compare-";

/// Fresh trace paths for one run: one per stream label.
#[derive(Debug, Clone)]
pub struct SessionPaths {
    pub paths: Vec<PathBuf>,
}

impl SessionPaths {
    /// `<dir>/<time>-<label>.trace.jsonl` for a single run, `<dir>/<time>-compare-<label>…`
    /// for each stream of a compare run. A name already taken gets a counter.
    pub fn new(dir: &Path, labels: &[String]) -> SessionPaths {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        let compare = labels.len() > 1;
        for attempt in 0u32.. {
            let stem = if attempt == 0 {
                stamp.clone()
            } else {
                format!("{stamp}.{attempt}")
            };
            let paths: Vec<PathBuf> = labels
                .iter()
                .map(|l| {
                    let kind = if compare { COMPARE } else { "-" };
                    dir.join(format!("{stem}{kind}{l}{SUFFIX}"))
                })
                .collect();
            if paths.iter().all(|p| !p.exists()) {
                return SessionPaths { paths };
            }
        }
        unreachable!("u32 attempts exhausted")
    }

    /// Fresh paths as [`SessionPaths::new`] picks them, each created exclusively: two runs
    /// started in the same second (even in two processes) never get the same file. Returns the
    /// paths with a writer for each.
    pub fn create(
        dir: &Path,
        labels: &[String],
    ) -> std::io::Result<(SessionPaths, Vec<TraceWriter<File>>)> {
        std::fs::create_dir_all(dir)?;
        loop {
            let paths = SessionPaths::new(dir, labels);
            let mut writers = Vec::with_capacity(paths.paths.len());
            let mut raced = false;
            for path in &paths.paths {
                match TraceWriter::create_new(path) {
                    Ok(w) => writers.push(w),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        raced = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !raced {
                return Ok((paths, writers));
            }
            // Another run took one of the names between the check and the creation: give back
            // what this attempt created and pick again.
            for path in paths.paths.iter().take(writers.len()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The other trace of a compare pair, when `path` is one and its partner exists.
pub fn partner_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(SUFFIX)?;
    let at = stem.rfind(COMPARE)?;
    let prefix = &stem[..at + COMPARE.len()];
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let entries = std::fs::read_dir(dir.unwrap_or(Path::new("."))).ok()?;
    let mut partners: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n != name && n.starts_with(prefix) && n.ends_with(SUFFIX))
        })
        .collect();
    partners.sort();
    // Full context always sits on the left of a pair.
    partners.into_iter().next().map(|p| match dir {
        Some(_) => p,
        None => PathBuf::from(p.file_name().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_runs_are_named_as_pairs_and_find_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let labels = vec!["full".to_string(), "memento".to_string()];
        let first = SessionPaths::new(dir.path(), &labels);
        for p in &first.paths {
            std::fs::write(p, "x").unwrap();
        }
        let name = first.paths[0].file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with("-compare-full.trace.jsonl"), "{name}");
        assert_eq!(partner_of(&first.paths[0]).unwrap(), first.paths[1]);
        assert_eq!(partner_of(&first.paths[1]).unwrap(), first.paths[0]);
        // A second run in the same second gets its own names.
        let second = SessionPaths::new(dir.path(), &labels);
        assert_ne!(second.paths[0], first.paths[0]);
        let single = SessionPaths::new(dir.path(), &["memento".to_string()]);
        std::fs::write(&single.paths[0], "x").unwrap();
        assert_eq!(partner_of(&single.paths[0]), None);
    }
}
