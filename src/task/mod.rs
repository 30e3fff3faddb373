//! Synthetic task families for training a model organism: seeded generators whose reasoning
//! splits into blocks closed by mementos, with exact answers.
//!
//! A model trained on a task carries its description in `memento_task.json`, so every command
//! that draws problems (`memento run`'s editor, `memento generate` with no prompt, `memento
//! ablate --builtin`) draws them from the model's own task.

pub mod eval;
pub mod tokenizer;
pub mod walk;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use walk::WalkConfig;

/// The file in a model directory that names the model's task.
pub const TASK_FILE: &str = "memento_task.json";

/// Which problems: training walks, held-out walks (other seeds), or held-out walks longer
/// than any seen in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Heldout,
    Longer,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Heldout => "heldout",
            Split::Longer => "longer",
        }
    }

    /// Mixed into the seed, so the splits draw from different streams.
    fn salt(self) -> u64 {
        match self {
            Split::Train => 0,
            Split::Heldout => 0x6865_6c64_6f75_7421,
            Split::Longer => 0x6c6f_6e67_6572_2121,
        }
    }
}

/// One generated problem with its reference reasoning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskProblem {
    pub id: String,
    /// The user message.
    pub prompt: String,
    /// The assistant turn: `<think>`, blocks and mementos, `</think>`, the answer.
    pub response: String,
    /// The exact answer (what `\boxed{}` holds).
    pub answer: String,
    /// The passcode variant's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub blocks: usize,
}

/// Problems drawn one after another from a task's held-out split, for a person at the
/// workbench or a script: the seed says which, so a draw can be repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemDraw {
    pub task: Task,
    pub seed: u64,
    /// The index of the next problem.
    pub next: u64,
}

impl ProblemDraw {
    /// Draws under `seed`, or under a seed taken from the clock (a fresh problem each time).
    pub fn new(task: Task, seed: Option<u64>) -> ProblemDraw {
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                % 1_000_000
        });
        ProblemDraw {
            task,
            seed,
            next: 0,
        }
    }

    /// The next problem.
    pub fn draw(&mut self) -> TaskProblem {
        let p = self.task.problem(Split::Heldout, self.seed, self.next);
        self.next += 1;
        p
    }
}

/// Tokens to generate at most, by default: what the model's task needs, else 256 (a short
/// answer's worth, for a model without a task).
pub fn default_max_tokens(task: Option<&Task>) -> u32 {
    task.map_or(256, Task::max_tokens)
}

/// A task family and its settings, as stored in [`TASK_FILE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
pub enum Task {
    /// [`walk`]: follow roads on a small map and add up the tolls.
    TollWalk(WalkConfig),
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{}: {message}", path.display())]
    File {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Task {
    pub fn name(&self) -> &'static str {
        match self {
            Task::TollWalk(_) => "toll-walk",
        }
    }

    /// Parse a task name with its default settings.
    pub fn parse(name: &str) -> Result<Task, String> {
        match name {
            "toll-walk" => Ok(Task::TollWalk(WalkConfig::default())),
            other => Err(format!("unknown task `{other}`: expected toll-walk")),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        match self {
            Task::TollWalk(c) => c.check(),
        }
    }

    /// Problem `index` of `split` under `seed`.
    pub fn problem(&self, split: Split, seed: u64, index: u64) -> TaskProblem {
        match self {
            Task::TollWalk(c) => c.problem(split, seed, index),
        }
    }

    /// The passcode variant for the leakage probe: walk `index` of the held-out stream of
    /// `seed`, with `code` written into its second block.
    pub fn passcode_problem(&self, seed: u64, index: u64, code: &[u8]) -> TaskProblem {
        match self {
            Task::TollWalk(c) => c.passcode_problem(seed, index, code),
        }
    }

    /// A decoding budget that holds the longest reasoning of any split, with room to spare.
    pub fn max_tokens(&self) -> u32 {
        match self {
            Task::TollWalk(c) => c.max_tokens(),
        }
    }

    /// The task a model directory names, if it names one.
    pub fn of_model(model: &Path) -> Result<Option<Task>, TaskError> {
        if !model.is_dir() {
            return Ok(None);
        }
        let path = model.join(TASK_FILE);
        if let Ok(false) = path.try_exists() {
            return Ok(None);
        }
        Task::from_file(&path).map(Some)
    }

    /// Read, parse and check a task file ([`TASK_FILE`]'s format); errors name the file and
    /// the field.
    pub fn from_file(path: &Path) -> Result<Task, TaskError> {
        let error = |message: String| TaskError::File {
            path: path.to_path_buf(),
            message,
        };
        let text = crate::textfile::read_text(path, crate::textfile::CONFIG_LIMIT)
            .map_err(|e| error(format!("cannot read: {e}")))?;
        let task = Task::from_json(&text).map_err(error)?;
        task.check().map_err(error)?;
        Ok(task)
    }

    /// Parse [`TASK_FILE`]'s text; errors name the field.
    pub fn from_json(text: &str) -> Result<Task, String> {
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let name = match value.as_object_mut().map(|o| o.remove("task")) {
            Some(Some(serde_json::Value::String(name))) => name,
            Some(Some(other)) => return Err(format!("field `task`: expected a name, not {other}")),
            Some(None) => return Err("missing field `task` (the task's name)".into()),
            None => return Err("expected a JSON object".into()),
        };
        let field = |e: serde_path_to_error::Error<serde_json::Error>| {
            format!("field `{}`: {}", e.path(), e.inner())
        };
        match name.as_str() {
            "toll-walk" => serde_path_to_error::deserialize(value)
                .map(Task::TollWalk)
                .map_err(field),
            other => Err(format!("unknown task `{other}`: expected toll-walk")),
        }
    }

    /// Write [`TASK_FILE`] into a model directory.
    pub fn save(&self, model: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a task serialises");
        std::fs::write(model.join(TASK_FILE), text + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_file_round_trips_and_bad_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let task = Task::TollWalk(WalkConfig::default());
        task.save(dir.path()).unwrap();
        assert_eq!(Task::of_model(dir.path()).unwrap(), Some(task));
        std::fs::write(
            dir.path().join(TASK_FILE),
            r#"{"task":"toll-walk","places":[4,6],"steps":"many","longer_steps":[30,40],"block_steps":4,"passcode_share":0.1}"#,
        )
        .unwrap();
        let err = Task::of_model(dir.path()).unwrap_err().to_string();
        assert!(err.contains("steps") && err.contains(TASK_FILE), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(Task::of_model(empty.path()).unwrap(), None);
    }
}
