//! [`SequentialModel`]: a self-attentive sequence recommender (SASRec-style, trained with
//! softmax cross-entropy) whose item inputs fuse an ID embedding with the item's KG
//! structure vector and text vector through learned projections and a per-item gate, and
//! that adds to each score the learned weights of the KG links ([`ItemLinks`]) from the
//! user's recent items to the candidate.
//!
//! With only the ID part it is the strongest ID-only baseline (SASRec+CE); with structure
//! and text it is kgrec's model; the ablations switch parts off. Items share one vector for
//! input and output, so an item never interacted with still scores through its KG and text
//! parts (cold start). Weights are initialised and dropout masks drawn from kgrec's seeded
//! generator, so training is deterministic for a seed up to floating-point reduction order.
//!
//! Over 600 lines (about 1,070, 810 of them tests) because the tests of the whole model, which
//! share the cycle fixtures, live here beside its public surface.

mod checkpoint;
mod config;
mod contrastive;
mod frequency_filter;
mod layer_norm;
mod network;
mod new_items;
mod scoring;
mod training;

use candle_core::{Device, Tensor};

pub use config::{NormPlacement, PositionEncoding, SequentialConfig, TrainingSamples};
use network::{InputKind, Network, Params};
pub use new_items::{NewItemFit, NewItemTerms};

use crate::eval::{ItemId, LearnError};

/// A trained sequence model, ready to score.
pub struct SequentialModel {
    network: Network,
    /// Every trained parameter, by name.
    params: Params,
    items: Tensor,
    config: SequentialConfig,
    /// Mean training loss of each epoch.
    pub losses: Vec<f32>,
    /// Validation NDCG@10 (AUC on click-through splits) after each validated epoch (1-based),
    /// when training validated.
    pub validation: Vec<(usize, f64)>,
    /// The epoch whose parameters the model kept (the last one without validation).
    pub best_epoch: usize,
    /// The epochs after which a plateau dropped the learning rate (`lr_drops`).
    pub lr_drops: Vec<usize>,
    /// For each of `lr_drops`, the epoch whose parameters training went back to.
    pub lr_drop_restores: Vec<usize>,
    /// Whether the kept parameters are the moving average of the trained values
    /// ([`SequentialConfig::weight_average_epochs`]), not the values themselves (false when
    /// loaded).
    pub kept_average: bool,
    /// The link weights as they enter the score (empty without links), read once.
    link_values: Vec<f32>,
    /// How the new-product terms were fit after training (`None` when loaded, or without
    /// validation cases or ID part).
    pub new_item_fit: Option<NewItemFit>,
}

impl SequentialModel {
    /// The settings it was trained with (what [`SequentialModel::load`] needs).
    pub fn config(&self) -> &SequentialConfig {
        &self.config
    }

    /// The training that reached the kept epoch, without the epochs a plateau's restore
    /// threw away: how many epochs, and after which the learning rate dropped. A refit on
    /// every interaction, with no validation to find plateaus, replays it
    /// ([`SequentialConfig::drop_after`]).
    pub fn settled_schedule(&self) -> (usize, Vec<usize>) {
        settled_schedule(self.best_epoch, &self.lr_drops, &self.lr_drop_restores)
    }

    /// Number of items the model scores.
    pub fn item_count(&self) -> usize {
        self.items.dims()[0]
    }

    /// Size of the item and user vectors.
    pub fn dim(&self) -> usize {
        self.network.dim
    }

    /// The fused item vectors the model scores with, row-major (items × dim). A user's
    /// score for an item is the dot product of the user vector and this row.
    pub fn item_vectors(&self) -> Result<Vec<f32>, LearnError> {
        self.items
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(LearnError::from)
    }

    /// Whether the model reads item text (and so can place an item it never saw).
    pub fn reads_text(&self) -> bool {
        self.network
            .inputs
            .iter()
            .any(|input| input.kind == InputKind::Text)
    }

    /// The vector of an item the model was not trained on (cold start), from its text
    /// vector alone: its structure input is zero (it has no walks yet) and it has no ID part.
    /// `None` when the model reads no text.
    pub fn cold_item_vector(&self, text: &[f32]) -> Result<Option<Vec<f32>>, LearnError> {
        if !self.reads_text() {
            return Ok(None);
        }
        let device = Device::Cpu;
        let mut features = Vec::new();
        for input in &self.network.inputs {
            let fdim = input.features.dims()[1];
            let row = if input.kind == InputKind::Text {
                if text.len() != fdim {
                    return Err(LearnError::Model(format!(
                        "a text vector of {} values, the model reads {fdim}",
                        text.len()
                    )));
                }
                text.to_vec()
            } else {
                vec![0f32; fdim]
            };
            features.push(Tensor::from_vec(row, (1, fdim), &device)?);
        }
        let fused = self.network.fuse(&features, None)?;
        fused
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map(Some)
            .map_err(LearnError::from)
    }

    /// Adds what the model adds to `user · item` for a history (oldest first) to `scores`
    /// (one per item, in item order): the KG-link part when it reads links, and the
    /// new-product terms of products without an ID part ([`new_items`]).
    pub fn add_history_scores(&self, history: &[ItemId], scores: &mut [f32]) {
        if let Some((links, _)) = &self.network.links {
            links.add_scores(history, &self.link_values, scores);
        }
        if let Some(head) = &self.network.new_items {
            head.add_scores(history, scores);
        }
    }

    /// The KG-link part of one item's score for a history (oldest first): the slot of
    /// `item` in [`SequentialModel::add_history_scores`] (links only), without scoring the catalogue.
    pub fn link_score(&self, history: &[ItemId], item: ItemId) -> f32 {
        self.network.links.as_ref().map_or(0.0, |(links, _)| {
            links.score_of(history, item, &self.link_values)
        })
    }

    /// One item's whole score for a history, given `dot(j)`, the user vector's product with
    /// item `j`'s vector: its slot in the dot products followed by
    /// [`SequentialModel::add_history_scores`], without scoring the catalogue (a product
    /// nobody bought may read a few other products' scores).
    pub fn item_score(&self, history: &[ItemId], item: ItemId, dot: impl Fn(ItemId) -> f32) -> f32 {
        let scored = |j| dot(j) + self.link_score(history, j);
        let own = scored(item);
        match &self.network.new_items {
            Some(head) => head.score_of(history, item, own, scored),
            None => own,
        }
    }

    /// For a product nobody in training bought that the model scores by its text: the
    /// recent history item whose text is closest to it (`None` for any other product, or a
    /// model without an ID part or text).
    pub fn new_product_text_match(&self, history: &[ItemId], item: ItemId) -> Option<ItemId> {
        self.network
            .new_items
            .as_ref()?
            .closest_recent_text(history, item)
    }

    /// The links the score counts from `from` to `to` when `from` is `back` positions before
    /// the end of the history: (kind name, weight). Empty when the model reads no links.
    pub fn links_between(&self, back: usize, from: ItemId, to: ItemId) -> Vec<(&str, f32)> {
        let (Some((links, _)), Some(class)) = (
            &self.network.links,
            crate::model::links::recency_class(back),
        ) else {
            return Vec::new();
        };
        links
            .kinds_between(from, to)
            .map(|kind| {
                let w = self
                    .link_values
                    .get(kind * crate::model::links::RECENCY_CLASSES + class)
                    .copied()
                    .unwrap_or(0.0);
                (links.kinds[kind].as_str(), w)
            })
            .collect()
    }

    /// The learned weight of each link kind for each recency class (last item, the two
    /// before it, the rest of the recent items), when the model reads links.
    pub fn link_weights(&self) -> Result<Vec<(String, Vec<f32>)>, LearnError> {
        let Some((links, _)) = &self.network.links else {
            return Ok(Vec::new());
        };
        Ok(links
            .kinds
            .iter()
            .zip(
                self.link_values
                    .chunks(crate::model::links::RECENCY_CLASSES),
            )
            .map(|(kind, w)| (kind.clone(), w.to_vec()))
            .collect())
    }

    /// The user vectors of several histories (each oldest first), row-major.
    pub fn user_vectors(&self, histories: &[&[ItemId]]) -> Result<Vec<f32>, LearnError> {
        self.view()
            .encode_histories(histories)
            .and_then(|h| h.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(LearnError::from)
    }
}

/// The largest absolute difference between two tensors' values (tests of the network's
/// parts against a reference).
#[cfg(test)]
fn largest_gap(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar())
        .expect("tensors of one shape")
}

/// [`SequentialModel::settled_schedule`] for a model that kept `best_epoch` and dropped its
/// rate after the epochs `drops`, going back to the epochs `restores`.
fn settled_schedule(best_epoch: usize, drops: &[usize], restores: &[usize]) -> (usize, Vec<usize>) {
    let mut drop_after = Vec::new();
    // Epochs kept before the current stretch, and where that stretch began.
    let (mut kept, mut start) = (0usize, 0usize);
    for (&drop, &restore) in drops.iter().zip(restores) {
        if best_epoch <= drop {
            break;
        }
        kept += restore.saturating_sub(start);
        drop_after.push(kept);
        start = drop;
    }
    (kept + best_epoch.saturating_sub(start), drop_after)
}

#[cfg(test)]
mod tests {
    use super::training::{draw_prefix_batches, training_prefixes, training_windows};
    use super::*;
    use crate::eval::evaluate_ranking;
    use crate::eval::{EvalSplit, InteractionData, Scorer};
    use crate::eval::{Protocol, Stage};
    use crate::model::{ItemFeatures, ItemLinks};
    use crate::util::SeededRng;

    /// Users walk a cycle of 30 items in order from a random start: the next item is fully
    /// determined by the last one, while every item is equally popular.
    fn cycles() -> EvalSplit {
        let mut rng = SeededRng::new(5);
        let mut events = Vec::new();
        for u in 0..300 {
            let start = rng.below(30);
            for p in 0..8 {
                events.push((
                    format!("u:{u:03}"),
                    format!("i:{:02}", (start + p) % 30),
                    p as i64,
                ));
            }
        }
        let data = InteractionData::from_triples(
            events.iter().map(|(u, i, p)| (u.as_str(), i.as_str(), *p)),
        );
        EvalSplit::new(&data, Protocol::Loo, 0).unwrap()
    }

    /// [`cycles`] with item 29 left out of every training sequence: a cold-start item.
    fn cycles_without_29() -> EvalSplit {
        let mut split = cycles();
        for seq in split.train.iter_mut() {
            seq.retain(|&i| i != 29);
        }
        split
    }

    /// Each item's place on the cycle as features: a few harmonics of its angle, so "the
    /// successor" is learnable from the other items.
    fn circle_features(n: usize) -> ItemFeatures {
        let mut circle = Vec::with_capacity(n * 6);
        for i in 0..n {
            let angle = i as f32 / n as f32 * std::f32::consts::TAU;
            for h in 1..=3 {
                circle.push((angle * h as f32).cos());
                circle.push((angle * h as f32).sin());
            }
        }
        ItemFeatures {
            structure: Some((6, circle)),
            ..Default::default()
        }
    }

    /// Where item 29 ranks for a user who just had 25–28 (0 is first; ties count against it).
    fn rank_of_29(model: &SequentialModel, n: usize) -> usize {
        let mut out = vec![0f32; n];
        let history = [25, 26, 27, 28];
        model.score(0, &history, &mut out).unwrap();
        (0..n)
            .filter(|&i| i != 29 && !history.contains(&(i as u32)) && out[i] >= out[29])
            .count()
    }

    fn small(epochs: usize) -> SequentialConfig {
        SequentialConfig {
            dim: 16,
            layers: 1,
            max_len: 10,
            dropout: 0.1,
            epochs,
            batch_size: Some(64),
            learning_rate: 5e-3,
            negatives: 0,
            use_structure: false,
            use_text: false,
            samples: TrainingSamples::Windows,
            ..Default::default()
        }
    }

    /// [`small`], validated every epoch with a patience of 3.
    fn validated(epochs: usize) -> SequentialConfig {
        SequentialConfig {
            validate_every: Some(1),
            patience: Some(3),
            ..small(epochs)
        }
    }

    /// Checks that the parameters `model` kept score validation as its best pass did; gives
    /// that pass's epoch.
    fn kept_the_best_pass(model: &SequentialModel, split: &EvalSplit) -> usize {
        let (best_epoch, best) = model
            .validation
            .iter()
            .copied()
            .fold((0, f64::MIN), |b, v| if v.1 > b.1 { v } else { b });
        let valid =
            evaluate_ranking(model, &split.ranking_cases(Stage::Valid), split.n_items).unwrap();
        assert!((valid.at_k(10).unwrap().ndcg - best).abs() < 1e-9);
        best_epoch
    }

    /// Whether fitting with `config` is refused as an invalid setting.
    fn refused(split: &EvalSplit, config: &SequentialConfig) -> bool {
        matches!(
            SequentialModel::fit(split, &ItemFeatures::default(), config, &|_, _, _| {}),
            Err(LearnError::InvalidConfig(_))
        )
    }

    /// A model fit on `split` (from [`cycles`]) with `config`, checked to have learnt the
    /// order: test HR@5 above .9, where popularity is flat (HR@5 of a random ranking of the 22
    /// unseen items ≈ .23).
    fn learns_the_cycle(split: &EvalSplit, config: &SequentialConfig) -> SequentialModel {
        let model =
            SequentialModel::fit(split, &ItemFeatures::default(), config, &|_, _, _| {}).unwrap();
        let report =
            evaluate_ranking(&model, &split.ranking_cases(Stage::Test), split.n_items).unwrap();
        assert!(report.at_k(5).unwrap().hr > 0.9, "{:?}", report.at_k(5));
        model
    }

    #[test]
    fn learns_order_and_repeats_for_a_seed() {
        let split = cycles();
        let model = learns_the_cycle(&split, &small(40));
        assert!(model.losses.last() < model.losses.first());
        let again =
            SequentialModel::fit(&split, &ItemFeatures::default(), &small(2), &|_, _, _| {})
                .unwrap();
        let twice =
            SequentialModel::fit(&split, &ItemFeatures::default(), &small(2), &|_, _, _| {})
                .unwrap();
        assert_eq!(again.losses, twice.losses);
    }

    #[test]
    fn learns_order_with_the_frequency_filter_and_id_dropout() {
        // The filter is causal: were a position to see later items, training would lean on
        // them and the test (where nothing comes later) would fall apart.
        let split = cycles();
        let config = SequentialConfig {
            frequency_cutoff: Some(5),
            id_dropout: 0.1,
            negatives: 20,
            ..small(40)
        };
        let model = learns_the_cycle(&split, &config);
        assert!(model.params.get("blocks.0.filter_beta").is_ok());
    }

    #[test]
    fn learns_order_with_post_norm_blocks_and_attention_dropout() {
        let split = cycles();
        let config = SequentialConfig {
            norm: NormPlacement::Post,
            attention_dropout: 0.2,
            ..small(40)
        };
        let model = learns_the_cycle(&split, &config);
        // The input is normalised and nothing follows the last block.
        assert!(model.params.get("input_norm.alpha").is_ok());
        assert!(model.params.get("final_norm.alpha").is_err());
        // Attention dropout is a training setting only: it must be a share.
        let bad = SequentialConfig {
            attention_dropout: 1.0,
            ..small(1)
        };
        assert!(refused(&split, &bad));
    }

    #[test]
    fn learns_order_with_the_contrastive_term_which_changes_the_steps() {
        let split = cycles();
        let config = SequentialConfig {
            contrastive_weight: 0.5,
            contrastive_temperature: 0.5,
            dropout: 0.2,
            ..small(40)
        };
        let model = learns_the_cycle(&split, &config);
        let plain = SequentialModel::fit(
            &split,
            &ItemFeatures::default(),
            &SequentialConfig {
                contrastive_weight: 0.0,
                ..config.clone()
            },
            &|_, _, _| {},
        )
        .unwrap();
        // The term is in the loss: the first epoch's mean loss is not the plain one.
        assert_ne!(model.losses[0], plain.losses[0]);
        for bad in [
            SequentialConfig {
                contrastive_weight: -0.1,
                ..small(1)
            },
            SequentialConfig {
                contrastive_weight: 0.1,
                contrastive_temperature: 0.0,
                ..small(1)
            },
        ] {
            assert!(refused(&split, &bad));
        }
    }

    #[test]
    fn keeps_the_epoch_with_the_best_validation_ndcg() {
        let split = cycles();
        let config = SequentialConfig {
            learning_rate: 5e-2,
            ..validated(30)
        };
        let model =
            SequentialModel::fit(&split, &ItemFeatures::default(), &config, &|_, _, _| {}).unwrap();
        assert_eq!(model.validation.len(), model.losses.len());
        // The parameters kept are those of the best epoch: they score validation the same.
        let best_epoch = kept_the_best_pass(&model, &split);
        assert_eq!(model.best_epoch, best_epoch);
        // Patience: training stopped 3 passes after the best, or ran every epoch.
        let ran = model.losses.len();
        assert!(
            ran == 30 || ran == best_epoch + 3,
            "ran {ran}, best {best_epoch}"
        );
    }

    #[test]
    fn a_moving_average_is_what_validation_scores_and_keeps_or_chooses_against_the_steps() {
        let split = cycles();
        // Few epochs at a low rate, so validation is short of perfect and tells models apart.
        let config = SequentialConfig {
            weight_average_epochs: 2.0,
            choose_weight_average: false,
            ..validated(4)
        };
        let fit = |config: &SequentialConfig| {
            SequentialModel::fit(&split, &ItemFeatures::default(), config, &|_, _, _| {}).unwrap()
        };
        let averaged = fit(&config);
        let plain = fit(&SequentialConfig {
            weight_average_epochs: 0.0,
            ..config.clone()
        });
        // Averaging leaves the steps alone (no drop here), and what it keeps is not the
        // steps' own parameters.
        let both = averaged.losses.len().min(plain.losses.len());
        assert_eq!(averaged.losses[..both], plain.losses[..both]);
        assert!(largest_gap(&averaged.items, &plain.items) > 1e-3);
        assert_ne!(averaged.validation, plain.validation);
        // The parameters kept are the best average: they score validation as it did.
        kept_the_best_pass(&averaged, &split);
        // Choosing: validation scores the trained values too and keeps the better.
        let chosen = fit(&SequentialConfig {
            choose_weight_average: true,
            ..config.clone()
        });
        let at = |m: &SequentialModel, epoch: usize| {
            m.validation
                .iter()
                .find(|(e, _)| *e == epoch)
                .map(|(_, v)| *v)
        };
        // Every pass is the better of the average's score and the trained values' (the
        // steps are the same in all three runs, as no drop restores anything here).
        let mut compared = 0;
        for &(epoch, score) in &chosen.validation {
            if let (Some(a), Some(p)) = (at(&averaged, epoch), at(&plain, epoch)) {
                assert_eq!(score, a.max(p), "epoch {epoch}");
                compared += 1;
            }
        }
        assert!(compared >= 2, "{compared} passes compared");
        // It keeps the parameters that scored its best pass, and says which they were (a
        // tie keeps the average).
        let kept = kept_the_best_pass(&chosen, &split);
        if let (Some(a), Some(p)) = (at(&averaged, kept), at(&plain, kept)) {
            assert_eq!(chosen.kept_average, a >= p);
        }
        assert!(!plain.kept_average);
        assert!(averaged.kept_average);
        let bad = SequentialConfig {
            weight_average_epochs: -1.0,
            ..small(1)
        };
        assert!(refused(&split, &bad));
    }

    #[test]
    fn a_plateau_drops_the_learning_rate_from_the_best_parameters() {
        let split = cycles();
        let config = SequentialConfig {
            learning_rate: 5e-2,
            ..validated(40)
        };
        let fit = |config: &SequentialConfig| {
            SequentialModel::fit(&split, &ItemFeatures::default(), config, &|_, _, _| {}).unwrap()
        };
        let best_of =
            |m: &SequentialModel| m.validation.iter().map(|v| v.1).fold(f64::MIN, f64::max);
        let plain = fit(&config);
        let stopped = plain.losses.len();
        assert!(stopped < 40, "the fixture must plateau at this rate");
        let dropped = fit(&SequentialConfig {
            lr_drops: Some(1),
            ..config.clone()
        });
        // The same run up to the plateau, then on from the best parameters.
        assert_eq!(dropped.losses[..stopped], plain.losses[..]);
        assert_eq!(dropped.lr_drops, vec![stopped]);
        assert!(plain.lr_drops.is_empty());
        let ran = dropped.losses.len();
        assert!(ran > stopped, "ran {ran}, plain stopped at {stopped}");
        assert!(best_of(&dropped) >= best_of(&plain));
        // After the drop, patience is PATIENCE_AFTER_DROP passes.
        let last_gain = dropped.best_epoch.max(stopped);
        assert!(
            ran == 40 || ran == last_gain + config::PATIENCE_AFTER_DROP,
            "ran {ran}, best {}, plateau at {stopped}",
            dropped.best_epoch
        );
    }

    #[test]
    fn features_alone_rank_an_item_never_trained_on() {
        // Each item's features place it on a circle (a few harmonics of its cycle angle), so
        // "the successor" is learnable from the other items. Item 29 never appears in
        // training, and the model has no ID part: it is a cold-start item.
        let split = cycles_without_29();
        let n = split.n_items;
        let features = circle_features(n);
        let mut config = small(40);
        config.use_id = false;
        config.use_structure = true;
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let above = rank_of_29(&model, n);
        // Ties count against it; a random ranking puts it about 13th of 26.
        assert!(above <= 2, "cold item ranked {} of {}", above + 1, n - 4);
    }

    #[test]
    fn an_item_never_trained_on_has_no_id_part_and_is_never_a_negative() {
        // As above, but with ID embeddings: item 29's row must stay exactly zero, whether the
        // softmax is full or sampled, so it is placed by its features, not pushed down as a
        // negative it never was.
        let split = cycles_without_29();
        let n = split.n_items;
        let features = circle_features(n);
        for negatives in [0, 8] {
            let config = SequentialConfig {
                use_structure: true,
                negatives,
                ..small(40)
            };
            let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
            let ids: Vec<Vec<f32>> = model
                .params
                .get("id_embedding")
                .unwrap()
                .as_tensor()
                .to_vec2()
                .unwrap();
            assert!(ids[29].iter().all(|&x| x == 0.0), "{:?}", ids[29]);
            assert!(ids[28].iter().any(|&x| x != 0.0));
            let above = rank_of_29(&model, n);
            assert!(
                above <= 2,
                "negatives {negatives}: cold item ranked {}",
                above + 1
            );
        }
    }

    #[test]
    fn new_product_terms_are_fit_on_validation_and_score_only_products_without_an_id() {
        // Item 29 is new: no training sequence holds it and it has no KG link, only text.
        // Items come in pairs (2k, 2k + 1) that share a text, as a product line does, and
        // pairs sit on a circle. The terms fit after training place 29 (28's pair) among
        // the first, with or without ID dropout (which the full softmax refuses).
        let split = cycles_without_29();
        let n = split.n_items;
        let pairs = circle_features(n / 2).structure.unwrap().1;
        let text = (0..n).flat_map(|i| pairs[i / 2 * 6..i / 2 * 6 + 6].to_vec());
        let circle = Some((6, text.collect()));
        let mut lists: Vec<Vec<(ItemId, u32)>> =
            (0..n).map(|i| vec![(((i + 1) % n) as ItemId, 0)]).collect();
        lists[28].clear();
        lists[29].clear();
        let features = ItemFeatures {
            text: circle,
            links: Some(ItemLinks::from_lists(vec!["next".into()], lists)),
            ..Default::default()
        };
        let config = SequentialConfig {
            use_text: true,
            negatives: 8,
            id_dropout: 0.3,
            ..small(40)
        };
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let head = model.network.new_items.as_ref().unwrap();
        assert_eq!(head.items(), [29]);
        let fit = model.new_item_fit.as_ref().unwrap();
        assert!(fit.after >= fit.before, "{fit:?}");
        assert_eq!(head.values(), (fit.terms.offset, fit.terms.text_weight));
        assert_eq!(head.borrows(), fit.terms.from_neighbours);
        let above = rank_of_29(&model, n);
        assert!(above <= 2, "new item ranked {}", above + 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        model.save(&features, &path).unwrap();
        let (mut loaded, _) = SequentialModel::load(&path, model.config()).unwrap();
        assert_eq!(loaded.network.new_items.as_ref().unwrap().items(), [29]);
        assert_eq!(rank_of_29(&loaded, n), above);
        // The terms reach only item 29, in evaluation and in serving alike, whichever score
        // it starts from.
        let history = [25, 26, 27, 28];
        let dot = |j: ItemId| (j as f32 * 0.37).sin();
        let mut own_based = None;
        for from_neighbours in [false, true] {
            let head = loaded.network.new_items.as_mut().unwrap();
            head.set_terms(NewItemTerms {
                offset: 0.5,
                text_weight: 1.5,
                from_neighbours,
                bar_weight: 0.0,
            })
            .unwrap();
            let mut scores: Vec<f32> = (0..n as ItemId).map(dot).collect();
            loaded.add_history_scores(&history, &mut scores);
            for (i, &s) in scores.iter().enumerate().take(29) {
                let link = loaded.link_score(&history, i as ItemId);
                assert_eq!(s, dot(i as ItemId) + link, "item {i}");
                assert_eq!(s, loaded.item_score(&history, i as ItemId, dot), "item {i}");
            }
            let score = loaded.item_score(&history, 29, dot);
            assert!((scores[29] - score).abs() < 1e-5, "{} {score}", scores[29]);
            // Its own score plus the terms (offset .5, text 1.5 × a cosine), or its
            // neighbours' with the same terms.
            match own_based {
                None => {
                    let terms = score - dot(29) - loaded.link_score(&history, 29);
                    assert!((0.5..=2.0 + 1e-5).contains(&terms), "{terms}");
                    own_based = Some(score);
                }
                Some(own) => assert!((score - own).abs() > 1e-3, "{score} {own}"),
            }
        }
        // The bar weight is saved with the terms; a file saved before it loads with none
        // (the same offset for every user).
        let head = loaded.network.new_items.as_mut().unwrap();
        let with_bar = NewItemTerms {
            bar_weight: 0.7,
            ..head.terms()
        };
        head.set_terms(with_bar).unwrap();
        let barred = dir.path().join("bar.safetensors");
        loaded.save(&features, &barred).unwrap();
        let (reloaded, _) = SequentialModel::load(&barred, model.config()).unwrap();
        assert_eq!(
            reloaded.network.new_items.as_ref().unwrap().terms(),
            with_bar
        );
        let mut tensors = candle_core::safetensors::load(&barred, &Device::Cpu).unwrap();
        tensors.remove("param.new_items.placement").unwrap();
        candle_core::safetensors::save(&tensors, &barred).unwrap();
        let (reloaded, _) = SequentialModel::load(&barred, model.config()).unwrap();
        let terms = reloaded.network.new_items.as_ref().unwrap().terms();
        assert_eq!(
            terms,
            NewItemTerms {
                bar_weight: 0.0,
                ..with_bar
            }
        );
        // A file saved before the terms loads without them.
        let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        tensors.remove("param.new_items.weights").unwrap();
        tensors.remove("param.new_items.basis").unwrap();
        tensors.remove("param.new_items.placement").unwrap();
        let old = dir.path().join("old.safetensors");
        candle_core::safetensors::save(&tensors, &old).unwrap();
        let (loaded, _) = SequentialModel::load(&old, model.config()).unwrap();
        assert!(loaded.network.new_items.is_none());
        let full = SequentialConfig {
            negatives: 0,
            ..config.clone()
        };
        assert!(SequentialModel::fit(&split, &features, &full, &|_, _, _| {}).is_err());
        let without_dropout = SequentialConfig {
            id_dropout: 0.0,
            ..config.clone()
        };
        let model =
            SequentialModel::fit(&split, &features, &without_dropout, &|_, _, _| {}).unwrap();
        assert!(model.new_item_fit.is_some());
        assert!(rank_of_29(&model, n) <= 2);
        // Given terms (a refit keeping what validation chose) are used as they are.
        let given = SequentialConfig {
            new_item_terms: Some(NewItemTerms {
                offset: 0.25,
                text_weight: 2.0,
                from_neighbours: true,
                bar_weight: 0.0,
            }),
            ..without_dropout
        };
        let model = SequentialModel::fit(&split, &features, &given, &|_, _, _| {}).unwrap();
        assert!(model.new_item_fit.is_none());
        let head = model.network.new_items.as_ref().unwrap();
        assert_eq!(head.values(), (0.25, 2.0));
        assert!(head.borrows());
        // IDs only (SASRec): every new product scores the same, nothing to rank them by, so
        // no terms lift them.
        let id_only = SequentialConfig {
            use_text: false,
            use_links: false,
            id_dropout: 0.0,
            ..config
        };
        let model = SequentialModel::fit(&split, &features, &id_only, &|_, _, _| {}).unwrap();
        assert!(model.new_item_fit.is_none());
        assert_eq!(
            model.network.new_items.as_ref().unwrap().values(),
            (0.0, 0.0)
        );
    }

    /// The cycle's successor of every item as a KG link ("next").
    fn successor_links(n: usize) -> ItemLinks {
        let lists = (0..n).map(|i| vec![(((i + 1) % n) as ItemId, 0)]).collect();
        ItemLinks::from_lists(vec!["next".into()], lists)
    }

    #[test]
    fn learns_to_score_kg_links() {
        // Item 29 never appears in training, so it has no ID part; only the link 28 → 29,
        // weighed like the links seen in training, can place it.
        let split = cycles_without_29();
        let n = split.n_items;
        let features = ItemFeatures {
            links: Some(successor_links(n)),
            ..Default::default()
        };
        let config = SequentialConfig {
            negatives: 8,
            ..small(20)
        };
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let weights = model.link_weights().unwrap();
        assert_eq!(weights.len(), 1);
        assert!(weights[0].1[0] > 1.0, "{weights:?}");
        // Only item 0 may come first: in training, with 29 removed, 0 follows 28.
        let linked = rank_of_29(&model, n);
        assert!(linked <= 1, "with links, {linked} items above 29");
        // Without links, the same training cannot place it (but for the new-product offset,
        // which lifts every new product alike, and is left out here).
        let plain = SequentialConfig {
            use_links: false,
            ..config.clone()
        };
        let model = SequentialModel::fit(&split, &features, &plain, &|_, _, _| {}).unwrap();
        assert!(model.link_weights().unwrap().is_empty());
        let mut model = model;
        let head = model.network.new_items.as_mut().unwrap();
        head.set_terms(NewItemTerms::default()).unwrap();
        let plain = rank_of_29(&model, n);
        assert!(plain > linked + 2, "without links {plain}, with {linked}");
        // The full softmax learns them too.
        let full = SequentialConfig {
            negatives: 0,
            ..config
        };
        let model = SequentialModel::fit(&split, &features, &full, &|_, _, _| {}).unwrap();
        let linked = rank_of_29(&model, n);
        assert!(linked <= 1, "full softmax: {linked} items above 29");
    }

    #[test]
    fn windows_cover_every_target_once() {
        let train: Vec<Vec<ItemId>> = vec![(0..12).collect(), vec![5], vec![1, 2], Vec::new()];
        let last = training_windows(&train, 4, false);
        assert_eq!(last, [&[7, 8, 9, 10, 11][..], &[1, 2][..]]);
        let all = training_windows(&train, 4, true);
        let targets: Vec<ItemId> = all.iter().flat_map(|w| w[1..].to_vec()).collect();
        let mut sorted = targets.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert!(all.iter().all(|w| w.len() <= 5 && w.len() >= 2));
    }

    #[test]
    fn prefixes_cover_every_target_once_and_every_epoch_draws_them_all() {
        let train: Vec<Vec<ItemId>> = vec![(0..7).collect(), vec![5], vec![1, 2], Vec::new()];
        // Without `all`, the targets of the most recent window of 3 + 1 items, as windows.
        let windows = training_windows(&train, 3, false);
        let recent = training_prefixes(&train, 3, false);
        let targets = |samples: &[&[ItemId]], all_positions: bool| -> Vec<ItemId> {
            let mut t: Vec<ItemId> = samples
                .iter()
                .flat_map(|s| {
                    if all_positions {
                        &s[1..]
                    } else {
                        &s[s.len() - 1..]
                    }
                })
                .copied()
                .collect();
            t.sort_unstable();
            t
        };
        assert_eq!(targets(&recent, false), targets(&windows, true));
        assert_eq!(recent[0], &[1, 2, 3, 4][..]);
        let prefixes = training_prefixes(&train, 3, true);
        // With `all`, every item after a sequence's first ends one prefix of at most 3 + 1
        // items.
        assert_eq!(
            prefixes,
            [
                &[0, 1][..],
                &[0, 1, 2][..],
                &[0, 1, 2, 3][..],
                &[1, 2, 3, 4][..],
                &[2, 3, 4, 5][..],
                &[3, 4, 5, 6][..],
                &[1, 2][..],
            ]
        );
        let mut drawn = prefixes.clone();
        let mut rng = SeededRng::new(3);
        let batches = draw_prefix_batches(&mut drawn, 2, &mut rng);
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 2));
        let mut seen: Vec<&[ItemId]> = batches.iter().flat_map(|b| b.iter().copied()).collect();
        let mut want = prefixes.clone();
        seen.sort_unstable();
        want.sort_unstable();
        assert_eq!(seen, want);
    }

    #[test]
    fn learns_order_from_prefixes_with_the_filter_reading_the_whole_prefix() {
        // Trained on prefixes, the filter reads both ways within the window: only the last
        // position is a target, so nothing learns to lean on an item after it.
        let split = cycles();
        let config = SequentialConfig {
            samples: TrainingSamples::Prefixes,
            frequency_cutoff: Some(5),
            ..small(40)
        };
        let model = learns_the_cycle(&split, &config);
        assert!(model.network.filter.as_ref().is_some_and(|f| !f.causal));
        // A history scores the same alone and in a batch with a longer one (padding adds
        // nothing to the filter).
        let short: &[ItemId] = &[3, 4, 5];
        let long: &[ItemId] = &[0, 1, 2, 3, 4, 5, 6, 7];
        let n = split.n_items;
        let mut alone = vec![0f32; n];
        model.score(0, short, &mut alone).unwrap();
        let mut both = vec![0f32; 2 * n];
        model
            .score_batch(&[(0, long), (1, short)], &mut both)
            .unwrap();
        let gap = alone
            .iter()
            .zip(&both[n..])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(gap < 1e-4, "{gap}");
    }

    /// A one-epoch model over every kind of input (structure, text, links), saved to a file:
    /// the model, its inputs, its settings, the file and the folder that holds it.
    fn saved_model(
        negatives: usize,
    ) -> (
        SequentialModel,
        ItemFeatures,
        SequentialConfig,
        std::path::PathBuf,
        tempfile::TempDir,
    ) {
        let split = cycles();
        let n = split.n_items;
        let features = ItemFeatures {
            structure: Some((2, (0..n * 2).map(|i| (i as f32).sin()).collect())),
            text: Some((3, (0..n * 3).map(|i| (i as f32).cos()).collect())),
            links: Some(successor_links(n)),
            attributes: None,
        };
        let mut config = small(1);
        config.use_structure = true;
        config.use_text = true;
        config.negatives = negatives;
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        model.save(&features, &path).unwrap();
        (model, features, config, path, dir)
    }

    #[test]
    fn saved_model_loads_and_scores_the_same() {
        let (model, features, config, path, _dir) = saved_model(8);
        let n = model.item_count();
        let (loaded, loaded_features) = SequentialModel::load(&path, &config).unwrap();
        assert_eq!(loaded_features.structure, features.structure);
        assert_eq!(loaded_features.text, features.text);
        assert_eq!(loaded_features.links, features.links);
        assert_eq!(
            loaded.link_weights().unwrap(),
            model.link_weights().unwrap()
        );
        assert_eq!(
            loaded.item_vectors().unwrap(),
            model.item_vectors().unwrap()
        );
        let history: [ItemId; 3] = [4, 5, 6];
        let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
        model.score(0, &history, &mut a).unwrap();
        loaded.score(0, &history, &mut b).unwrap();
        assert_eq!(a, b);
        // A configuration that does not match the file is refused, not silently used.
        let mut other = config.clone();
        other.dim = 32;
        assert!(SequentialModel::load(&path, &other).is_err());
    }

    /// Tensors are saved by name; a file written before names (`param.000`, … in creation
    /// order) loads through that order and scores the same; the text input is known by name.
    #[test]
    fn checkpoints_by_name_and_by_creation_order() {
        let (model, _, config, path, dir) = saved_model(0);
        let n = model.item_count();
        let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        for name in [
            "param.id_embedding",
            "param.inputs.text.projection.weight",
            "param.blocks.0.query.weight",
            "param.links.weights",
        ] {
            assert!(tensors.contains_key(name), "no {name}");
        }
        // The same parameters under the names of the old, positional format.
        for (k, name) in model.params.order.iter().enumerate() {
            let t = tensors.remove(&format!("param.{name}")).unwrap();
            tensors.insert(format!("param.{k:03}"), t);
        }
        let old = dir.path().join("old.safetensors");
        candle_core::safetensors::save(&tensors, &old).unwrap();
        let (loaded, _) = SequentialModel::load(&old, &config).unwrap();
        let history: [ItemId; 3] = [4, 5, 6];
        let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
        model.score(0, &history, &mut a).unwrap();
        loaded.score(0, &history, &mut b).unwrap();
        assert_eq!(a, b);
        // A text vector places an unseen item through the text input, wherever it was created.
        let text = vec![0.5f32; 3];
        assert_eq!(
            loaded.cold_item_vector(&text).unwrap(),
            model.cold_item_vector(&text).unwrap()
        );
        assert!(model.cold_item_vector(&text).unwrap().is_some());
    }

    #[test]
    fn a_settled_schedule_replays_the_drops_without_the_epochs_a_restore_threw_away() {
        // Best at 10, plateau to 12, back to 10 at a tenth, best at 15: 10 epochs, a drop,
        // then the 3 that helped.
        assert_eq!(settled_schedule(15, &[12], &[10]), (13, vec![10]));
        // Nothing better after the drop: the epochs before it, no drop.
        assert_eq!(settled_schedule(10, &[12], &[10]), (10, vec![]));
        // No drop at all.
        assert_eq!(settled_schedule(7, &[], &[]), (7, vec![]));
        // Two drops, each after a gain: 10, drop, 2 (to 14), drop, 1 (to 17).
        assert_eq!(
            settled_schedule(17, &[12, 16], &[10, 14]),
            (13, vec![10, 12])
        );
    }

    #[test]
    fn a_batch_of_one_sequence_trains_on_its_one_part() {
        // 300 windows in batches of 299: the last batch holds one window, and no second part.
        let split = cycles();
        for samples in [TrainingSamples::Windows, TrainingSamples::Prefixes] {
            let config = SequentialConfig {
                batch_size: Some(if samples == TrainingSamples::Windows {
                    299
                } else {
                    // 1,500 prefixes (5 per user) in one pool, cut into 1,499 and 1.
                    1499
                }),
                samples,
                ..small(2)
            };
            let model =
                SequentialModel::fit(&split, &ItemFeatures::default(), &config, &|_, _, _| {})
                    .unwrap();
            assert!(
                model.losses.iter().all(|l| l.is_finite()),
                "{samples:?}: {:?}",
                model.losses
            );
        }
    }
}
