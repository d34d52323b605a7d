//! [`RecError`]: the errors of the layers that read the store to learn and serve
//! ([`crate::features`], [`crate::registry`], [`crate::serve`]).

use crate::eval::LearnError;

/// Errors of learning from the store and of serving.
#[derive(Debug, thiserror::Error)]
pub enum RecError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] crate::kg::KgError),
    /// The data cannot support what was asked.
    #[error("{0}")]
    BadData(String),
    /// A short id (the last segment of an IRI) that names several users or items.
    #[error("{0}")]
    Ambiguous(String),
    /// An unknown user, item, brand or category (what was asked for, e.g. `user <iri>`).
    #[error("{0} is unknown")]
    NotFound(String),
    /// Settings that cannot work.
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// Evaluation or a model failed, or a saved model could not be read.
    #[error(transparent)]
    Learn(#[from] LearnError),
    /// Serving state is unusable: a request panicked while it held the lock on it. The
    /// service answers 500 rather than act on half-updated state.
    #[error("{0} is unusable after a failed request; restart the service")]
    Poisoned(&'static str),
    /// The model registry could not be read or written.
    #[error("model registry {0}")]
    Registry(String),
    /// A model folder could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The sentence model could not be found, loaded or run.
    #[error(transparent)]
    Text(#[from] crate::embed::EmbedError),
    /// A SHACL shapes file that does not parse or compile, or a validation that failed.
    #[error("shapes {file}: {message}")]
    Shapes {
        /// The shapes file (or `ontology/shapes.ttl` for the bundled ones).
        file: String,
        /// What went wrong.
        message: String,
    },
}

impl From<candle_core::Error> for RecError {
    fn from(e: candle_core::Error) -> Self {
        RecError::Learn(LearnError::from(e))
    }
}
