//! `memento bench http`: an OpenAI-compatible server under load over loopback (`memento
//! serve`, or vLLM on this machine): streaming requests of a fixed length from 1 client and
//! from N at once, in turn for `--rounds` rounds (1, N, 1, N, …), with `vllm bench serve`'s
//! figures (requests/s, output tokens/s, TTFT and ITL median and p99) and batching's gain: the
//! output throughput with N clients over one at a time.

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;

use super::bench_decode::Spread;
use super::output::emit;
use crate::serving::load::{LoadConfig, run as run_load};
use crate::serving::metrics::ServeFigures;
use crate::task::{Split, Task, WalkConfig};

#[derive(Args, Debug)]
pub struct HttpBench {
    /// The server's base URL, on loopback
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// Requests per measurement
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub requests: u32,
    /// Clients at once in the batched measurement (the other is one at a time)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=256))]
    pub concurrency: u32,
    /// Output tokens per request (`ignore_eos`, so every request is this long)
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=8192))]
    pub max_tokens: u32,
    /// Rounds; each runs one client, then N
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub rounds: u32,
    /// The KV policy to ask for (`kv_policy`; default: the server's)
    #[arg(long, value_name = "MODE")]
    pub policy: Option<String>,
    /// Seconds at most per measurement: no request starts after this
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_s: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    clients: u32,
    output_throughput: Spread,
    request_throughput: Spread,
    /// The round whose output throughput is the median.
    median_round: ServeFigures,
}

#[derive(Debug, Serialize)]
struct Report {
    url: String,
    requests: u32,
    max_tokens: u32,
    rounds: u32,
    rows: Vec<Row>,
    /// Output throughput with N clients over one at a time (medians).
    batching_gain: f64,
}

pub fn run(b: HttpBench) -> anyhow::Result<()> {
    // The organism's held-out walks: any model reads them as text.
    let task = Task::TollWalk(WalkConfig::default());
    let prompts: Vec<String> = (0..16)
        .map(|i| task.problem(Split::Heldout, 7, i).prompt)
        .collect();
    let mut figures: Vec<Vec<ServeFigures>> = vec![Vec::new(), Vec::new()];
    for round in 0..b.rounds {
        for (slot, clients) in [1, b.concurrency].into_iter().enumerate() {
            let config = LoadConfig {
                url: b.url.clone(),
                prompts: prompts.clone(),
                requests: b.requests as usize,
                concurrency: clients as usize,
                max_tokens: b.max_tokens,
                policy: b.policy.clone(),
                deadline: std::time::Duration::from_secs(b.timeout_s),
            };
            let (times, failures) = run_load(&config).map_err(|e| anyhow!(e))?;
            if let Some(first) = failures.first() {
                bail!(
                    "round {}, {clients} clients: {} of {} requests failed; {first}",
                    round + 1,
                    failures.len(),
                    b.requests
                );
            }
            figures[slot].push(ServeFigures::of(&times, &[]));
        }
    }
    let rows: Vec<Row> = [1, b.concurrency]
        .into_iter()
        .zip(figures)
        .map(|(clients, f)| {
            let out: Vec<f64> = f.iter().map(|x| x.output_throughput).collect();
            let req: Vec<f64> = f.iter().map(|x| x.request_throughput).collect();
            let output_throughput = Spread::of(&out).expect("at least one round");
            let median_round = f
                .iter()
                .min_by(|a, b| {
                    (a.output_throughput - output_throughput.median)
                        .abs()
                        .total_cmp(&(b.output_throughput - output_throughput.median).abs())
                })
                .cloned()
                .unwrap_or_default();
            Row {
                clients,
                output_throughput,
                request_throughput: Spread::of(&req).expect("at least one round"),
                median_round,
            }
        })
        .collect();
    let gain = rows[1].output_throughput.median / rows[0].output_throughput.median.max(1e-9);
    let report = Report {
        url: b.url.clone(),
        requests: b.requests,
        max_tokens: b.max_tokens,
        rounds: b.rounds,
        rows,
        batching_gain: gain,
    };
    if b.json {
        return emit(&serde_json::to_string_pretty(&report)?);
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "clients",
        "req/s",
        "output tok/s",
        "TTFT median / p99 ms",
        "ITL median / p99 ms",
        "total s",
    ]);
    for r in &report.rows {
        let f = &r.median_round;
        t.add_row([
            r.clients.to_string(),
            r.request_throughput.show(),
            r.output_throughput.show(),
            format!("{:.1} / {:.1}", f.ttft.median_ms, f.ttft.p99_ms),
            format!("{:.1} / {:.1}", f.itl.median_ms, f.itl.p99_ms),
            format!("{:.2}", f.duration_s),
        ]);
    }
    emit(&format!(
        "{} · {} requests of {} tokens · {} round(s), medians (ranges)\n{t}\nbatching gain (output tok/s, {} clients over 1): {:.2}×",
        report.url, b.requests, b.max_tokens, b.rounds, b.concurrency, gain
    ))
}
