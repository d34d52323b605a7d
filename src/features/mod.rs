//! Features: what the models read from the store, as the plain types [`crate::model`] and
//! [`crate::eval`] define: interaction data ([`interactions`]), KG structure vectors and the
//! KG's item links ([`structure`]: the projection with training interactions only, walks,
//! skip-gram), text vectors and text neighbours ([`text`]: each product's sentence through
//! MiniLM), and [`StoreFeatures`], which builds each once per run for training and evaluation.
//!
//! May import: `kg`, `graph`, `embed`, `eval`, `model`, `util`. It sits after the pure model
//! so that the model never imports the store: it fills the types the model defines.

mod cache;
pub mod interactions;
pub mod structure;
pub mod text;

use serde::{Deserialize, Serialize};

pub use cache::{StoreFeatures, TEXT_NEIGHBOURS};
pub use interactions::read_interactions;
pub use structure::StructureConfig;
pub use text::TextFeatureConfig;

/// How item inputs are built: part of a run's settings (`kgrec.toml`, the registry entry),
/// at its top level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureConfig {
    /// KG projection, walks and skip-gram.
    pub structure: StructureConfig,
    /// The sentence model for text features.
    pub text: TextFeatureConfig,
    /// Size of the one-hop neighbourhood codes of `kgrec-no-walks`.
    pub neighbourhood_dim: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            structure: StructureConfig {
                interactions: true,
                ..Default::default()
            },
            text: TextFeatureConfig::default(),
            neighbourhood_dim: 128,
        }
    }
}
