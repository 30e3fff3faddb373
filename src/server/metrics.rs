//! The server's `/metrics`, in the OpenMetrics text format Prometheus scrapes
//! (`prometheus-client`). Where a metric means what vLLM's does it carries vLLM's name
//! (`vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`,
//! `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`,
//! `vllm:time_to_first_token_seconds`, `vllm:inter_token_latency_seconds`), so dashboards built
//! for vLLM read it; memento's own (`memento:…`) count what vLLM lacks: evictions, the
//! entries they free, live KV tokens and pages.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::engine::batch::BatchSnapshot;

pub struct Metrics {
    registry: Mutex<Registry>,
    pub running: Gauge,
    pub waiting: Gauge,
    pub kv_usage: Gauge<f64, AtomicU64>,
    pub pages_used: Gauge,
    pub pages_total: Gauge,
    pub live_tokens: Gauge,
    pub prompt_tokens: Counter,
    pub generation_tokens: Counter,
    pub evictions: Counter,
    pub evicted_entries: Counter,
    pub finished: Counter,
    pub cancelled: Counter,
    pub rejected: Counter,
    pub ttft: Histogram,
    pub itl: Histogram,
}

impl Metrics {
    pub fn new(pages_total: usize) -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            running: Gauge::default(),
            waiting: Gauge::default(),
            kv_usage: Gauge::default(),
            pages_used: Gauge::default(),
            pages_total: Gauge::default(),
            live_tokens: Gauge::default(),
            prompt_tokens: Counter::default(),
            generation_tokens: Counter::default(),
            evictions: Counter::default(),
            evicted_entries: Counter::default(),
            finished: Counter::default(),
            cancelled: Counter::default(),
            rejected: Counter::default(),
            // vLLM's buckets for both.
            ttft: Histogram::new([
                0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0,
            ]),
            itl: Histogram::new([
                0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
            ]),
        };
        m.pages_total.set(pages_total as i64);
        {
            let mut r = m.registry.lock().expect("not poisoned");
            r.register(
                "vllm:num_requests_running",
                "Requests decoding in the batch",
                m.running.clone(),
            );
            r.register(
                "vllm:num_requests_waiting",
                "Requests queued for admission (new or preempted)",
                m.waiting.clone(),
            );
            r.register(
                "vllm:kv_cache_usage_perc",
                "Fraction of KV pages in use (0 to 1)",
                m.kv_usage.clone(),
            );
            r.register(
                "vllm:prompt_tokens",
                "Prompt tokens prefilled",
                m.prompt_tokens.clone(),
            );
            r.register(
                "vllm:generation_tokens",
                "Tokens generated",
                m.generation_tokens.clone(),
            );
            r.register(
                "vllm:time_to_first_token_seconds",
                "Seconds from a request's arrival to its first output token",
                m.ttft.clone(),
            );
            r.register(
                "vllm:inter_token_latency_seconds",
                "Seconds between two output tokens of a request",
                m.itl.clone(),
            );
            r.register(
                "memento:kv_pages_used",
                "KV pages held by running requests",
                m.pages_used.clone(),
            );
            r.register(
                "memento:kv_pages_total",
                "KV pages in the pool (the KV budget)",
                m.pages_total.clone(),
            );
            r.register(
                "memento:kv_live_tokens",
                "KV cache entries held by running requests",
                m.live_tokens.clone(),
            );
            r.register(
                "memento:evictions",
                "Blocks evicted from the KV cache when their memento closed",
                m.evictions.clone(),
            );
            r.register(
                "memento:evicted_entries",
                "KV cache entries freed by evictions",
                m.evicted_entries.clone(),
            );
            r.register(
                "memento:requests_finished",
                "Requests that ended (end of sequence or length)",
                m.finished.clone(),
            );
            r.register(
                "memento:requests_cancelled",
                "Requests whose client went away before they ended",
                m.cancelled.clone(),
            );
            r.register(
                "memento:requests_rejected",
                "Requests refused: the server was full, or the request could not run",
                m.rejected.clone(),
            );
        }
        m
    }

    /// The batch's state after a step.
    pub fn observe(&self, s: &BatchSnapshot) {
        self.running.set(s.running as i64);
        self.waiting.set(s.waiting as i64);
        self.pages_used.set(s.used_pages as i64);
        self.live_tokens.set(s.live_tokens as i64);
        let total = self.pages_total.get().max(1) as f64;
        self.kv_usage.set(s.used_pages as f64 / total);
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().expect("not poisoned");
        encode(&mut out, &r).expect("writing to a String cannot fail");
        out
    }
}
