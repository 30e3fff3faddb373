//! Problem sets: a built-in generated set of arithmetic and word problems with their answers,
//! and the user's own JSONL (one object per line: `prompt`, optional `answer` and `id`).

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::task::{Split, Task};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub id: String,
    pub prompt: String,
    /// The reference answer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProblemsError {
    #[error("{path}: cannot read the problems file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no problems (the file is empty)")]
    Empty { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Follows every built-in question.
pub const INSTRUCTION: &str = "Think step by step, then give the final answer as a number.";

/// `count` problems, the same for the same `seed`.
pub fn builtin(count: usize, seed: u64) -> Vec<Problem> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let (question, answer) = make(&mut rng, i);
            Problem {
                id: format!("builtin-{:03}", i + 1),
                // Asking for the steps gets a small model to reason in blocks at all.
                prompt: format!("{question} {INSTRUCTION}"),
                answer: Some(answer.to_string()),
            }
        })
        .collect()
}

/// `count` held-out problems of `task` drawn with `seed`, with their answers.
pub fn from_task(task: &Task, count: usize, seed: u64) -> Vec<Problem> {
    (0..count as u64)
        .map(|i| {
            let p = task.problem(Split::Heldout, seed, i);
            Problem {
                id: p.id,
                prompt: p.prompt,
                answer: Some(p.answer),
            }
        })
        .collect()
}

/// One problem of the kind `i` picks (the kinds take turns).
fn make(rng: &mut impl Rng, i: usize) -> (String, i64) {
    let mut n = |lo: i64, hi: i64| rng.random_range(lo..=hi);
    let names = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"];
    match i % 8 {
        0 => {
            let (a, b) = (n(12, 99), n(12, 99));
            (format!("What is {a} + {b}?"), a + b)
        }
        1 => {
            let (a, b) = (n(6, 19), n(3, 12));
            (format!("What is {a} times {b}?"), a * b)
        }
        2 => {
            let (a, b) = (n(40, 120), n(5, 39));
            (format!("What is {a} minus {b}?"), a - b)
        }
        3 => {
            let (a, b) = (n(11, 40), n(3, 20));
            (
                format!(
                    "A farmer has {a} sheep and buys {b} more. How many sheep does he have now?"
                ),
                a + b,
            )
        }
        4 => {
            let who = names[n(0, names.len() as i64 - 1) as usize];
            let (a, b) = (n(20, 60), n(2, 19));
            (
                format!(
                    "{who} has {a} apples and gives {b} to a friend. How many apples are left?"
                ),
                a - b,
            )
        }
        5 => {
            let (a, b) = (n(4, 15), n(3, 9));
            (
                format!("A box holds {a} pencils. How many pencils are in {b} boxes?"),
                a * b,
            )
        }
        6 => {
            let (groups, size) = (n(3, 12), n(2, 8));
            (
                format!(
                    "{} students split into groups of {size}. How many groups are there?",
                    groups * size
                ),
                groups,
            )
        }
        _ => {
            let (speed, hours) = (n(30, 90), n(2, 6));
            (
                format!(
                    "A train travels {speed} km each hour for {hours} hours. How many km does it travel?"
                ),
                speed * hours,
            )
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    #[serde(default)]
    id: Option<serde_json::Value>,
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    answer: Option<serde_json::Value>,
}

/// Read a JSONL problem file. Blank lines are skipped; every other line must be an object
/// with a string `prompt`, and may have `answer` (a string or a number) and `id`.
pub fn load_jsonl(path: &Path) -> Result<Vec<Problem>, ProblemsError> {
    let text =
        crate::textfile::read_text(path, crate::textfile::DATA_LIMIT).map_err(|message| {
            ProblemsError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
            }
        })?;
    let mut problems: Vec<Problem> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |message: String| ProblemsError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        let row: Row = serde_json::from_str(raw).map_err(|e| {
            bad(format!(
                "expected a JSON object with `prompt` (and optional `answer`, `id`): {e}"
            ))
        })?;
        let prompt = match row.prompt {
            Some(serde_json::Value::String(p)) if !p.trim().is_empty() => p,
            Some(serde_json::Value::String(_)) => return Err(bad("`prompt` is empty".into())),
            Some(other) => return Err(bad(format!("`prompt` must be a string, not {other}"))),
            None => return Err(bad("missing field `prompt`".into())),
        };
        let answer = match row.answer {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(a)) => Some(a),
            Some(serde_json::Value::Number(a)) => Some(a.to_string()),
            Some(other) => {
                return Err(bad(format!(
                    "`answer` must be a string or a number, not {other}"
                )));
            }
        };
        let id = match row.id {
            None | Some(serde_json::Value::Null) => format!("line-{line}"),
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(bad(format!(
                    "`id` must be a string or a number, not {other}"
                )));
            }
        };
        if problems.iter().any(|p| p.id == id) {
            return Err(bad(format!("the id `{id}` is used twice")));
        }
        problems.push(Problem { id, prompt, answer });
    }
    if problems.is_empty() {
        return Err(ProblemsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_is_deterministic_and_answered() {
        let a = builtin(24, 7);
        assert_eq!(a, builtin(24, 7));
        assert_ne!(a, builtin(24, 8));
        assert_eq!(a.len(), 24);
        for p in &a {
            let answer: i64 = p.answer.as_deref().unwrap().parse().unwrap();
            assert!(answer > 0, "{p:?}");
        }
        assert_eq!(a[0].id, "builtin-001");
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_prompts_answers_and_ids() {
        let (_d, p) = write(
            "{\"prompt\": \"2+2?\", \"answer\": 4}\n\n{\"id\": \"q7\", \"prompt\": \"Name?\", \"answer\": \"Ada\"}\n{\"prompt\": \"open\"}\n",
        );
        let problems = load_jsonl(&p).unwrap();
        assert_eq!(problems.len(), 3);
        assert_eq!(problems[0].id, "line-1");
        assert_eq!(problems[0].answer.as_deref(), Some("4"));
        assert_eq!(problems[1].id, "q7");
        assert_eq!(problems[2].answer, None);
    }

    #[test]
    fn bad_files_name_the_line_and_the_field() {
        let (_d, p) = write("{\"prompt\": \"ok\"}\n{\"answer\": 3}\n");
        let e = load_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("p.jsonl:2: missing field `prompt`"), "{e}");
        let (_d, p) = write("{\"prompt\": 5}\n");
        assert!(
            load_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains("`prompt` must be a string")
        );
        let (_d, p) = write("not json\n");
        assert!(
            load_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains(":1: expected a JSON object")
        );
        let (_d, p) = write("\n\n");
        assert!(
            load_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains("no problems")
        );
        let (_d, p) = write("{\"prompt\": \"a\", \"promt\": \"b\"}\n");
        assert!(
            load_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains("unknown field `promt`")
        );
    }
}
