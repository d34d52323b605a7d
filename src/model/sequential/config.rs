//! [`SequentialConfig`]: the sequence model's settings, recorded with every trained version.

use serde::{Deserialize, Serialize};

use super::new_items::NewItemTerms;

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
    /// Samples (windows or prefixes) per batch; `None`: what the samples take
    /// ([`SampleSettings`]).
    #[serde(default)]
    pub batch_size: Option<usize>,
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
    /// With sampled negatives, also use every target of the batch as a negative of the
    /// others (mixed negative sampling): those are drawn as often as products sell, so popular
    /// products, where the full softmax puts most of its gradient, are met in most steps.
    /// Each negative's logit is corrected by the log of how often the sample holds it
    /// (logQ), so the sample still estimates the catalogue's softmax. Off by default:
    /// validation on Beauty did not choose it (BENCHMARKS.md). Models trained before the
    /// choice existed used uniform draws only.
    #[serde(default)]
    pub in_batch_negatives: bool,
    /// With sampled negatives, raise each negative's logit by the log of how many trained
    /// items it stands for (the inverse of how often the sample is expected to hold it), so
    /// the sampled normaliser estimates the catalogue's as the full softmax's does; without
    /// it the target competes with `negatives` items, not the catalogue, and its gradient
    /// fades early. On by default (chosen on validation: BENCHMARKS.md, "Negatives that
    /// stand for the catalogue"); models trained before the choice existed had none, so a
    /// missing field reads as off.
    #[serde(default)]
    pub corrected_negatives: bool,
    /// Memory, in epochs, of an exponential moving average of the parameters (decay per step
    /// `1 − 1 / (epochs × steps per epoch)`, so it means the same on small and large data);
    /// 0: none. With one, validation scores the average, the best average is what training
    /// keeps, and a learning-rate drop goes on from it. 2 by default, with
    /// [`choose_weight_average`](Self::choose_weight_average); models trained before the
    /// choice existed had none.
    #[serde(default)]
    pub weight_average_epochs: f64,
    /// With a moving average and validation, score the trained values as well at every pass
    /// and keep whichever of the two is better: the average ranked better on Beauty and worse
    /// on Luxury Beauty (BENCHMARKS.md, "A moving average of the parameters"), so each run's
    /// validation chooses. Without it, validation scores the average alone. On by default
    /// (BENCHMARKS.md, "The moving average or the trained values, chosen on validation");
    /// models trained before the choice existed had none.
    #[serde(default)]
    pub choose_weight_average: bool,
    /// Train on every window of `max_len + 1` items of a long training sequence, not only
    /// the most recent one (long histories, as in MovieLens, otherwise lose their older part);
    /// with prefix samples, on the prefix of every item, not only of the most recent ones.
    pub all_windows: bool,
    /// Epochs between validation passes (0: none). When the split has validation cases,
    /// training keeps the parameters of the epoch with the best validation NDCG@10 (AUC on
    /// click-through splits) (the
    /// usual protocol: `epochs` is then a maximum, not the epoch reported). `None`: what the
    /// samples take.
    #[serde(default)]
    pub validate_every: Option<usize>,
    /// Stop after this many validation passes without improvement (0: run every epoch).
    /// `None`: what the samples take.
    #[serde(default)]
    pub patience: Option<usize>,
    /// Times training, its patience run out, goes back to the best parameters and goes on
    /// at a tenth of the learning rate (fresh optimizer moments, [`PATIENCE_AFTER_DROP`]
    /// passes of patience) before it stops: the usual reduce-on-plateau refinement. 0: stop
    /// at the first plateau, as models trained before the choice existed did (a missing
    /// field reads as 0). `None`: what the samples take.
    #[serde(default = "no_drops")]
    pub lr_drops: Option<usize>,
    /// Epochs after which the learning rate drops to a tenth (fresh optimizer moments) on a
    /// fixed schedule, whatever validation says: a refit on every interaction replays the
    /// drops validation chose ([`SequentialModel::settled_schedule`](super::SequentialModel::settled_schedule)).
    #[serde(default)]
    pub drop_after: Vec<usize>,
    /// BSARec's frequency filter beside attention: its `c` (the `c / 2 + 1` lowest
    /// frequency bins of `max_len` positions form the low-pass part); 0 leaves it out.
    /// `None`: what the samples take (models saved before it existed read as windows, 0).
    #[serde(default)]
    pub frequency_cutoff: Option<usize>,
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
    /// Weight of a contrastive term beside next-item prediction (DuoRec's): each sample is
    /// encoded twice under different dropout masks and each state must tell its twin from the
    /// part's other samples (see `contrastive.rs`). 0, the default, leaves it out; it costs a
    /// second pass of the encoder per step.
    #[serde(default)]
    pub contrastive_weight: f32,
    /// The temperature of the contrastive term's dot products.
    #[serde(default = "unit_temperature")]
    pub contrastive_temperature: f32,
    /// What one training sample is: a window with a target at every position, one prefix
    /// with its next item, or (the default) whichever suits the training histories. A model
    /// records what it was trained on; a saved setting without it reads as windows.
    #[serde(default)]
    pub samples: TrainingSamples,
    /// The score terms of products nobody bought, given rather than fit on validation: a
    /// refit on every interaction has no validation, and keeps what the fit on a held-out
    /// split chose. `None` fits them where validation allows.
    #[serde(default)]
    pub new_item_terms: Option<NewItemTerms>,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
}

/// Validation passes without improvement after a learning-rate drop before training stops
/// or drops again: at a tenth of the rate a gain shows within a pass or two.
pub const PATIENCE_AFTER_DROP: usize = 2;

/// The learning rate's factor at each drop.
pub const LR_DROP_FACTOR: f64 = 0.1;

/// What a saved setting without `lr_drops` used: no drop.
fn no_drops() -> Option<usize> {
    Some(0)
}

/// The feed-forward width of models saved before it was a setting.
fn narrow_feed_forward() -> usize {
    1
}

/// The contrastive temperature a setting saved without one reads as (DuoRec's 1).
fn unit_temperature() -> f32 {
    1.0
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
    /// same targets as windows, at several times the encoder work; in return every target
    /// sees its history as a recommendation does, and the frequency filter reads the whole
    /// prefix, as BSARec's does.
    Prefixes,
    /// Prefixes when the training histories are short (their mean at most half of
    /// `max_len`: a window then holds few targets, as on Amazon's categories), windows when
    /// they are long (MovieLens): measured in BENCHMARKS.md, "Windows or prefixes".
    Auto,
}

/// The settings that go with a kind of training sample, where the configuration leaves
/// them unset: each kind's own, chosen on validation on Beauty (BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSettings {
    /// Samples per batch.
    pub batch_size: usize,
    /// Epochs between validation passes.
    pub validate_every: usize,
    /// Validation passes without improvement before training stops.
    pub patience: usize,
    /// The frequency filter's `c` (0: none).
    pub frequency_cutoff: usize,
    /// Learning-rate drops on a plateau before training stops.
    pub lr_drops: usize,
}

impl TrainingSamples {
    /// What this kind of sample trains with by default (windows: SASRec's batches, with
    /// patience for their noisier validation; prefixes: BSARec's batches and filter, an
    /// epoch being several times the work).
    pub fn settings(self) -> SampleSettings {
        match self {
            TrainingSamples::Windows | TrainingSamples::Auto => SampleSettings {
                batch_size: 128,
                validate_every: 2,
                patience: 5,
                frequency_cutoff: 0,
                lr_drops: 0,
            },
            TrainingSamples::Prefixes => SampleSettings {
                batch_size: 512,
                validate_every: 1,
                patience: 3,
                frequency_cutoff: 5,
                lr_drops: 1,
            },
        }
    }
}

impl SequentialConfig {
    /// Samples per batch: the setting, else the samples' own.
    pub fn batch_size(&self) -> usize {
        self.batch_size
            .unwrap_or(self.samples.settings().batch_size)
    }

    /// Epochs between validation passes: the setting, else the samples' own.
    pub fn validate_every(&self) -> usize {
        self.validate_every
            .unwrap_or(self.samples.settings().validate_every)
    }

    /// Validation passes of patience: the setting, else the samples' own.
    pub fn patience(&self) -> usize {
        self.patience.unwrap_or(self.samples.settings().patience)
    }

    /// Learning-rate drops on a plateau: the setting, else the samples' own.
    pub fn lr_drops(&self) -> usize {
        self.lr_drops.unwrap_or(self.samples.settings().lr_drops)
    }

    /// The frequency filter's `c`: the setting, else the samples' own.
    pub fn frequency_cutoff(&self) -> usize {
        self.frequency_cutoff
            .unwrap_or(self.samples.settings().frequency_cutoff)
    }

    /// These settings for training on `train` (each user's training sequence): `Auto`
    /// samples become windows or prefixes by the histories' length, and every setting left
    /// to the samples is written out, so that a trained model records what it used. The
    /// note says what `Auto` chose and why.
    pub fn resolved(&self, train: &[Vec<u32>]) -> (SequentialConfig, Option<String>) {
        let mut c = self.clone();
        let mut note = None;
        if c.samples == TrainingSamples::Auto {
            let histories: Vec<usize> = train
                .iter()
                .map(Vec::len)
                .filter(|&n| n >= 2)
                .map(|n| n.min(c.max_len + 1))
                .collect();
            let mean = histories.iter().sum::<usize>() as f64 / histories.len().max(1) as f64;
            let short = mean <= c.max_len as f64 / 2.0;
            c.samples = if short {
                TrainingSamples::Prefixes
            } else {
                TrainingSamples::Windows
            };
            note = Some(format!(
                "trained on {}: training histories average {mean:.1} items (counting at most max_len + 1 = {}), {} half of max_len",
                if short { "prefixes" } else { "windows" },
                c.max_len + 1,
                if short { "at most" } else { "over" },
            ));
        }
        c.batch_size = Some(c.batch_size());
        c.validate_every = Some(c.validate_every());
        c.patience = Some(c.patience());
        c.frequency_cutoff = Some(c.frequency_cutoff());
        c.lr_drops = Some(c.lr_drops());
        (c, note)
    }
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
            batch_size: None,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            use_id: true,
            use_structure: true,
            use_text: true,
            use_links: true,
            negatives: 1024,
            in_batch_negatives: false,
            corrected_negatives: true,
            weight_average_epochs: 2.0,
            choose_weight_average: true,
            all_windows: false,
            validate_every: None,
            patience: None,
            lr_drops: None,
            drop_after: Vec::new(),
            frequency_cutoff: None,
            new_item_terms: None,
            frequency_alpha: 0.7,
            id_dropout: 0.0,
            ffn_width: 1,
            positions: PositionEncoding::Window,
            norm: NormPlacement::Pre,
            attention_dropout: 0.0,
            contrastive_weight: 0.0,
            contrastive_temperature: 1.0,
            samples: TrainingSamples::Auto,
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
        assert_eq!(old.lr_drops(), 0);
        assert_eq!(old.samples, TrainingSamples::Windows);
        assert_eq!(old.frequency_cutoff(), 0);
        assert_eq!(
            (old.batch_size(), old.validate_every(), old.patience()),
            (128, 2, 5)
        );
    }

    #[test]
    fn auto_samples_are_prefixes_for_short_histories_and_windows_for_long_ones() {
        let c = SequentialConfig {
            max_len: 10,
            ..Default::default()
        };
        assert_eq!(c.samples, TrainingSamples::Auto);
        // The settings left to the samples, as resolving writes them out.
        let written = |r: &SequentialConfig| {
            (
                r.batch_size,
                r.validate_every,
                r.patience,
                r.frequency_cutoff,
                r.lr_drops,
            )
        };
        // Histories of 4 and 6 items (one of a single item does not train): mean 5, half of
        // max_len.
        let short = vec![vec![0; 4], vec![1; 6], vec![2]];
        let (r, note) = c.resolved(&short);
        assert_eq!(r.samples, TrainingSamples::Prefixes);
        assert_eq!(written(&r), (Some(512), Some(1), Some(3), Some(5), Some(1)));
        assert!(note
            .unwrap()
            .starts_with("trained on prefixes: training histories average 5.0"));
        // A history counts at most max_len + 1 items: 6 and 11 of 40.
        let long = vec![vec![0; 6], vec![1; 40]];
        let (r, note) = c.resolved(&long);
        assert_eq!(r.samples, TrainingSamples::Windows);
        assert_eq!(written(&r), (Some(128), Some(2), Some(5), Some(0), Some(0)));
        assert!(note.unwrap().contains("average 8.5"));
        // A setting given is kept; resolving twice changes nothing and says nothing.
        let given = SequentialConfig {
            batch_size: Some(64),
            ..c
        };
        let (r, _) = given.resolved(&short);
        assert_eq!(
            (r.samples, r.batch_size),
            (TrainingSamples::Prefixes, Some(64))
        );
        assert_eq!(r.resolved(&long), (r.clone(), None));
    }
}
