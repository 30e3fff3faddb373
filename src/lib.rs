//! memento: a terminal reasoning workbench and trace visualizer for MEMENTO-style models.
//!
//! Data flows one way: model → engine → events → (trace file | views). This crate holds the
//! event schema ([`trace`]), the streaming segmenter ([`structure`]), the one implementation
//! of the KV eviction policies ([`kv`]), importers ([`import`]), the replayable timeline
//! ([`timeline`]) and the terminal UI ([`tui`]).

pub mod kv;
pub mod structure;
pub mod trace;
