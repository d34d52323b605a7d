//! Entity vectors: structural ones from graph walks (skip-gram), textual ones from a sentence
//! model, and their fusion.
//!
//! Text side: [`model_files`] finds (or fetches) the sentence model.

pub mod error;
pub mod model_files;

pub use error::EmbedError;
pub use model_files::{
    default_models_root, fetch_model, FetchOptions, FetchPolicy, ModelFiles, ModelSource,
};
