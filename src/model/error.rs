//! Errors from loading a model: each names the file and the field or tensor at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
    #[error("tensor `{name}`: {message}")]
    Tensor { name: String, message: String },
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("{0}")]
    Input(String),
    #[error("device: {0}")]
    Device(String),
    #[error("tensor computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

impl ModelError {
    pub fn field(field: &str, message: &str) -> ModelError {
        ModelError::Field {
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    pub fn tensor(name: &str, message: impl Into<String>) -> ModelError {
        ModelError::Tensor {
            name: name.to_string(),
            message: message.into(),
        }
    }

    /// Attach the file this error came from, unless it already names one.
    pub fn in_file(self, path: &std::path::Path) -> ModelError {
        match self {
            ModelError::File { .. } => self,
            other => ModelError::File {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        }
    }
}

/// candle appends a backtrace to its messages when RUST_BACKTRACE is set; keep the message.
pub(crate) fn candle_message(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
