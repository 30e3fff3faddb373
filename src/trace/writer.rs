//! Writes a trace as JSONL, flushing after every line so a crash keeps what was written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::schema::{Event, Header};
use super::sink::EventSink;

pub struct TraceWriter<W: Write> {
    out: BufWriter<W>,
    line: Vec<u8>,
}

impl TraceWriter<File> {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(TraceWriter::new(File::create(path)?))
    }

    /// Create `path` exclusively (`O_EXCL`): fails with `AlreadyExists` rather than replace or
    /// share a file another run is writing.
    pub fn create_new(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(TraceWriter::new(file))
    }
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W) -> Self {
        TraceWriter {
            out: BufWriter::new(out),
            line: Vec::with_capacity(256),
        }
    }

    fn write_line<T: serde::Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> std::io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> EventSink for TraceWriter<W> {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.write_line(header)
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.write_line(event)
    }
}
