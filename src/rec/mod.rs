//! Recommendation: interaction data ([`data`]), evaluation protocols ([`split`]), metrics
//! ([`metrics`]), the scoring interface every model implements and its evaluation
//! ([`eval`]), and the models themselves ([`baselines`]).

pub mod baselines;
pub mod data;
pub mod embedding_knn;
pub mod eval;
pub mod experiment;
pub mod graph_features;
pub mod metrics;
pub mod sequential;
pub mod split;

pub use data::{InteractionData, ItemId, UserId};
pub use eval::{evaluate_ctr, evaluate_ranking, CtrReport, RankingReport, Scorer};
pub use split::{EvalSplit, Protocol, RankingCase, Stage};

/// Errors of the recommendation layer.
#[derive(Debug, thiserror::Error)]
pub enum RecError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] crate::kg::KgError),
    /// The data cannot support what was asked.
    #[error("{0}")]
    BadData(String),
    /// Settings that cannot work.
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// The neural model failed (shapes, numerics).
    #[error("model error: {0}")]
    Model(String),
}
