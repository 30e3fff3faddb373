//! `memento bench serve` end to end on the real binary: the organism serves requests that replay
//! its own traces' structure, full context against memento mode under a swept KV budget; the
//! JSON report carries every figure, memento mode holds fewer pages where nothing binds, and
//! budgets that could never hold a request are refused with the reason.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_memento");

fn bench_serve(args: &[&str]) -> std::process::Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .env("MEMENTO_CACHE_DIR", cache.path())
        .args(["--threads", "2", "bench", "serve", "--model", "organism"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_report_compares_full_and_memento_under_each_budget() {
    let out = bench_serve(&["--requests", "3", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "three budgets × two modes");
    for row in rows {
        let f = &row["median_round"];
        assert_eq!(f["completed"], 3);
        assert!(f["output_tokens"].as_u64().unwrap() > 100);
        assert!(f["output_throughput"].as_f64().unwrap() > 0.0);
        for latency in ["ttft", "tpot", "itl"] {
            let l = &f[latency];
            assert!(l["median_ms"].as_f64().unwrap() <= l["p99_ms"].as_f64().unwrap() + 1e-9);
        }
        assert!(
            f["peak_pages"].as_u64().unwrap() <= row["budget_pages"].as_u64().unwrap(),
            "the pool never holds more than its budget"
        );
    }
    // Memento mode's rows carry the ratio; full context's do not.
    assert!(rows[1]["memento_over_full"].as_f64().unwrap() > 0.0);
    assert!(rows[0].get("memento_over_full").is_none());
    // At the largest budget nothing binds: memento mode's evictions show as fewer pages held.
    let (full, memento) = (&rows[4]["median_round"], &rows[5]["median_round"]);
    assert_eq!(full["preemptions"], 0);
    assert!(
        memento["peak_pages"].as_u64().unwrap() < full["peak_pages"].as_u64().unwrap(),
        "{full} vs {memento}"
    );
    // Every request output the same number of tokens in both modes: the same schedules.
    assert_eq!(full["output_tokens"], memento["output_tokens"]);
}

#[test]
fn a_budget_smaller_than_one_request_and_a_bad_scale_are_refused() {
    let out = bench_serve(&["--requests", "1", "--budgets", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--budgets 1") && err.contains("pages"),
        "{err}"
    );
    let out = bench_serve(&["--scale", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scale"));
}
