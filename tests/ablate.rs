//! The ablation lab on tiny random models: identical arms agree exactly, the restart arm's
//! recomputed memento KV is a fresh prefill without the block, the memento arm's KV equals
//! the full arm's until the first eviction, and an interrupted run resumes to the same files.

mod common;

use memento::ablate::forced::teacher_force;
use memento::ablate::metrics::SpanKind;
use memento::ablate::plots::{self, Plot};
use memento::ablate::stream::Stream;
use memento::ablate::{Arm, Lab, LabConfig, ResultDir, problems};
use memento::engine::{RunOptions, SamplerConfig, ScaffoldConfig};
use memento::kv::{KvDtype, KvPolicy, KvStore};
use memento::model::{LogitRows, Model, ModelTokenizer};

/// Short blocks and mementos, so a few dozen tokens hold several.
fn small_scaffold() -> ScaffoldConfig {
    ScaffoldConfig {
        min_block_tokens: 10,
        max_block_tokens: 14,
        min_memento_tokens: 3,
        max_memento_tokens: 5,
        max_blocks: 3,
        instruction: "so far:".into(),
    }
}

fn stream(model: &Model, tok: &ModelTokenizer) -> Stream {
    let options = RunOptions {
        policy: KvPolicy::MEMENTO,
        sampler: SamplerConfig {
            temperature: 0.8,
            seed: 5,
            ..SamplerConfig::default()
        },
        max_tokens: 90,
        scaffold: Some(small_scaffold()),
        ..RunOptions::default()
    };
    let s = Stream::generate(model, tok, "Add 12 and 30.", options, None).unwrap();
    assert!(
        s.summary.evictions >= 2,
        "the stream must evict: {:?}",
        s.summary
    );
    s
}

fn arms(names: &str) -> Vec<Arm> {
    Arm::parse_list(names).unwrap()
}

#[test]
fn an_arm_compared_with_itself_has_kl_zero() {
    let (_d, model, tok) = common::tiny_model(11);
    let s = stream(&model, &tok);
    let mut list = arms("memento");
    list.push(Arm {
        name: "full-again".into(),
        policy: KvPolicy::FULL,
    });
    let forced = teacher_force(&model, &tok, "t", &s, &list, None, None).unwrap();
    let again: Vec<_> = forced
        .rows
        .iter()
        .filter(|r| r.arm == "full-again")
        .collect();
    assert_eq!(again.len(), s.ids.len());
    assert!(
        again.iter().all(|r| r.kl == 0.0 && r.top1_agrees),
        "identical arms agree exactly"
    );
    // The measure is not blind: the memento arm departs from full context after its first
    // eviction, and not before.
    let memento: Vec<_> = forced.rows.iter().filter(|r| r.arm == "memento").collect();
    let first_memento_end = s
        .spans
        .iter()
        .position(|&(k, _)| k == SpanKind::Memento)
        .unwrap();
    assert!(memento[..=first_memento_end].iter().all(|r| r.kl == 0.0));
    assert!(
        memento.iter().any(|r| r.kl > 1e-6),
        "eviction changes the distribution"
    );
    // Every logprob is of the token actually forced, so it is a real log-probability.
    assert!(
        forced
            .rows
            .iter()
            .all(|r| r.logprob <= 0.0 && r.logprob.is_finite())
    );
}

/// The logical positions a store holds, in order (slot order is free after an eviction).
fn held(store: &KvStore) -> Vec<u64> {
    let mut kept = store.logical_positions().to_vec();
    kept.sort_unstable();
    kept
}

/// Keys and values of every cached position of `layer`, in position order, as (position, k, v).
fn slot_rows(store: &KvStore, layer: usize) -> Vec<(u64, Vec<f32>, Vec<f32>)> {
    held(store)
        .into_iter()
        .map(|p| {
            let (k, v) = store.rows_f32(layer, &(p..p + 1)).expect("a held position");
            (p, k, v)
        })
        .collect()
}

/// Every K and V value of `layer`, in position order.
fn all_rows(store: &KvStore, layer: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = slot_rows(store, layer);
    (
        rows.iter().flat_map(|r| r.1.clone()).collect(),
        rows.iter().flat_map(|r| r.2.clone()).collect(),
    )
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    common::max_rel_err(a, b)
}

#[test]
fn the_restart_arms_memento_kv_equals_a_fresh_prefill_without_the_block() {
    // An exact equivalence: in f32.
    let _f32 = KvDtype::scoped_engine_default(KvDtype::F32);
    let (_d, model, tok) = common::tiny_model(12);
    let s = stream(&model, &tok);
    let list = arms("restart");
    let mut checked = 0;
    let mut inspect =
        |_index: usize, runs: &[memento::engine::Run<'_, memento::trace::NullSink>]| {
            let restart = &runs[1];
            let store = restart.store();
            if store.evicted_total() == 0 || checked > 0 {
                return;
            }
            // Right after the first eviction: prefill exactly what survives, at the same
            // positions, into a new cache.
            let positions = held(store);
            let ids: Vec<u32> = positions
                .iter()
                .map(|&p| restart.ids()[p as usize])
                .collect();
            let mut fresh = model.new_store();
            model
                .forward(&mut fresh, &ids, &positions, LogitRows::None)
                .unwrap();
            for layer in 0..store.layers() {
                for ((p, k, v), (q, fk, fv)) in
                    slot_rows(store, layer).iter().zip(slot_rows(&fresh, layer))
                {
                    assert_eq!(*p, q);
                    assert!(max_rel(k, &fk) < 1e-5, "layer {layer} position {p}: K");
                    assert!(max_rel(v, &fv) < 1e-5, "layer {layer} position {p}: V");
                }
            }
            checked += 1;
        };
    teacher_force(&model, &tok, "t", &s, &list, None, Some(&mut inspect)).unwrap();
    assert_eq!(checked, 1, "an eviction happened and was checked");
}

#[test]
fn before_its_eviction_the_memento_arms_kv_equals_the_full_arms() {
    let (_d, model, tok) = common::tiny_model(13);
    let s = stream(&model, &tok);
    let list = arms("memento");
    let mut checked = false;
    let mut inspect =
        |_index: usize, runs: &[memento::engine::Run<'_, memento::trace::NullSink>]| {
            let (full, memento) = (runs[0].store(), runs[1].store());
            if memento.evicted_total() == 0 || checked {
                return;
            }
            // The step that evicted the first block: every entry the memento arm still holds
            // (the memento's own among them) was computed before the eviction, exactly as in
            // full context; only the token that triggered it was computed after.
            let last = *held(memento).last().unwrap();
            let full_rows: std::collections::HashMap<u64, (Vec<f32>, Vec<f32>)> = (0..full
                .layers())
                .flat_map(|l| {
                    slot_rows(full, l)
                        .into_iter()
                        .map(move |(p, k, v)| ((l as u64) << 32 | p, (k, v)))
                })
                .collect();
            let mut compared = 0;
            for layer in 0..memento.layers() {
                for (p, k, v) in slot_rows(memento, layer) {
                    if p == last {
                        continue;
                    }
                    let (fk, fv) = &full_rows[&((layer as u64) << 32 | p)];
                    assert_eq!(&k, fk, "layer {layer} position {p}: K");
                    assert_eq!(&v, fv, "layer {layer} position {p}: V");
                    compared += 1;
                }
            }
            assert!(compared > 0);
            checked = true;
        };
    let forced = teacher_force(&model, &tok, "t", &s, &list, None, Some(&mut inspect)).unwrap();
    assert!(checked);
    assert!(forced.channel.is_empty(), "no restart arm, no channel map");
}

#[test]
fn the_channel_map_has_a_row_per_memento_and_layer() {
    let (_d, model, tok) = common::tiny_model(14);
    let s = stream(&model, &tok);
    let forced =
        teacher_force(&model, &tok, "t", &s, &arms("memento,restart"), None, None).unwrap();
    let layers = common::TINY_QWEN3.layers as u64;
    assert_eq!(forced.channel.len() as u64, s.summary.evictions * layers);
    // The memento's entries differ once recomputed without their block, in every layer but
    // possibly the first (whose keys and values depend on the token alone).
    assert!(forced.channel.iter().all(|c| c.positions > 0));
    assert!(
        forced
            .channel
            .iter()
            .filter(|c| c.layer > 0)
            .all(|c| c.k_distance > 0.0)
    );
}

fn lab_config() -> LabConfig {
    LabConfig {
        model: "tiny".into(),
        problems: "builtin:3:4".into(),
        arms: vec!["full".into(), "memento".into(), "restart".into()],
        seeds: vec![1, 2],
        max_tokens: 60,
        scaffold: Some(small_scaffold()),
        sampler: SamplerConfig {
            temperature: 0.8,
            ..SamplerConfig::default()
        },
        system: None,
        probe: None,
    }
}

/// The report and the charts, written from the directory's files.
fn report_and_plots(results: &ResultDir) -> Vec<Plot> {
    memento::ablate::report::write(results).unwrap();
    plots::write(&results.dir, (400, 300)).unwrap()
}

fn result_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let charts = Plot::ALL
        .iter()
        .flat_map(|p| [p.svg(), p.png()])
        .filter(|f| dir.join(f).exists());
    [
        "config.json",
        "items.jsonl",
        "positions.csv",
        "channel.csv",
        "answers.csv",
        "report.md",
    ]
    .map(String::from)
    .into_iter()
    .chain(charts)
    .map(|f| {
        let bytes = std::fs::read(dir.join(&f)).unwrap();
        (f, bytes)
    })
    .collect()
}

#[test]
fn an_interrupted_run_resumes_to_the_same_files() {
    let (_d, model, tok) = common::tiny_model(15);
    let problems = problems::builtin(3, 4);
    let lab = Lab {
        model: &model,
        tokenizer: &tok,
        arms: arms("memento,restart"),
        config: lab_config(),
    };
    let whole = tempfile::tempdir().unwrap();
    let mut results = ResultDir::open(whole.path(), &lab.config).unwrap();
    assert_eq!(
        lab.run_all(&problems, &mut results, None, &mut |_, _| {})
            .unwrap(),
        3
    );
    // Every chart: the stream closes blocks, the builtin problems have answers.
    assert_eq!(report_and_plots(&results), Plot::ALL);
    drop(results);
    // Opening a finished directory again changes no byte of it.
    let before = result_files(whole.path());
    let mut results = ResultDir::open(whole.path(), &lab.config).unwrap();
    assert_eq!(
        lab.run_all(&problems, &mut results, None, &mut |_, _| {})
            .unwrap(),
        0
    );
    report_and_plots(&results);
    assert_eq!(result_files(whole.path()), before);

    let parts = tempfile::tempdir().unwrap();
    let mut results = ResultDir::open(parts.path(), &lab.config).unwrap();
    assert_eq!(
        lab.run_all(&problems, &mut results, Some(1), &mut |_, _| {})
            .unwrap(),
        1
    );
    drop(results);
    // A crash in the middle of the second item: some of its rows written, its summary line
    // cut short.
    let append = |name: &str, text: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(parts.path().join(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(
        "positions.csv",
        "builtin-002,full,0,40,other,,0.0,true,-5.1\nbuiltin-002,memento,0,4",
    );
    append("items.jsonl", "{\"item\":\"builtin-002\",\"prompt\":");
    let mut results = ResultDir::open(parts.path(), &lab.config).unwrap();
    assert_eq!(results.done.len(), 1);
    let mut seen = Vec::new();
    assert_eq!(
        lab.run_all(&problems, &mut results, None, &mut |done, all| seen
            .push((done, all)))
            .unwrap(),
        2
    );
    assert_eq!(seen, [(2, 3), (3, 3)]);
    report_and_plots(&results);
    assert_eq!(result_files(parts.path()), result_files(whole.path()));

    // Other settings are refused rather than mixed in.
    let mut other = lab.config.clone();
    other.max_tokens = 61;
    let e = ResultDir::open(parts.path(), &other)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("max_tokens: 60 there, 61 now"), "{e}");
}

/// A three-layer tiny Qwen3: a code that reaches memento 3 only through memento 2's KV shows
/// up two layers deep, so two layers would hide it.
fn three_layer_model(seed: u64) -> (tempfile::TempDir, Model, ModelTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    let shape = common::TinyShape {
        layers: 3,
        ..common::TINY_QWEN3
    };
    common::write_tiny_model(dir.path(), &shape, seed);
    common::write_tiny_tokenizer(dir.path());
    let model = Model::load(dir.path()).unwrap();
    let tok = ModelTokenizer::load(dir.path()).unwrap();
    (dir, model, tok)
}

#[test]
fn forcing_in_chunks_matches_forcing_token_by_token() {
    use memento::ablate::probe::passcode;
    use memento::engine::Run;
    use memento::trace::NullSink;
    // Two orders of the same arithmetic: compared in f32.
    let _f32 = KvDtype::scoped_engine_default(KvDtype::F32);
    let (_d, model, tok) = common::tiny_model(21);
    let sample = passcode::samples(
        1,
        5,
        3,
        passcode::SampleContext::Varied,
        &["Add 2 and 3.".to_string()],
    )
    .remove(0);
    let forced = sample.forced_ids(&tok).unwrap();
    for policy in [KvPolicy::MEMENTO, KvPolicy::restart(), KvPolicy::FULL] {
        let options = || RunOptions {
            policy,
            max_tokens: 10_000,
            top_alternatives: 0,
            ..RunOptions::default()
        };
        let mut stepped = Run::start(&model, &tok, &sample.prompt, options(), NullSink).unwrap();
        stepped.force_ids(&forced.ids);
        for _ in 0..forced.ids.len() {
            stepped.step().unwrap().unwrap();
        }
        let mut chunked = Run::start(&model, &tok, &sample.prompt, options(), NullSink).unwrap();
        chunked.force_all(&forced.ids).unwrap();
        let (a, b) = (stepped.store(), chunked.store());
        assert_eq!(held(a), held(b), "{policy:?}");
        if policy != KvPolicy::FULL {
            assert!(a.evicted_total() > 0, "{policy:?} must evict");
        }
        for layer in 0..a.layers() {
            let ((ak, av), (bk, bv)) = (all_rows(a, layer), all_rows(b, layer));
            let err = common::max_rel_err(&bk, &ak).max(common::max_rel_err(&bv, &av));
            assert!(err < 1e-5, "{policy:?} layer {layer}: {err}");
        }
        let err = common::max_rel_err(chunked.logits(), stepped.logits());
        assert!(err < 1e-5, "{policy:?} logits: {err}");
        assert_eq!(chunked.ids(), stepped.ids());
    }
}

#[test]
fn a_passcode_reaches_mementos_only_through_kv_computed_while_its_block_was_visible() {
    use memento::ablate::probe::{ARMS, collect, passcode};
    let (_d, model, tok) = three_layer_model(23);
    let a = passcode::samples(
        1,
        5,
        9,
        passcode::SampleContext::Varied,
        &["Add 2 and 3.".to_string()],
    )
    .remove(0);
    let other: Vec<u8> = a.code.iter().map(|d| (d + 5) % 10).collect();
    let b = a.with_code(&other);
    assert_eq!(
        a.forced_ids(&tok).unwrap().ids.len(),
        b.forced_ids(&tok).unwrap().ids.len()
    );
    let features = collect(&model, &tok, &[a, b], None, &mut |_| {}).unwrap();
    // [arm][memento][layer], two rows each: does row 0 (code a) equal row 1 (code b)?
    let same = |arm: usize, memento: usize, layer: usize| {
        let d = &features[arm][memento][layer];
        d.x[..d.dim] == d.x[d.dim..]
    };
    let (memento, restart) = (0, 1);
    assert_eq!(ARMS[restart].0, "restart");
    for layer in 0..3 {
        // Memento 1 was written before the code: the same in both arms.
        assert!(
            same(memento, 0, layer) && same(restart, 0, layer),
            "layer {layer}"
        );
        // Restart recomputes mementos 2 and 3 without the block: no trace of the code.
        assert!(
            same(restart, 1, layer) && same(restart, 2, layer),
            "layer {layer}"
        );
    }
    // Memento 2 saw the code: its layer-0 entries are its own tokens' projections, deeper
    // ones mix in what it attended to.
    assert!(same(memento, 1, 0));
    assert!(!same(memento, 1, 1) && !same(memento, 1, 2));
    // Memento 3 came after the eviction: the code reaches it through memento 2's layer-1
    // entries, so it shows from layer 2 on.
    assert!(same(memento, 2, 0) && same(memento, 2, 1));
    assert!(!same(memento, 2, 2));
}
