//! Entity vectors: structural ones from graph walks ([`skipgram`]), textual ones from a
//! sentence model, and their fusion.

pub mod skipgram;

pub use skipgram::{train_skipgram, NodeVectors, SkipGramConfig, SkipGramStats};

/// Errors of the embedding layer.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// Settings that cannot work.
    #[error("invalid embedding settings: {0}")]
    InvalidConfig(String),
}
