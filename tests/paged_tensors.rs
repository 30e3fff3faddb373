//! The GPU path's code on the CPU: a model whose KV pool lives in device tensors and is attended
//! through page tables by the paged kernels' CPU halves (`AttentionKernel::Paged`) computes what
//! the host path computes, through prefill, decode, evictions (with and without re-rotation),
//! batching and f16 storage. On a GPU the same code runs the CUDA halves; `memento gpu-check`
//! holds those to these CPU results.

mod common;

use memento::engine::{Run, RunOptions};
use memento::kv::{KvDtype, KvPlacement, KvPolicy};
use memento::model::{AttentionKernel, LogitRows, Model, ModelTokenizer};
use memento::task::{Split, Task};
use memento::trace::{Event, MemorySink};

fn paged(path: &std::path::Path) -> Model {
    let mut model = Model::load(path).unwrap();
    model.set_attention(AttentionKernel::Paged);
    assert!(matches!(model.kv_placement(), KvPlacement::Tensors(_)));
    model
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Prefill 64 tokens (every row's logits), evict a span, decode 12 more: the two paths agree
/// at every step, and the eviction changed what follows.
fn paths_agree(host: &Model, tensors: &Model, rerotate: bool) -> f32 {
    let vocab = host.config.vocab as u32;
    let ids: Vec<u32> = (0..64u32).map(|i| (i * 31 + 7) % vocab).collect();
    let positions: Vec<u64> = (0..64).collect();
    let mut a = host.new_store();
    let mut b = tensors.new_store();
    a.sequence_mut().set_rerotate(rerotate);
    b.sequence_mut().set_rerotate(rerotate);
    let la = host
        .forward(&mut a, &ids, &positions, LogitRows::All)
        .unwrap();
    let lb = tensors
        .forward(&mut b, &ids, &positions, LogitRows::All)
        .unwrap();
    let mut worst = la
        .iter()
        .zip(&lb)
        .fold(0f32, |m, (x, y)| m.max(max_abs(x, y)));
    assert_eq!(host.evict(&mut a, 20..45), 25);
    assert_eq!(tensors.evict(&mut b, 20..45), 25);
    assert_eq!(a.len(), b.len());
    let mut next = 5u32;
    for pos in 64..76u64 {
        let x = host
            .forward(&mut a, &[next], &[pos], LogitRows::Last)
            .unwrap()
            .remove(0);
        let y = tensors
            .forward(&mut b, &[next], &[pos], LogitRows::Last)
            .unwrap()
            .remove(0);
        worst = worst.max(max_abs(&x, &y));
        next = memento::model::argmax(&x);
    }
    worst
}

/// [`paths_agree`] with and without re-rotation, within 1e-4.
fn assert_paths_agree(host: &Model, tensors: &Model) {
    for rerotate in [false, true] {
        let worst = paths_agree(host, tensors, rerotate);
        assert!(
            worst < 1e-4,
            "rerotate {rerotate}: logits differ by {worst}"
        );
    }
}

#[test]
fn tensor_path_equals_host_path_on_a_qwen3_through_an_eviction() {
    let (dir, host, _) = common::tiny_model(3);
    let tensors = paged(dir.path());
    assert_paths_agree(&host, &tensors);
}

/// A Llama-family GGUF: interleaved RoPE (llama.cpp's layout), GQA 4/2, f32 weights. (Not
/// SmolLM2 itself: its Q4_1 matmuls round activations to 8 bits, so a different summation order
/// in attention moves its logits by tenths on any two paths, the host's and candle's ops too.)
#[test]
fn tensor_path_equals_host_path_on_a_llama_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-llama.gguf");
    common::gguf::write_gguf(&path, "llama", Vec::new(), Vec::new(), &[]);
    let host = Model::load(&path).unwrap();
    assert_eq!(
        host.config.rope_style,
        memento::model::RopeStyle::Interleaved
    );
    let tensors = paged(&path);
    assert_paths_agree(&host, &tensors);
}

#[test]
fn masked_caches_stay_on_the_host() {
    let (dir, _, _) = common::tiny_model(4);
    let tensors = paged(dir.path());
    let mut store = tensors.new_store();
    tensors
        .forward(&mut store, &[1, 2, 3], &[0, 1, 2], LogitRows::None)
        .unwrap();
    store.sequence_mut().mask(0..1);
    let e = tensors
        .forward(&mut store, &[4], &[3], LogitRows::Last)
        .unwrap_err()
        .to_string();
    assert!(e.contains("masked spans") && e.contains("host"), "{e}");
}

fn organism() -> (std::path::PathBuf, ModelTokenizer, Task) {
    let dir = memento::organism::ensure().expect("the organism");
    let task = Task::of_model(&dir).unwrap().expect("the organism's task");
    let tok = ModelTokenizer::load(&dir).unwrap();
    (dir, tok, task)
}

fn tokens(sink: &MemorySink) -> (Vec<u32>, Vec<f64>) {
    sink.events
        .iter()
        .filter_map(|e| match e {
            Event::Token(t) => Some((t.id?, t.logprob.map_or(f64::NAN, f64::from))),
            _ => None,
        })
        .unzip()
}

/// A batch of memento runs in f16 on the tensor pool: each request decodes what a host run
/// of it decodes alone (same tokens, evictions and end; logprobs within 1e-3), and every page
/// comes back.
#[test]
fn a_batch_on_the_tensor_pool_decodes_what_host_runs_decode() {
    let (dir, tok, task) = organism();
    let host = Model::load(&dir).unwrap();
    let tensors = paged(&dir);
    let o = RunOptions {
        policy: KvPolicy::MEMENTO,
        max_tokens: task.max_tokens(),
        kv_dtype: KvDtype::F16,
        ..RunOptions::default()
    };
    let prompts: Vec<String> = (0..4)
        .map(|i| task.problem(Split::Heldout, 21, i).prompt)
        .collect();
    let mut batch = common::batch::submitted(&tensors, &tok, &prompts, &o, 2048);
    batch.run_to_end(|_| {}).unwrap();
    assert_eq!(batch.pool().used_pages(), 0);
    assert!(batch.pool().tensors().is_some());
    let mut done = batch.take_finished();
    done.sort_by_key(|d| d.0);
    for ((_, sink, summary), prompt) in done.iter().zip(&prompts) {
        let mut run = Run::start(&host, &tok, prompt, o.clone(), MemorySink::default()).unwrap();
        run.run_to_end(|_| {}).unwrap();
        let (alone, alone_summary) = run.finish(None).unwrap();
        let ((ia, la), (ib, lb)) = (tokens(&alone), tokens(sink));
        assert_eq!(ia, ib, "tokens");
        let worst = la
            .iter()
            .zip(&lb)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-3, "logprobs differ by {worst}");
        assert!(summary.evictions > 0, "the organism evicts");
        assert_eq!(summary.evictions, alone_summary.evictions);
        assert_eq!(summary.end, alone_summary.end);
    }
}

fn memento() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_memento"))
}

/// `--device` on a model command: a CPU build refuses a GPU by name and says how to get one;
/// a bad spelling is refused by the parser.
#[test]
fn a_cpu_build_refuses_a_gpu_with_the_way_to_build_one() {
    if cfg!(feature = "cuda") {
        return;
    }
    let out = memento()
        .args([
            "generate",
            "--model",
            "organism",
            "--device",
            "cuda:1",
            "--max-tokens",
            "4",
        ])
        .arg("2+2?")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--device cuda:1") && err.contains("scripts/build-cuda"),
        "{err}"
    );
    let out = memento()
        .args(["generate", "--device", "tpu", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("expected cpu, cuda, cuda:N or auto"),
        "{err}"
    );
}

/// `memento gpu-check --device cpu` runs the model and token sections on the tensor path's
/// CPU halves and passes; `bench serve --shape` serves a random model of a named shape.
#[test]
fn gpu_check_on_the_cpu_and_a_random_shape_under_bench_serve() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("check.json");
    let out = memento()
        .args(["gpu-check", "--device", "cpu", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed, on cpu"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "two KV types and the tokens");
    assert!(checks.iter().all(|c| c["passed"] == true));

    let out = memento()
        .args([
            "bench",
            "serve",
            "--shape",
            "tiny-qwen3",
            "--device",
            "cpu",
            "--requests",
            "2",
        ])
        .args(["--rounds", "1", "--budgets", "200", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["model"], "random:tiny-qwen3");
    let modes: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["full", "memento"]);
}

/// A prefill longer than the tensor path's chunk goes in rounds and computes what one pass
/// computes: every row's logits, or the last row's; and a cache that holds it decodes on alike.
#[test]
fn a_long_prefill_goes_in_rounds_with_the_same_logits() {
    // A random model of a shape with a 4096-token context, made twice from one seed.
    let make = || {
        let config = memento::model::named_shape("tiny-qwen3").unwrap();
        Model::random(
            config,
            "tiny",
            &candle_core::Device::Cpu,
            candle_core::DType::F32,
            5,
        )
        .unwrap()
    };
    let host = make();
    let mut tensors = make();
    tensors.set_attention(AttentionKernel::Paged);
    let n = 2 * memento::model::TENSOR_CHUNK + 77;
    let vocab = host.config.vocab as u32;
    let ids: Vec<u32> = (0..n as u32).map(|i| (i * 13 + 1) % vocab).collect();
    let positions: Vec<u64> = (0..n as u64).collect();
    for rows in [LogitRows::All, LogitRows::Last] {
        let (mut a, mut b) = (host.new_store(), tensors.new_store());
        let la = host.forward(&mut a, &ids, &positions, rows).unwrap();
        let lb = tensors.forward(&mut b, &ids, &positions, rows).unwrap();
        assert_eq!(la.len(), lb.len(), "{rows:?}");
        assert_eq!(la.len(), if rows == LogitRows::All { n } else { 1 });
        let worst = la
            .iter()
            .zip(&lb)
            .fold(0f32, |m, (x, y)| m.max(max_abs(x, y)));
        assert!(worst < 1e-4, "{rows:?}: logits differ by {worst}");
        assert_eq!(b.len(), n);
        let x = host
            .forward(&mut a, &[3], &[n as u64], LogitRows::Last)
            .unwrap();
        let y = tensors
            .forward(&mut b, &[3], &[n as u64], LogitRows::Last)
            .unwrap();
        assert!(max_abs(&x[0], &y[0]) < 1e-4);
    }
}
