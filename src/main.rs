use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // `--temperature -1` is a value (refused by its check with a reason), not an unknown flag.
    let matches = accept_negative_numbers(memento::cli::Cli::command()).get_matches();
    let cli = memento::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Before any kernel runs: candle sizes its thread pools once, from the environment.
    if let Some(dtype) = cli.kv_dtype {
        memento::kv::KvDtype::set_engine_default(dtype);
    }
    if cli.threads.is_some() || cli.decodes() {
        memento::threads::configure(cli.threads);
    }
    match memento::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the file, the field or line, what was expected. Some library errors
            // carry backtraces or wrapped text; the first line of each is the message.
            let message: Vec<String> = e
                .chain()
                .map(|cause| {
                    memento::cli::printable(cause.to_string().lines().next().unwrap_or_default())
                })
                .collect();
            eprintln!("memento: {}", dedup_chain(message).join(": "));
            ExitCode::FAILURE
        }
    }
}

fn accept_negative_numbers(cmd: clap::Command) -> clap::Command {
    cmd.allow_negative_numbers(true)
        .mut_subcommands(accept_negative_numbers)
}

/// anyhow chains often repeat the inner message inside the outer one; keep each part once.
fn dedup_chain(parts: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in parts {
        if !out.iter().any(|kept| kept.contains(part.as_str())) {
            out.push(part);
        }
    }
    out
}
