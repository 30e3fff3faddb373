//! The trace: a versioned JSONL event stream, its writer and reader, and the recorder that
//! turns a token stream into events.

mod float;
mod open_spans;
mod reader;
mod recorder;
mod schema;
mod sink;
mod writer;

pub use open_spans::OpenSpans;
pub use reader::{
    ReadWarning, TraceError, TraceFile, is_whole_trace, map_trace, parse_event, parse_trace,
    read_trace, stream_trace,
};
pub use recorder::{Recorder, RecorderOptions, StageSeconds, StepOutcome, TokenInput};
pub use schema::*;
pub use sink::{EventSink, MemorySink, NullSink, Tee};
pub use writer::TraceWriter;
