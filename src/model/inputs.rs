//! [`ItemFeatures`]: the fixed per-item inputs a model reads besides its own ID embeddings,
//! as plain rows. [`crate::features`] builds them from the store; a checkpoint carries them.

use super::ease::ItemAttributes;
use super::links::ItemLinks;

/// Fixed per-item input features, row `i` for item `i`.
#[derive(Clone, Debug, Default)]
pub struct ItemFeatures {
    /// KG structure vectors: (dim, rows × dim values).
    pub structure: Option<(usize, Vec<f32>)>,
    /// Text vectors: (dim, rows × dim values).
    pub text: Option<(usize, Vec<f32>)>,
    /// The KG's item-to-item links.
    pub links: Option<ItemLinks>,
    /// The KG nodes each item is joined to (EASE with the KG).
    pub attributes: Option<ItemAttributes>,
}
