//! The model registry: training a model into a registered version ([`train`]: features →
//! model → registry, one way through; [`served`]: the kinds of model a version holds and
//! the choice among candidates), and the registry itself ([`versions`]: each
//! version's folder of tensors, its entry and its id maps, as plain files many processes share).
//!
//! May import: `kg` (the store training reads), `eval`, `model`, `features`, `util`.

pub mod config;
pub mod served;
pub mod train;
pub mod versions;

pub use config::ExperimentConfig;
pub use served::{ModelChoice, RegisteredModel};
pub use train::{load_registered, train_and_register, TrainOptions};
pub use versions::{ModelEntry, ModelRegistry, RowKind, StageCost};
