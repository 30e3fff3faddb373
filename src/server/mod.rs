//! `memento serve`: an OpenAI-compatible HTTP server (axum on tokio) over the continuous
//! batching engine. `/v1/chat/completions` and `/v1/completions`, plain and streaming (SSE,
//! ending in `data: [DONE]`); `/v1/models` (with `max_model_len`), `/health`, `/version`,
//! and `/metrics` (OpenMetrics text, vLLM's names where the meaning is the same). Each request
//! may pick its KV policy in the body's `kv_policy` field; the server's default is `--mode`.
//!
//! One engine thread owns the model and the batch (`engine_loop`); handlers hand it requests
//! and read their trace events back as response chunks (`respond`). The queue is bounded
//! (503 past it), bodies are size-limited (413), and a client that disconnects cancels its
//! run, whose KV pages go back to the pool.

mod api;
mod engine_loop;
mod metrics;
mod respond;
mod routes;
mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use anyhow::Context;

pub use api::{
    BadRequest, ChatMessage, ChatRequest, Common, CompletionRequest, Defaults, Generation,
    TextOptions,
};
pub use metrics::Metrics;
pub use respond::{Api, Envelope, Piece, Spelling, Usage, finish_reason};

use crate::engine::batch::BatchConfig;
use crate::model::{Model, ModelTokenizer};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub host: String,
    /// 0 picks a free port (printed at start).
    pub port: u16,
    /// The name `/v1/models` lists and requests must use (or leave out).
    pub model_name: String,
    pub batch: BatchConfig,
    pub defaults: Defaults,
    /// Requests queued beyond the running ones before the server answers 503.
    pub max_waiting: usize,
    pub max_body_bytes: usize,
    /// Record each request's trace in this directory.
    pub record: Option<PathBuf>,
}

/// Serve `model` until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` once bound.
pub fn serve(model: Model, tokenizer: ModelTokenizer, config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("memento-http")
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let metrics = Arc::new(Metrics::new(config.batch.pages));
    let tokenizer = Arc::new(tokenizer);
    let max_model_len = model.config.context;
    let (engine, engine_thread) = engine_loop::spawn(
        Arc::new(model),
        tokenizer.clone(),
        config.batch,
        config.record.clone(),
        metrics.clone(),
    );
    let state = Arc::new(routes::AppState {
        model_name: config.model_name.clone(),
        max_model_len,
        defaults: config.defaults.clone(),
        engine,
        tokenizer,
        metrics,
        capacity: config.batch.max_running + config.max_waiting,
        in_flight: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    });
    let app = routes::router(state, config.max_body_bytes);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let addr: SocketAddr = listener.local_addr()?;
        println!(
            "memento serve: {} on http://{addr} (KV {} pages of {} tokens, {} at once, {} queued at most)",
            config.model_name,
            config.batch.pages,
            config.batch.page_tokens,
            config.batch.max_running,
            config.max_waiting
        );
        println!("listening on http://{addr}");
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .context("serving")
    })?;
    // The router (and with it the engine's queue) is gone: the engine thread ends.
    drop(runtime);
    let _ = engine_thread.join();
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
