//! The HTTP side of `memento serve`: OpenAI-compatible routes over the engine thread.
//!
//! Every body is read whole under the size limit and parsed here, so a bad one gets a 400 that
//! names the field (413 when it is too large). A request beyond the server's capacity (running
//! plus queued) gets a 503 at once; a model name other than the served one a 404.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::api::{BadRequest, ChatRequest, CompletionRequest, Defaults, Generation};
use super::engine_loop::{EngineHandle, Submission};
use super::metrics::Metrics;
use super::respond::{Api, Envelope, Piece, Spelling, Usage};
use super::sink::Update;
use crate::model::ModelTokenizer;
use crate::trace::{EndReason, Event};

/// What every handler shares.
pub struct AppState {
    pub model_name: String,
    pub max_model_len: usize,
    pub defaults: Defaults,
    pub engine: EngineHandle,
    pub tokenizer: Arc<ModelTokenizer>,
    pub metrics: Arc<Metrics>,
    /// Requests the server holds at most (running and queued).
    pub capacity: usize,
    pub in_flight: AtomicUsize,
    pub next_id: AtomicU64,
    pub started: u64,
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/version", get(version))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": null,
                "code": self.status.as_u16(),
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        kind,
        message: message.into(),
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "BadRequestError", message)
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

async fn models(State(app): State<Arc<AppState>>) -> axum::Json<Value> {
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": app.model_name,
            "object": "model",
            "created": app.started,
            "owned_by": "memento",
            "root": app.model_name,
            "parent": null,
            "max_model_len": app.max_model_len,
        }]
    }))
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

/// The body as JSON, or a 400 saying why it is not.
fn parse(body: &Bytes) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

/// Holds one of the server's request slots while a request is in flight.
struct Slot(Arc<AppState>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn take_slot(app: &Arc<AppState>) -> Result<Slot, ApiError> {
    let before = app.in_flight.fetch_add(1, Ordering::SeqCst);
    let slot = Slot(app.clone());
    if before >= app.capacity {
        app.metrics.rejected.inc();
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            format!(
                "the server is full ({} requests running or queued); retry later",
                app.capacity
            ),
        ));
    }
    Ok(slot)
}

fn check_model(app: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        Some(m) if m != app.model_name => Err(error(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!(
                "the model `{m}` does not exist; this server serves `{}`",
                app.model_name
            ),
        )),
        _ => Ok(()),
    }
}

async fn chat(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(app, Api::Chat, &body).await
}

async fn completions(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(app, Api::Completion, &body).await
}

/// A request through `api`: read, checked, and generated (or the error that stopped it).
async fn answer(app: Arc<AppState>, api: Api, body: &Bytes) -> Response {
    match generation_of(&app, api, body) {
        Ok(g) => generate(app, api, g).await,
        Err(e) => e.into_response(),
    }
}

/// The body as `api`'s request, for the served model, and the run it asks for.
fn generation_of(app: &AppState, api: Api, body: &Bytes) -> Result<Generation, ApiError> {
    let value = parse(body)?;
    let bad = |BadRequest(m)| bad_request(m);
    let (model, generation) = match api {
        Api::Chat => {
            let r = ChatRequest::from_value(&value).map_err(bad)?;
            (r.model.clone(), r.generation(&app.defaults))
        }
        Api::Completion => {
            let r = CompletionRequest::from_value(&value).map_err(bad)?;
            (r.model.clone(), r.generation(&app.defaults))
        }
    };
    check_model(app, model.as_deref())?;
    generation.map_err(bad)
}

/// One request's stream of updates, read into pieces, with the request's clock.
struct Reader {
    updates: UnboundedReceiver<Update>,
    app: Arc<AppState>,
    arrived: Instant,
    last_token: Option<Instant>,
    usage: Usage,
    /// An end that arrived behind tokens, given out on the next call.
    pending_end: Option<EndReason>,
}

/// What the next updates hold.
enum Next {
    Tokens(Vec<crate::trace::TokenEvent>),
    End(EndReason),
    Failed(String),
}

impl Reader {
    /// Wait for the prompt: `Err` with the response when the request never ran.
    async fn prompt(&mut self) -> Result<Vec<u32>, ApiError> {
        loop {
            match self.updates.recv().await {
                Some(Update::Event(e)) => {
                    if let Event::Prompt(p) = *e {
                        self.usage.prompt_tokens = p.tokens;
                        return Ok(p.ids.unwrap_or_default());
                    }
                }
                Some(Update::Refused(m)) => return Err(bad_request(m)),
                Some(Update::Failed(m)) => {
                    return Err(error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerError",
                        m,
                    ));
                }
                None => {
                    return Err(error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerError",
                        "the engine stopped",
                    ));
                }
            }
        }
    }

    /// The tokens that have arrived (waiting for at least one), or how the stream ended.
    async fn next(&mut self) -> Next {
        if let Some(reason) = self.pending_end.take() {
            return Next::End(reason);
        }
        let mut tokens = Vec::new();
        loop {
            let update = if tokens.is_empty() {
                self.updates.recv().await
            } else {
                match self.updates.try_recv() {
                    Ok(u) => Some(u),
                    Err(_) => return Next::Tokens(tokens),
                }
            };
            match update {
                Some(Update::Event(e)) => match *e {
                    Event::Token(t) => {
                        self.clock();
                        self.usage.completion_tokens += 1;
                        tokens.push(t);
                    }
                    Event::End(end) if tokens.is_empty() => return Next::End(end.reason),
                    Event::End(end) => {
                        // Tokens first; the end follows on the next call.
                        self.pending_end = Some(end.reason);
                        return Next::Tokens(tokens);
                    }
                    _ => {}
                },
                Some(Update::Refused(m)) | Some(Update::Failed(m)) => return Next::Failed(m),
                None if tokens.is_empty() => {
                    return Next::Failed("the engine stopped before the request ended".into());
                }
                None => return Next::Tokens(tokens),
            }
        }
    }

    fn clock(&mut self) {
        let now = Instant::now();
        match self.last_token {
            None => self
                .app
                .metrics
                .ttft
                .observe(now.duration_since(self.arrived).as_secs_f64()),
            Some(last) => self
                .app
                .metrics
                .itl
                .observe(now.duration_since(last).as_secs_f64()),
        }
        self.last_token = Some(now);
    }
}

async fn generate(app: Arc<AppState>, api: Api, g: Generation) -> Response {
    let slot = match take_slot(&app) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let id = app.next_id.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = unbounded_channel();
    let submitted = app.engine.submit(Submission {
        id,
        prompt: g.prompt.clone(),
        options: g.options.clone(),
        updates: tx,
    });
    if !submitted {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "the engine has stopped",
        )
        .into_response();
    }
    let mut reader = Reader {
        updates: rx,
        app: app.clone(),
        arrived: Instant::now(),
        last_token: None,
        usage: Usage::default(),
        pending_end: None,
    };
    let prompt_ids = match reader.prompt().await {
        Ok(ids) => ids,
        Err(r) => {
            app.metrics.rejected.inc();
            return r.into_response();
        }
    };
    let envelope = Envelope {
        api,
        id: match api {
            Api::Chat => format!("chatcmpl-{id}"),
            Api::Completion => format!("cmpl-{id}"),
        },
        created: unix_now(),
        model: app.model_name.clone(),
        logprobs: g.logprobs.is_some(),
        token_ids: g.return_token_ids,
    };
    let top_k = g.logprobs.unwrap_or(0) as usize;
    if !g.stream {
        let mut spelling = Spelling::new(&app.tokenizer, g.text);
        let mut pieces: Vec<Piece> = Vec::new();
        loop {
            match reader.next().await {
                Next::Tokens(ts) => pieces.extend(ts.iter().map(|t| spelling.piece(t, top_k))),
                Next::End(reason) => {
                    drop(slot);
                    let body = envelope.response(&pieces, reason, &reader.usage, &prompt_ids);
                    return axum::Json(body).into_response();
                }
                Next::Failed(m) => {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", m)
                        .into_response();
                }
            }
        }
    }
    let (out, chunks) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        // The slot is held until the stream ends or the client goes away; dropping `reader`
        // then tells the engine to cancel the run.
        let _slot = slot;
        let tokenizer = app.tokenizer.clone();
        let mut spelling = Spelling::new(&tokenizer, g.text);
        let send = |v: Value| out.send(Ok(SseEvent::default().data(v.to_string())));
        if send(envelope.opening_chunk(&prompt_ids)).await.is_err() {
            return;
        }
        let mut offset = 0;
        loop {
            match reader.next().await {
                Next::Tokens(ts) => {
                    let pieces: Vec<Piece> = ts.iter().map(|t| spelling.piece(t, top_k)).collect();
                    let chunk = envelope.token_chunk(&pieces, offset);
                    offset += pieces.iter().map(|p| p.text.len()).sum::<usize>();
                    if send(chunk).await.is_err() {
                        return;
                    }
                }
                Next::End(reason) => {
                    let _ = send(envelope.closing_chunk(reason)).await;
                    if g.include_usage {
                        let _ = send(envelope.usage_chunk(&reader.usage)).await;
                    }
                    break;
                }
                Next::Failed(m) => {
                    let _ = send(json!({"error": {
                        "message": m, "type": "InternalServerError", "param": null, "code": 500
                    }}))
                    .await;
                    break;
                }
            }
        }
        let _ = out.send(Ok(SseEvent::default().data("[DONE]"))).await;
    });
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(chunks)).into_response()
}
