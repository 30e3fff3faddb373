//! A result directory, written item by item so a rerun resumes: each finished item appends
//! its rows to the CSV files and then, last, its line to `items.jsonl`, which marks it done.
//! Opening a directory again keeps exactly the finished items' rows (a crash mid-item leaves
//! rows that are dropped) and checks that the settings are the same.
//!
//! Files: `config.json` (the settings), `items.jsonl` (one summary per item),
//! `positions.csv` (every position under every arm), `channel.csv` (per memento and layer),
//! `answers.csv` (free-running answers per arm and seed), `traces/` (each item's stream), and,
//! once the probe has run, `probe.csv`.
//!
//! [`Results::load`] reads a directory without writing to it, for the view.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::channel::ChannelRow;
use super::metrics::{Aggregate, PositionRow};
use super::probe::ProbeConfig;
pub use super::probe::ProbeRow;

pub const CONFIG: &str = "config.json";
pub const ITEMS: &str = "items.jsonl";
pub const POSITIONS: &str = "positions.csv";
pub const CHANNEL: &str = "channel.csv";
pub const ANSWERS: &str = "answers.csv";
pub const TRACES: &str = "traces";
pub const PROBE: &str = "probe.csv";

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Bad {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}: this directory holds a run with other settings ({field}: {was} there, {now} now); \
         choose another output directory or remove it"
    )]
    Mismatch {
        path: PathBuf,
        field: String,
        was: String,
        now: String,
    },
    #[error("{path}: not an ablation result directory ({why})")]
    NotResults { path: PathBuf, why: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A CSV library error, reported as an I/O error on `path`.
fn csv_io(path: &Path) -> impl FnOnce(csv::Error) -> ResultsError + use<> {
    let path = path.to_path_buf();
    move |e| ResultsError::Io {
        path,
        source: std::io::Error::other(e),
    }
}

/// One free-running answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerRow {
    pub item: String,
    pub arm: String,
    pub seed: u64,
    pub answer: Option<String>,
    pub reference: Option<String>,
    /// `None` without a reference answer.
    pub correct: Option<bool>,
    pub tokens: u64,
    pub peak_kv: u64,
}

/// One arm's figures for an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    pub arm: String,
    /// Over every position.
    pub all: Aggregate,
    pub block: Aggregate,
    pub memento: Aggregate,
    pub answer: Aggregate,
    /// Free-running answers that match the reference, of those with one.
    pub correct: u64,
    pub answered: u64,
}

/// The line an item adds to `items.jsonl` when it is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub item: String,
    pub prompt: String,
    pub reference: Option<String>,
    /// Tokens of the teacher-forced stream.
    pub tokens: u64,
    pub blocks: u64,
    pub mementos: u64,
    pub arms: Vec<ArmSummary>,
}

pub struct ResultDir {
    pub dir: PathBuf,
    pub done: Vec<ItemResult>,
    finished: HashSet<String>,
    items: File,
    positions: csv::Writer<File>,
    channel: csv::Writer<File>,
    answers: csv::Writer<File>,
}

impl ResultDir {
    /// Open (creating) `dir` for a run with `config`, keeping the finished items of an
    /// earlier run with the same settings.
    pub fn open<C: Serialize>(dir: &Path, config: &C) -> Result<ResultDir, ResultsError> {
        std::fs::create_dir_all(dir.join(TRACES)).map_err(io(dir))?;
        check_config(&dir.join(CONFIG), config)?;
        let items_path = dir.join(ITEMS);
        let (done, lines) = read_items_and_lines(&items_path)?;
        let finished: HashSet<String> = done.iter().map(|i| i.item.clone()).collect();
        // Rewrite every file with the finished items' rows only; the lines kept are the
        // bytes written, not a re-serialisation, so nothing shifts by a rounding.
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&items_path, text).map_err(io(&items_path))?;
        let positions = keep_rows::<PositionRow>(&dir.join(POSITIONS), &finished, |r| &r.item)?;
        let channel = keep_rows::<ChannelRow>(&dir.join(CHANNEL), &finished, |r| &r.item)?;
        let answers = keep_rows::<AnswerRow>(&dir.join(ANSWERS), &finished, |r| &r.item)?;
        let items = OpenOptions::new()
            .append(true)
            .open(&items_path)
            .map_err(io(&items_path))?;
        Ok(ResultDir {
            dir: dir.to_path_buf(),
            done,
            finished,
            items,
            positions,
            channel,
            answers,
        })
    }

    /// Whether the passcode probe has finished (it writes its file whole, at the end).
    pub fn has_probe(&self) -> bool {
        self.dir.join(PROBE).is_file()
    }

    /// Write the passcode probe's rows to `probe.csv`, through a temporary file so an
    /// interrupted write leaves no half file that would read as finished.
    pub fn write_probe(&self, rows: &[ProbeRow]) -> Result<PathBuf, ResultsError> {
        let path = self.dir.join(PROBE);
        let partial = self.dir.join(format!("{PROBE}.partial"));
        let mut writer = csv::Writer::from_path(&partial).map_err(csv_io(&partial))?;
        for row in rows {
            writer.serialize(row).map_err(csv_io(&partial))?;
        }
        writer.flush().map_err(io(&partial))?;
        drop(writer);
        std::fs::rename(&partial, &path).map_err(io(&path))?;
        Ok(path)
    }

    pub fn is_done(&self, item: &str) -> bool {
        self.finished.contains(item)
    }

    pub fn trace_path(&self, item: &str) -> PathBuf {
        trace_path(&self.dir, item)
    }

    /// Append a finished item: its rows first, its summary line last.
    pub fn write_item(
        &mut self,
        item: &ItemResult,
        rows: &[PositionRow],
        channel: &[ChannelRow],
        answers: &[AnswerRow],
    ) -> Result<(), ResultsError> {
        let dir = self.dir.clone();
        let fail = |name: &str| csv_io(&dir.join(name));
        for r in rows {
            self.positions.serialize(r).map_err(fail(POSITIONS))?;
        }
        self.positions.flush().map_err(io(&dir.join(POSITIONS)))?;
        for r in channel {
            self.channel.serialize(r).map_err(fail(CHANNEL))?;
        }
        self.channel.flush().map_err(io(&dir.join(CHANNEL)))?;
        for r in answers {
            self.answers.serialize(r).map_err(fail(ANSWERS))?;
        }
        self.answers.flush().map_err(io(&dir.join(ANSWERS)))?;
        let line = serde_json::to_string(item).expect("serialisable") + "\n";
        let items = dir.join(ITEMS);
        self.items.write_all(line.as_bytes()).map_err(io(&items))?;
        self.items.flush().map_err(io(&items))?;
        self.finished.insert(item.item.clone());
        self.done.push(item.clone());
        Ok(())
    }
}

/// Where the result directory `dir` keeps `item`'s stream.
pub fn trace_path(dir: &Path, item: &str) -> PathBuf {
    let safe: String = item
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(TRACES).join(format!("{safe}.trace.jsonl"))
}

/// The settings a directory was written with, as far as reading its results needs them.
/// Fields a viewer does not interpret stay JSON, so a directory written with other sampler
/// or scaffold fields still opens.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Settings {
    pub model: String,
    pub problems: String,
    pub arms: Vec<String>,
    #[serde(default)]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub max_tokens: u32,
    #[serde(default)]
    pub scaffold: Option<serde_json::Value>,
    #[serde(default)]
    pub sampler: serde_json::Value,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub probe: Option<ProbeConfig>,
}

/// A result directory read whole, without writing to it: the finished items and their rows
/// (rows of an item cut short are left out, as a resumed run drops them).
#[derive(Debug, Clone)]
pub struct Results {
    pub dir: PathBuf,
    pub settings: Settings,
    pub items: Vec<ItemResult>,
    pub positions: Vec<PositionRow>,
    pub channel: Vec<ChannelRow>,
    pub answers: Vec<AnswerRow>,
    /// `probe.csv`, when the probe has run.
    pub probe: Option<Vec<ProbeRow>>,
}

/// True when `dir` looks like a result directory (settings and item summaries).
pub fn is_result_dir(dir: &Path) -> bool {
    dir.join(CONFIG).is_file() && dir.join(ITEMS).is_file()
}

impl Results {
    pub fn load(dir: &Path) -> Result<Results, ResultsError> {
        let meta = std::fs::metadata(dir).map_err(io(dir))?;
        if !meta.is_dir() {
            return Err(ResultsError::NotResults {
                path: dir.to_path_buf(),
                why: "a file, not a directory".into(),
            });
        }
        for name in [CONFIG, ITEMS] {
            if !dir.join(name).is_file() {
                return Err(ResultsError::NotResults {
                    path: dir.to_path_buf(),
                    why: format!("no {name}"),
                });
            }
        }
        let config = dir.join(CONFIG);
        let text = std::fs::read_to_string(&config).map_err(io(&config))?;
        let settings: Settings = serde_json::from_str(&text).map_err(|e| ResultsError::Bad {
            path: config.clone(),
            line: e.line(),
            message: format!("not the settings of an ablation run: {e}"),
        })?;
        let items = read_items(&dir.join(ITEMS))?;
        let finished: HashSet<&str> = items.iter().map(|i| i.item.as_str()).collect();
        let mut positions: Vec<PositionRow> = read_rows(&dir.join(POSITIONS))?;
        positions.retain(|r| finished.contains(r.item.as_str()));
        let mut channel: Vec<ChannelRow> = read_rows(&dir.join(CHANNEL))?;
        channel.retain(|r| finished.contains(r.item.as_str()));
        let mut answers: Vec<AnswerRow> = read_rows(&dir.join(ANSWERS))?;
        answers.retain(|r| finished.contains(r.item.as_str()));
        let probe_path = dir.join(PROBE);
        let probe = if probe_path.exists() {
            Some(read_rows(&probe_path)?)
        } else {
            None
        };
        Ok(Results {
            dir: dir.to_path_buf(),
            settings,
            items,
            positions,
            channel,
            answers,
            probe,
        })
    }

    pub fn trace_path(&self, item: &str) -> PathBuf {
        trace_path(&self.dir, item)
    }
}

/// Write `config` to a new directory, or check it against the one there.
fn check_config<C: Serialize>(path: &Path, config: &C) -> Result<(), ResultsError> {
    let now = serde_json::to_value(config).expect("serialisable");
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let was: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ResultsError::Bad {
                    path: path.to_path_buf(),
                    line: e.line(),
                    message: format!("not the settings of an ablation run: {e}"),
                })?;
            if let (Some(was), Some(now)) = (was.as_object(), now.as_object()) {
                for (field, value) in now {
                    let old = was.get(field).cloned().unwrap_or(serde_json::Value::Null);
                    if &old != value {
                        return Err(ResultsError::Mismatch {
                            path: path.to_path_buf(),
                            field: field.clone(),
                            was: old.to_string(),
                            now: value.to_string(),
                        });
                    }
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(&now).expect("serialisable") + "\n";
            std::fs::write(path, text).map_err(io(path))
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// The settings in `dir`'s `config.json`, or `null` when it is missing or unreadable (a
/// report still comes out, with `?` for the settings).
pub fn read_config(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(CONFIG)).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// The arm names in a run's settings, in order.
pub fn config_arms(config: &serde_json::Value) -> Vec<String> {
    config["arms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The finished items in `items.jsonl`. A last line cut short (a crash while writing it)
/// does not count; a bad line elsewhere is an error.
pub fn read_items(path: &Path) -> Result<Vec<ItemResult>, ResultsError> {
    Ok(read_items_and_lines(path)?.0)
}

/// The finished items and their lines as written.
fn read_items_and_lines(path: &Path) -> Result<(Vec<ItemResult>, Vec<String>), ResultsError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io(path)(e)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io(path))?;
    let mut items = Vec::new();
    let mut kept = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ItemResult>(line) {
            Ok(item) => {
                items.push(item);
                kept.push(line.clone());
            }
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(ResultsError::Bad {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("not an item summary: {e}"),
                });
            }
        }
    }
    Ok((items, kept))
}

/// Rows of a CSV file (none when it does not exist).
pub fn read_rows<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>, ResultsError> {
    Ok(read_records(path)?.into_iter().map(|(_, r)| r).collect())
}

/// Each row of a CSV file with the record it was read from. Rows cut short by a crash belong
/// to an unfinished item and are skipped; any other bad row is an error naming its line.
fn read_records<R: DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(csv::StringRecord, R)>, ResultsError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(path).map_err(csv_io(path))?;
    let headers = reader.headers().map_err(csv_io(path))?.clone();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let bad = |message: String| ResultsError::Bad {
            path: path.to_path_buf(),
            line: i + 2,
            message,
        };
        let record = match record {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) => continue,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(csv_io(path)(e)),
            Err(e) => return Err(bad(e.to_string())),
        };
        let row: R = record.deserialize(Some(&headers)).map_err(|e| {
            // Name the column rather than its index.
            let message = match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => {
                    match err.field().and_then(|f| headers.get(f as usize)) {
                        Some(column) => format!("column `{column}`: {}", err.kind()),
                        None => err.to_string(),
                    }
                }
                _ => e.to_string(),
            };
            bad(message)
        })?;
        rows.push((record, row));
    }
    Ok(rows)
}

/// The CSV header of row type `R`: the first record a header-writing serialiser emits.
fn header_of<R: Serialize + Default>() -> Vec<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.serialize(R::default()).expect("serialisable");
    let bytes = writer.into_inner().expect("in memory");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    let first = reader.records().next().expect("a header").expect("valid");
    first.iter().map(str::to_string).collect()
}

/// Rewrite `path` with the rows of finished items only, and open it for appending.
fn keep_rows<R: Serialize + DeserializeOwned + Default>(
    path: &Path,
    finished: &HashSet<String>,
    item_of: impl Fn(&R) -> &String,
) -> Result<csv::Writer<File>, ResultsError> {
    // The records kept are the ones read, written back field for field: no number goes
    // through a parse and a print.
    let kept: Vec<csv::StringRecord> = read_records::<R>(path)?
        .into_iter()
        .filter(|(_, row)| finished.contains(item_of(row)))
        .map(|(record, _)| record)
        .collect();
    let file = File::create(path).map_err(io(path))?;
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(file);
    writer
        .write_record(header_of::<R>())
        .map_err(csv_io(path))?;
    for record in &kept {
        writer.write_record(record).map_err(csv_io(path))?;
    }
    writer.flush().map_err(io(path))?;
    // Rows from now on are appended under that header.
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io(path))?;
    Ok(csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(file))
}
