//! JSON helpers that turn serde errors into messages naming the file, line or field.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::ImportError;

/// Parse JSON, reporting syntax errors at `file:line:col` and type errors at their field.
pub fn from_json_slice<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| located(path, None, e))?;
    de.end().map_err(|e| ImportError::Invalid {
        location: format!("{}:{}:{}", path.display(), e.line(), e.column()),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Parse one record (a JSONL line) whose number is `line`.
pub fn from_json_line<T: DeserializeOwned>(
    path: &Path,
    line: usize,
    bytes: &[u8],
) -> Result<T, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| located(path, Some(line), e))
}

/// Convert an already-parsed value (a Parquet row).
pub fn from_json_value<T: DeserializeOwned>(
    path: &Path,
    record: &str,
    value: serde_json::Value,
) -> Result<T, ImportError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ImportError::Invalid {
            location: format!("{}: {record}, field `{field}`", path.display()),
            message: e.into_inner().to_string(),
        }
    })
}

fn located(
    path: &Path,
    line: Option<usize>,
    e: serde_path_to_error::Error<serde_json::Error>,
) -> ImportError {
    let field = e.path().to_string();
    let inner = e.into_inner();
    let message = strip_position(&inner.to_string());
    let location = match (inner.classify(), line) {
        (serde_json::error::Category::Data, Some(line)) if field != "." => {
            format!("{}:{line}: field `{field}`", path.display())
        }
        (serde_json::error::Category::Data, None) if field != "." => {
            format!("{}: field `{field}`", path.display())
        }
        (_, Some(line)) => format!("{}:{line}:{}", path.display(), inner.column()),
        (_, None) => format!("{}:{}:{}", path.display(), inner.line(), inner.column()),
    };
    ImportError::Invalid { location, message }
}

/// serde_json appends " at line X column Y"; the location already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Accept `"504"` or `504` for answers.
pub fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(de)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}
