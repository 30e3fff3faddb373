//! Remote attach: the chunk parser on streams shaped as vLLM 0.13 sends them (fixtures in
//! `tests/fixtures/remote/`), the attach engine replaying those streams from a loopback HTTP
//! server (structure and evictions rebuilt from the text, the prompt counted from the server's
//! ids), and the attach engine on our own `memento serve`: the same tokens, blocks and
//! evictions as a local run of the same model with the same seed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use memento::engine::{Run, RunOptions};
use memento::kv::KvPolicy;
use memento::live::DecodeEngine;
use memento::model::{Model, ModelTokenizer};
use memento::remote::chunk::{Chunk, SseReader, parse_chunk};
use memento::remote::{RemoteConfig, RemoteEngine};
use memento::task::{Split, Task};
use memento::trace::{EndReason, Event, MemorySink, TraceWriter, read_trace};

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/remote")
        .join(name)
}

/// Every chunk of a fixture stream, `[DONE]` left out.
fn chunks(name: &str) -> Vec<Chunk> {
    let file = std::fs::File::open(fixture(name)).unwrap();
    let payloads: Vec<String> = SseReader::new(BufReader::new(file))
        .map(Result::unwrap)
        .collect();
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    payloads[..payloads.len() - 1]
        .iter()
        .map(|p| parse_chunk(p).unwrap())
        .collect()
}

fn texts(chunks: &[Chunk]) -> Vec<String> {
    chunks
        .iter()
        .flat_map(|c| c.tokens.iter().map(|t| t.text.clone()))
        .collect()
}

#[test]
fn one_token_per_chunk_with_ids_logprobs_nulls_and_a_usage_chunk() {
    let c = chunks("chat-one-token.sse");
    assert_eq!(c[0].prompt_ids.as_ref().unwrap().len(), 12);
    assert!(c[0].tokens.is_empty(), "the role chunk has no token");
    let tokens: Vec<_> = c.iter().flat_map(|c| c.tokens.clone()).collect();
    assert_eq!(tokens.len(), 9);
    assert_eq!(tokens[0].text, "<think>");
    assert_eq!(tokens[0].id, Some(151667));
    assert_eq!(tokens[0].logprob, Some(-0.0001));
    assert_eq!(tokens[0].top.len(), 2);
    assert_eq!(tokens[0].top[1], ("The".to_string(), -9.2));
    assert_eq!(c[c.len() - 2].finish_reason.as_deref(), Some("stop"));
    assert_eq!(c.last().unwrap().usage, Some((12, 9)));
    assert!(c.last().unwrap().tokens.is_empty());
}

#[test]
fn several_tokens_per_chunk_keep_their_count_and_their_text() {
    let c = chunks("chat-several-tokens.sse");
    let tokens: Vec<_> = c.iter().flat_map(|c| c.tokens.clone()).collect();
    // Ids without logprobs: one token per id, the text cut at the tags.
    assert_eq!(tokens.len(), 10);
    assert_eq!(
        tokens.iter().map(|t| t.id.unwrap()).collect::<Vec<_>>(),
        [
            151667, 198, 151669, 603, 1378, 2326, 151670, 151671, 18, 151672
        ]
    );
    assert_eq!(
        texts(&c).concat(),
        "<think>\n<|block_start|>one two three<|block_end|><|summary_start|>3<|summary_end|>"
    );
    // Each tag a token of its own; a run of text on its first token.
    assert_eq!(tokens[1].text, "\n");
    assert_eq!(tokens[3].text, "one two three");
    assert_eq!((tokens[4].text.as_str(), tokens[5].text.as_str()), ("", ""));
    assert_eq!(tokens[6].text, "<|block_end|>");
    assert_eq!(c.last().unwrap().finish_reason.as_deref(), Some("length"));
}

#[test]
fn reasoning_content_is_read_as_the_text_it_is() {
    let c = chunks("chat-reasoning.sse");
    assert_eq!(
        texts(&c).concat(),
        "<|block_start|>First step<|block_end|>Done."
    );
    // No ids: one token per chunk's text.
    assert!(c.iter().flat_map(|c| &c.tokens).all(|t| t.id.is_none()));
    assert_eq!(c.last().unwrap().usage, Some((7, 6)));
}

#[test]
fn completions_split_by_their_logprob_tokens() {
    let c = chunks("completions.sse");
    assert_eq!(c[0].prompt_ids.as_deref(), Some(&[9, 8, 7][..]));
    assert_eq!(texts(&c), [" upon", " a", " time"]);
    let tokens: Vec<_> = c.iter().flat_map(|c| c.tokens.clone()).collect();
    assert_eq!(tokens[1].id, Some(264));
    assert_eq!(tokens[1].logprob, Some(-0.01));
    assert_eq!(tokens[2].top, [(" time".to_string(), -0.02)]);
}

#[test]
fn a_broken_chunk_says_so() {
    assert!(parse_chunk("{not json").unwrap_err().contains("not JSON"));
    let e = parse_chunk(r#"{"error":{"message":"boom","code":500}}"#).unwrap();
    assert_eq!(e.error.as_deref(), Some("boom"));
}

/// A loopback HTTP server that lists one model and answers every POST with `stream` (a
/// fixture's bytes) as server-sent events; returns its base URL.
fn replay_server(model: &str, stream: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let models = format!(
        r#"{{"object":"list","data":[{{"id":"{model}","object":"model","max_model_len":40960}}]}}"#
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let (kind, payload) = match request_line.starts_with("GET /v1/models") {
                true => ("application/json", models.as_bytes().to_vec()),
                false => ("text/event-stream", stream.clone()),
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(&payload).unwrap();
        }
    });
    url
}

/// Attach to `url`, run `prompt` to the end under `policy`; the recorded trace.
fn attach(url: &str, policy: KvPolicy, dir: &Path) -> (memento::trace::TraceFile, EndReason) {
    let engine = RemoteEngine::connect(RemoteConfig {
        url: url.to_string(),
        compare_url: None,
        model: None,
        shape: None,
        top_logprobs: 2,
    })
    .unwrap();
    let path = dir.join("remote.trace.jsonl");
    let sink = Box::new(TraceWriter::create(&path).unwrap());
    let options = RunOptions {
        policy,
        max_tokens: 10_000,
        ..RunOptions::default()
    };
    let mut run = engine.start("Compute 2+2.", options, sink).unwrap();
    while run.step().unwrap().is_some() {}
    let summary = run.finish(None).unwrap();
    (read_trace(&path).unwrap(), summary.end)
}

#[test]
fn a_vllm_stream_is_segmented_and_its_kv_rebuilt_under_the_policy_given() {
    let dir = tempfile::tempdir().unwrap();
    let stream = std::fs::read(fixture("chat-one-token.sse")).unwrap();
    let url = replay_server("microsoft/Qwen3-8B-MEMENTO", stream);
    let (trace, end) = attach(&url, KvPolicy::MEMENTO, dir.path());
    assert_eq!(end, EndReason::Eos);
    let header = &trace.header;
    assert_eq!(header.model.name, "microsoft/Qwen3-8B-MEMENTO");
    let source = header.source.as_ref().unwrap();
    assert_eq!(source.format.as_deref(), Some("remote"));
    assert!(
        source.path.as_deref().unwrap().starts_with(&url),
        "the endpoint is named"
    );
    let prompt = trace
        .events
        .iter()
        .find_map(|e| match e {
            Event::Prompt(p) => Some(p.tokens),
            _ => None,
        })
        .unwrap();
    assert_eq!(prompt, 12, "the prompt as the server counted it");
    let timeline = memento::timeline::Timeline::from_file(trace).unwrap();
    assert_eq!(timeline.len(), 9);
    // One block ("2+2") closed by its memento ("4"): evicted under memento mode.
    assert_eq!(timeline.evictions().len(), 1);
    assert_eq!(timeline.evictions()[0].freed, 1);
    // Full context, from the same stream: nothing evicted.
    let stream = std::fs::read(fixture("chat-one-token.sse")).unwrap();
    let url = replay_server("microsoft/Qwen3-8B-MEMENTO", stream);
    let (trace, _) = attach(&url, KvPolicy::FULL, dir.path());
    let timeline = memento::timeline::Timeline::from_file(trace).unwrap();
    assert!(timeline.evictions().is_empty());
}

#[test]
fn several_tokens_per_chunk_and_reasoning_content_are_recorded_token_by_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = replay_server(
        "memento-qwen3",
        std::fs::read(fixture("chat-several-tokens.sse")).unwrap(),
    );
    let (trace, end) = attach(&url, KvPolicy::MEMENTO, dir.path());
    assert_eq!(end, EndReason::MaxTokens);
    let timeline = memento::timeline::Timeline::from_file(trace).unwrap();
    assert_eq!(timeline.len(), 10);
    assert_eq!(timeline.evictions().len(), 1);
    assert_eq!(timeline.evictions()[0].freed, 3, "one, two, three");
    let url = replay_server("m", std::fs::read(fixture("chat-reasoning.sse")).unwrap());
    let (trace, _) = attach(&url, KvPolicy::MEMENTO, dir.path());
    let timeline = memento::timeline::Timeline::from_file(trace).unwrap();
    assert_eq!(timeline.len(), 3);
}

#[path = "common/server.rs"]
mod server;

#[path = "common/stream_parts.rs"]
mod stream_parts;
use stream_parts::tokens_and_evictions;

#[test]
fn attached_to_our_own_server_the_stream_equals_a_local_run() {
    let dir = memento::organism::ensure().unwrap();
    let task = Task::of_model(&dir).unwrap().unwrap();
    let prompt = task.problem(Split::Heldout, 31, 0).prompt;
    let (model, tok) = (
        Model::load(&dir).unwrap(),
        ModelTokenizer::load(&dir).unwrap(),
    );
    let options = RunOptions {
        policy: KvPolicy::MEMENTO,
        max_tokens: task.max_tokens(),
        ..RunOptions::default()
    };
    let mut local = Run::start(
        &model,
        &tok,
        &prompt,
        options.clone(),
        MemorySink::default(),
    )
    .unwrap();
    local.run_to_end(|_| {}).unwrap();
    let (sink, summary) = local.finish(None).unwrap();
    let (local_tokens, local_evictions) = tokens_and_evictions(&sink.events);
    assert!(!local_evictions.is_empty());

    let server = server::serve(BIN, &[]);
    let engine = RemoteEngine::connect(RemoteConfig {
        url: server.url.clone(),
        compare_url: None,
        model: None,
        shape: None,
        top_logprobs: 2,
    })
    .unwrap();
    assert!(engine.name().contains("organism"));
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("remote.trace.jsonl");
    let mut run = engine
        .start(
            &prompt,
            options,
            Box::new(TraceWriter::create(&path).unwrap()),
        )
        .unwrap();
    while run.step().unwrap().is_some() {}
    let remote = run.finish(None).unwrap();
    assert_eq!(remote.end, summary.end);
    let trace = read_trace(&path).unwrap();
    let (remote_tokens, remote_evictions) = tokens_and_evictions(&trace.events);
    assert_eq!(remote_tokens, local_tokens);
    assert_eq!(remote_evictions, local_evictions);
    assert_eq!(remote.peak_live_tokens, summary.peak_live_tokens);
    assert_eq!(remote.prompt_tokens, summary.prompt_tokens);
    // The server's own KV usage was read beside the reconstruction: some pages in use.
    let readings: Vec<f64> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Marker(m) if m.label == memento::remote::SERVER_KV_MARKER => {
                m.note.as_deref()?.parse().ok()
            }
            _ => None,
        })
        .collect();
    assert!(!readings.is_empty(), "no reading of the server's KV usage");
    assert!(
        readings.iter().all(|u| *u > 0.0 && *u <= 1.0),
        "{readings:?}"
    );
}

#[test]
fn the_servers_kv_usage_is_read_from_its_metrics() {
    use memento::remote::kv_usage_in;
    let vllm = "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n\
                # TYPE vllm:kv_cache_usage_perc gauge\n\
                vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"Qwen3-8B\"} 0.0625\n\
                vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"Qwen3-8B\"} 0.125\n\
                vllm:kv_cache_usage_perc_other 0.9\n";
    assert_eq!(kv_usage_in(vllm), Some(0.125));
    assert_eq!(kv_usage_in("vllm:gpu_cache_usage_perc 0.5\n"), Some(0.5));
    assert_eq!(kv_usage_in("vllm:num_requests_running 3\n"), None);
}

#[test]
fn a_stream_without_any_tag_is_called_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = String::new();
    for word in ["The", " answer", " is", " 4", "."] {
        stream.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    stream.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    let url = replay_server("plain-model", stream.into_bytes());
    let (trace, end) = attach(&url, KvPolicy::MEMENTO, dir.path());
    assert_eq!(end, EndReason::Eos);
    let warning = trace
        .events
        .iter()
        .find_map(|e| match e {
            Event::Diagnostic(d) => Some(d.clone()),
            _ => None,
        })
        .expect("a diagnostic");
    assert_eq!(
        serde_json::to_value(warning.code).unwrap(),
        "no_structure_tags"
    );
    assert!(
        warning.message.contains("not one MEMENTO tag"),
        "{}",
        warning.message
    );
}

/// Two servers compared (say, vLLM without block masking and with it): the first stream of a
/// session goes to the first, the second to the other.
#[test]
fn a_compare_over_two_servers_sends_each_stream_to_its_own() {
    let first = replay_server("m", std::fs::read(fixture("chat-one-token.sse")).unwrap());
    let second = replay_server(
        "m",
        std::fs::read(fixture("chat-several-tokens.sse")).unwrap(),
    );
    let engine = RemoteEngine::connect(RemoteConfig {
        url: first.clone(),
        compare_url: Some(second.clone()),
        model: None,
        shape: None,
        top_logprobs: 2,
    })
    .unwrap();
    assert!(
        engine.name().contains(&format!("{first} vs {second}")),
        "{}",
        engine.name()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();
    for (stream, policy) in [(0, KvPolicy::FULL), (1, KvPolicy::MEMENTO)] {
        let path = dir.path().join(format!("{stream}.trace.jsonl"));
        let options = RunOptions {
            policy,
            max_tokens: 100,
            ..RunOptions::default()
        };
        let sink = Box::new(TraceWriter::create(&path).unwrap());
        let mut run = engine.start_stream("2+2?", options, sink, stream).unwrap();
        while run.step().unwrap().is_some() {}
        run.finish(None).unwrap();
        let trace = read_trace(&path).unwrap();
        let source = trace.header.source.clone().unwrap().path.unwrap();
        assert!(source.starts_with([&first, &second][stream]), "{source}");
        counts.push(memento::timeline::Timeline::from_file(trace).unwrap().len());
    }
    assert_eq!(counts, [9, 10]);
}
