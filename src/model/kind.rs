//! [`ModelKind`]: the models kgrec trains and evaluates, what item inputs each reads, and
//! [`ModelConfig`], their settings.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::baselines::{BprConfig, ItemKnnConfig};
use super::ease::EaseConfig;
use super::sequential::SequentialConfig;
use crate::eval::LearnError;

/// The models `kgrec eval` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Most-interacted items first.
    Popularity,
    /// Item-based kNN, cosine over training users.
    ItemKnn,
    /// BPR matrix factorisation.
    BprMf,
    /// EASE, the closed-form item-to-item model (interactions only).
    Ease,
    /// EASE with the KG: each KG node an item is joined to read as one more user row.
    EaseKg,
    /// Skip-gram vectors of KG walks, scored by cosine to the recency-weighted history.
    WalkKnn,
    /// The items' text vectors (MiniLM), scored by cosine to the recency-weighted history: what
    /// text alone is worth, the baseline for products nobody has bought yet.
    TextKnn,
    /// The ID-only self-attentive sequence model trained with cross-entropy (SASRec+CE).
    Sasrec,
    /// kgrec's model: the sequence model with fused ID, KG-structure and text inputs, and
    /// the KG's links from the recent items scored directly.
    Kgrec,
    /// Ablation: kgrec without the KG (ID and text inputs).
    KgrecNoKg,
    /// Ablation: kgrec without text (ID and KG-structure inputs).
    KgrecNoText,
    /// Ablation: kgrec with the KG read directly (one-hop neighbourhood codes) instead of
    /// through walks and skip-gram.
    KgrecNoWalks,
    /// Ablation: kgrec without the direct KG links (the KG only through the walk vectors).
    KgrecNoLinks,
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: [ModelKind; 13] = [
        ModelKind::Popularity,
        ModelKind::ItemKnn,
        ModelKind::BprMf,
        ModelKind::Ease,
        ModelKind::EaseKg,
        ModelKind::WalkKnn,
        ModelKind::TextKnn,
        ModelKind::Sasrec,
        ModelKind::Kgrec,
        ModelKind::KgrecNoKg,
        ModelKind::KgrecNoText,
        ModelKind::KgrecNoWalks,
        ModelKind::KgrecNoLinks,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Popularity => "popularity",
            ModelKind::ItemKnn => "item-knn",
            ModelKind::BprMf => "bpr-mf",
            ModelKind::Ease => "ease",
            ModelKind::EaseKg => "ease-kg",
            ModelKind::WalkKnn => "walk-knn",
            ModelKind::TextKnn => "text-knn",
            ModelKind::Sasrec => "sasrec",
            ModelKind::Kgrec => "kgrec",
            ModelKind::KgrecNoKg => "kgrec-no-kg",
            ModelKind::KgrecNoText => "kgrec-no-text",
            ModelKind::KgrecNoWalks => "kgrec-no-walks",
            ModelKind::KgrecNoLinks => "kgrec-no-links",
        }
    }
}

/// The item inputs a model reads, besides its own ID embeddings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelInputs {
    /// Structure vectors from KG walks and skip-gram.
    pub walks: bool,
    /// One-hop KG neighbourhood codes (the KG without walks).
    pub neighbourhood: bool,
    /// Text vectors from the sentence model.
    pub text: bool,
    /// Links from the recent items scored directly: the KG's item-to-item links when the
    /// model reads the KG, the nearest items by text when it reads text.
    pub links: bool,
    /// The KG nodes each item is joined to, as rows (EASE with the KG).
    pub attributes: bool,
}

impl ModelKind {
    /// The item inputs the model reads: the walk vectors for `walk-knn`, the text vectors for
    /// `text-knn`, the KG nodes for
    /// `ease-kg`, none for the other baselines, the variant's own for the sequence models.
    pub fn inputs(self) -> ModelInputs {
        if self == ModelKind::EaseKg {
            return ModelInputs {
                attributes: true,
                ..ModelInputs::default()
            };
        }
        let (walks, neighbourhood, text, links) = match self {
            ModelKind::Popularity
            | ModelKind::ItemKnn
            | ModelKind::BprMf
            | ModelKind::Ease
            | ModelKind::EaseKg
            | ModelKind::Sasrec => (false, false, false, false),
            ModelKind::WalkKnn => (true, false, false, false),
            ModelKind::TextKnn => (false, false, true, false),
            ModelKind::Kgrec => (true, false, true, true),
            ModelKind::KgrecNoKg => (false, false, true, true),
            ModelKind::KgrecNoText => (true, false, false, true),
            ModelKind::KgrecNoWalks => (false, true, true, true),
            ModelKind::KgrecNoLinks => (true, false, true, false),
        };
        ModelInputs {
            walks,
            neighbourhood,
            text,
            links,
            attributes: false,
        }
    }

    /// Whether it is the sequence model (SASRec or a kgrec variant), the one `kgrec train`
    /// registers.
    pub fn is_sequential(self) -> bool {
        !matches!(
            self,
            ModelKind::Popularity
                | ModelKind::ItemKnn
                | ModelKind::BprMf
                | ModelKind::Ease
                | ModelKind::EaseKg
                | ModelKind::WalkKnn
                | ModelKind::TextKnn
        )
    }
}

impl FromStr for ModelKind {
    type Err = LearnError;
    fn from_str(s: &str) -> Result<Self, LearnError> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                LearnError::InvalidConfig(format!(
                    "unknown model {s:?}; known: {}",
                    ModelKind::ALL.map(ModelKind::as_str).join(", ")
                ))
            })
    }
}

/// The models' settings: part of a run's settings (`kgrec.toml`, the registry entry), at its
/// top level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Item-kNN settings.
    pub item_knn: ItemKnnConfig,
    /// BPR-MF settings.
    pub bpr: BprConfig,
    /// EASE settings (`ease`, `ease-kg`).
    pub ease: EaseConfig,
    /// Weight ratio between consecutive history items for profile-based scorers.
    pub recency_decay: f32,
    /// The sequence model (sasrec and kgrec variants).
    pub sequential: SequentialConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            item_knn: ItemKnnConfig::default(),
            bpr: BprConfig::default(),
            ease: EaseConfig::default(),
            recency_decay: 0.7,
            sequential: SequentialConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in ModelKind::ALL {
            assert_eq!(m.as_str().parse::<ModelKind>().unwrap(), m);
        }
        assert!("knn".parse::<ModelKind>().is_err());
    }
}
