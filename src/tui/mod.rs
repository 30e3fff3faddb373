//! The terminal UI. The app state is pure (actions in, state out); views draw it; the
//! runner owns the terminal, reads input and paces frames. The TUI never touches tensors.

pub mod app;
pub mod editor;
pub mod history;
pub mod keymap;
mod runner;
mod terminal;
pub mod theme;
pub mod view;

pub use runner::{RunOptions, run};
