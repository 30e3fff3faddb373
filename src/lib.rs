//! memento: a terminal reasoning workbench and trace visualizer for MEMENTO-style models.
//!
//! Data flows one way: model → engine → events → (trace file | views). This crate holds the
//! event schema ([`trace`]), the streaming segmenter ([`structure`]), the one implementation
//! of the KV eviction policies ([`kv`]), importers ([`import`]), the replayable timeline
//! ([`timeline`]) and the terminal UI ([`tui`]).

pub mod ablate;
pub mod cli;
pub mod engine;
pub mod export;
pub mod fetch;
pub mod gpu;
pub mod import;
pub mod kv;
pub mod live;
pub mod model;
pub mod organism;
pub mod palette;
pub mod remote;
pub mod server;
pub mod serving;
pub mod stats;
pub mod structure;
pub mod synth;
pub mod task;
pub mod textfile;
pub mod threads;
pub mod timeline;
pub mod tokenize;
pub mod trace;
pub mod train;
pub mod tui;
pub mod units;
