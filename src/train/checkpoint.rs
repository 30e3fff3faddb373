//! What a training leaves in its output directory, and how it is written so that an
//! interruption loses at most the steps since the last checkpoint:
//!
//! - `train.json`: the plan (a resumed training must have the same);
//! - `train-log.jsonl`: one line per update and per held-out evaluation, flushed as written;
//! - `checkpoint/`: the weights, the optimizer's moments and `state.json` (step, stage, data
//!   cursor), replaced as a whole: the new one is written beside it and renamed in.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::model::TrainModel;
use super::optim::AdamW;
use super::run::{LogLine, TrainPlan};

pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const LOG_FILE: &str = "train-log.jsonl";
const PLAN_FILE: &str = "train.json";
const STATE_FILE: &str = "state.json";

/// Where the training stands after an update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Updates done, over all stages.
    pub step: u64,
    /// The stage under way (0-based) and the updates done in it.
    pub stage: usize,
    pub stage_step: u64,
    /// The next training sequence to read.
    pub cursor: u64,
    /// Updates the optimizer has taken in this stage.
    pub optimizer_t: u64,
    pub tokens: u64,
    /// Wall time spent training so far, over every session.
    pub seconds: f64,
}

pub struct Checkpoint {
    pub weights: PathBuf,
    pub optimizer: PathBuf,
}

pub fn files(out: &Path) -> Checkpoint {
    let dir = out.join(CHECKPOINT_DIR);
    Checkpoint {
        weights: dir.join("model.safetensors"),
        optimizer: dir.join("optimizer.safetensors"),
    }
}

fn io(path: &Path, what: &str) -> impl Fn(std::io::Error) -> TrainError {
    let path = path.to_path_buf();
    let what = what.to_string();
    move |e| TrainError::File {
        path: path.clone(),
        message: format!("cannot {what}: {e}"),
    }
}

/// Write `bytes` to `path` through a temporary file renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io(&tmp, "write"))?;
    rename(&tmp, path)
}

pub fn rename(from: &Path, to: &Path) -> Result<(), TrainError> {
    std::fs::rename(from, to).map_err(io(to, "write"))
}

pub fn write_plan(out: &Path, plan: &TrainPlan) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(plan).expect("a plan serialises");
    write_atomic(&out.join(PLAN_FILE), (text + "\n").as_bytes())
}

pub fn read_plan(out: &Path) -> Result<Option<TrainPlan>, TrainError> {
    let path = out.join(PLAN_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, "read")(e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TrainError::File {
            path,
            message: format!("not a training plan: {e}"),
        })
}

/// Refuse to resume under a plan that differs from the saved one, naming the settings.
pub fn same_plan(saved: &TrainPlan, plan: &TrainPlan, out: &Path) -> Result<(), TrainError> {
    if saved == plan {
        return Ok(());
    }
    let (a, b) = (
        serde_json::to_value(saved).expect("serialises"),
        serde_json::to_value(plan).expect("serialises"),
    );
    let differ: Vec<String> = match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a
            .keys()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| format!("`{k}` was {} and is now {}", a[k], b[k]))
            .collect(),
        _ => Vec::new(),
    };
    Err(TrainError::File {
        path: out.join(PLAN_FILE),
        message: format!(
            "the training to resume had other settings: {}",
            differ.join("; ")
        ),
    })
}

/// The checkpoint's state, or `None` when the training stopped before its first checkpoint.
pub fn read_state(out: &Path) -> Result<Option<State>, TrainError> {
    let mut dir = out.join(CHECKPOINT_DIR);
    if !dir.exists() {
        // An interruption between the two renames of `save` leaves only the old one.
        let old = out.join(format!("{CHECKPOINT_DIR}.old"));
        if old.exists() {
            std::fs::rename(&old, &dir).map_err(io(&dir, "restore the checkpoint"))?;
        } else {
            return Ok(None);
        }
    }
    dir.push(STATE_FILE);
    let text = std::fs::read_to_string(&dir).map_err(io(&dir, "read"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TrainError::File {
            path: dir,
            message: format!("not a checkpoint state: {e}"),
        })
}

/// Replace the checkpoint with the model, optimizer and state now.
pub fn save(out: &Path, model: &TrainModel, opt: &AdamW, state: &State) -> Result<(), TrainError> {
    let dir = out.join(CHECKPOINT_DIR);
    let new = out.join(format!("{CHECKPOINT_DIR}.new"));
    let old = out.join(format!("{CHECKPOINT_DIR}.old"));
    if new.exists() {
        std::fs::remove_dir_all(&new).map_err(io(&new, "clear"))?;
    }
    std::fs::create_dir_all(&new).map_err(io(&new, "create"))?;
    model.save_weights(&new.join("model.safetensors"))?;
    opt.save(model.params(), &new.join("optimizer.safetensors"))?;
    let text = serde_json::to_string_pretty(state).expect("a state serialises");
    std::fs::write(new.join(STATE_FILE), text + "\n").map_err(io(&new, "write"))?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old, "clear"))?;
        }
        std::fs::rename(&dir, &old).map_err(io(&dir, "replace"))?;
    }
    std::fs::rename(&new, &dir).map_err(io(&dir, "write"))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old, "clear"))?;
    }
    Ok(())
}

pub fn open_log(out: &Path) -> Result<File, TrainError> {
    let path = out.join(LOG_FILE);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path, "open"))
}

pub fn append_log(log: &mut File, line: &LogLine) -> Result<(), TrainError> {
    let text = serde_json::to_string(line).expect("a log line serialises");
    writeln!(log, "{text}")
        .and_then(|_| log.flush())
        .map_err(|e| TrainError::Config(format!("writing {LOG_FILE}: {e}")))
}

/// Every log line, in order; a cut-off last line (a crash mid-write) is dropped.
pub fn read_log(out: &Path) -> Result<Vec<LogLine>, TrainError> {
    Ok(read_log_lines(out)?.into_iter().map(|(_, l)| l).collect())
}

/// [`read_log`] with each line's text as written.
fn read_log_lines(out: &Path) -> Result<Vec<(String, LogLine)>, TrainError> {
    let path = out.join(LOG_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path, "read")(e)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io(&path, "read"))?;
    let last = lines.len();
    let mut out = Vec::with_capacity(last);
    for (n, text) in lines.into_iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LogLine>(&text) {
            Ok(l) => out.push((text, l)),
            Err(_) if n + 1 == last => break,
            Err(e) => {
                return Err(TrainError::File {
                    path: path.clone(),
                    message: format!("line {}: {e}", n + 1),
                });
            }
        }
    }
    Ok(out)
}

/// Drop the log lines of updates after `step` (those the checkpoint does not hold); the lines
/// kept are written back byte for byte.
pub fn truncate_log(out: &Path, step: u64) -> Result<(), TrainError> {
    let kept: Vec<String> = read_log_lines(out)?
        .into_iter()
        .filter(|(_, l)| l.step() <= step)
        .map(|(text, _)| text)
        .collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write_atomic(&out.join(LOG_FILE), text.as_bytes())
}
