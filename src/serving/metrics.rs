//! The figures `vllm bench serve` prints, from the batch's request times: request and output
//! token throughput, TTFT (arrival to first output token), TPOT (time per output token after
//! the first, per request) and ITL (every gap between two output tokens of a request), each as
//! mean, median and p99 in milliseconds; and the KV pages and running requests over the run.

use serde::Serialize;

use crate::engine::batch::{BatchSnapshot, RequestTimes};

/// Mean, median and 99th percentile, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p99_ms: f64,
}

impl Latency {
    /// Of `seconds`; zeros when empty.
    pub fn of(seconds: &[f64]) -> Latency {
        if seconds.is_empty() {
            return Latency::default();
        }
        let mut ms: Vec<f64> = seconds.iter().map(|s| s * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Latency {
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            median_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
        }
    }
}

/// The `q`th percentile of sorted values, interpolated linearly between ranks (NumPy's default,
/// which `vllm bench serve` uses).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = q / 100.0 * (n - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// One serving run's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServeFigures {
    pub completed: usize,
    pub refused: usize,
    /// From the first arrival to the last finish, seconds.
    pub duration_s: f64,
    pub output_tokens: usize,
    pub request_throughput: f64,
    pub output_throughput: f64,
    pub ttft: Latency,
    pub tpot: Latency,
    pub itl: Latency,
    pub preemptions: u32,
    pub peak_pages: usize,
    /// Mean over the run's time of the pages in use.
    pub mean_pages: f64,
    pub peak_running: usize,
    pub mean_running: f64,
}

impl ServeFigures {
    pub fn of(times: &[RequestTimes], snapshots: &[BatchSnapshot]) -> ServeFigures {
        let done: Vec<&RequestTimes> = times.iter().filter(|t| t.finished.is_some()).collect();
        let start = times
            .iter()
            .map(|t| t.arrived)
            .fold(f64::INFINITY, f64::min);
        let end = done
            .iter()
            .filter_map(|t| t.finished)
            .fold(f64::NEG_INFINITY, f64::max);
        let duration = if end > start { end - start } else { 0.0 };
        let rate = |n: f64| if duration > 0.0 { n / duration } else { 0.0 };
        let output_tokens: usize = done.iter().map(|t| t.tokens.len()).sum();
        let ttft: Vec<f64> = done
            .iter()
            .filter_map(|t| t.tokens.first().map(|f| f - t.arrived))
            .collect();
        let tpot: Vec<f64> = done
            .iter()
            .filter(|t| t.tokens.len() > 1)
            .map(|t| (t.tokens[t.tokens.len() - 1] - t.tokens[0]) / (t.tokens.len() - 1) as f64)
            .collect();
        let itl: Vec<f64> = done
            .iter()
            .flat_map(|t| t.tokens.windows(2).map(|w| w[1] - w[0]))
            .collect();
        // Time-weighted means: each snapshot holds until the next.
        let (mut pages, mut running, mut span) = (0.0, 0.0, 0.0);
        let mut last_t = start.min(snapshots.first().map_or(0.0, |s| s.t));
        for s in snapshots {
            let dt = (s.t - last_t).max(0.0);
            pages += s.used_pages as f64 * dt;
            running += s.running as f64 * dt;
            span += dt;
            last_t = s.t;
        }
        let mean = |x: f64| if span > 0.0 { x / span } else { 0.0 };
        ServeFigures {
            completed: done.len(),
            refused: times.iter().filter(|t| t.refused.is_some()).count(),
            duration_s: duration,
            output_tokens,
            request_throughput: rate(done.len() as f64),
            output_throughput: rate(output_tokens as f64),
            ttft: Latency::of(&ttft),
            tpot: Latency::of(&tpot),
            itl: Latency::of(&itl),
            preemptions: times.iter().map(|t| t.preemptions).sum(),
            peak_pages: snapshots.iter().map(|s| s.used_pages).max().unwrap_or(0),
            mean_pages: mean(pages),
            peak_running: snapshots.iter().map(|s| s.running).max().unwrap_or(0),
            mean_running: mean(running),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_numpy_does() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 99.0) - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn figures_follow_the_request_times() {
        let times = vec![
            RequestTimes {
                id: 0,
                arrived: 0.0,
                admitted: Some(0.0),
                tokens: vec![0.1, 0.2, 0.4],
                finished: Some(0.5),
                ..RequestTimes::default()
            },
            RequestTimes {
                id: 1,
                arrived: 0.0,
                admitted: Some(0.2),
                tokens: vec![0.3, 0.4],
                finished: Some(1.0),
                preemptions: 1,
                ..RequestTimes::default()
            },
        ];
        let snaps = vec![
            BatchSnapshot {
                t: 0.5,
                running: 2,
                used_pages: 4,
                ..BatchSnapshot::default()
            },
            BatchSnapshot {
                t: 1.0,
                running: 1,
                used_pages: 2,
                ..BatchSnapshot::default()
            },
        ];
        let f = ServeFigures::of(&times, &snaps);
        assert_eq!(f.completed, 2);
        assert_eq!(f.output_tokens, 5);
        assert!((f.output_throughput - 5.0).abs() < 1e-12);
        assert!((f.ttft.mean_ms - 200.0).abs() < 1e-9);
        // TPOT: (0.4 - 0.1) / 2 and (0.4 - 0.3) / 1.
        assert!((f.tpot.mean_ms - 125.0).abs() < 1e-9);
        // ITL: 0.1, 0.2, 0.1.
        assert!((f.itl.median_ms - 100.0).abs() < 1e-9);
        assert_eq!(f.preemptions, 1);
        assert_eq!(f.peak_pages, 4);
        assert!((f.mean_pages - 3.0).abs() < 1e-12);
        assert!((f.mean_running - 1.5).abs() < 1e-12);
    }
}
