//! Continuous batching: many runs decode together over one paged KV pool.
//!
//! Each step, a scheduler first admits waiting requests first-come first-served while their
//! prompt's pages fit the pool (a request that could never fit is refused), then every running
//! run chooses and records its next token under its own policy, sampler and trace
//! ([`Run::begin_step`]), evicting what its policy evicts. When the pool cannot give every run
//! the page its next token may need, the most recently admitted run is preempted: its pages go
//! back and it waits at the head of the queue, to be recomputed (one prefill over the entries
//! it held) when pages free up, as vLLM's recompute preemption does. Then one forward pass
//! runs the batch's new tokens together ([`Model::forward_batch`]: one pass over the weights,
//! attention per sequence through its page table), and runs leave as they end.
//!
//! The layering follows serving engines such as vLLM: the scheduler here, the pool's
//! bookkeeping in [`crate::kv::pages`], the model's forward pass apart.

use std::collections::VecDeque;
use std::time::Instant;

use serde::Serialize;

use super::error::EngineError;
use super::run::{Run, RunOptions, RunSummary, Step};
use crate::kv::{KvDtype, KvPool, KvStore};
use crate::model::{BatchInput, LogitRows, Model, ModelError, ModelTokenizer};
use crate::trace::{EndReason, EventSink};

/// The KV budget and the batch's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Pages in the pool: the KV budget.
    pub pages: usize,
    pub page_tokens: usize,
    pub dtype: KvDtype,
    /// Most runs decoding at once (vLLM's `max_num_seqs`).
    pub max_running: usize,
}

/// One request: a prompt, its run's options and trace sink, and optionally a script of token
/// ids written instead of sampled (a block/memento schedule replayed at decode cost).
pub struct Request<S> {
    pub id: u64,
    pub prompt: String,
    pub options: RunOptions,
    pub forced: Vec<u32>,
    pub sink: S,
}

/// A request's times, in seconds since the batch began.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestTimes {
    pub id: u64,
    pub arrived: f64,
    pub admitted: Option<f64>,
    /// When each output token was chosen.
    pub tokens: Vec<f64>,
    pub finished: Option<f64>,
    pub preemptions: u32,
    /// Why it was refused, when it never ran.
    pub refused: Option<String>,
    /// Why its run failed (its trace could not be written), when it did; the batch goes on.
    pub failed: Option<String>,
    /// Whether it was cancelled (its client went away).
    pub cancelled: bool,
}

/// The batch after one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchSnapshot {
    /// Seconds since the batch began.
    pub t: f64,
    pub running: usize,
    pub waiting: usize,
    pub used_pages: usize,
    /// Cache entries held by all running sequences.
    pub live_tokens: usize,
    /// Tokens decoded in this step's forward pass.
    pub decoded: usize,
    /// Requests preempted in this step.
    pub preempted: Vec<u64>,
}

/// Do `f` with the batch's shared pool lent to `run`'s store, and take it back.
fn lend<'m, S: EventSink, R>(
    pool: &mut KvPool,
    run: &mut Run<'m, S>,
    f: impl FnOnce(&mut Run<'m, S>) -> R,
) -> R {
    run.store_mut().swap_pool(pool);
    let out = f(run);
    run.store_mut().swap_pool(pool);
    out
}

/// A run of the batch, with the step whose forward pass it waits for.
struct Active<'m, S: EventSink> {
    id: u64,
    run: Run<'m, S>,
    pending: Option<Step>,
    /// A preempted run's positions to recompute on readmission.
    recompute: Option<Vec<u64>>,
}

enum Waiting<'m, S: EventSink> {
    New(Box<Request<S>>),
    Preempted(Box<Active<'m, S>>),
}

pub struct Batch<'m, S: EventSink> {
    model: &'m Model,
    tokenizer: &'m ModelTokenizer,
    config: BatchConfig,
    pool: KvPool,
    waiting: VecDeque<Waiting<'m, S>>,
    /// In order of admission: the last is preempted first.
    running: Vec<Active<'m, S>>,
    times: Vec<RequestTimes>,
    finished: Vec<(u64, S, RunSummary)>,
    started: Instant,
}

impl<'m, S: EventSink> Batch<'m, S> {
    pub fn new(
        model: &'m Model,
        tokenizer: &'m ModelTokenizer,
        config: BatchConfig,
    ) -> Result<Batch<'m, S>, EngineError> {
        let pool = KvPool::with_budget_in(
            &model.kv_placement(),
            config.dtype,
            model.kv_layout(),
            config.pages,
            config.page_tokens.max(1),
        )
        .map_err(EngineError::Request)?;
        Ok(Batch {
            model,
            tokenizer,
            config,
            pool,
            waiting: VecDeque::new(),
            running: Vec::new(),
            times: Vec::new(),
            finished: Vec::new(),
            started: Instant::now(),
        })
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Queue a request (it arrives now).
    pub fn submit(&mut self, request: Request<S>) -> Result<(), EngineError> {
        if request.options.rerotate {
            return Err(EngineError::Request(
                "--rerotate is not available in a batch: a preempted run's recompute would rotate keys again".into(),
            ));
        }
        self.times.push(RequestTimes {
            id: request.id,
            arrived: self.now(),
            ..RequestTimes::default()
        });
        self.waiting.push_back(Waiting::New(Box::new(request)));
        Ok(())
    }

    /// Nothing waits and nothing runs.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    pub fn pool(&self) -> &KvPool {
        &self.pool
    }

    /// Every request's times so far, in order of arrival.
    pub fn times(&self) -> &[RequestTimes] {
        &self.times
    }

    /// Runs that ended: the request id, its trace sink and its summary, in order of ending.
    pub fn take_finished(&mut self) -> Vec<(u64, S, RunSummary)> {
        std::mem::take(&mut self.finished)
    }

    fn times_of(&mut self, id: u64) -> &mut RequestTimes {
        let i = self
            .times
            .iter()
            .position(|t| t.id == id)
            .expect("every request was submitted");
        &mut self.times[i]
    }

    /// One scheduler step: admit, choose every run's next token, preempt if pages run short,
    /// one forward pass for the batch, retire the runs that ended.
    pub fn step(&mut self) -> Result<BatchSnapshot, EngineError> {
        self.admit()?;
        let now = self.now();
        let mut ended = Vec::new();
        for (i, active) in self.running.iter_mut().enumerate() {
            if active.pending.is_some() {
                continue;
            }
            match lend(&mut self.pool, &mut active.run, |run| run.begin_step()) {
                Ok(Some(step)) => active.pending = Some(step),
                Ok(None) => ended.push((i, None)),
                Err(e) => ended.push((i, Some(e))),
            }
        }
        for (i, error) in ended.into_iter().rev() {
            let active = self.running.remove(i);
            match error {
                None => self.retire(active)?,
                Some(e) => self.fail(active, e)?,
            }
        }
        let chose: Vec<u64> = self
            .running
            .iter()
            .filter(|a| a.pending.is_some())
            .map(|a| a.id)
            .collect();
        for id in chose {
            self.times_of(id).tokens.push(now);
        }
        let preempted = self.make_room();
        if self.short_of_pages() {
            // One run alone outgrew the whole budget: it ends there, as a run that fills the
            // model's context does.
            let active = self.running.pop().expect("make_room leaves one run");
            self.retire_as(active, Some(EndReason::ContextFull))?;
        }
        let decoded = self.forward()?;
        Ok(BatchSnapshot {
            t: self.now(),
            running: self.running.len(),
            waiting: self.waiting.len(),
            used_pages: self.pool.used_pages(),
            live_tokens: self
                .running
                .iter()
                .map(|a| a.run.store().sequence().len())
                .sum(),
            decoded,
            preempted,
        })
    }

    /// Admit waiting requests in order while their pages fit.
    fn admit(&mut self) -> Result<(), EngineError> {
        while self.running.len() < self.config.max_running {
            let Some(front) = self.waiting.front() else {
                break;
            };
            let tokens = match front {
                Waiting::New(r) => self.prompt_tokens(r)? + 1,
                Waiting::Preempted(a) => a.recompute.as_ref().map_or(1, |p| p.len() + 1),
            };
            let pages = self.pool.pages_for(tokens);
            if pages > self.pool.total_pages() {
                let Some(Waiting::New(r)) = self.waiting.pop_front() else {
                    unreachable!("a preempted run fitted once");
                };
                let message = format!(
                    "its prompt needs {pages} pages of KV and the pool holds {}",
                    self.pool.total_pages()
                );
                self.times_of(r.id).refused = Some(message);
                continue;
            }
            if pages > self.pool.free_pages() {
                break;
            }
            let admitted = match self.waiting.pop_front().expect("checked") {
                Waiting::New(r) => match self.start(*r)? {
                    Some(a) => a,
                    None => continue,
                },
                Waiting::Preempted(mut a) => {
                    let positions = a.recompute.take().unwrap_or_default();
                    lend(&mut self.pool, &mut a.run, |run| run.recompute(&positions))?;
                    *a
                }
            };
            let now = self.now();
            self.times_of(admitted.id).admitted.get_or_insert(now);
            self.running.push(admitted);
        }
        Ok(())
    }

    fn prompt_tokens(&self, r: &Request<S>) -> Result<usize, EngineError> {
        let text = r.options.model_input(&r.prompt);
        Ok(self.tokenizer.encode(&text)?.len())
    }

    /// Start a request's run in a sequence of the pool: the header, the prefill, the script.
    /// A request the model refuses (a prompt beyond its context, bad sampler settings) is
    /// refused here, with the reason in its times; `None` then.
    fn start(&mut self, r: Request<S>) -> Result<Option<Active<'m, S>>, EngineError> {
        let store = KvStore::in_shared(&mut self.pool);
        let opened = Run::open(self.model, self.tokenizer, r.options, r.sink, store);
        let prefilled = opened.and_then(|mut run| {
            match lend(&mut self.pool, &mut run, |run| run.prefill(&r.prompt)) {
                Ok(()) => Ok(run),
                Err(e) => {
                    self.pool.remove_sequence(run.store().sequence());
                    Err(e)
                }
            }
        });
        match prefilled {
            Ok(mut run) => {
                run.force_ids(&r.forced);
                Ok(Some(Active {
                    id: r.id,
                    run,
                    pending: None,
                    recompute: None,
                }))
            }
            // A request that cannot run (its prompt beyond the context, untokenizable) is
            // refused; the batch goes on.
            Err(EngineError::Request(message))
            | Err(EngineError::Model(ModelError::Input(message))) => {
                self.times_of(r.id).refused = Some(message);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the pending tokens need more pages than the pool has free.
    fn short_of_pages(&self) -> bool {
        let needed: usize = self
            .running
            .iter()
            .filter(|a| a.pending.is_some())
            .map(|a| self.pool.pages_to_grow(a.run.store().sequence(), 1))
            .sum();
        needed > self.pool.free_pages()
    }

    /// Preempt the latest-admitted runs until every pending token's page fits (or one run
    /// is left).
    fn make_room(&mut self) -> Vec<u64> {
        let mut preempted = Vec::new();
        while self.short_of_pages() && self.running.len() > 1 {
            let mut victim = self.running.pop().expect("more than one runs");
            let mut positions = victim.run.store().sequence().logical_positions().to_vec();
            if let Some(step) = &victim.pending {
                positions.push(step.pos);
            }
            positions.sort_unstable();
            victim.run.store_mut().release_into(&mut self.pool);
            victim.recompute = Some(positions);
            // Its pending token is computed by the recompute.
            victim.pending = None;
            preempted.push(victim.id);
            self.times_of(victim.id).preemptions += 1;
            self.waiting
                .push_front(Waiting::Preempted(Box::new(victim)));
        }
        preempted
    }

    /// One forward pass over every pending token; returns how many.
    fn forward(&mut self) -> Result<usize, EngineError> {
        let t0 = Instant::now();
        let mut inputs: Vec<(usize, [u32; 1], [u64; 1])> = Vec::new();
        for (i, a) in self.running.iter().enumerate() {
            if let Some(step) = &a.pending {
                inputs.push((i, [step.id], [step.pos]));
            }
        }
        if inputs.is_empty() {
            return Ok(0);
        }
        let mut rows = Vec::with_capacity(inputs.len());
        {
            let mut seqs: Vec<Option<&mut crate::kv::SeqCache>> = self
                .running
                .iter_mut()
                .map(|a| Some(a.run.store_mut().sequence_mut()))
                .collect();
            let mut batch: Vec<BatchInput> = inputs
                .iter()
                .map(|(i, id, pos)| BatchInput {
                    seq: seqs[*i].take().expect("one input per run"),
                    ids: id,
                    positions: pos,
                    rows: LogitRows::Last,
                })
                .collect();
            rows.extend(self.model.forward_batch(&mut self.pool, &mut batch)?);
        }
        let share = t0.elapsed().as_secs_f64() / inputs.len() as f64;
        for ((i, _, _), mut logits) in inputs.iter().zip(rows) {
            let a = &mut self.running[*i];
            a.pending = None;
            a.run.end_step(logits.pop().unwrap_or_default());
            a.run.add_decode_seconds(share);
        }
        Ok(inputs.len())
    }

    /// A run that ended: its pages back to the pool, its trace finished.
    fn retire(&mut self, active: Active<'m, S>) -> Result<(), EngineError> {
        self.retire_as(active, None)
    }

    /// A run whose own step failed (its trace could not be written): it leaves with its
    /// pages, the reason kept in its times, and the batch goes on. Errors of the model's
    /// forward pass, shared by every run, still end the batch.
    fn fail(&mut self, active: Active<'m, S>, error: EngineError) -> Result<(), EngineError> {
        match error {
            EngineError::TraceWrite(_) | EngineError::Request(_) => {
                self.pool.remove_sequence(active.run.store().sequence());
                let now = self.now();
                let times = self.times_of(active.id);
                times.failed = Some(error.to_string());
                times.finished = Some(now);
                Ok(())
            }
            EngineError::Model(_) => Err(error),
        }
    }

    /// Stop request `id` wherever it is (its client went away): a waiting request leaves the
    /// queue; a running one ends as stopped, its pages back in the pool and its trace
    /// finished. Returns whether the request was still there.
    pub fn cancel(&mut self, id: u64) -> Result<bool, EngineError> {
        if let Some(i) = self.waiting.iter().position(|w| match w {
            Waiting::New(r) => r.id == id,
            Waiting::Preempted(a) => a.id == id,
        }) {
            if let Some(Waiting::Preempted(a)) = self.waiting.remove(i) {
                // Its pages went back at preemption; its trace ends here.
                self.retire_as(*a, Some(EndReason::Stopped))?;
            }
            let now = self.now();
            let times = self.times_of(id);
            times.cancelled = true;
            times.finished.get_or_insert(now);
            return Ok(true);
        }
        let Some(i) = self.running.iter().position(|a| a.id == id) else {
            return Ok(false);
        };
        let active = self.running.remove(i);
        self.times_of(id).cancelled = true;
        match self.retire_as(active, Some(EndReason::Stopped)) {
            Err(e @ EngineError::TraceWrite(_)) => {
                self.times_of(id).failed = Some(e.to_string());
                Ok(true)
            }
            other => other.map(|()| true),
        }
    }

    /// Drop the times of a request that has finished (a long-lived server keeps only those
    /// of the requests in flight).
    pub fn forget(&mut self, id: u64) {
        self.times.retain(|t| t.id != id);
    }

    fn retire_as(
        &mut self,
        active: Active<'m, S>,
        reason: Option<EndReason>,
    ) -> Result<(), EngineError> {
        let memory = active.run.store().sequence().memory(&self.pool);
        self.pool.remove_sequence(active.run.store().sequence());
        let (sink, mut summary) = active.run.finish(reason)?;
        summary.kv_live_bytes = memory.live_bytes;
        summary.kv_reserved_bytes = memory.reserved_bytes;
        let now = self.now();
        self.times_of(active.id).finished = Some(now);
        self.finished.push((active.id, sink, summary));
        Ok(())
    }

    /// Step until every request has ended or been refused; `on_step` sees each snapshot.
    pub fn run_to_end(
        &mut self,
        mut on_step: impl FnMut(&BatchSnapshot),
    ) -> Result<(), EngineError> {
        while !self.is_idle() {
            let snapshot = self.step()?;
            on_step(&snapshot);
            if snapshot.running == 0 && snapshot.decoded == 0 && !self.waiting.is_empty() {
                // Nothing runs and the head of the queue cannot be admitted: only a request
                // that can never fit does this, and admission refuses those.
                return Err(EngineError::Request(
                    "the batch cannot admit its next request".into(),
                ));
            }
        }
        Ok(())
    }
}
