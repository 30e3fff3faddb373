//! `memento ablate`: the dual-stream ablation lab over a problem set, into a result
//! directory that a rerun resumes; `memento ablate --view DIR` opens one in the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;

use super::args::{ModelArgs, load_model};
use crate::ablate::probe::ProbeConfig;
use crate::ablate::probe::passcode::SampleContext;
use crate::ablate::summary::Summary;
use crate::ablate::{Arm, Lab, LabConfig, ResultDir, Results, plots, problems};
use crate::engine::{SamplerConfig, ScaffoldConfig};
use crate::live::ScaffoldChoice;
use crate::task::Task;
use crate::tui::ablation::AblationApp;
use crate::tui::screens::AblationScreen;
use crate::tui::theme::Theme;
use crate::tui::{RunOptions, run_screen};

#[derive(Args, Debug)]
pub struct AblateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A JSONL file of problems (`prompt`, optional `answer` and `id`); default: the
    /// built-in generated set (the model's own task's held-out problems, when it has one)
    #[arg(long, value_name = "FILE")]
    pub problems: Option<PathBuf>,
    /// How many built-in problems
    #[arg(long, default_value_t = 20, conflicts_with = "problems")]
    pub builtin: usize,
    /// The seed the built-in problems are drawn from
    #[arg(long, default_value_t = 1, conflicts_with = "problems")]
    pub builtin_seed: u64,
    /// Arms: full, memento, restart, keepN (the full arm, the reference, is always run)
    #[arg(long, default_value = "full,memento,restart,keep1")]
    pub arms: String,
    /// Seeds of the free-running answers (the first also generates the compared stream)
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Tokens per stream at most (default: what the model's task needs, else 256)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Runtime-inserted blocks and mementos, for models not trained on them
    #[arg(long, value_enum, default_value = "auto")]
    pub scaffold: ScaffoldChoice,
    /// Scaffolded blocks close at the first sentence end after this many tokens (and at
    /// three times as many regardless); shorter than the workbench's, so that short answers
    /// still hold several blocks
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub block_tokens: u32,
    /// Sampling temperature of the generated stream and the free-running answers
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// 1 = off (default: 1.2 in scaffolded mode, else 1)
    #[arg(long)]
    pub repeat_penalty: Option<f32>,
    /// A system message (none by default)
    #[arg(long)]
    pub system: Option<String>,
    /// The result directory; running again with the same settings resumes it
    #[arg(long = "output", short, alias = "out", default_value = "ablation")]
    pub out: PathBuf,
    /// Stop after this many new items (a long run in parts)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Passcode probe samples, run once every item is done (0 = no probe)
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub probe_samples: usize,
    /// Digits of each passcode
    #[arg(long, default_value_t = 5)]
    pub probe_digits: u32,
    /// The seed the passcodes, their texts and the probe's splits are drawn from
    #[arg(long, default_value_t = 1)]
    pub probe_seed: u64,
    /// What besides the code differs between probe samples: fixed (only the code) or
    /// varied (prompts and texts too)
    #[arg(long, value_enum, default_value = "fixed")]
    pub probe_context: SampleContext,
    /// Open a result directory in the terminal instead of running (`memento replay DIR` does
    /// the same)
    #[arg(long, value_name = "DIR")]
    pub view: Option<PathBuf>,
    /// The view's theme: dark, light, or a path to a theme TOML file
    #[arg(long, default_value = "dark", requires = "view")]
    pub theme: String,
}

/// Open the result directory `dir` in the ablation view. Everything that can be wrong with
/// it is found before the terminal changes mode.
pub fn view(dir: &Path, theme: &str) -> anyhow::Result<()> {
    let theme = Theme::load(theme)?;
    let results = Results::load(dir)?;
    let summary = Summary::of(&results);
    if !std::io::stdout().is_terminal() {
        bail!(
            "the ablation view needs a terminal; {} holds the same tables",
            dir.join(crate::ablate::report::REPORT).display()
        );
    }
    let mut screen = AblationScreen::new(AblationApp::new(summary, theme));
    let (tx, rx) = std::sync::mpsc::channel();
    run_screen(&mut screen, tx, rx, RunOptions::default())
}

pub fn run(a: AblateArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.view {
        return view(dir, &a.theme);
    }
    // Everything that can be wrong with the input is found before the model loads.
    let arms = Arm::parse_list(&a.arms)
        .map_err(|e| anyhow!(e))
        .context("--arms")?;
    if a.seeds.is_empty() {
        bail!("--seeds: give at least one seed");
    }
    if a.block_tokens == 0 {
        bail!("--block-tokens: must be at least 1");
    }
    if a.max_tokens == Some(0) {
        bail!("--max-tokens: must be at least 1");
    }
    let mut probe = (a.probe_samples > 0).then_some(ProbeConfig {
        samples: a.probe_samples,
        digits: a.probe_digits,
        seed: a.probe_seed,
        context: a.probe_context,
        task: None,
    });
    if let Some(p) = &probe {
        p.check().map_err(|e| anyhow!("--probe-{e}"))?;
    }
    // A problem file is read before the model is looked for: its errors come first.
    let from_file = match &a.problems {
        Some(path) => Some((problems::load_jsonl(path)?, path.display().to_string())),
        None => None,
    };
    let path = a.model.path()?;
    let task = Task::of_model(&path)?;
    let max_tokens = a
        .max_tokens
        .unwrap_or(crate::task::default_max_tokens(task.as_ref()));
    // The probe's samples come from the model's own task when it has one.
    if let Some(p) = probe.as_mut() {
        p.task = task.clone();
    }
    let (problems, source) = match from_file {
        Some(read) => read,
        None => {
            if a.builtin == 0 {
                bail!("--builtin: must be at least 1");
            }
            match &task {
                Some(task) => (
                    problems::from_task(task, a.builtin, a.builtin_seed),
                    format!("{}:heldout:{}:{}", task.name(), a.builtin, a.builtin_seed),
                ),
                None => (
                    problems::builtin(a.builtin, a.builtin_seed),
                    format!("builtin:{}:{}", a.builtin, a.builtin_seed),
                ),
            }
        }
    };
    let (model, tokenizer) = load_model(&path, a.model.device)?;
    let scaffolded = a.scaffold.resolve(tokenizer.has_memento_tags());
    let sampler = SamplerConfig {
        temperature: a.temperature,
        top_p: a.top_p,
        repeat_penalty: a
            .repeat_penalty
            .unwrap_or(if scaffolded { 1.2 } else { 1.0 }),
        ..SamplerConfig::default()
    };
    sampler.check().map_err(|e| anyhow!(e))?;
    let config = LabConfig {
        model: model.name(),
        problems: source,
        arms: arms.iter().map(|x| x.name.clone()).collect(),
        seeds: a.seeds.clone(),
        max_tokens,
        scaffold: scaffolded.then(|| ScaffoldConfig {
            min_block_tokens: a.block_tokens,
            max_block_tokens: 3 * a.block_tokens,
            ..ScaffoldConfig::default()
        }),
        sampler,
        system: a.system.clone(),
        probe,
    };
    let mut results = ResultDir::open(&a.out, &config)?;
    let already = results.done.len();
    let bar = indicatif::ProgressBar::new(problems.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} items · {elapsed} elapsed · ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("ablate");
    bar.set_position(already as u64);
    bar.reset_eta();
    if already > 0 {
        bar.println(format!(
            "resuming {}: {already} of {} items already done",
            a.out.display(),
            problems.len()
        ));
    }
    let lab = Lab {
        model: &model,
        tokenizer: &tokenizer,
        arms,
        config,
    };
    let ran = lab.run_all(&problems, &mut results, a.limit, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let all_done = problems.iter().all(|p| results.is_done(&p.id));
    if all_done && lab.config.probe.is_some() && !results.has_probe() {
        let samples = lab.config.probe.as_ref().map_or(0, |p| p.samples);
        let bar = indicatif::ProgressBar::new(samples as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} · {elapsed} elapsed · ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix("probe");
        bar.set_message("samples");
        let started = std::time::Instant::now();
        let mut collected_after = 0.0;
        let rows = lab
            .probe(
                &problems,
                &mut |done| bar.set_position(done as u64),
                &mut |done, total| {
                    if done == 1 {
                        collected_after = started.elapsed().as_secs_f64();
                        bar.set_length(total as u64);
                        bar.set_message("probes trained");
                        bar.reset_eta();
                    }
                    bar.set_position(done as u64);
                },
            )?
            .unwrap_or_default();
        bar.finish_and_clear();
        let path = results.write_probe(&rows)?;
        eprintln!(
            "probe: {samples} samples forced through 2 arms in {collected_after:.1} s, {} probes trained and tested in {:.1} s · {}",
            rows.len(),
            started.elapsed().as_secs_f64() - collected_after,
            path.display()
        );
    }
    let report = crate::ablate::report::write(&results)?;
    let charts = plots::write(&results.dir, plots::SIZE)?;
    let charts = if charts.is_empty() {
        String::new()
    } else {
        let stems: Vec<&str> = charts.iter().map(|p| p.stem()).collect();
        format!(" · charts {} (.svg, .png)", stems.join(", "))
    };
    eprintln!(
        "{ran} items run, {} of {} done · {}{charts}",
        results.done.len(),
        problems.len(),
        report.display()
    );
    Ok(())
}
