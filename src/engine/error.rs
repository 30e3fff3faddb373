//! Why a run (or a batch of runs) stopped with an error, apart from the model's own errors:
//! the trace it records could not be written, or it was asked for something it cannot do.

use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The trace could not be written: the run records every step as it goes, so a full disk
    /// or a closed pipe ends it.
    #[error("writing the trace: {0}")]
    TraceWrite(#[source] std::io::Error),
    /// A request the run cannot carry out: bad options, a prompt beyond the model's context,
    /// forcing tokens into an ended run, a batch that cannot admit its next request.
    #[error("{0}")]
    Request(String),
    /// The model or its tokenizer failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl EngineError {
    pub fn request(message: impl Into<String>) -> EngineError {
        EngineError::Request(message.into())
    }
}
