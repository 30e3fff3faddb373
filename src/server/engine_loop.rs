//! The engine thread of `memento serve`: it owns the model and one continuous batch, takes
//! requests from the HTTP handlers, steps the batch while anything runs or waits, and sleeps on
//! its queue when nothing does. A request whose handler went away (the client disconnected)
//! is cancelled at the next step, and its KV pages go back to the pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use tokio::sync::mpsc::UnboundedSender;

use super::metrics::Metrics;
use super::sink::{StreamSink, Update};
use crate::engine::RunOptions;
use crate::engine::batch::{Batch, BatchConfig, Request};
use crate::model::{Model, ModelTokenizer};
use crate::trace::TraceWriter;

/// A request handed to the engine thread.
pub struct Submission {
    pub id: u64,
    pub prompt: String,
    pub options: RunOptions,
    pub updates: UnboundedSender<Update>,
}

/// The handlers' side of the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    submissions: Sender<Submission>,
}

impl EngineHandle {
    /// Queue a request; false when the engine thread has stopped.
    pub fn submit(&self, s: Submission) -> bool {
        self.submissions.send(s).is_ok()
    }
}

/// Start the engine thread over `model`. Traces go to `record` when given, one file per
/// request (`request-<id>.trace.jsonl`).
pub fn spawn(
    model: Arc<Model>,
    tokenizer: Arc<ModelTokenizer>,
    config: BatchConfig,
    record: Option<PathBuf>,
    metrics: Arc<Metrics>,
) -> (EngineHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("memento-engine".into())
        .spawn(move || engine_loop(&model, &tokenizer, config, record, &metrics, rx))
        .expect("spawning the engine thread");
    (EngineHandle { submissions: tx }, thread)
}

fn engine_loop(
    model: &Model,
    tokenizer: &ModelTokenizer,
    config: BatchConfig,
    record: Option<PathBuf>,
    metrics: &Arc<Metrics>,
    submissions: Receiver<Submission>,
) {
    let mut batch = match Batch::new(model, tokenizer, config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("memento serve: the KV pool could not be made: {e}");
            return;
        }
    };
    let mut clients: HashMap<u64, UnboundedSender<Update>> = HashMap::new();
    loop {
        // Sleep on the queue when there is nothing to step.
        let first = match batch.is_idle() {
            true => match submissions.recv() {
                Ok(s) => Some(s),
                Err(_) => return,
            },
            false => None,
        };
        for s in first.into_iter().chain(submissions.try_iter()) {
            let trace = match &record {
                None => None,
                Some(dir) => {
                    let path = dir.join(format!("request-{}.trace.jsonl", s.id));
                    match TraceWriter::create(&path) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            let _ = s.updates.send(Update::Refused(format!(
                                "{}: cannot record the request's trace: {e}",
                                path.display()
                            )));
                            metrics.rejected.inc();
                            continue;
                        }
                    }
                }
            };
            let request = Request {
                id: s.id,
                prompt: s.prompt,
                options: s.options,
                forced: Vec::new(),
                sink: StreamSink {
                    updates: s.updates.clone(),
                    trace,
                    metrics: metrics.clone(),
                },
            };
            match batch.submit(request) {
                Ok(()) => {
                    clients.insert(s.id, s.updates);
                }
                Err(e) => {
                    let _ = s.updates.send(Update::Refused(e.to_string()));
                    metrics.rejected.inc();
                }
            }
        }
        // Clients that went away: their runs stop and free their pages.
        let gone: Vec<u64> = clients
            .iter()
            .filter(|(_, tx)| tx.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            clients.remove(&id);
            match batch.cancel(id) {
                Ok(_) => {
                    metrics.cancelled.inc();
                }
                Err(e) => eprintln!("memento serve: cancelling request {id}: {e}"),
            }
            batch.forget(id);
        }
        if batch.is_idle() {
            metrics.observe(&Default::default());
            continue;
        }
        match batch.step() {
            Ok(snapshot) => metrics.observe(&snapshot),
            Err(e) => {
                // The model's forward pass failed for the whole batch: every request learns
                // why, and the server goes on with a fresh batch.
                eprintln!("memento serve: the batch failed: {e}");
                for (_, tx) in clients.drain() {
                    let _ = tx.send(Update::Failed(e.to_string()));
                }
                batch = match Batch::new(model, tokenizer, config) {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("memento serve: the KV pool could not be made again: {e}");
                        return;
                    }
                };
                continue;
            }
        }
        for (id, _sink, _summary) in batch.take_finished() {
            // The end event went through the sink; dropping it closes the stream. (A cancelled
            // run was counted when it was cancelled.)
            if clients.remove(&id).is_some() {
                metrics.finished.inc();
            }
            batch.forget(id);
        }
        let ended: Vec<(u64, Update)> = batch
            .times()
            .iter()
            .filter_map(|t| {
                let update = match (&t.refused, &t.failed) {
                    (Some(r), _) => Update::Refused(r.clone()),
                    (None, Some(f)) => Update::Failed(f.clone()),
                    (None, None) => return None,
                };
                Some((t.id, update))
            })
            .collect();
        for (id, update) in ended {
            if let Some(tx) = clients.remove(&id) {
                let _ = tx.send(update);
            }
            metrics.rejected.inc();
            batch.forget(id);
        }
    }
}
