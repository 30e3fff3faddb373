//! A load test of an OpenAI-compatible server over loopback: `requests` streaming chat
//! requests from `concurrency` clients at once, each a fixed `max_tokens` long (`ignore_eos`),
//! timed at the client: when each was sent, when each token arrived, when it ended. The times
//! feed the same figures as `bench serve` ([`super::metrics::ServeFigures`]). Bounded in count
//! and time, and refused for any host but loopback.

use std::io::BufReader;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::engine::batch::RequestTimes;
use crate::remote::chunk::{SseReader, parse_chunk};

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    pub prompts: Vec<String>,
    pub requests: usize,
    pub concurrency: usize,
    pub max_tokens: u32,
    /// The KV policy asked for (`kv_policy`), when given.
    pub policy: Option<String>,
    /// No request starts after this long.
    pub deadline: Duration,
}

/// Whether `url` names this machine (`127.0.0.0/8`, `::1` or `localhost`).
pub fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Run the load; returns every request's times (seconds since the load began) in order of
/// request, and the requests that failed, with why.
pub fn run(config: &LoadConfig) -> Result<(Vec<RequestTimes>, Vec<String>), String> {
    if !is_loopback(&config.url) {
        return Err(format!(
            "{}: the load test runs on loopback only (127.0.0.1, ::1 or localhost)",
            config.url
        ));
    }
    if config.prompts.is_empty() {
        return Err("no prompts".into());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(config.deadline + Duration::from_secs(60)))
        .build()
        .into();
    let url = format!("{}/v1/chat/completions", config.url.trim_end_matches('/'));
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let times = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..config.concurrency.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= config.requests || start.elapsed() > config.deadline {
                        return;
                    }
                    match one(&agent, &url, config, i, start) {
                        Ok(t) => times.lock().expect("not poisoned").push(t),
                        Err(e) => failures
                            .lock()
                            .expect("not poisoned")
                            .push(format!("request {i}: {e}")),
                    }
                }
            });
        }
    });
    let mut times = times.into_inner().expect("not poisoned");
    times.sort_by_key(|t: &RequestTimes| t.id);
    Ok((times, failures.into_inner().expect("not poisoned")))
}

fn one(
    agent: &ureq::Agent,
    url: &str,
    config: &LoadConfig,
    i: usize,
    start: Instant,
) -> Result<RequestTimes, String> {
    let prompt = &config.prompts[i % config.prompts.len()];
    let mut body = json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": config.max_tokens,
        "ignore_eos": true,
        "stream": true,
        "stream_options": {"include_usage": true},
        // Ids make every token count, special ones (which carry no text) included.
        "return_token_ids": true,
    });
    if let Some(p) = &config.policy {
        body["kv_policy"] = json!(p);
    }
    let arrived = start.elapsed().as_secs_f64();
    let response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut tokens = Vec::with_capacity(config.max_tokens as usize);
    let reader = BufReader::new(response.into_body().into_reader());
    for payload in SseReader::new(reader) {
        let payload = payload.map_err(|e| e.to_string())?;
        if payload.trim() == "[DONE]" {
            break;
        }
        let chunk = parse_chunk(&payload)?;
        if let Some(e) = chunk.error {
            return Err(e);
        }
        let now = start.elapsed().as_secs_f64();
        tokens.extend(std::iter::repeat_n(now, chunk.tokens.len()));
    }
    Ok(RequestTimes {
        id: i as u64,
        arrived,
        admitted: None,
        finished: Some(start.elapsed().as_secs_f64()),
        tokens,
        ..RequestTimes::default()
    })
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_loopback_hosts_pass() {
        for url in [
            "http://127.0.0.1:8000",
            "http://localhost:8000/",
            "http://[::1]:8000",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://10.0.0.1:8000",
            "http://example.com",
            "http://[2001:db8::1]:80",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
