//! Evaluation, pure: interaction data in dense ids ([`data`]), the protocols and the splits
//! they make ([`split`]), metrics ([`metrics`]), the [`Scorer`] interface every model
//! implements and its evaluation ([`scorer`]), and the experiment driver ([`experiment`]).
//!
//! May import: `util` only. Data reaches it as plain types, so none of it needs a store and
//! its tests run without one.

pub mod data;
mod error;
pub mod experiment;
pub mod metrics;
pub mod scorer;
pub mod split;

pub use data::{InteractionData, ItemId, UserId};
pub use error::LearnError;
pub use experiment::{
    evaluate, evaluate_stages, run_experiment, Fitted, ModelReport, Progress, StageReport,
};
pub use scorer::{evaluate_ctr, evaluate_ranking, CtrReport, RankingReport, Scorer};
pub use split::{EvalSplit, Protocol, RankingCase, Stage, COLD_ITEM_SHARE};
