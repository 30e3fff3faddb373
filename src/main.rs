use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = memento::cli::Cli::parse();
    match memento::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the file, the field or line, what was expected.
            eprintln!("memento: {e:#}");
            ExitCode::FAILURE
        }
    }
}
