//! Reads a trace: checks the header and version, parses every event, tolerates a truncated
//! last line (a crashed writer), and names the file, line and field of anything wrong.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::schema::{
    DiagnosticEvent, EndEvent, Event, EvictEvent, FORMAT_MAJOR, FORMAT_NAME, Header, KvEvent,
    MarkerEvent, PromptEvent, SnapshotEvent, StructureEvent, TokenEvent,
};

/// Deserialize the variant named `$kind` with `$de`; `None` for an unknown kind.
macro_rules! dispatch {
    ($kind:expr, $de:expr) => {
        match $kind {
            "prompt" => Some(typed::<PromptEvent>($kind, $de).map(Event::Prompt)),
            "token" => Some(typed::<TokenEvent>($kind, $de).map(Event::Token)),
            "structure" => Some(typed::<StructureEvent>($kind, $de).map(Event::Structure)),
            "kv" => Some(typed::<KvEvent>($kind, $de).map(Event::Kv)),
            "evict" => Some(typed::<EvictEvent>($kind, $de).map(Event::Evict)),
            "marker" => Some(typed::<MarkerEvent>($kind, $de).map(Event::Marker)),
            "snapshot" => Some(typed::<SnapshotEvent>($kind, $de).map(Event::Snapshot)),
            "diagnostic" => Some(typed::<DiagnosticEvent>($kind, $de).map(Event::Diagnostic)),
            "end" => Some(typed::<EndEvent>($kind, $de).map(Event::End)),
            _ => None,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: the file is empty; expected a memento trace header on line 1", path.display())]
    Empty { path: PathBuf },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{}:1: trace format version {found} is not supported; this memento reads version {FORMAT_MAJOR}.x",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, found: String },
}

/// Something the reader skipped but kept going after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadWarning {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct TraceFile {
    pub path: PathBuf,
    pub header: Header,
    pub events: Vec<Event>,
    /// The 1-based line of each event, for messages.
    pub lines: Vec<usize>,
    pub warnings: Vec<ReadWarning>,
}

pub fn read_trace(path: &Path) -> Result<TraceFile, TraceError> {
    let map = map_trace(path)?;
    parse_trace(path, &map)
}

/// Map a trace file read-only: the file, opened as a regular file, and not empty.
pub fn map_trace(path: &Path) -> Result<memmap2::Mmap, TraceError> {
    let io = |source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::textfile::open_regular(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    }
    // SAFETY: the map is read-only and lives only as long as its caller's read; a writer
    // appending to the file meanwhile can only extend it past the mapped length.
    unsafe { memmap2::Mmap::map(&file) }.map_err(io)
}

/// Read a mapped trace's events in file order, handing each to `each` with its line, one
/// window of the file at a time: memory holds one window's events (and, as pages of the map
/// already read are released, one window of the file), never the whole trace's. An error
/// from `each` is reported at that event's line.
pub fn stream_trace<T>(
    path: &Path,
    map: &memmap2::Mmap,
    start: impl FnOnce(Header) -> T,
    mut each: impl FnMut(&mut T, Event, usize) -> Result<(), String>,
) -> Result<(T, Vec<ReadWarning>), TraceError> {
    let bytes: &[u8] = map;
    let (header, at, line_no) = parse_head(path, bytes)?;
    let mut state = start(header);
    let base = map.as_ptr() as usize;
    let each = |event, line| each(&mut state, event, line);
    let warnings = parse_body(path, &bytes[at..], line_no, each, |done: &[u8]| {
        let offset = done.as_ptr() as usize - base;
        // SAFETY: the map is a read-only map of a file: pages dropped here are read again
        // from the file if touched, and nothing before this window is read again anyway.
        unsafe {
            let _ =
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, done.len());
        }
    })?;
    Ok((state, warnings))
}

/// True when `path` reads as a trace whose last event is its end event: a whole recording,
/// not one cut short.
pub fn is_whole_trace(path: &Path) -> bool {
    map_trace(path)
        .and_then(|map| {
            stream_trace(
                path,
                &map,
                |_| false,
                |ended, event, _| {
                    *ended = matches!(event, Event::End(_));
                    Ok(())
                },
            )
        })
        .is_ok_and(|(ended, _)| ended)
}

/// Parse trace bytes; `path` is only used in messages.
pub fn parse_trace(path: &Path, bytes: &[u8]) -> Result<TraceFile, TraceError> {
    let (header, at, line_no) = parse_head(path, bytes)?;
    let mut events = Vec::with_capacity(bytes.len() / 64);
    let mut lines = Vec::with_capacity(bytes.len() / 64);
    let warnings = parse_body(
        path,
        &bytes[at..],
        line_no,
        |event, line| {
            events.push(event);
            lines.push(line);
            Ok(())
        },
        |_| {},
    )?;
    Ok(TraceFile {
        path: path.to_path_buf(),
        header,
        events,
        lines,
        warnings,
    })
}

/// The header of trace bytes, the byte offset where its body starts, and the header's line.
fn parse_head(path: &Path, bytes: &[u8]) -> Result<(Header, usize, usize), TraceError> {
    // A byte-order mark before the header (an editor's save) is not part of the trace; `\r\n`
    // line ends need nothing, as `\r` is JSON whitespace.
    let bom = if bytes.starts_with(crate::textfile::BOM) {
        crate::textfile::BOM.len()
    } else {
        0
    };
    let empty = || TraceError::Empty {
        path: path.to_path_buf(),
    };
    let mut lines = Lines::new(&bytes[bom..]);
    let (header_no, header_line, _) = lines.next_nonblank().ok_or_else(empty)?;
    let header = parse_header(path, header_no, header_line)?;
    Ok((header, bom + lines.at, lines.no))
}

/// Bytes of a trace's body parsed at once (split among the parser threads).
const WINDOW: usize = 8 << 20;

/// Parse the body (the lines after the header, whose line number is `line_no`), window by
/// window, handing events to `each` in order and each finished window to `done`.
fn parse_body(
    path: &Path,
    body: &[u8],
    line_no: usize,
    mut each: impl FnMut(Event, usize) -> Result<(), String>,
    mut done: impl FnMut(&[u8]),
) -> Result<Vec<ReadWarning>, TraceError> {
    let invalid = |line: usize, message: String| TraceError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut warnings = Vec::new();
    // Line numbers: each chunk counts from 1; add the lines before it.
    let mut line_base = line_no;
    let mut window_start = 0;
    while window_start < body.len() {
        let target = (window_start + WINDOW).min(body.len());
        let window_end = if target == body.len() {
            target
        } else {
            memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |p| target + p + 1)
        };
        let window = &body[window_start..window_end];
        let is_last = window_end == body.len();
        let chunks = split_chunks(window, parallelism());
        let parsed: Vec<ChunkResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(start, end)| {
                    scope.spawn(move || {
                        parse_chunk(&window[start..end], is_last && end == window.len())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err((0, "parser thread failed".into())))
                })
                .collect()
        });
        for (chunk, (start, end)) in parsed.into_iter().zip(chunks) {
            match chunk {
                Ok(c) => {
                    for (event, line) in c.events.into_iter().zip(c.lines) {
                        let line = line + line_base;
                        each(event, line).map_err(|message| invalid(line, message))?;
                    }
                    warnings.extend(c.warnings.into_iter().map(|mut w| {
                        w.line += line_base;
                        w
                    }));
                }
                Err((line, message)) => return Err(invalid(line + line_base, message)),
            }
            line_base += memchr::memchr_iter(b'\n', &window[start..end]).count();
        }
        done(window);
        window_start = window_end;
    }
    Ok(warnings)
}

struct Chunk {
    events: Vec<Event>,
    /// 1-based line numbers within the chunk.
    lines: Vec<usize>,
    warnings: Vec<ReadWarning>,
}

type ChunkResult = Result<Chunk, (usize, String)>;

/// Parse the lines of one chunk; `last` marks the chunk that ends the file, whose final line
/// may be cut short by a crash.
fn parse_chunk(bytes: &[u8], last: bool) -> ChunkResult {
    let mut lines = Lines::new(bytes);
    let mut chunk = Chunk {
        events: Vec::with_capacity(bytes.len() / 64),
        lines: Vec::with_capacity(bytes.len() / 64),
        warnings: Vec::new(),
    };
    while let Some((no, line, terminated)) = lines.next_nonblank() {
        match parse_event(line) {
            Ok(Some(event)) => {
                chunk.events.push(event);
                chunk.lines.push(no);
            }
            Ok(None) => chunk.warnings.push(ReadWarning {
                line: no,
                message: format!(
                    "unknown event type `{}` skipped",
                    event_type(line).unwrap_or("?")
                ),
            }),
            Err(message) if last && !terminated => chunk.warnings.push(ReadWarning {
                line: no,
                message: format!("truncated last line ignored ({message})"),
            }),
            Err(message) => return Err((no, message)),
        }
    }
    Ok(chunk)
}

/// Split into about `n` byte ranges that each end just after a newline (or at the end).
fn split_chunks(bytes: &[u8], n: usize) -> Vec<(usize, usize)> {
    let n = if bytes.len() < 1 << 20 { 1 } else { n.max(1) };
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..=n {
        if start >= bytes.len() {
            break;
        }
        let target = bytes.len() * i / n;
        let end = if i == n || target <= start {
            bytes.len()
        } else {
            memchr::memchr(b'\n', &bytes[target..]).map_or(bytes.len(), |p| target + p + 1)
        };
        out.push((start, end));
        start = end;
    }
    if out.is_empty() {
        out.push((0, 0));
    }
    out
}

fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

fn parse_header(path: &Path, no: usize, line: &[u8]) -> Result<Header, TraceError> {
    let invalid = |message: String| TraceError::Invalid {
        path: path.to_path_buf(),
        line: no,
        message,
    };
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        invalid(format!(
            "not a memento trace: expected a JSON header with \"format\": \"{FORMAT_NAME}\" ({e})"
        ))
    })?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT_NAME) {
        return Err(invalid(format!(
            "not a memento trace: header field `format` must be \"{FORMAT_NAME}\", found {}",
            value
                .get("format")
                .map_or("nothing".to_string(), |f| f.to_string())
        )));
    }
    let version = value
        .get("version")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid("header field `version`: expected a string like \"1.0\"".into()))?;
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major != Some(FORMAT_MAJOR) {
        return Err(TraceError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version.to_string(),
        });
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| invalid(format!("header field `{}`: {}", e.path(), e.inner())))
}

/// The `type` of an event line written the canonical way (`{"type":"...",`), cheaply.
fn event_type(line: &[u8]) -> Option<&str> {
    let rest = line.strip_prefix(b"{\"type\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// Parse one event line. `Ok(None)` for an event type this version does not know.
pub fn parse_event(line: &[u8]) -> Result<Option<Event>, String> {
    if let Some(kind) = event_type(line) {
        // Canonical order: deserialize straight into the variant. Field paths are tracked
        // only when that fails, to name the field in the message.
        let fast = match kind {
            "token" => serde_json::from_slice(line).map(Event::Token).ok(),
            "kv" => serde_json::from_slice(line).map(Event::Kv).ok(),
            _ => None,
        };
        if let Some(event) = fast {
            return Ok(Some(event));
        }
        let mut de = serde_json::Deserializer::from_slice(line);
        let Some(event) = dispatch!(kind, serde_path_to_error::deserialize(&mut de)) else {
            return Ok(None);
        };
        let event = event?;
        de.end().map_err(|e| format!("{kind} event: {e}"))?;
        return Ok(Some(event));
    }
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON event: {e}"))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or("event field `type`: expected a string naming the event")?
        .to_string();
    match dispatch!(kind.as_str(), serde_path_to_error::deserialize(value)) {
        Some(event) => event.map(Some),
        None => Ok(None),
    }
}

fn typed<T: DeserializeOwned>(
    kind: &str,
    result: Result<T, serde_path_to_error::Error<serde_json::Error>>,
) -> Result<T, String> {
    result.map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{kind} event: {}", e.inner())
        } else {
            format!("{kind} event field `{path}`: {}", e.inner())
        }
    })
}

/// Lines with their 1-based numbers and whether they ended with a newline.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    no: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            at: 0,
            no: 0,
        }
    }

    fn next_nonblank(&mut self) -> Option<(usize, &'a [u8], bool)> {
        while self.at < self.bytes.len() {
            let rest = &self.bytes[self.at..];
            self.no += 1;
            let (line, terminated) = match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    self.at += end + 1;
                    (&rest[..end], true)
                }
                None => {
                    self.at = self.bytes.len();
                    (rest, false)
                }
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some((self.no, line, terminated));
            }
        }
        None
    }
}
