//! The model registry: training a model into a registered version ([`train`]: features →
//! model → registry, one way through), and the registry itself ([`versions`]: each
//! version's folder of tensors, and its entry and id maps in sled).
//!
//! May import: `kg` (the store training reads), `eval`, `model`, `features`, `util`.

pub mod config;
pub mod train;
pub mod versions;

pub use config::ExperimentConfig;
pub use train::{load_registered, train_and_register, TrainOptions};
pub use versions::{ModelEntry, ModelRegistry, RowKind, StageCost};
