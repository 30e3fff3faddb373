//! Compiles the CUDA kernels in `kernels/` to PTX when the `cuda` feature is on; the default
//! build needs no CUDA toolkit and runs nothing here.
//!
//! nvcc comes from `$NVCC`, else `$CUDA_ROOT/bin`, else `PATH`; the target from
//! `CUDA_COMPUTE_CAP` (90 for H100/H200, as candle's own kernels take it). The PTX lands in
//! `$OUT_DIR/<name>.ptx`, which `src/gpu/kernels.rs` embeds; the driver loads it at run time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = std::env::var_os("NVCC")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CUDA_ROOT").map(|root| PathBuf::from(root).join("bin").join("nvcc"))
        })
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    let cap = std::env::var("CUDA_COMPUTE_CAP")
        .unwrap_or_else(|_| "90".into())
        .trim_end_matches('a')
        .to_string();
    let name = "paged_kv";
    let source = PathBuf::from("kernels").join(format!("{name}.cu"));
    let ptx = out.join(format!("{name}.ptx"));
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17", "--expt-relaxed-constexpr"])
        .arg(format!("-arch=compute_{cap}"))
        .arg("-o")
        .arg(&ptx)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "the cuda feature needs nvcc ({}): {e}; scripts/build-cuda installs one",
                nvcc.display()
            )
        });
    assert!(status.success(), "nvcc failed on {}", source.display());
}
