//! The command line: every job headless, for scripts and benchmarks, plus the replay TUI.

mod ablate;
mod args;
mod bench;
mod bench_decode;
mod bench_http;
mod bench_serve;
mod bench_tui;
mod eval;
mod export;
mod fetch;
mod generate;
mod gpu_check;
mod import;
mod load;
mod output;
mod replay;
mod run;
mod serve;
mod stats;
mod synth;
mod train;

use clap::{Parser, Subcommand};

pub use load::{load_timeline, looks_like_trace};
pub use output::{printable, printable_path};

#[derive(Parser, Debug)]
#[command(
    name = "memento",
    version,
    about = "A terminal reasoning workbench and trace visualizer for MEMENTO-style block-evicting reasoning models",
    long_about = None
)]
pub struct Cli {
    /// Without a command, the workbench opens (as `memento run`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// CPU threads for decoding (default: the physical cores other processes leave free;
    /// see README, "Threads")
    #[arg(
        long,
        global = true,
        env = "MEMENTO_THREADS",
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096)
    )]
    pub threads: Option<usize>,
    /// How the KV cache stores keys and values: f16 (default, as llama.cpp), f32 or q8_0;
    /// recorded in each trace's model shape
    #[arg(
        long,
        global = true,
        env = "MEMENTO_KV_DTYPE",
        value_name = "TYPE",
        value_parser = crate::kv::KvDtype::parse_storage
    )]
    pub kv_dtype: Option<crate::kv::KvDtype>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The live workbench: type a prompt and watch the model reason, block by block
    Run(Box<run::RunArgs>),
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
    /// An OpenAI-compatible HTTP server over the batched engine
    Serve(Box<serve::ServeArgs>),
    /// Download the default model (SmolLM2-135M-Instruct Q4_1) into the cache
    Fetch(fetch::FetchArgs),
    /// Export a run to Markdown and its KV chart to SVG and PNG
    Export(export::ExportArgs),
    /// The dual-stream ablation lab: one stream per problem, teacher-forced through KV arms
    Ablate(Box<ablate::AblateArgs>),
    /// Fine-tune a decoder in two stages: full attention, then memento attention
    Train(Box<train::TrainArgs>),
    /// A model on its own task: accuracy per KV mode, blocks, mementos and peak KV
    Eval(Box<eval::EvalArgs>),
    /// The GPU path against the CPU: kernels, models, tokens, and batch-1 decode bandwidth
    GpuCheck(gpu_check::GpuCheckArgs),
}

impl Cli {
    /// Whether the command runs the engine (and so needs its thread count chosen first).
    pub fn decodes(&self) -> bool {
        match &self.command {
            None => true,
            Some(c) => matches!(
                c,
                Command::Run(_)
                    | Command::Generate(_)
                    | Command::Serve(_)
                    | Command::Ablate(_)
                    | Command::Train(_)
                    | Command::Eval(_)
                    | Command::GpuCheck(_)
                    | Command::Bench(
                        bench::BenchCommand::Decode(_)
                            | bench::BenchCommand::Serve(_)
                            | bench::BenchCommand::Tui(_)
                    )
            ),
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        // The same defaults as `memento run` with no arguments.
        return match Cli::parse_from(["memento", "run"]).command {
            Some(Command::Run(a)) => run::run(*a),
            _ => unreachable!("`memento run` parses as the run command"),
        };
    };
    match command {
        Command::Run(a) => run::run(*a),
        Command::Import(a) => import::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Serve(a) => serve::run(*a),
        Command::Export(a) => export::run(a),
        Command::Ablate(a) => ablate::run(*a),
        Command::Train(a) => train::run(*a),
        Command::Eval(a) => eval::run(*a),
        Command::GpuCheck(a) => gpu_check::run(a),
    }
}

#[cfg(test)]
mod output_option_tests {
    use clap::Parser;

    use super::{Cli, Command};

    /// Every command that writes a file or directory names it `-o/--output`; `--out` (the
    /// older spelling) still works.
    #[test]
    fn every_command_that_writes_takes_dash_o_and_output() {
        for args in [
            vec!["memento", "import", "x.json", "-o", "a"],
            vec!["memento", "import", "x.json", "--output", "a"],
            vec!["memento", "import", "x.json", "--out", "a"],
            vec!["memento", "ablate", "--builtin", "2", "-o", "a"],
            vec!["memento", "ablate", "--builtin", "2", "--output", "a"],
            vec!["memento", "synth", "-o", "a"],
            vec!["memento", "synth", "--output", "a"],
            vec!["memento", "train", "-o", "a"],
            vec!["memento", "train", "--output", "a"],
            vec!["memento", "train", "--out", "a"],
            vec!["memento", "export", "t.jsonl", "-o", "a"],
        ] {
            let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let out = match cli.command {
                Some(Command::Import(a)) => a.out.unwrap(),
                Some(Command::Ablate(a)) => a.out.clone(),
                Some(Command::Synth(a)) => a.out,
                Some(Command::Train(a)) => a.out,
                Some(Command::Export(a)) => a.output.unwrap(),
                _ => panic!("{args:?}"),
            };
            assert_eq!(out, std::path::PathBuf::from("a"), "{args:?}");
        }
    }
}
