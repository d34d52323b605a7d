//! [`LearnError`]: what can go wrong in the pure learning code (evaluation and models).

use std::path::PathBuf;

/// Errors of evaluation and of the models. No variant carries a store or file-system error:
/// the pure code never touches either, except a checkpoint read or written by path.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// The data cannot support what was asked (no interactions, a split with nothing to
    /// test).
    #[error("{0}")]
    BadData(String),
    /// Settings that cannot work.
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// The neural model failed while training or scoring (shapes, numerics).
    #[error("model error: {0}")]
    Model(String),
    /// A saved model could not be read or written: a server-side fault, never the caller's.
    #[error("model file {}: {message}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl From<candle_core::Error> for LearnError {
    fn from(e: candle_core::Error) -> Self {
        LearnError::Model(e.to_string())
    }
}
