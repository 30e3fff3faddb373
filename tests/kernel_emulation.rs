//! The CUDA kernels' own source (kernels/paged_kv.cu), compiled as C++ with
//! kernels/emulation/cuda_host.h (every GPU thread a fiber, warp shuffles and barriers
//! emulated) and checked against a double-precision reference over the same page layout:
//! KV writes and slot copies exactly; paged attention within 1e-5 (f32) and the output's own
//! rounding (f16, bf16), over head dims 32/64/128, GQA groups 1/4/8, shuffled page tables, a
//! sequence over three partitions, a prefill chunk, and NaN-poisoned outputs. What this cannot
//! show (timing, the device's memory model) waits for `memento gpu-check` on a GPU.

use std::process::Command;

#[test]
fn the_cuda_kernels_compute_the_reference_under_emulation() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kernel-check");
    let root = env!("CARGO_MANIFEST_DIR");
    let compiled = Command::new("g++")
        .args(["-std=c++20", "-O2", "-I"])
        .arg(format!("{root}/kernels/emulation"))
        .arg("-o")
        .arg(&exe)
        .arg(format!("{root}/kernels/emulation/check.cc"))
        .output()
        .expect("g++ (the CI installs it: .ci/run)");
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{out}");
    assert!(out.trim_end().ends_with("0 failed"), "{out}");
    assert_eq!(out.matches(" ok").count(), 36, "{out}");
}
