//! Continuous batching over the paged pool: a batch decodes exactly what each run decodes
//! alone (the same tokens, logprobs within 1e-4, in f32 and in f16 storage), under memento
//! eviction and through preemption; requests that cannot fit are refused; the pool is empty
//! when the batch ends.

mod common;

use common::batch::submitted;
use memento::engine::batch::{Batch, BatchConfig, Request};
use memento::engine::{Run, RunOptions, RunSummary};
use memento::kv::{KvDtype, KvPolicy};
use memento::model::{Model, ModelTokenizer};
use memento::task::{Split, Task};
use memento::trace::{Event, MemorySink};

fn organism() -> (Model, ModelTokenizer, Task) {
    let dir = memento::organism::ensure().expect("the organism");
    let task = Task::of_model(&dir).unwrap().expect("the organism's task");
    (
        Model::load(&dir).unwrap(),
        ModelTokenizer::load(&dir).unwrap(),
        task,
    )
}

fn options(policy: KvPolicy, task: &Task) -> RunOptions {
    RunOptions {
        policy,
        max_tokens: task.max_tokens(),
        kv_dtype: KvDtype::F32,
        ..RunOptions::default()
    }
}

/// (ids, logprobs) of every generated token of a trace.
fn tokens(sink: &MemorySink) -> (Vec<u32>, Vec<f64>) {
    sink.events
        .iter()
        .filter_map(|e| match e {
            Event::Token(t) => Some((
                t.id.unwrap_or(u32::MAX),
                t.logprob.map_or(f64::NAN, f64::from),
            )),
            _ => None,
        })
        .unzip()
}

fn alone(
    model: &Model,
    tok: &ModelTokenizer,
    prompt: &str,
    o: RunOptions,
) -> (MemorySink, RunSummary) {
    let mut run = Run::start(model, tok, prompt, o, MemorySink::default()).unwrap();
    run.run_to_end(|_| {}).unwrap();
    run.finish(None).unwrap()
}

/// `count` held-out problems of the organism's task.
fn held_out(task: &Task, seed: u64, count: u64) -> Vec<String> {
    (0..count)
        .map(|i| task.problem(Split::Heldout, seed, i).prompt)
        .collect()
}

/// Each prompt decoded by a run of its own.
fn each_alone(
    model: &Model,
    tok: &ModelTokenizer,
    prompts: &[String],
    o: &RunOptions,
) -> Vec<(MemorySink, RunSummary)> {
    prompts
        .iter()
        .map(|p| alone(model, tok, p, o.clone()))
        .collect()
}

/// Decode `prompts` in one batch; returns each request's trace and summary, in request order,
/// and how many preemptions happened.
fn batched(
    model: &Model,
    tok: &ModelTokenizer,
    prompts: &[String],
    o: &RunOptions,
    pages: usize,
) -> (Vec<(MemorySink, RunSummary)>, u32, usize) {
    let mut batch = submitted(model, tok, prompts, o, pages);
    let mut most_running = 0;
    batch
        .run_to_end(|s| most_running = most_running.max(s.running))
        .unwrap();
    assert_eq!(
        batch.pool().used_pages(),
        0,
        "every page is back in the pool"
    );
    let preemptions = batch.times().iter().map(|t| t.preemptions).sum();
    let mut done = batch.take_finished();
    done.sort_by_key(|d| d.0);
    assert_eq!(done.len(), prompts.len());
    (
        done.into_iter().map(|(_, s, m)| (s, m)).collect(),
        preemptions,
        most_running,
    )
}

fn assert_same(alone: &[(MemorySink, RunSummary)], batched: &[(MemorySink, RunSummary)]) {
    for (i, (a, b)) in alone.iter().zip(batched).enumerate() {
        let ((ia, la), (ib, lb)) = (tokens(&a.0), tokens(&b.0));
        assert_eq!(ia, ib, "request {i}: tokens");
        let worst = la
            .iter()
            .zip(&lb)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-4, "request {i}: logprobs differ by {worst}");
        assert_eq!(a.1.evictions, b.1.evictions, "request {i}: evictions");
        assert_eq!(a.1.end, b.1.end, "request {i}: end");
    }
}

#[test]
fn a_batch_decodes_what_each_run_decodes_alone_with_memento_eviction() {
    let (model, tok, task) = organism();
    let prompts = held_out(&task, 5, 6);
    let o = options(KvPolicy::MEMENTO, &task);
    let single = each_alone(&model, &tok, &prompts, &o);
    assert!(
        single.iter().all(|s| s.1.evictions > 0),
        "the organism evicts"
    );
    let (together, preemptions, most) = batched(&model, &tok, &prompts, &o, 4096);
    assert_eq!(preemptions, 0);
    assert_eq!(most, prompts.len(), "all decode at once");
    assert_same(&single, &together);
}

/// In f16, the default storage, a batch writes and reads the same rounded rows as a run alone
/// and sums attention in the same order: the same tokens, logprobs within the same 1e-4.
#[test]
fn in_f16_storage_a_batch_decodes_what_each_run_decodes_alone() {
    let (model, tok, task) = organism();
    let prompts = held_out(&task, 11, 4);
    let o = RunOptions {
        kv_dtype: KvDtype::F16,
        ..options(KvPolicy::MEMENTO, &task)
    };
    let single = each_alone(&model, &tok, &prompts, &o);
    let (together, preemptions, most) = batched(&model, &tok, &prompts, &o, 4096);
    assert_eq!((preemptions, most), (0, prompts.len()));
    assert_same(&single, &together);
}

#[test]
fn a_tight_budget_preempts_and_recomputes_without_changing_full_context_tokens() {
    let (model, tok, task) = organism();
    let prompts = held_out(&task, 9, 5);
    let o = options(KvPolicy::FULL, &task);
    let single = each_alone(&model, &tok, &prompts, &o);
    // Room for about two runs' peak at once.
    let peak = single.iter().map(|s| s.1.peak_live_tokens).max().unwrap() as usize;
    let pages = 2 * peak.div_ceil(16) + 1;
    let (together, preemptions, _) = batched(&model, &tok, &prompts, &o, pages);
    assert!(preemptions > 0, "a budget of {pages} pages must preempt");
    assert_same(&single, &together);
}

#[test]
fn a_request_that_can_never_fit_is_refused_and_the_rest_run() {
    let (model, tok, task) = organism();
    let o = options(KvPolicy::MEMENTO, &task);
    let config = BatchConfig {
        pages: 3,
        page_tokens: 16,
        dtype: KvDtype::F16,
        max_running: 8,
    };
    let mut batch: Batch<MemorySink> = Batch::new(&model, &tok, config).unwrap();
    let long = "step ".repeat(200);
    for (id, prompt) in [(0, long.as_str()), (1, "a")] {
        batch
            .submit(Request {
                id,
                prompt: prompt.to_string(),
                options: o.clone(),
                forced: Vec::new(),
                sink: MemorySink::default(),
            })
            .unwrap();
    }
    batch.run_to_end(|_| {}).unwrap();
    let refused = batch.times()[0].refused.clone().expect("refused");
    assert!(refused.contains("pages"), "{refused}");
    assert!(batch.times()[1].finished.is_some());
    assert_eq!(batch.pool().used_pages(), 0);
}

/// A cancelled request (its client went away) leaves at once with its pages; the others decode
/// exactly what they decode alone.
#[test]
fn a_cancelled_request_frees_its_pages_and_the_rest_are_unchanged() {
    let (model, tok, task) = organism();
    let prompts = held_out(&task, 13, 3);
    let o = options(KvPolicy::MEMENTO, &task);
    let single = each_alone(&model, &tok, &prompts, &o);
    let mut batch = submitted(&model, &tok, &prompts, &o, 4096);
    for _ in 0..5 {
        batch.step().unwrap();
    }
    let before = batch.pool().used_pages();
    assert!(batch.cancel(1).unwrap());
    assert!(batch.pool().used_pages() < before, "its pages are back");
    assert!(!batch.cancel(1).unwrap(), "only once");
    batch.run_to_end(|_| {}).unwrap();
    assert_eq!(batch.pool().used_pages(), 0);
    let mut done = batch.take_finished();
    done.sort_by_key(|d| d.0);
    assert_eq!(done.len(), 3);
    assert_eq!(done[1].2.end, memento::trace::EndReason::Stopped);
    assert!(batch.times()[1].cancelled);
    let rest: Vec<(MemorySink, RunSummary)> = done
        .into_iter()
        .filter(|d| d.0 != 1)
        .map(|(_, s, m)| (s, m))
        .collect();
    assert_same(&[single[0].clone(), single[2].clone()], &rest);
}
