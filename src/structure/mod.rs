//! Structure: the streaming segmenter (tokens in, MEMENTO spans out) and the outline of a
//! finished stream (its blocks, mementos and answer with their positions).

mod boundary;
mod diagnostic;
mod outline;
mod segmenter;
mod tags;

pub use boundary::{Boundary, Edge, SpanKind, TagSpan};
pub use diagnostic::{Diagnostic, DiagnosticCode, Severity};
pub use outline::{BlockOutline, Outline};
pub use segmenter::{Segmenter, SegmenterConfig};
pub use tags::Tag;
