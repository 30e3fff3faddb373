//! The shipped model organism: a small Qwen3 decoder trained with `memento train` on the
//! toll-walk task (`models/organism/`, see `docs/organism.md`), the one model here that truly
//! writes mementos. Its files are compiled into the binary and written once into the model
//! cache, so `--model organism` works wherever the binary is.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fetch::{FetchError, cache_dir};

/// The name `--model` knows it by.
pub const NAME: &str = "organism";

/// The model directory's files, as committed.
const FILES: [(&str, &[u8]); 4] = [
    (
        "config.json",
        include_bytes!("../models/organism/config.json"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../models/organism/tokenizer.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../models/organism/model.safetensors"),
    ),
    (
        "memento_task.json",
        include_bytes!("../models/organism/memento_task.json"),
    ),
];

/// The organism's `tokenizer.json`, as compiled in (the scripted decoder spells with it).
pub fn tokenizer_json() -> &'static [u8] {
    FILES[1].1
}

/// A short digest of every file, naming the cached copy: a rebuilt binary with other weights
/// writes a directory of its own.
fn digest() -> String {
    let mut h = Sha256::new();
    for (name, bytes) in FILES {
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The organism's directory in the model cache, written there first if it is not already.
pub fn ensure() -> Result<PathBuf, FetchError> {
    ensure_in(&cache_dir()?)
}

/// [`ensure`] with the cache at `cache`.
pub fn ensure_in(cache: &Path) -> Result<PathBuf, FetchError> {
    let models = cache.join("models");
    let dir = models.join(format!("{NAME}-{}", digest()));
    let complete = FILES.iter().all(|(name, bytes)| {
        std::fs::metadata(dir.join(name)).is_ok_and(|m| m.len() == bytes.len() as u64)
    });
    if complete {
        return Ok(dir);
    }
    let io = |path: PathBuf| move |source| FetchError::Io { path, source };
    std::fs::create_dir_all(&models).map_err(io(models.clone()))?;
    // Written beside, then renamed in: a half-written copy is never taken for the model.
    let partial = tempfile::Builder::new()
        .prefix(&format!("{NAME}-partial-"))
        .tempdir_in(&models)
        .map_err(io(models.clone()))?;
    for (name, bytes) in FILES {
        let path = partial.path().join(name);
        std::fs::write(&path, bytes).map_err(io(path.clone()))?;
    }
    let staged = partial.keep();
    match std::fs::rename(&staged, &dir) {
        Ok(()) => Ok(dir),
        // Another process wrote it first.
        Err(_) if dir.join(FILES[2].0).exists() => {
            std::fs::remove_dir_all(&staged).ok();
            Ok(dir)
        }
        Err(source) => Err(FetchError::Io { path: dir, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organism_is_written_once_and_loads() {
        let cache = tempfile::tempdir().unwrap();
        let dir = ensure_in(cache.path()).unwrap();
        assert!(dir.starts_with(cache.path()));
        let again = ensure_in(cache.path()).unwrap();
        assert_eq!(dir, again);
        let model = crate::model::Model::load(&dir).unwrap();
        let tok = crate::model::ModelTokenizer::load(&dir).unwrap();
        assert!(tok.has_memento_tags());
        tok.check_against(model.config.vocab).unwrap();
        assert!(crate::task::Task::of_model(&dir).unwrap().is_some());
    }
}
