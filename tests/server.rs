//! `memento serve` on loopback: the real binary serving the organism, driven by a real HTTP
//! client. Both APIs plain and streaming; 32 concurrent clients whose greedy results equal
//! `memento generate`; a client that disconnects mid-stream has its run cancelled and its KV
//! pages freed (as `/metrics` shows); bad requests get clear 4xx answers; overload gets 503
//! while the running requests finish.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use memento::task::{Split, Task};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_memento");

#[path = "common/server.rs"]
mod server;

/// `memento serve` on the organism with `args`.
fn serve(args: &[&str]) -> server::Server {
    server::serve(BIN, args)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// POST `body` (raw bytes); returns the status and the body parsed as JSON (or as a string).
fn post(url: &str, body: &[u8]) -> (u16, Value) {
    let mut response = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post_json(url: &str, body: &Value) -> (u16, Value) {
    post(url, body.to_string().as_bytes())
}

/// A streaming request: every `data:` payload, in order, `[DONE]` included.
fn stream(url: &str, body: &Value) -> Vec<String> {
    let response = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let reader = BufReader::new(response.into_body().into_reader());
    reader
        .lines()
        .map(Result::unwrap)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}

fn metric(url: &str, name: &str) -> f64 {
    let mut response = agent().get(format!("{url}/metrics")).call().unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn problems(count: u64) -> Vec<String> {
    let dir = memento::organism::ensure().unwrap();
    let task = Task::of_model(&dir).unwrap().unwrap();
    (0..count)
        .map(|i| task.problem(Split::Heldout, 21, i).prompt)
        .collect()
}

/// The text `memento generate` writes for `prompt`, greedy, with the model's defaults.
fn generated(prompt: &str) -> String {
    let cache = tempfile::tempdir().unwrap();
    let trace = cache.path().join("t.jsonl");
    let out = Command::new(BIN)
        .env("MEMENTO_CACHE_DIR", cache.path())
        .args([
            "--threads",
            "1",
            "generate",
            "--model",
            "organism",
            "--json",
            "--trace",
        ])
        .arg(&trace)
        .arg(prompt)
        .output()
        .unwrap();
    json_of(&out)["text"].as_str().unwrap().to_string()
}

/// The JSON a command printed, once it succeeded.
fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Chat content as `memento generate` writes it: the tags kept, nothing added between.
fn raw_chat(prompt: &str) -> Value {
    json!({
        "messages": [{"role": "user", "content": prompt}],
        "skip_special_tokens": false,
        "spaces_between_special_tokens": false,
    })
}

#[test]
fn both_apis_answer_plain_and_streaming_and_the_stream_adds_up_to_the_answer() {
    let server = serve(&[]);
    let url = &server.url;
    let prompt = &problems(1)[0];
    // The served model and its context.
    let mut response = agent().get(format!("{url}/v1/models")).call().unwrap();
    let models: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(models["data"][0]["id"], "organism");
    assert_eq!(models["data"][0]["max_model_len"], 4096);
    assert_eq!(
        agent()
            .get(format!("{url}/health"))
            .call()
            .unwrap()
            .status(),
        200
    );

    let mut body = raw_chat(prompt);
    body["model"] = json!("organism");
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(2);
    body["return_token_ids"] = json!(true);
    let (status, plain) = post_json(&format!("{url}/v1/chat/completions"), &body);
    assert_eq!(status, 200, "{plain}");
    let content = plain["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("<|summary_end|>"), "{content}");
    assert_eq!(plain["choices"][0]["finish_reason"], "stop");
    let completion_tokens = plain["usage"]["completion_tokens"].as_u64().unwrap();
    let ids = plain["choices"][0]["token_ids"].as_array().unwrap();
    assert_eq!(ids.len() as u64, completion_tokens);
    let logprobs = plain["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    assert_eq!(logprobs.len() as u64, completion_tokens);
    assert_eq!(logprobs[0]["top_logprobs"].as_array().unwrap().len(), 2);
    assert!(!plain["prompt_token_ids"].as_array().unwrap().is_empty());

    // The same request streamed: the chunks add up to the same answer.
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = stream(&format!("{url}/v1/chat/completions"), &body);
    assert_eq!(chunks.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = chunks[..chunks.len() - 1]
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["prompt_token_ids"], plain["prompt_token_ids"]);
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, content);
    let streamed_ids: Vec<Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["token_ids"].as_array())
        .flatten()
        .cloned()
        .collect();
    assert_eq!(&streamed_ids, ids);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage["usage"], plain["usage"]);
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);

    // Completions take the prompt as the whole input: the chat's template written out gives
    // the chat's tokens.
    let templated = memento::engine::chat_prompt(None, prompt);
    let completion = json!({
        "prompt": templated,
        "skip_special_tokens": false,
        "spaces_between_special_tokens": false,
        "logprobs": 1,
    });
    let (status, plain_completion) = post_json(&format!("{url}/v1/completions"), &completion);
    assert_eq!(status, 200, "{plain_completion}");
    assert_eq!(plain_completion["object"], "text_completion");
    assert_eq!(plain_completion["choices"][0]["text"], content);
    let lp = &plain_completion["choices"][0]["logprobs"];
    assert_eq!(
        lp["tokens"].as_array().unwrap().len() as u64,
        completion_tokens
    );
    let mut streamed_completion = completion.clone();
    streamed_completion["stream"] = json!(true);
    let chunks = stream(&format!("{url}/v1/completions"), &streamed_completion);
    let text: String = chunks[..chunks.len() - 1]
        .iter()
        .map(|c| serde_json::from_str::<Value>(c).unwrap())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, content);

    // With vLLM's defaults the tags are dropped from the text.
    let (_, skipped) = post_json(
        &format!("{url}/v1/chat/completions"),
        &json!({"messages": [{"role": "user", "content": prompt}]}),
    );
    let skipped = skipped["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert!(!skipped.contains("<|"), "{skipped}");
    assert!(!skipped.is_empty());
}

#[test]
fn thirty_two_concurrent_clients_get_what_generate_writes() {
    let prompts = problems(4);
    let expected: Vec<String> = prompts.iter().map(|p| generated(p)).collect();
    let server = serve(&[]);
    let url = format!("{}/v1/chat/completions", server.url);
    let results: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let url = &url;
                let prompt = &prompts[i % prompts.len()];
                s.spawn(move || {
                    let mut body = raw_chat(prompt);
                    let text = if i % 2 == 0 {
                        let (status, v) = post_json(url, &body);
                        assert_eq!(status, 200, "{v}");
                        v["choices"][0]["message"]["content"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    } else {
                        body["stream"] = json!(true);
                        let chunks = stream(url, &body);
                        chunks[..chunks.len() - 1]
                            .iter()
                            .map(|c| serde_json::from_str::<Value>(c).unwrap())
                            .filter_map(|c| {
                                c["choices"][0]["delta"]["content"]
                                    .as_str()
                                    .map(str::to_string)
                            })
                            .collect()
                    };
                    (i, text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, text) in results {
        assert_eq!(
            text,
            expected[i % prompts.len()],
            "client {i} (prompt {})",
            i % prompts.len()
        );
    }
    // They ran together, and every page came back.
    assert_eq!(metric(&server.url, "memento:kv_pages_used"), 0.0);
    assert_eq!(metric(&server.url, "memento:requests_finished_total"), 32.0);
    assert!(metric(&server.url, "memento:evictions_total") >= 32.0);
}

#[test]
fn a_client_that_disconnects_mid_stream_frees_its_kv() {
    let server = serve(&[]);
    let url = &server.url;
    let body = json!({
        "prompt": "Once upon a time",
        "max_tokens": 3500,
        "ignore_eos": true,
        "stream": true,
    });
    let response = agent()
        .post(format!("{url}/v1/completions"))
        .send(body.to_string().as_bytes())
        .unwrap();
    let mut reader = BufReader::new(response.into_body().into_reader());
    let mut line = String::new();
    let mut chunks = 0;
    while chunks < 3 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("data: ") {
            chunks += 1;
        }
    }
    assert!(
        metric(url, "memento:kv_pages_used") > 0.0,
        "the run holds pages"
    );
    assert_eq!(metric(url, "vllm:num_requests_running"), 1.0);
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(url, "memento:requests_cancelled_total") < 1.0 {
        assert!(Instant::now() < deadline, "the run was never cancelled");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(url, "memento:kv_pages_used"), 0.0);
    assert_eq!(metric(url, "vllm:num_requests_running"), 0.0);
    assert_eq!(metric(url, "memento:requests_finished_total"), 0.0);
}

#[test]
fn bad_requests_get_a_clear_4xx() {
    let server = serve(&["--max-body-bytes", "8192"]);
    let chat = format!("{}/v1/chat/completions", server.url);
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "not valid JSON"),
        (
            json!({"messages": "hi"}).to_string().into_bytes(),
            400,
            "messages",
        ),
        (vec![b' '; 10_000], 413, ""),
        (
            json!({"model": "gpt-4", "messages": user})
                .to_string()
                .into_bytes(),
            404,
            "gpt-4",
        ),
        (
            json!({"messages": user, "kv_policy": "keep-banana"})
                .to_string()
                .into_bytes(),
            400,
            "kv_policy",
        ),
        (
            json!({"messages": user, "kv_policy": {"mode": "memento", "evict": "always"}})
                .to_string()
                .into_bytes(),
            400,
            "kv_policy",
        ),
        (
            json!({"messages": user, "temperature": -0.5})
                .to_string()
                .into_bytes(),
            400,
            "temperature",
        ),
        (
            json!({"messages": user, "top_p": 1.5})
                .to_string()
                .into_bytes(),
            400,
            "top-p",
        ),
        (
            json!({"messages": user, "max_tokens": "many"})
                .to_string()
                .into_bytes(),
            400,
            "max_tokens",
        ),
    ];
    for (body, status, says) in cases {
        let (got, answer) = post(&chat, &body);
        assert_eq!(got, status, "{answer}");
        if !says.is_empty() {
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
            assert_eq!(answer["error"]["code"], status);
        }
    }
    // A prompt beyond the model's context (4096 tokens; this one is 5000) is refused, not run.
    let long = "ab".repeat(2500);
    let (got, answer) = post_json(
        &format!("{}/v1/completions", server.url),
        &json!({"prompt": long}),
    );
    assert_eq!(got, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("context"), "{message}");
    // The server is still there.
    let (got, _) = post_json(&chat, &json!({"messages": user, "max_tokens": 4}));
    assert_eq!(got, 200);
}

#[test]
fn overload_is_answered_with_503_while_the_running_requests_finish() {
    let server = serve(&["--max-num-seqs", "1", "--max-waiting", "1"]);
    let url = format!("{}/v1/completions", server.url);
    let long = json!({"prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": true});
    std::thread::scope(|s| {
        let running: Vec<_> = (0..2).map(|_| s.spawn(|| post_json(&url, &long))).collect();
        // Both hold the server's two places (one decoding, one queued).
        let deadline = Instant::now() + Duration::from_secs(30);
        while metric(&server.url, "vllm:num_requests_running")
            + metric(&server.url, "vllm:num_requests_waiting")
            < 2.0
        {
            assert!(Instant::now() < deadline, "the two requests never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, answer) = post_json(&url, &long);
        assert_eq!(status, 503, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("full"),
            "{answer}"
        );
        for r in running {
            let (status, answer) = r.join().unwrap();
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["usage"]["completion_tokens"], 400);
            assert_eq!(answer["choices"][0]["finish_reason"], "length");
        }
    });
    assert_eq!(metric(&server.url, "memento:requests_rejected_total"), 1.0);
}

#[test]
fn with_record_each_request_leaves_a_whole_trace() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&["--record", dir.path().to_str().unwrap()]);
    let prompt = &problems(1)[0];
    let (status, answer) = post_json(
        &format!("{}/v1/chat/completions", server.url),
        &raw_chat(prompt),
    );
    assert_eq!(status, 200, "{answer}");
    let trace = dir.path().join("request-0.trace.jsonl");
    let file = memento::trace::read_trace(&trace).unwrap();
    let tokens = file
        .events
        .iter()
        .filter(|e| matches!(e, memento::trace::Event::Token(_)))
        .count() as u64;
    assert_eq!(
        tokens,
        answer["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert!(matches!(
        file.events.last(),
        Some(memento::trace::Event::End(_))
    ));
    // A record directory that does not exist is refused at start.
    let out = Command::new(BIN)
        .args(["serve", "--model", "organism", "--port", "0", "--record"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--record"));
}

#[test]
fn bench_http_loads_the_server_and_reports_batchings_gain() {
    let server = serve(&[]);
    let out = Command::new(BIN)
        .args(["bench", "http", "--url", &server.url])
        .args([
            "--requests",
            "6",
            "--concurrency",
            "3",
            "--max-tokens",
            "24",
            "--json",
        ])
        .output()
        .unwrap();
    let report = json_of(&out);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, clients) in rows.iter().zip([1, 3]) {
        assert_eq!(row["clients"], clients);
        let f = &row["median_round"];
        assert_eq!(f["completed"], 6);
        assert_eq!(
            f["output_tokens"],
            6 * 24,
            "every token counted, tags included"
        );
        assert!(f["ttft"]["median_ms"].as_f64().unwrap() > 0.0);
        assert!(f["itl"]["p99_ms"].as_f64().unwrap() >= f["itl"]["median_ms"].as_f64().unwrap());
    }
    assert!(report["batching_gain"].as_f64().unwrap() > 0.0);
    // Anything but loopback is refused.
    let out = Command::new(BIN)
        .args(["bench", "http", "--url", "http://192.0.2.1:8000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
