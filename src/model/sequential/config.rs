//! [`SequentialConfig`]: the sequence model's settings, recorded with every trained version.

use serde::{Deserialize, Serialize};

/// Settings of the sequence model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequentialConfig {
    /// Hidden size.
    pub dim: usize,
    /// Self-attention blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Most recent items a sequence keeps.
    pub max_len: usize,
    /// Dropout on embeddings, attention outputs and feed-forward layers.
    pub dropout: f32,
    /// Passes over the training sequences.
    pub epochs: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Learn a free ID embedding per item.
    pub use_id: bool,
    /// Feed the item's structure (KG) vector.
    pub use_structure: bool,
    /// Feed the item's text vector.
    pub use_text: bool,
    /// Score the KG's links from the user's recent items to a candidate (one learned weight
    /// per link kind and recency class), when the item inputs carry them.
    pub use_links: bool,
    /// Negatives per batch for sampled softmax (drawn uniformly, shared by the batch); 0
    /// trains with the full softmax over the catalogue.
    pub negatives: usize,
    /// Train on every window of `max_len + 1` items of a long training sequence, not only
    /// the most recent one (long histories, as in MovieLens, otherwise lose their older part);
    /// with prefix samples, on the prefix of every item, not only of the most recent ones.
    pub all_windows: bool,
    /// Epochs between validation passes (0: none). When the split has validation cases,
    /// training keeps the parameters of the epoch with the best validation NDCG@10 (AUC on
    /// click-through splits) (the
    /// usual protocol: `epochs` is then a maximum, not the epoch reported).
    pub validate_every: usize,
    /// Stop after this many validation passes without improvement (0: run every epoch).
    pub patience: usize,
    /// Times training, its patience run out, goes back to the best parameters and goes on
    /// at a tenth of the learning rate (fresh optimizer moments, [`PATIENCE_AFTER_DROP`]
    /// passes of patience) before it stops: the usual reduce-on-plateau refinement. 0: stop
    /// at the first plateau, as models trained before the choice existed did.
    #[serde(default)]
    pub lr_drops: usize,
    /// BSARec's frequency filter beside attention: its `c` (the `c / 2 + 1` lowest
    /// frequency bins of `max_len` positions form the low-pass part); 0 leaves it out, as
    /// models saved before it existed did (a missing field reads as 0).
    #[serde(default)]
    pub frequency_cutoff: usize,
    /// The filter's share of each block's mix with attention (BSARec's `alpha`).
    pub frequency_alpha: f32,
    /// Share of a training step's items that lose their ID part and their direct KG links to
    /// other items (DropoutNet-style), as a new product has neither: the KG and text parts then
    /// learn to place a product nobody has bought yet. 0 keeps every ID. Needs `negatives > 0`.
    pub id_dropout: f32,
    /// The feed-forward layer's width, as a multiple of `dim` (SASRec and BSARec use 4).
    /// Models trained before the choice existed used 1 (a missing field reads as 1).
    #[serde(default = "narrow_feed_forward")]
    pub ffn_width: usize,
    /// How the model knows where an item stands in the history.
    #[serde(default)]
    pub positions: PositionEncoding,
    /// Where each block normalises, and how the parameters start.
    #[serde(default)]
    pub norm: NormPlacement,
    /// Dropout on the attention weights (BSARec's `attention_probs_dropout_prob`); models
    /// trained before the choice existed used none.
    #[serde(default)]
    pub attention_dropout: f32,
    /// What one training sample is: a window with a target at every position, or one prefix
    /// with its next item.
    #[serde(default)]
    pub samples: TrainingSamples,
    /// The score terms of products nobody bought (offset, text weight), given rather than fit
    /// on validation: a refit on every interaction has no validation, and keeps what the fit
    /// on a held-out split chose. `None` fits them where validation allows.
    #[serde(default)]
    pub new_item_terms: Option<(f32, f32)>,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
}

/// Validation passes without improvement after a learning-rate drop before training stops
/// or drops again: at a tenth of the rate a gain shows within a pass or two.
pub const PATIENCE_AFTER_DROP: usize = 2;

/// The learning rate's factor at each drop.
pub const LR_DROP_FACTOR: f64 = 0.1;

/// The feed-forward width of models saved before it was a setting.
fn narrow_feed_forward() -> usize {
    1
}

/// How the sequence model encodes an item's place in the history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionEncoding {
    /// A learned vector per place, counted back from the window's last item and added to
    /// the item's input (SASRec's). Every position of a window is a training target, but
    /// only the last one has its most recent item at place 0, as every recommendation does.
    /// What models trained before the choice existed used (a missing field reads as it).
    #[default]
    Window,
    /// A learned attention bias per head for each distance between the predicting position
    /// and an earlier item (T5's relative bias, learned for every distance up to `max_len`).
    /// Every target then sees its own history exactly as a recommendation does, as if each
    /// prefix were trained on its own (BSARec's and RecBole's prefix augmentation), at the
    /// cost of one pass per window.
    Relative,
}

/// What one training sample of the sequence model is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainingSamples {
    /// A window of `max_len + 1` items, every position after the first a target: one pass
    /// per window (SASRec's). The default, and what models trained before the choice existed
    /// used (a missing field reads as it).
    #[default]
    Windows,
    /// Every prefix of a training sequence on its own, its next item the one target, in
    /// batches drawn afresh every epoch (BSARec's and RecBole's prefix augmentation). The
    /// same targets as windows, at about ten times the encoder work on Beauty; in return the
    /// frequency filter reads the whole prefix, as BSARec's does, since no position of a
    /// sample is a target but the last. Not the default: with nothing held out, `kgrec train`
    /// trains all `epochs`, several times what validation keeps (BENCHMARKS.md, "Prefix
    /// samples as the default").
    Prefixes,
}

/// Where the sequence model's blocks normalise their hidden states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormPlacement {
    /// Before each sub-layer, with a last norm after the blocks; the input is scaled by
    /// √hidden and parameters start uniform (a pre-norm Transformer). What models trained
    /// before the choice existed used (a missing field reads as it).
    #[default]
    Pre,
    /// After each residual sum, with the input normalised (item plus position) and
    /// parameters drawn from N(0, 0.02²): the layout of BSARec's and FMLP-Rec's code.
    Post,
}

impl Default for SequentialConfig {
    fn default() -> Self {
        SequentialConfig {
            dim: 64,
            layers: 2,
            heads: 1,
            max_len: 50,
            dropout: 0.3,
            epochs: 60,
            batch_size: 128,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            use_id: true,
            use_structure: true,
            use_text: true,
            use_links: true,
            negatives: 1024,
            all_windows: false,
            validate_every: 2,
            patience: 5,
            lr_drops: 0,
            frequency_cutoff: 0,
            new_item_terms: None,
            frequency_alpha: 0.7,
            id_dropout: 0.0,
            ffn_width: 1,
            positions: PositionEncoding::Window,
            norm: NormPlacement::Pre,
            attention_dropout: 0.0,
            samples: TrainingSamples::Windows,
            seed: 42,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_saved_before_a_choice_existed_read_as_what_those_models_used() {
        let old: SequentialConfig = serde_json::from_str(r#"{"dim": 32}"#).unwrap();
        assert_eq!(old.dim, 32);
        assert_eq!(old.positions, PositionEncoding::Window);
        assert_eq!(old.ffn_width, 1);
        assert_eq!(old.norm, NormPlacement::Pre);
        assert_eq!(old.attention_dropout, 0.0);
        assert_eq!(old.lr_drops, 0);
        assert_eq!(old.samples, TrainingSamples::Windows);
        assert_eq!(old.frequency_cutoff, 0);
    }
}
