//! Serving measurements on the batched engine: request workloads with block/memento schedules
//! taken from real traces, the latency and throughput figures `vllm bench serve` reports, and
//! the chart of KV pages and running requests over time.

pub mod chart;
pub mod load;
pub mod metrics;
pub mod workload;
