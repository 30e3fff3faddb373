//! The terminal UI. The app state is pure (actions in, state out); views draw it; the
//! runner owns the terminal, reads input and paces frames. The TUI never touches tensors.

pub mod ablation;
pub mod app;
pub mod chrome;
pub mod editor;
pub mod history;
pub mod keys;
pub mod pair;
pub mod picker;
pub mod replay;
mod runner;
pub mod screens;
pub mod settings_panel;
mod terminal;
pub mod theme;
pub mod view;
pub mod workbench;

pub use runner::{RunOptions, Screen, UiEvent, run_screen};
