//! Models, pure: the sequence model ([`sequential`]: config, network, training loop,
//! scoring, checkpoint), the fused full-softmax loss, the KG link table and its logits
//! ([`links`]), the baselines (popularity, item-kNN, BPR-MF), EASE with and
//! without the KG ([`ease`]), embedding k-NN, the kinds of
//! model kgrec knows with their settings ([`kind`]), and fitting any of them ([`fit`]).
//!
//! May import: `eval` (data, splits, the `Scorer` interface) and `util`. Item inputs reach
//! it as plain rows ([`ItemFeatures`]); it never reads the store.

pub mod baselines;
pub mod ease;
pub mod embedding_knn;
pub mod fit;
pub mod inputs;
pub mod kind;
pub mod links;
pub mod sequential;
mod softmax_loss;

pub use fit::{fit, fit_ease, fit_sequential, FitInputs};
pub use inputs::ItemFeatures;
pub use kind::{ModelConfig, ModelInputs, ModelKind};
pub use links::ItemLinks;
pub use sequential::{
    NormPlacement, PositionEncoding, SequentialConfig, SequentialModel, TrainingSamples,
};
