//! `memento train`'s machinery against independent references: the block-masked attention
//! and the whole model against finite differences, the training loss against the engine's
//! own teacher forcing under the same policy, a resumed training against an uninterrupted one,
//! and a short training against its starting loss.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor, Var};
use memento::engine::{Run, RunOptions};
use memento::kv::KvPolicy;
use memento::model::{Arch, Model, ModelConfig, ModelTokenizer, RopeScaling, RopeStyle};
use memento::task::{Split, Task, WalkConfig, tokenizer as byte_tokenizer};
use memento::trace::{Event, MemorySink};
use memento::train::attention::MaskedAttention;
use memento::train::batch::{Masked, Packer};
use memento::train::example::Example;
use memento::train::model::TrainModel;
use memento::train::optim::AdamWConfig;
use memento::train::visibility::{Hidden, RowVisibility};
use memento::train::{
    DataPlan, Init, LogLine, ScratchShape, StageSpec, TrainError, TrainPlan, train,
};
use rand::{Rng, SeedableRng};

fn tiny_config() -> ModelConfig {
    ModelConfig {
        arch: Arch::Qwen3,
        hidden: 32,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
        ffn: 64,
        vocab: byte_tokenizer::vocab_size(),
        rope_theta: 10_000.0,
        rope_style: RopeStyle::Halves,
        rope_scaling: RopeScaling::None,
        rope_freq_factors: None,
        rms_eps: 1e-6,
        context: 4096,
        qk_norm: true,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        tie_embeddings: None,
        bos: None,
        eos: vec![byte_tokenizer::special_id("<|im_end|>").unwrap()],
    }
}

/// Short walks in blocks of two steps: several blocks in a hundred-odd tokens.
fn short_walks() -> Task {
    Task::TollWalk(WalkConfig {
        places: [3, 4],
        steps: [5, 7],
        longer_steps: [8, 9],
        block_steps: 2,
        passcode_share: 0.0,
        short_share: 0.0,
        join_lone_step: true,
    })
}

fn random(shape: &[usize], rng: &mut impl Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Two rows: two packed sequences with an eviction in the first, and one sequence with two
/// evictions followed by padding.
fn two_rows(t: usize) -> Arc<Vec<RowVisibility>> {
    Arc::new(vec![
        RowVisibility::new(
            t,
            &[0..7, 7..t],
            &[Hidden {
                keys: 2..4,
                from: 5,
            }],
        ),
        RowVisibility::new(
            t,
            std::slice::from_ref(&(0..10)),
            &[
                Hidden {
                    keys: 1..3,
                    from: 6,
                },
                Hidden {
                    keys: 5..7,
                    from: 9,
                },
            ],
        ),
    ])
}

/// The attention written out densely: scores, a −∞ where a key is hidden, softmax, values.
fn dense_reference(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    rows: &[RowVisibility],
    h: usize,
    kvh: usize,
    d: usize,
) -> Vec<f32> {
    let t = rows[0].len();
    let mut out = vec![0f32; rows.len() * t * h * d];
    for (b, vis) in rows.iter().enumerate() {
        for i in 0..t {
            for head in 0..h {
                let g = head / (h / kvh);
                let qa = ((b * t + i) * h + head) * d;
                let scores: Vec<f64> = (0..t)
                    .map(|j| {
                        if !vis.sees(i, j) {
                            return f64::NEG_INFINITY;
                        }
                        let ka = ((b * t + j) * kvh + g) * d;
                        (0..d).map(|e| (q[qa + e] * k[ka + e]) as f64).sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = w.iter().sum();
                for (j, wj) in w.iter().enumerate() {
                    let va = ((b * t + j) * kvh + g) * d;
                    for e in 0..d {
                        out[qa + e] += (wj / z * v[va + e] as f64) as f32;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn masked_attention_equals_the_dense_softmax_under_its_mask() {
    let (t, h, kvh, d) = (12, 4, 2, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let q = random(&[2, t, h, d], &mut rng);
    let k = random(&[2, t, kvh, d], &mut rng);
    let v = random(&[2, t, kvh, d], &mut rng);
    let rows = two_rows(t);
    let op = MaskedAttention {
        rows: rows.clone(),
        heads: h,
        kv_heads: kvh,
        head_dim: d,
    };
    let ours = op
        .forward(&q, &k, &v)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let flat = |x: &Tensor| x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let reference = dense_reference(&flat(&q), &flat(&k), &flat(&v), &rows, h, kvh, d);
    for (a, b) in ours.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn masked_attention_gradients_match_finite_differences() {
    let (t, h, kvh, d) = (12, 4, 2, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let q = Var::from_tensor(&random(&[2, t, h, d], &mut rng)).unwrap();
    let k = Var::from_tensor(&random(&[2, t, kvh, d], &mut rng)).unwrap();
    let v = Var::from_tensor(&random(&[2, t, kvh, d], &mut rng)).unwrap();
    let weights = random(&[2, t, h, d], &mut rng);
    let op = MaskedAttention {
        rows: two_rows(t),
        heads: h,
        kv_heads: kvh,
        head_dim: d,
    };
    let loss = |q: &Tensor, k: &Tensor, v: &Tensor| -> Tensor {
        (op.forward(q, k, v).unwrap() * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let total = loss(q.as_tensor(), k.as_tensor(), v.as_tensor());
    let grads = total.backward().unwrap();
    // The first backward uses the weights the forward kept; a second recomputes them.
    let again = total.backward().unwrap();
    for var in [&q, &k, &v] {
        let (a, b) = (grads.get(var).unwrap(), again.get(var).unwrap());
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    }
    let eps = 1e-2f32;
    for (which, var) in [("q", &q), ("k", &k), ("v", &v)] {
        let analytic = grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut checked = 0;
        for idx in (0..base.len()).step_by(7) {
            let at = |delta: f32| {
                let mut x = base.clone();
                x[idx] += delta;
                let x = Tensor::from_vec(x, var.shape(), &Device::Cpu).unwrap();
                let (q2, k2, v2) = match which {
                    "q" => (x, k.as_tensor().clone(), v.as_tensor().clone()),
                    "k" => (q.as_tensor().clone(), x, v.as_tensor().clone()),
                    _ => (q.as_tensor().clone(), k.as_tensor().clone(), x),
                };
                f64::from(loss(&q2, &k2, &v2).to_scalar::<f32>().unwrap())
            };
            let fd = ((at(eps) - at(-eps)) / (2.0 * f64::from(eps))) as f32;
            let an = analytic[idx];
            assert!(
                (fd - an).abs() <= 2e-3 + 2e-2 * an.abs(),
                "d{which}[{idx}]: finite difference {fd}, backward {an}"
            );
            checked += 1;
        }
        assert!(checked > 50);
        // A key hidden from every query that could see it gets no gradient: row 1's keys
        // 10.. are padding, seen only by themselves, whose queries see only themselves.
        assert!(analytic.iter().any(|g| *g != 0.0));
    }
}

/// A memento-mode batch of two task sequences for `tok`.
fn task_batch(tok: &ModelTokenizer, policy: KvPolicy) -> memento::train::batch::Batch {
    let task = short_walks();
    let mut packer = Packer::new(1, 1024);
    for i in 0..2 {
        let p = task.problem(Split::Train, 5, i);
        let example = Example::from_text(tok, &p.prompt, &p.response).unwrap();
        let masked = Masked::new(example, policy).unwrap();
        assert!(policy == KvPolicy::FULL || !masked.hidden.is_empty());
        packer.push(masked).ok().unwrap();
    }
    packer.finish()
}

fn tokenizer_dir() -> (tempfile::TempDir, ModelTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        byte_tokenizer::tokenizer_json(),
    )
    .unwrap();
    let tok = ModelTokenizer::load(dir.path()).unwrap();
    (dir, tok)
}

#[test]
fn every_parameter_receives_a_gradient_the_embeddings_included() {
    let (_dir, tok) = tokenizer_dir();
    let model = TrainModel::init(tiny_config(), 4).unwrap();
    let batch = task_batch(&tok, KvPolicy::MEMENTO);
    let grads = model.forward(&batch).unwrap().loss.backward().unwrap();
    assert!(
        model
            .params()
            .iter()
            .any(|(n, _)| n == "model.embed_tokens.weight")
    );
    for (name, var) in model.params() {
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{name}: gradient norm² {norm}"
        );
    }
}

#[test]
fn model_gradients_match_finite_differences_under_memento_attention() {
    let (_dir, tok) = tokenizer_dir();
    let model = TrainModel::init(tiny_config(), 6).unwrap();
    let batch = task_batch(&tok, KvPolicy::MEMENTO);
    let loss = || {
        f64::from(
            model
                .forward(&batch)
                .unwrap()
                .loss
                .to_scalar::<f32>()
                .unwrap(),
        )
    };
    let grads = model.forward(&batch).unwrap().loss.backward().unwrap();
    let names = [
        "model.embed_tokens.weight",
        "model.layers.0.input_layernorm.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_norm.weight",
        "model.layers.1.self_attn.v_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
        "model.norm.weight",
    ];
    for name in names {
        let var = &model.params().iter().find(|(n, _)| n == name).unwrap().1;
        let analytic = grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // The three largest gradients of this parameter.
        let mut order: Vec<usize> = (0..analytic.len()).collect();
        order.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
        for &idx in &order[..3] {
            let eps = 1e-2f32;
            let at = |delta: f32| {
                let mut x = base.clone();
                x[idx] += delta;
                var.set(&Tensor::from_vec(x, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                loss()
            };
            let fd = ((at(eps) - at(-eps)) / (2.0 * f64::from(eps))) as f32;
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let an = analytic[idx];
            assert!(
                (fd - an).abs() <= 1e-3 + 5e-2 * an.abs(),
                "{name}[{idx}]: finite difference {fd}, backward {an}"
            );
        }
    }
}

/// −logprob of every response token as the engine records them when it teacher-forces the
/// sequence under `policy`.
fn engine_nll(dir: &Path, prompt: &str, example: &Example, policy: KvPolicy) -> Vec<f64> {
    let model = Model::load(dir).unwrap();
    let tok = ModelTokenizer::load(dir).unwrap();
    let options = RunOptions {
        policy,
        max_tokens: 10_000,
        top_alternatives: 0,
        ..RunOptions::default()
    };
    let mut run = Run::start(&model, &tok, prompt, options, MemorySink::default()).unwrap();
    let response = &example.ids[example.prompt_len..];
    run.force_ids(response);
    for _ in response {
        run.step().unwrap().unwrap();
    }
    let (sink, _) = run.finish(None).unwrap();
    sink.events
        .iter()
        .filter_map(|e| match e {
            Event::Token(t) => Some(-f64::from(t.logprob.unwrap())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_training_loss_equals_the_engines_teacher_forced_loss_under_each_policy() {
    let dir = tempfile::tempdir().unwrap();
    let model = TrainModel::init(tiny_config(), 9).unwrap();
    model
        .save_dir(dir.path(), &byte_tokenizer::tokenizer_json())
        .unwrap();
    let tok = ModelTokenizer::load(dir.path()).unwrap();
    let task = short_walks();
    let first = task.problem(Split::Train, 1, 0);
    let second = task.problem(Split::Train, 1, 1);
    assert!(second.blocks >= 3);
    let keep_delims = KvPolicy {
        mask_delimiters: true,
        ..KvPolicy::MEMENTO
    };
    for policy in [
        KvPolicy::MEMENTO,
        KvPolicy::FULL,
        KvPolicy::keep_n(1),
        keep_delims,
    ] {
        // The sequence under test shares its row with another: packing must not leak.
        let mut packer = Packer::new(1, 1024);
        for p in [&first, &second] {
            let example = Example::from_text(&tok, &p.prompt, &p.response).unwrap();
            packer
                .push(Masked::new(example, policy).unwrap())
                .ok()
                .unwrap();
        }
        let batch = packer.finish();
        let nll = model
            .forward(&batch)
            .unwrap()
            .token_nll
            .to_vec1::<f32>()
            .unwrap();
        let example = Example::from_text(&tok, &second.prompt, &second.response).unwrap();
        let ours: Vec<f64> = nll[nll.len() - (example.len() - example.prompt_len)..]
            .iter()
            .map(|&x| f64::from(x))
            .collect();
        let engine = engine_nll(dir.path(), &second.prompt, &example, policy);
        assert_eq!(ours.len(), engine.len());
        for (i, (a, b)) in ours.iter().zip(&engine).enumerate() {
            assert!(
                (a - b).abs() < 1e-4,
                "{}: token {i}: train {a}, engine {b}",
                policy.label()
            );
        }
        let (sa, sb): (f64, f64) = (ours.iter().sum(), engine.iter().sum());
        assert!(
            (sa - sb).abs() < 1e-4,
            "{}: sum {sa} vs {sb}",
            policy.label()
        );
    }
}

fn tiny_plan(stage1: u64, stage2: u64) -> TrainPlan {
    TrainPlan {
        init: Init::Scratch(ScratchShape {
            hidden: 32,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            ffn: 64,
            context: 2048,
            rope_theta: 10_000.0,
        }),
        data: DataPlan::Task {
            task: short_walks(),
            seed: 3,
        },
        stages: vec![
            StageSpec {
                mode: "full".into(),
                steps: stage1,
            },
            StageSpec {
                mode: "memento".into(),
                steps: stage2,
            },
        ],
        rows: 2,
        row_tokens: 512,
        lr: 3e-3,
        min_lr: 3e-4,
        warmup: 4,
        adamw: AdamWConfig::default(),
        seed: 11,
        checkpoint_every: 3,
        eval_every: 0,
        eval_sequences: 4,
        position_gap: 0,
        full_share: 0.0,
    }
}

fn step_losses(dir: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(dir.join(memento::train::LOG_FILE))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<LogLine>(l).unwrap() {
            LogLine::Step { step, loss, .. } => Some((step, loss)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_resumed_training_reproduces_the_uninterrupted_loss_curve() {
    let plan = tiny_plan(5, 5);
    let whole = tempfile::tempdir().unwrap();
    train(&plan, whole.path(), false, &mut |_| true).unwrap();
    let cut = tempfile::tempdir().unwrap();
    // Interrupted after update 7: the last checkpoint holds update 6.
    let err = train(&plan, cut.path(), false, &mut |l| l.step() < 7).unwrap_err();
    assert!(matches!(err, TrainError::Stopped { step: 7 }), "{err}");
    assert_eq!(step_losses(cut.path()).len(), 7);
    let summary = train(&plan, cut.path(), true, &mut |_| true).unwrap();
    assert_eq!(summary.resumed_from, Some(6));
    let (a, b) = (step_losses(whole.path()), step_losses(cut.path()));
    assert_eq!(a.len(), 10);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6, "update {step}: {x} vs {y}");
    }
    let weights = |d: &Path| {
        candle_core::safetensors::load(d.join("model.safetensors"), &Device::Cpu).unwrap()
    };
    let (wa, wb) = (weights(whole.path()), weights(cut.path()));
    for (name, t) in &wa {
        let diff = (t - &wb[name])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{name}: {diff}");
    }
    // Resuming under other settings is refused, naming them.
    let mut other = plan.clone();
    other.lr = 1e-3;
    let err = train(&other, cut.path(), true, &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`lr`") && err.contains("train.json"), "{err}");
}

#[test]
fn full_share_trains_that_share_of_a_memento_stage_under_full_attention() {
    let run = |stages: [&str; 2], share: f64| {
        let mut plan = tiny_plan(0, 0);
        plan.stages = stages
            .iter()
            .map(|m| StageSpec {
                mode: m.to_string(),
                steps: 2,
            })
            .collect();
        plan.full_share = share;
        let dir = tempfile::tempdir().unwrap();
        train(&plan, dir.path(), false, &mut |_| true).unwrap();
        step_losses(dir.path())
    };
    let full = run(["full", "full"], 0.0);
    let memento = run(["full", "memento"], 0.0);
    // Every sequence of the memento stage under full attention: the full stage, update by
    // update, to the bit.
    assert_eq!(run(["full", "memento"], 1.0), full);
    // A share of it: the stage's updates are neither.
    let mixed = run(["full", "memento"], 0.5);
    assert_eq!(mixed[..2], full[..2]);
    assert!(
        mixed[2..] != full[2..] && mixed[2..] != memento[2..],
        "{mixed:?}"
    );
    // A share outside 0–1 is refused, naming the field.
    let mut plan = tiny_plan(1, 1);
    plan.full_share = 1.5;
    let dir = tempfile::tempdir().unwrap();
    let err = train(&plan, dir.path(), false, &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("full_share"), "{err}");
}

#[test]
fn a_short_training_lowers_the_loss_on_the_task() {
    let mut plan = tiny_plan(40, 10);
    plan.lr = 1e-2;
    plan.min_lr = 1e-3;
    plan.eval_every = 10;
    plan.checkpoint_every = 100;
    let out = tempfile::tempdir().unwrap();
    let mut heldout = Vec::new();
    train(&plan, out.path(), false, &mut |l| {
        if let LogLine::Eval { heldout_loss, .. } = l {
            heldout.push(*heldout_loss);
        }
        true
    })
    .unwrap();
    // A fresh model predicts the 265 tokens about uniformly: ln 265 ≈ 5.58 nats.
    let (first, last) = (heldout[0], *heldout.last().unwrap());
    assert!(first < 5.0, "after 10 updates: {first}");
    // The margin allows for other CPUs' rounding (one CI machine read 3.42 → 2.09).
    assert!(
        last < 0.7 * first && last < 2.5,
        "held-out loss {heldout:?}"
    );
    // The model directory is one the engine loads, with its task.
    Model::load(out.path()).unwrap();
    assert_eq!(Task::of_model(out.path()).unwrap(), Some(short_walks()));
    for file in ["loss.svg", "loss.png", "train.json", "tokenizer.json"] {
        assert!(out.path().join(file).exists(), "{file}");
    }
}

#[test]
fn a_checkpoint_fine_tunes_on_openmementos_rows_and_published_examples() {
    // A tiny "real" checkpoint: an HF directory with its own tokenizer.
    let ckpt = tempfile::tempdir().unwrap();
    TrainModel::init(tiny_config(), 21)
        .unwrap()
        .save_dir(ckpt.path(), &byte_tokenizer::tokenizer_json())
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let rows = data.path().join("rows.jsonl");
    let row = |problem: &str, blocks: &[(&str, &str)], answer: &str| {
        let mut response = String::from("<think>\n");
        for (block, memento) in blocks {
            response.push_str(&format!(
                "<|block_start|>{block}<|block_end|>\n<|summary_start|>{memento}<|summary_end|>\n"
            ));
        }
        response.push_str(&format!("</think>\n\\boxed{{{answer}}}"));
        serde_json::json!({"problem": problem, "response": response, "domain": "math"}).to_string()
    };
    std::fs::write(
        &rows,
        [
            row("Add 2 and 3.", &[("2 plus 3 is 5.", "sum 5")], "5"),
            row(
                "Double 4, then add 1.",
                &[("4 doubled is 8.", "8"), ("8 plus 1 is 9.", "9")],
                "9",
            ),
        ]
        .join("\n"),
    )
    .unwrap();
    let published = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/memento-examples/code.segments.json");
    let tok = ModelTokenizer::load(ckpt.path()).unwrap();
    let (source, cut) =
        memento::train::data::Source::files(&[rows.clone(), published.clone()], &tok, 4096, 0)
            .unwrap();
    // The published example is longer than a row and is cut; its first block still closes
    // inside the row, so memento attention has something to hide in every sequence.
    assert_eq!(cut, 1);
    for i in 0..3 {
        let e = source.example(&tok, i).unwrap();
        assert!(e.len() <= 4096);
        assert!(
            !e.hidden(KvPolicy::MEMENTO).unwrap().is_empty(),
            "sequence {i}"
        );
    }
    let plan = TrainPlan {
        init: Init::Checkpoint(ckpt.path().to_path_buf()),
        data: DataPlan::Files {
            paths: vec![rows, published],
            seed: 0,
        },
        row_tokens: 4096,
        rows: 1,
        checkpoint_every: 10,
        ..tiny_plan(2, 2)
    };
    let out = tempfile::tempdir().unwrap();
    let summary = train(&plan, out.path(), false, &mut |_| true).unwrap();
    assert_eq!(summary.steps, 4);
    assert!(summary.final_loss.unwrap().is_finite());
    // The fine-tuned model keeps the checkpoint's shape and tokenizer, and loads.
    let tuned = Model::load(out.path()).unwrap();
    assert_eq!(tuned.config, Model::load(ckpt.path()).unwrap().config);
    assert_eq!(
        std::fs::read_to_string(out.path().join("tokenizer.json")).unwrap(),
        std::fs::read_to_string(ckpt.path().join("tokenizer.json")).unwrap()
    );
    assert_eq!(Task::of_model(out.path()).unwrap(), None);
}
