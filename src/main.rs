use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = memento::cli::Cli::parse();
    match memento::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the file, the field or line, what was expected. Some library errors
            // carry backtraces or wrapped text; the first line of each is the message.
            let message: Vec<String> = e
                .chain()
                .map(|cause| {
                    cause
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            eprintln!("memento: {}", dedup_chain(message).join(": "));
            ExitCode::FAILURE
        }
    }
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
