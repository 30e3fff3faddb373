//! `memento gpu-check`: the GPU path held to the CPU, on the machine with the GPU (the binary
//! from scripts/build-cuda, run by scripts/gpu-check). Four sections:
//!
//! 1. kernels: each kernel of kernels/paged_kv.cu against its CPU half on fresh random inputs
//!    (f32, f16, bf16; head dims 32/64/128; GQA groups 1/4/8; scattered page tables; keys over
//!    several partitions; prefill chunks), by ‖gpu − cpu‖ / ‖cpu‖ within a bound per dtype;
//!    writes and slot copies bit for bit;
//! 2. models: a model on the device against the same file on the CPU's host path, through a
//!    64-token prefill (every row's logits), an eviction and 12 decode steps;
//! 3. tokens: the organism's greedy memento run, f32 KV, on both: the same first 32 tokens;
//! 4. timing: the copy bandwidth measured there, and batch-1 decode of a random model of a real
//!    shape (default Qwen3-8B, bf16) as a fraction of the bandwidth bound (weight and KV bytes
//!    per token over that bandwidth).
//!
//! Exits non-zero when any check fails. `--device cpu` runs sections 2 and 3 on the tensor
//! path's CPU halves (what CI can run).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow};
use candle_core::{DType, Device, Tensor};
use clap::Args;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::bench_decode::Spread;
use crate::engine::{Run, RunOptions};
use crate::gpu::{DeviceChoice, describe_device};
use crate::kv::{DeviceRows, KvDtype, KvPolicy};
use crate::model::{
    AttentionKernel, LogitRows, Model, ModelTokenizer, PagedAttention, PagedSequence,
};
use crate::trace::{Event, MemorySink};

#[derive(Args, Debug)]
pub struct GpuCheckArgs {
    /// The device under test; `cpu` checks the tensor path's CPU halves against the host path
    #[arg(long, default_value = "cuda", value_parser = DeviceChoice::parse)]
    pub device: DeviceChoice,
    /// More models for the model section (GGUF files or HF directories); the organism is
    /// always checked
    #[arg(long = "model", value_name = "PATH")]
    pub models: Vec<PathBuf>,
    /// Skip the timing section
    #[arg(long)]
    pub no_timing: bool,
    /// The shape of the random model the timing section decodes
    #[arg(long, default_value = "qwen3-8b")]
    pub shape: String,
    /// Cached tokens when the timed decode starts
    #[arg(long, default_value_t = 1024)]
    pub context: usize,
    /// Write the organism's logits (CPU and device) for scripts/hf_logits.py
    #[arg(long, value_name = "FILE")]
    pub logits_out: Option<PathBuf>,
    /// Write every check's numbers as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Check {
    section: &'static str,
    name: String,
    value: f64,
    bound: f64,
    passed: bool,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    device: String,
    checks: Vec<Check>,
    timing: Option<Timing>,
}

#[derive(Debug, Serialize)]
struct Timing {
    shape: String,
    copy_gb_s: f64,
    context: usize,
    decode_tok_s_median: f64,
    decode_tok_s_min: f64,
    decode_tok_s_max: f64,
    weight_bytes: u64,
    kv_bytes_per_token: u64,
    bandwidth_fraction: f64,
}

impl Report {
    fn check(&mut self, section: &'static str, name: String, value: f64, bound: f64) {
        let passed = value.is_finite() && value <= bound;
        println!(
            "{:<8} {:<52} {:>11.3e}  ≤ {:<9.1e} {}",
            section,
            name,
            value,
            bound,
            if passed { "ok" } else { "FAIL" }
        );
        self.checks.push(Check {
            section,
            name,
            value,
            bound,
            passed,
        });
    }
}

pub fn run(args: GpuCheckArgs) -> anyhow::Result<()> {
    let device = super::args::open_device(args.device)?;
    let mut report = Report {
        device: describe_device(&device),
        ..Report::default()
    };
    println!("device: {}", report.device);
    if device.is_cpu() {
        println!("kernels  skipped: on the CPU the kernels' CPU halves are the reference");
    } else {
        kernel_checks(&device, &mut report)?;
    }
    let organism = crate::organism::ensure()?;
    let mut models = vec![organism.clone()];
    models.extend(args.models.iter().cloned());
    for path in &models {
        model_check(path, &device, &mut report, args.logits_out.as_deref())?;
    }
    token_check(&organism, &device, &mut report)?;
    if !args.no_timing && !device.is_cpu() {
        report.timing = Some(timing(&device, &args.shape, args.context)?);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    println!(
        "{} checks, {} failed, on {}",
        report.checks.len(),
        failed,
        report.device
    );
    if failed > 0 {
        return Err(anyhow!("{failed} GPU checks failed"));
    }
    Ok(())
}

/// ‖a − b‖ / ‖b‖.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        num += ((x - y) as f64).powi(2);
        den += (*y as f64).powi(2);
    }
    if a.len() != b.len() || a.iter().any(|x| !x.is_finite()) {
        return f64::NAN;
    }
    (num / den.max(1e-30)).sqrt()
}

fn flat(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn random(
    rng: &mut rand_chacha::ChaCha8Rng,
    dims: &[usize],
    device: &Device,
) -> anyhow::Result<Tensor> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Ok(Tensor::from_vec(v, dims, device)?)
}

/// Section 1: every kernel against its CPU half.
fn kernel_checks(device: &Device, report: &mut Report) -> anyhow::Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let (layers, kv_heads, page_tokens, pages) = (2usize, 2usize, 16usize, 96usize);
    let slots = pages * page_tokens;
    for (dtype, kv, bound) in [
        (DType::F32, KvDtype::F32, 1e-4),
        (DType::F16, KvDtype::F16, 1e-3),
        (DType::BF16, KvDtype::Bf16, 5e-3),
    ] {
        for head_dim in crate::gpu::HEAD_DIMS {
            let row = kv_heads * head_dim;
            // Writes and slot copies: the same bits on both.
            let on =
                |d: &Device| DeviceRows::new(d, kv, layers, slots, row).map_err(|e| anyhow!(e));
            let (gpu, cpu) = (on(device)?, on(&Device::Cpu)?);
            let mut ids: Vec<u32> = (0..slots as u32).collect();
            ids.shuffle(&mut rng);
            for layer in 0..layers {
                let (k, v) = (
                    random(&mut rng, &[slots, row], &Device::Cpu)?,
                    random(&mut rng, &[slots, row], &Device::Cpu)?,
                );
                // Rounded to the pool's type on the CPU, so both pools get the same bits.
                let (k, v) = (k.to_dtype(dtype)?, v.to_dtype(dtype)?);
                cpu.write(layer, &ids, &k, &v)?;
                gpu.write(layer, &ids, &k.to_device(device)?, &v.to_device(device)?)?;
            }
            let moves: Vec<(u32, u32)> = (0..40).map(|i| (ids[i], ids[100 + i])).collect();
            cpu.copy_slots(&moves)?;
            gpu.copy_slots(&moves)?;
            let differ = |a: &Tensor, b: &Tensor| -> anyhow::Result<f64> {
                let (a, b) = (flat(a)?, flat(b)?);
                Ok(a.iter()
                    .zip(&b)
                    .filter(|(x, y)| x.to_bits() != y.to_bits())
                    .count() as f64)
            };
            let wrong = differ(gpu.keys(), cpu.keys())? + differ(gpu.values(), cpu.values())?;
            report.check(
                "kernels",
                format!("kv write + slot copy {dtype:?} d{head_dim}: values differing"),
                wrong,
                0.0,
            );
            for group in [1usize, 4, 8] {
                let heads = kv_heads * group;
                // Three sequences on shuffled pages: one long decode (3 partitions), one
                // 5-token prefill chunk, one single token.
                let mut page_ids: Vec<u32> = (0..pages as u32).collect();
                page_ids.shuffle(&mut rng);
                let specs = [(700usize, 1usize), (37, 5), (1, 1)];
                let mut tables = Vec::new();
                let mut next = 0;
                for &(len, _) in &specs {
                    let n = len.div_ceil(page_tokens);
                    tables.push(page_ids[next..next + n].to_vec());
                    next += n;
                }
                let seqs: Vec<PagedSequence> = specs
                    .iter()
                    .zip(&tables)
                    .map(|(&(len, new), pages)| PagedSequence { pages, len, new })
                    .collect();
                let op = PagedAttention::new(1, (heads, kv_heads, head_dim), page_tokens, &seqs)
                    .map_err(|e| anyhow!(e))?;
                let q = random(&mut rng, &[op.rows(), heads, head_dim], &Device::Cpu)?
                    .to_dtype(dtype)?;
                let want = q.apply_op3_no_bwd(cpu.keys(), cpu.values(), &op)?;
                let got = q
                    .to_device(device)?
                    .apply_op3_no_bwd(gpu.keys(), gpu.values(), &op)?;
                let err = rel_err(&flat(&got)?, &flat(&want)?);
                report.check(
                    "kernels",
                    format!("paged attention {dtype:?} d{head_dim} group {group}: ‖Δ‖/‖ref‖"),
                    err,
                    bound,
                );
            }
        }
    }
    Ok(())
}

/// Section 2: one model on the device against the CPU host path, in f32 and f16 KV.
fn model_check(
    path: &std::path::Path,
    device: &Device,
    report: &mut Report,
    logits_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let host = Model::load(path)?;
    let mut tested = Model::load_on(path, Default::default(), device)?;
    tested.set_attention(AttentionKernel::Paged);
    let name = host.name();
    let vocab = host.config.vocab as u32;
    let ids: Vec<u32> = (0..64u32).map(|i| (i * 31 + 7) % vocab).collect();
    let positions: Vec<u64> = (0..64).collect();
    for (kv, bound) in [(KvDtype::F32, 1e-3), (KvDtype::F16, 1e-2)] {
        let mut a = host.new_store_in(kv)?;
        let mut b = tested.new_store_in(kv)?;
        let la = host.forward(&mut a, &ids, &positions, LogitRows::All)?;
        let lb = tested.forward(&mut b, &ids, &positions, LogitRows::All)?;
        let mut worst = rel_err(&lb.concat(), &la.concat());
        if kv == KvDtype::F32
            && let Some(out) = logits_out
            && path == crate::organism::ensure()?.as_path()
        {
            let doc = serde_json::json!({
                "model": path, "ids": ids, "cpu_logits": la, "device_logits": lb,
                "device": describe_device(device),
            });
            std::fs::write(out, doc.to_string())
                .with_context(|| format!("writing {}", out.display()))?;
        }
        host.evict(&mut a, 20..45);
        tested.evict(&mut b, 20..45);
        let mut next = 5u32;
        for pos in 64..76u64 {
            let x = host
                .forward(&mut a, &[next], &[pos], LogitRows::Last)?
                .remove(0);
            let y = tested
                .forward(&mut b, &[next], &[pos], LogitRows::Last)?
                .remove(0);
            worst = worst.max(rel_err(&y, &x));
            next = crate::model::argmax(&x);
        }
        report.check(
            "models",
            format!("{name} {} KV: logits ‖Δ‖/‖cpu‖", kv.name()),
            worst,
            bound,
        );
    }
    Ok(())
}

/// Section 3: the organism's greedy memento run decodes the same first 32 tokens on both.
fn token_check(dir: &std::path::Path, device: &Device, report: &mut Report) -> anyhow::Result<()> {
    let task =
        crate::task::Task::of_model(dir)?.ok_or_else(|| anyhow!("the organism has no task"))?;
    let tokenizer = ModelTokenizer::load(dir)?;
    let prompt = task.problem(crate::task::Split::Heldout, 7, 0).prompt;
    let options = RunOptions {
        policy: KvPolicy::MEMENTO,
        max_tokens: task.max_tokens(),
        kv_dtype: KvDtype::F32,
        ..RunOptions::default()
    };
    let decode = |model: &Model| -> anyhow::Result<Vec<u32>> {
        let mut run = Run::start(
            model,
            &tokenizer,
            &prompt,
            options.clone(),
            MemorySink::default(),
        )?;
        run.run_to_end(|_| {})?;
        let (sink, _) = run.finish(None)?;
        Ok(sink
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Token(t) => t.id,
                _ => None,
            })
            .collect())
    };
    let cpu = decode(&Model::load(dir)?)?;
    let mut on_device = Model::load_on(dir, Default::default(), device)?;
    on_device.set_attention(AttentionKernel::Paged);
    let gpu = decode(&on_device)?;
    let same = cpu.iter().zip(&gpu).take_while(|(a, b)| a == b).count();
    let first = cpu.len().min(32);
    report.check(
        "tokens",
        format!(
            "organism memento f32: first {first} tokens differing ({same} agree of {})",
            cpu.len()
        ),
        (first - same.min(first)) as f64,
        0.0,
    );
    Ok(())
}

/// Section 4: copy bandwidth, and batch-1 decode of a random `shape` model against it.
fn timing(device: &Device, shape: &str, context: usize) -> anyhow::Result<Timing> {
    // 2 GiB of random f32: far over the L2, and never zeros.
    let source = Tensor::rand(-1f32, 1f32, (512, 1024, 1024), device)?;
    let mut copy_s = Vec::new();
    for i in 0..12 {
        device.synchronize()?;
        let t0 = Instant::now();
        let copy = source.copy()?;
        device.synchronize()?;
        if i >= 2 {
            copy_s.push(t0.elapsed().as_secs_f64());
        }
        drop(copy);
    }
    let bytes = 2.0 * (source.elem_count() * 4) as f64;
    let copy_gb_s = bytes / Spread::of(&copy_s).expect("10 timed copies").median / 1e9;
    drop(source);
    println!("timing   copy bandwidth {copy_gb_s:.0} GB/s (read + write, median of 10)");

    let config = crate::model::named_shape(shape)?;
    let model = Model::random(config, shape, device, DType::BF16, 2026)?;
    let mut store = model.new_store_in(KvDtype::Bf16)?;
    let vocab = model.config.vocab as u32;
    let ids: Vec<u32> = (0..context as u32).map(|i| (i * 7919) % vocab).collect();
    for (chunk, start) in ids.chunks(512).zip((0..).step_by(512)) {
        let positions: Vec<u64> = (start..start + chunk.len() as u64).collect();
        model.forward(&mut store, chunk, &positions, LogitRows::None)?;
    }
    let mut next = 1u32;
    let mut step_s = Vec::new();
    const WARM_UP: usize = 8;
    const STEPS: usize = 40;
    for (i, pos) in (context as u64..).take(STEPS).enumerate() {
        device.synchronize()?;
        let t0 = Instant::now();
        let logits = model.forward(&mut store, &[next], &[pos], LogitRows::Last)?;
        if i >= WARM_UP {
            step_s.push(t0.elapsed().as_secs_f64());
        }
        next = crate::model::argmax(&logits[0]);
    }
    let tok_s: Vec<f64> = step_s.iter().map(|s| 1.0 / s).collect();
    let tok_s = Spread::of(&tok_s).expect("32 timed steps");
    let weight_bytes = model.weight_bytes_per_step();
    let kv_bytes_per_token = store.pool().slot_bytes();
    // The KV a timed step reads: the prefill and the tokens decoded before it, on average.
    let cached = context as f64 + (WARM_UP + STEPS) as f64 / 2.0;
    let per_token = weight_bytes as f64 + cached * kv_bytes_per_token as f64;
    let fraction = per_token * tok_s.median / (copy_gb_s * 1e9);
    let timing = Timing {
        shape: shape.into(),
        copy_gb_s,
        context,
        decode_tok_s_median: tok_s.median,
        decode_tok_s_min: tok_s.min,
        decode_tok_s_max: tok_s.max,
        weight_bytes,
        kv_bytes_per_token,
        bandwidth_fraction: fraction,
    };
    println!(
        "timing   {shape} bf16 batch 1 at {context} tokens: {:.1} tok/s (median of 32; {:.1}–{:.1}), {:.2} GB/token → {:.0}% of the copy bandwidth",
        timing.decode_tok_s_median,
        timing.decode_tok_s_min,
        timing.decode_tok_s_max,
        per_token / 1e9,
        100.0 * fraction
    );
    Ok(timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel section's inputs are valid (page tables inside the pool, disjoint moves,
    /// lengths within their pages) and its checks compare what they say; on the CPU both sides
    /// are the CPU halves, so every check passes exactly.
    #[test]
    fn the_kernel_section_builds_valid_inputs() {
        let mut report = Report::default();
        kernel_checks(&Device::Cpu, &mut report).unwrap();
        assert_eq!(report.checks.len(), 3 * 3 * 4);
        assert!(report.checks.iter().all(|c| c.passed && c.value == 0.0));
    }

    #[test]
    fn relative_error_refuses_non_finite_output() {
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!(rel_err(&[f32::NAN, 2.0], &[1.0, 2.0]).is_nan());
        assert!((rel_err(&[1.1], &[1.0]) - 0.1).abs() < 1e-6);
    }
}
