//! Recommendation: interaction data ([`data`]), evaluation protocols ([`split`]), metrics
//! ([`metrics`]), the scoring interface every model implements and its evaluation
//! ([`eval`]), and the models themselves ([`baselines`]).

pub mod baselines;
pub mod data;
pub mod embedding_knn;
pub mod eval;
pub mod events;
pub mod experiment;
pub mod explain;
pub mod functions;
pub mod graph_features;
pub mod links;
pub mod metrics;
pub mod registry;
pub mod sequential;
pub mod serving;
mod softmax_loss;
pub mod split;
pub mod text_features;
pub mod train;

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
    /// An unknown user, item, brand or category (what was asked for, e.g. `user <iri>`).
    #[error("{0} is unknown")]
    NotFound(String),
    /// Settings that cannot work.
    #[error("invalid settings: {0}")]
    InvalidConfig(String),
    /// The neural model failed (shapes, numerics).
    #[error("model error: {0}")]
    Model(String),
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
}
