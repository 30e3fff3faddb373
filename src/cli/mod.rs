//! The command line: every job headless, for scripts and benchmarks, plus the replay TUI.

mod args;
mod bench;
mod bench_decode;
mod export;
mod fetch;
mod generate;
mod import;
mod load;
mod output;
mod replay;
mod stats;
mod synth;

use clap::{Parser, Subcommand};

pub use load::{load_timeline, looks_like_trace};

#[derive(Parser, Debug)]
#[command(
    name = "memento",
    version,
    about = "A terminal reasoning workbench and trace visualizer for MEMENTO-style block-evicting reasoning models",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import MEMENTO outputs, OpenMementos rows, raw chain of thought or tagged text as traces
    Import(import::ImportArgs),
    /// Blocks, mementos, compression and peak KV (full vs memento) per trace and in aggregate
    Stats(stats::StatsArgs),
    /// Replay a trace in the terminal
    Replay(replay::ReplayArgs),
    /// Generate a deterministic synthetic trace
    Synth(synth::SynthArgs),
    /// Benchmarks
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Decode a prompt with a local model, streaming the text and recording a trace
    Generate(generate::GenerateArgs),
    /// Download the default model (SmolLM2-135M-Instruct Q4_1) into the cache
    Fetch(fetch::FetchArgs),
    /// Export a run to Markdown and its KV chart to SVG and PNG
    Export(export::ExportArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Import(a) => import::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Export(a) => export::run(a),
    }
}
