//! Training: next-item prediction at every position of the training windows (or after
//! every training prefix), with the fused full softmax over the catalogue or sampled
//! negatives, validated every few epochs and the best epoch kept. Each batch is computed in
//! two parts side by side ([`Step::part`]) whose gradients add up to the batch's.
//!
//! Over 600 lines (about 1,110, 230 of them tests) because the loop, one step's loss and the
//! negatives it samples are one piece: the parts' gradients must add up to the batch's, and
//! a test checks that for each kind of step.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::config::{TrainingSamples, LR_DROP_FACTOR, PATIENCE_AFTER_DROP};
use super::contrastive::contrastive_loss;
use super::network::{build_network, Dropout, Network, Params, Readout, LINK_SCALE};
use super::new_items::fit_new_item_terms;
use super::scoring::ScoringView;
use super::{SequentialConfig, SequentialModel};
use crate::eval::{
    evaluate_ctr, evaluate_ranking, EvalSplit, ItemId, LearnError, Progress, Protocol, Stage,
};
use crate::model::inputs::ItemFeatures;
use crate::model::links::{ItemLinks, LinkLogits};
use crate::model::softmax_loss::{FullSoftmaxLoss, RowLinks};
use crate::util::SeededRng;

impl SequentialModel {
    /// Trains on the split's training sequences: next-item prediction at every position of
    /// a window or after every prefix ([`SequentialConfig::resolved`] says which), with the
    /// full softmax over the catalogue or sampled negatives.
    pub fn fit(
        split: &EvalSplit,
        features: &ItemFeatures,
        config: &SequentialConfig,
        progress: Progress<'_>,
    ) -> Result<Self, LearnError> {
        // Every setting left to the samples written out: what the model records.
        let (resolved, _) = config.resolved(&split.train);
        let c = &resolved;
        let device = Device::Cpu;
        let n_items = split.n_items;
        if !c.dim.is_multiple_of(c.heads.max(1))
            || c.max_len < 2
            || c.batch_size() == 0
            || c.ffn_width == 0
            || !(0.0..1.0).contains(&c.attention_dropout)
            || !(c.weight_average_epochs.is_finite() && c.weight_average_epochs >= 0.0)
            || !(c.contrastive_weight.is_finite() && c.contrastive_weight >= 0.0)
            || !(c.contrastive_temperature.is_finite() && c.contrastive_temperature > 0.0)
        {
            return Err(LearnError::InvalidConfig(
                "dim must be a multiple of heads, max_len ≥ 2, batch_size > 0, ffn_width > 0, \
                 0 ≤ attention_dropout < 1, weight_average_epochs ≥ 0, contrastive_weight ≥ 0, \
                 contrastive_temperature > 0"
                    .into(),
            ));
        }
        let mut params = Params::new(c.seed, device.clone());
        let mut network = build_network(&mut params, features, c, n_items)?;
        // Items nothing in training interacted with (a cold product, a product bought only
        // in held-out data) have no ID part and are never negatives: their vector is their KG
        // and text parts alone, and nothing teaches the model to rank them low.
        let mut trained = vec![false; n_items];
        for (_, i) in split.train_pairs() {
            trained[i as usize] = true;
        }
        let (negative_pool, untrained): (Vec<u32>, Vec<u32>) =
            (0..n_items as u32).partition(|&i| trained[i as usize]);
        if negative_pool.is_empty() {
            return Err(LearnError::BadData(
                "no training sequence holds an item to learn from".into(),
            ));
        }
        let full = c.negatives == 0 || c.negatives >= n_items;
        if full && c.id_dropout > 0.0 {
            return Err(LearnError::InvalidConfig(
                "ID dropout trains with sampled negatives: set negatives above 0".into(),
            ));
        }
        network.clear_id_rows(&untrained)?;
        if let Some(head) = network.new_items.as_mut() {
            head.set_items(untrained.clone())?;
        }
        // Per link feature, whether a product that lost its ID in a step loses it too (a
        // direct KG edge between items, which a new product does not have).
        let direct_features = network
            .links
            .as_ref()
            .map_or_else(Vec::new, |(l, _)| l.direct_features());
        let adam = |lr: f64| {
            AdamW::new(
                params.vars.all_vars(),
                ParamsAdamW {
                    lr,
                    beta1: 0.9,
                    beta2: 0.98,
                    eps: 1e-8,
                    weight_decay: c.weight_decay,
                },
            )
        };
        let mut optimizer = adam(c.learning_rate)?;
        let mut drops = Vec::new();
        let mut restores = Vec::new();
        // Drops on the fixed schedule (`drop_after`) so far.
        let mut fixed_drops = 0usize;
        // The moving average of the parameters, and the steps it has seen.
        let mut average = (c.weight_average_epochs > 0.0)
            .then(|| params.snapshot())
            .transpose()?;
        let mut averaged_steps = 0usize;

        let prefixes = c.samples == TrainingSamples::Prefixes;
        let mut sequences = if prefixes {
            training_prefixes(&split.train, c.max_len, c.all_windows)
        } else {
            training_windows(&split.train, c.max_len, c.all_windows)
        };
        // Batches of similar length, so padding stays small. Windows are cut into batches
        // once (re-cutting them every epoch measured slightly worse on Beauty: BENCHMARKS.md,
        // "Positions and feed-forward width"); prefixes are drawn afresh every epoch.
        sequences.sort_by_key(|s| s.len());
        let mut batches: Vec<&[&[ItemId]]> = sequences.chunks(c.batch_size()).collect();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut batch_rng = SeededRng::for_stream(c.seed, 1);
        // Prefixes in this epoch's order (see `draw_prefix_batches`).
        let mut drawn: Vec<&[ItemId]> = if prefixes {
            sequences.clone()
        } else {
            Vec::new()
        };
        let per_epoch = if prefixes {
            sequences
                .chunks(c.batch_size() * PREFIX_POOL_BATCHES)
                .map(|pool| pool.len().div_ceil(c.batch_size()))
                .sum()
        } else {
            batches.len()
        };
        let total = (c.epochs * per_epoch) as u64;
        // The average's decay per step: a memory of `weight_average_epochs` epochs of steps.
        let average_decay =
            (1.0 - 1.0 / (c.weight_average_epochs * per_epoch as f64).max(1.0)).max(0.0);
        let mut losses = Vec::with_capacity(c.epochs);
        // With in-batch negatives, each item's share of the training targets (how often a
        // batch holds it) and the uniform draw's expected count of an item.
        let target_share = (!full && c.in_batch_negatives).then(|| TargetShare {
            share: target_shares(&sequences, prefixes, n_items),
            uniform: c.negatives as f64 / negative_pool.len() as f64,
        });
        // With corrected negatives, the log of how many trained items each uniform draw
        // stands for, added to every negative's logit (on top of in-batch logQ).
        let negative_stand_in = if !full && c.corrected_negatives {
            log_stand_in(negative_pool.len(), c.negatives)
        } else {
            0.0
        };
        // Validation: the held-out next item after each training sequence (NDCG@10), or for
        // click-through splits the labelled validation pairs (AUC).
        let ctr = split.protocol == Protocol::Ctr;
        let valid_cases = if c.validate_every() > 0 && !ctr {
            split.ranking_cases(Stage::Valid)
        } else {
            Vec::new()
        };
        let validates = c.validate_every() > 0
            && (!valid_cases.is_empty() || (ctr && !split.valid_pairs.is_empty()));
        let mut validation = Vec::new();
        // The best pass: its score, epoch, parameters and whether they are the average.
        let mut best: Option<(f64, usize, Vec<Tensor>, bool)> = None;
        let mut stale = 0usize;
        let mut best_epoch = 0usize;
        let step_parts = Step {
            network: &network,
            config: c,
            full,
            prefixes,
            n_items,
            untrained: &untrained,
            direct_features: &direct_features,
            no_link_weights: Tensor::zeros(1, DType::F32, &device)?,
            device: device.clone(),
        };
        let mut scratch: [PartScratch; STEP_PARTS] =
            std::array::from_fn(|k| PartScratch::new(n_items, c.seed, k as u64));
        for epoch in 0..c.epochs {
            if prefixes {
                batches = draw_prefix_batches(&mut drawn, c.batch_size(), &mut batch_rng);
                order = (0..batches.len()).collect();
            }
            batch_rng.shuffle(&mut order);
            let mut loss_sum = 0f32;
            for (step, &b) in order.iter().enumerate() {
                let batch = batches[b];
                // The negatives this step samples, shared by its parts.
                let sample = if full {
                    NegativeSample::default()
                } else {
                    let uniform = (0..c.negatives)
                        .map(|_| negative_pool[batch_rng.below(negative_pool.len())])
                        .collect();
                    NegativeSample::draw(uniform, target_share.as_ref(), batch, prefixes)
                        .raised_by(negative_stand_in)
                };
                // The batch in two parts, each with its own loss, dropout and scratch, run
                // side by side where a second thread is free; their gradients, weighted by
                // their share of the targets, add up to the whole batch's.
                let (first, second) = batch.split_at(batch.len().div_ceil(STEP_PARTS));
                let targets = |part: &[&[ItemId]]| batch_targets(part, prefixes);
                let all = targets(batch).max(1) as f64;
                let [scratch_a, scratch_b] = &mut scratch;
                // A batch of one sequence has no second part (an empty part's mean is NaN).
                let (a, b) = rayon::join(
                    || step_parts.part(first, &sample, targets(first) as f64 / all, scratch_a),
                    || {
                        (!second.is_empty())
                            .then(|| {
                                let weight = targets(second) as f64 / all;
                                step_parts.part(second, &sample, weight, scratch_b)
                            })
                            .transpose()
                    },
                );
                let (a, b) = (a?, b?);
                let mut grads = a.grads;
                let mut loss = a.loss;
                if let Some(b) = b {
                    for var in params.vars.all_vars() {
                        let Some(g) = b.grads.get(&var) else { continue };
                        let sum = match grads.get(&var) {
                            Some(other) => (other + g)?,
                            None => g.clone(),
                        };
                        grads.insert(&var, sum);
                    }
                    loss += b.loss;
                }
                optimizer.step(&grads)?;
                if let Some(average) = average.as_mut() {
                    // The plain mean of the values so far (the start among them) until
                    // there are 1 / (1 − decay) of them, so the random start fades quickly.
                    averaged_steps += 1;
                    let mean = averaged_steps as f64 / (averaged_steps + 1) as f64;
                    params.update_average(average, average_decay.min(mean))?;
                }
                loss_sum += loss;
                progress("training", (epoch * per_epoch + step + 1) as u64, total);
            }
            losses.push(loss_sum / batches.len().max(1) as f32);
            let done = epoch + 1;
            best_epoch = done;
            if c.drop_after.contains(&done) {
                fixed_drops += 1;
                let k = (drops.len() + fixed_drops) as i32;
                optimizer = adam(c.learning_rate * LR_DROP_FACTOR.powi(k))?;
                // As a validated drop goes on from the best average.
                if let Some(average) = &average {
                    params.restore(average)?;
                }
            }
            if !validates || (done % c.validate_every() != 0 && done != c.epochs) {
                continue;
            }
            // With an average, validation scores it (and, when choosing, the trained values
            // too: the better is this pass's); training goes on from its own values.
            let score_pass = || -> Result<f64, LearnError> {
                let items = network.item_matrix()?.detach();
                let view = ScoringView {
                    network: &network,
                    items: &items,
                    max_len: c.max_len,
                };
                Ok(if ctr {
                    let pairs = &split.valid_pairs;
                    evaluate_ctr(&view, pairs, pairs, &split.train, n_items)?.auc
                } else {
                    evaluate_ranking(&view, &valid_cases, n_items)?
                        .at_k(10)
                        .map_or(0.0, |m| m.ndcg)
                })
            };
            // The trained values' snapshot, when one was taken, serves a new best too.
            let (score, averaged, values) = match &average {
                Some(average) => {
                    let values = params.snapshot()?;
                    params.restore(average)?;
                    let of_average = score_pass()?;
                    params.restore(&values)?;
                    let of_values = if c.choose_weight_average {
                        score_pass()?
                    } else {
                        f64::NEG_INFINITY
                    };
                    if of_values > of_average {
                        (of_values, false, Some(values))
                    } else {
                        (of_average, true, None)
                    }
                }
                None => (score_pass()?, false, None),
            };
            validation.push((done, score));
            tracing::info!(
                metric = if ctr { "AUC" } else { "NDCG@10" },
                epoch = done,
                score,
                best = best.as_ref().map_or(score, |(best, ..)| best.max(score)),
                averaged,
                "sequence model validated",
            );
            if best.as_ref().is_none_or(|(best, ..)| score > *best) {
                // The average's tensors are replaced at each step, never written in place.
                let validated = match (&average, values) {
                    (Some(average), _) if averaged => average.clone(),
                    (_, Some(values)) => values,
                    _ => params.snapshot()?,
                };
                best = Some((score, done, validated, averaged));
                stale = 0;
            } else {
                stale += 1;
                let patience = if drops.is_empty() {
                    c.patience()
                } else {
                    PATIENCE_AFTER_DROP
                };
                if c.patience() > 0 && stale >= patience {
                    if drops.len() == c.lr_drops() {
                        break;
                    }
                    // Back to the best parameters, on at a lower rate with fresh moments.
                    if let Some((_, epoch, snapshot, _)) = &best {
                        params.restore(snapshot)?;
                        restores.push(*epoch);
                        if let Some(average) = average.as_mut() {
                            average.clone_from(snapshot);
                        }
                    }
                    drops.push(done);
                    let k = (drops.len() + fixed_drops) as i32;
                    optimizer = adam(c.learning_rate * LR_DROP_FACTOR.powi(k))?;
                    stale = 0;
                }
            }
        }
        // Whether the kept parameters are the moving average.
        let mut kept_average = false;
        if let Some((_, epoch, snapshot, averaged)) = best {
            params.restore(&snapshot)?;
            best_epoch = epoch;
            kept_average = averaged;
        } else if let Some(average) = &average {
            params.restore(average)?;
            kept_average = true;
        }
        let items = network.item_matrix()?.detach();
        let link_values = network.link_weights()?.map_or_else(Vec::new, |(_, w)| w);
        let new_item_fit = if ctr || c.new_item_terms.is_some() {
            None
        } else {
            fit_new_item_terms(&network, &items, c.max_len, split, &negative_pool, c.seed)?
        };
        let terms = new_item_fit
            .as_ref()
            .map(|fit| fit.terms)
            .or(c.new_item_terms);
        if let (Some(head), Some(terms)) = (network.new_items.as_mut(), terms) {
            head.set_terms(terms)?;
        }
        Ok(SequentialModel {
            network,
            params,
            items,
            config: c.clone(),
            losses,
            validation,
            best_epoch,
            lr_drops: drops,
            lr_drop_restores: restores,
            kept_average,
            link_values,
            new_item_fit,
        })
    }
}

/// What every part of a training step reads: the network, the settings and what the whole
/// fit fixed (the untrained items, which link kinds are direct).
struct Step<'a> {
    network: &'a Network,
    config: &'a SequentialConfig,
    full: bool,
    prefixes: bool,
    n_items: usize,
    untrained: &'a [ItemId],
    direct_features: &'a [bool],
    /// The weight operand of a full-softmax loss without links (not read).
    no_link_weights: Tensor,
    device: Device,
}

/// One part's own state across steps: scratch tables indexed by item and its random streams
/// (dropout, ID dropout), so parts never share a generator and each part draws the same
/// whether the parts run side by side or one after the other.
struct PartScratch {
    /// Item id → row in this part's item subset (`u32::MAX`: not in it).
    local: Vec<u32>,
    /// Item id → whether it lost its ID part in this step.
    dropped: Vec<bool>,
    id_rng: SeededRng,
    dropout_rng: std::cell::RefCell<SeededRng>,
}

/// A part's loss (weighted by its share of the batch's targets) and its gradients.
struct PartStep {
    loss: f32,
    grads: candle_core::backprop::GradStore,
}

/// Parts each training batch is cut into (see [`Step::part`]).
const STEP_PARTS: usize = 2;

impl PartScratch {
    /// Scratch for part `k` of every step: the first part keeps the streams a single-part
    /// step drew from.
    fn new(n_items: usize, seed: u64, k: u64) -> Self {
        PartScratch {
            local: vec![u32::MAX; n_items],
            dropped: vec![false; n_items],
            id_rng: SeededRng::for_stream(seed, 3 + 3 * k),
            dropout_rng: std::cell::RefCell::new(SeededRng::for_stream(seed, 2 + 3 * k)),
        }
    }
}

impl Step<'_> {
    /// The loss of `part` (windows or prefixes of one batch) against the step's `sample` of
    /// negatives (empty for the full softmax), scaled by `weight`, and its gradients.
    fn part(
        &self,
        part: &[&[ItemId]],
        negatives: &NegativeSample,
        weight: f64,
        scratch: &mut PartScratch,
    ) -> candle_core::Result<PartStep> {
        let c = self.config;
        let (full, prefixes) = (self.full, self.prefixes);
        let sample = &negatives.items[..];
        let dropout = Dropout {
            rng: Some(&scratch.dropout_rng),
            p: c.dropout,
            attention_p: c.attention_dropout,
        };
        let len = part.iter().map(|s| s.len() - 1).max().unwrap_or(1);
        let mut ids = vec![u32::MAX; part.len() * len];
        let mut targets = Vec::new();
        let mut rows = Vec::new();
        // The history before each target (its sequence and last position).
        let mut before = Vec::new();
        for (r, s) in part.iter().enumerate() {
            let n = s.len() - 1;
            // A prefix has one target, after its last item; a window one per item.
            let first_target = if prefixes { n - 1 } else { 0 };
            for t in 0..n {
                let at = r * len + len - n + t;
                ids[at] = s[t];
                if t >= first_target {
                    rows.push(at as u32);
                    targets.push(s[t + 1]);
                    before.push(&s[..=t]);
                }
            }
        }
        // ID dropout: this step's items lose their ID part with probability
        // `id_dropout` (drawn per row of the item tensor the step uses).
        let mut id_keep = |rows: usize| -> Option<Vec<f32>> {
            (c.id_dropout > 0.0).then(|| {
                (0..rows)
                    .map(|_| f32::from(scratch.id_rng.unit_f32() >= c.id_dropout))
                    .collect()
            })
        };
        // The mask as the `rows × 1` operand of `item_rows_keeping_ids`.
        let keep_rows = |keep: Option<Vec<f32>>| {
            keep.map(|k| {
                let rows = k.len();
                Tensor::from_vec(k, (rows, 1), &self.device)
            })
            .transpose()
        };
        let (items, ids, targets, sample, link_logits) = if full {
            let keep = keep_rows(id_keep(self.n_items))?;
            (
                self.network.item_rows_keeping_ids(None, keep.as_ref())?,
                ids,
                targets,
                Vec::new(),
                None,
            )
        } else {
            // Only the rows this part touches: inputs, targets and the negatives.
            let mut needed = Vec::new();
            let local = &mut scratch.local;
            let mut to_local = |i: u32| {
                if local[i as usize] == u32::MAX {
                    local[i as usize] = needed.len() as u32;
                    needed.push(i);
                }
                local[i as usize]
            };
            let local_ids: Vec<u32> = ids
                .iter()
                .map(|&i| if i == u32::MAX { i } else { to_local(i) })
                .collect();
            let local_targets: Vec<u32> = targets.iter().map(|&i| to_local(i)).collect();
            let local_sample: Vec<u32> = sample.iter().map(|&i| to_local(i)).collect();
            for &i in &needed {
                local[i as usize] = u32::MAX;
            }
            let index = Tensor::from_vec(needed.clone(), needed.len(), &self.device)?;
            let keep = id_keep(needed.len());
            if let Some(keep) = &keep {
                for (&i, &k) in needed.iter().zip(keep) {
                    scratch.dropped[i as usize] = k == 0.0;
                }
            }
            // A product that lost its ID is scored as a new one: without its direct
            // KG links.
            let link_logits = self
                .network
                .links
                .as_ref()
                .map(|(links, weights)| {
                    let skip = |to: ItemId, feature: usize| {
                        scratch.dropped[to as usize] && self.direct_features[feature]
                    };
                    let op = sampled_link_logits(links, &before, &targets, sample, skip);
                    weights.as_tensor().apply_op1(op)
                })
                .transpose()?;
            for &i in &needed {
                scratch.dropped[i as usize] = false;
            }
            let keep = keep_rows(keep)?;
            (
                self.network
                    .item_rows_keeping_ids(Some(&index), keep.as_ref())?,
                local_ids,
                local_targets,
                local_sample,
                link_logits,
            )
        };
        // The state before each target; each call draws fresh dropout masks.
        let encode = || -> candle_core::Result<Tensor> {
            if prefixes {
                // One target per prefix, in batch order, read at its last position.
                self.network
                    .encode(&items, &ids, part.len(), len, &dropout, Readout::Last)?
                    .reshape((part.len(), c.dim))
            } else {
                self.network
                    .encode(&items, &ids, part.len(), len, &dropout, Readout::Every)?
                    .reshape((part.len() * len, c.dim))?
                    .index_select(
                        &Tensor::from_vec(rows.clone(), rows.len(), &self.device)?,
                        0,
                    )
            }
        };
        let h = encode()?;
        // The contrastive term: a second view of the same samples under other masks.
        let contrast = if c.contrastive_weight > 0.0 {
            let twin = encode()?;
            Some(contrastive_loss(
                &h,
                &twin,
                &targets,
                c.contrastive_temperature,
            )?)
        } else {
            None
        };
        let loss = if full {
            let (h, items) = (h.contiguous()?, items.contiguous()?);
            match &self.network.links {
                Some((links, weights)) => {
                    let rows = before
                        .iter()
                        .map(|history| {
                            let mut row = Vec::new();
                            links.for_each_feature(history, |to, f| {
                                row.push((to, f as u32));
                            });
                            row
                        })
                        .collect();
                    let loss = FullSoftmaxLoss::with_links(
                        targets,
                        RowLinks {
                            rows,
                            scale: LINK_SCALE,
                        },
                    )
                    .excluding(self.untrained.to_vec());
                    h.apply_op3(&items, weights.as_tensor(), loss)?
                }
                None => h.apply_op3(
                    &items,
                    &self.no_link_weights,
                    FullSoftmaxLoss::new(targets).excluding(self.untrained.to_vec()),
                )?,
            }
        } else {
            let shift = &negatives.logit_shift;
            sampled_softmax_loss(&h, &items, &targets, &sample, shift, link_logits.as_ref())?
        };
        let loss = match contrast {
            Some(contrast) => (loss + (contrast * f64::from(c.contrastive_weight))?)?,
            None => loss,
        };
        // Weighted by the part's share of the batch's targets, so the parts' gradients add
        // up to the gradient of the batch's mean loss (the contrastive term's negatives are
        // the part's own samples).
        let loss = (loss * weight)?;
        Ok(PartStep {
            loss: loss.to_scalar::<f32>()?,
            grads: loss.backward()?,
        })
    }
}

/// Training sequences: the most recent `max_len + 1` items of each training sequence, or
/// (`all`) consecutive windows that overlap by one item, so every training item after the
/// first is a target exactly once.
pub(super) fn training_windows(train: &[Vec<ItemId>], max_len: usize, all: bool) -> Vec<&[ItemId]> {
    let mut windows = Vec::new();
    for s in train.iter().filter(|s| s.len() >= 2) {
        let mut end = s.len();
        loop {
            let start = end.saturating_sub(max_len + 1);
            windows.push(&s[start..end]);
            if !all || start == 0 {
                break;
            }
            end = start + 1;
        }
    }
    windows
}

/// Training prefixes: for each target of [`training_windows`] (the items after the first of
/// the most recent `max_len + 1`, or with `all` every training item after a sequence's
/// first), the `max_len` items before it and itself, so the two train the same targets, each
/// once. (Without the cap a history of hundreds, as in MovieLens, would cost hundreds of
/// full-length prefixes where its window costs one pass.)
pub(super) fn training_prefixes(
    train: &[Vec<ItemId>],
    max_len: usize,
    all: bool,
) -> Vec<&[ItemId]> {
    train
        .iter()
        .flat_map(|s| {
            let first_end = if all {
                2
            } else {
                s.len().saturating_sub(max_len + 1) + 2
            };
            (first_end..=s.len()).map(move |end| &s[end.saturating_sub(max_len + 1)..end])
        })
        .collect()
}

/// Batches drawn per epoch from shuffled prefixes: the prefixes are shuffled, then sorted by
/// length within pools of [`PREFIX_POOL_BATCHES`] batches and cut, so that every batch is a
/// random mix of users at little padding (a batch is as long as its longest prefix).
pub(super) fn draw_prefix_batches<'a, 'b>(
    prefixes: &'b mut [&'a [ItemId]],
    batch_size: usize,
    rng: &mut SeededRng,
) -> Vec<&'b [&'a [ItemId]]> {
    rng.shuffle(prefixes);
    for pool in prefixes.chunks_mut(batch_size * PREFIX_POOL_BATCHES) {
        pool.sort_by_key(|s| s.len());
    }
    prefixes
        .chunks(batch_size * PREFIX_POOL_BATCHES)
        .flat_map(|pool| pool.chunks(batch_size))
        .collect()
}

/// Batches per pool of prefixes sorted by length: on Beauty, pools of 50 batches of 256 cut
/// padding to a tenth of random batches' (1.6M positions an epoch against 16M) and keep each
/// batch a mix of users.
const PREFIX_POOL_BATCHES: usize = 50;

/// The link part of a sampled step's logits, in the layout of [`sampled_softmax_loss`]:
/// column 0 is each row's target, column `1 + k` the negative `sample[k]`. Row `r` reads the
/// links from the recent items of `before[r]` (item ids, not the step's local rows).
fn sampled_link_logits(
    links: &ItemLinks,
    before: &[&[ItemId]],
    targets: &[ItemId],
    sample: &[ItemId],
    skip: impl Fn(ItemId, usize) -> bool,
) -> LinkLogits {
    const NONE: u32 = u32::MAX;
    let cols = sample.len() + 1;
    // The columns of each sampled item, as a list threaded through `next` from `first[item]`:
    // the lookup runs for every link of every recent item, and a hash map measured as a
    // twentieth of a prefix-trained step.
    let mut first = vec![NONE; links.item_count()];
    let mut next = vec![NONE; sample.len()];
    for (k, &item) in sample.iter().enumerate() {
        if let Some(head) = first.get_mut(item as usize) {
            next[k] = *head;
            *head = k as u32;
        }
    }
    let mut entries = Vec::new();
    for (row, (history, &target)) in before.iter().zip(targets).enumerate() {
        let base = (row * cols) as u32;
        links.for_each_feature(history, |to, feature| {
            if skip(to, feature) {
                return;
            }
            if to == target {
                entries.push((base, feature as u32));
            }
            let mut k = first.get(to as usize).copied().unwrap_or(NONE);
            while k != NONE {
                entries.push((base + k + 1, feature as u32));
                k = next[k as usize];
            }
        });
    }
    LinkLogits {
        rows: targets.len(),
        cols,
        entries,
        scale: LINK_SCALE,
    }
}

/// The negatives of one training step, shared by its parts.
#[derive(Default)]
struct NegativeSample {
    /// Items drawn uniformly from the trained ones, then (in-batch) the batch's targets.
    items: Vec<u32>,
    /// Added to each negative's logit: minus the log of how many times more often the
    /// sample holds it than a uniform draw would (logQ). Empty: uniform draws only, where
    /// the correction is the same for every item and cancels.
    logit_shift: Vec<f32>,
}

/// What in-batch negatives need to know of the training targets.
struct TargetShare {
    /// Each item's share of the training targets.
    share: Vec<f64>,
    /// Expected times one item is among the uniform draws: draws / trained items.
    uniform: f64,
}

impl NegativeSample {
    /// `uniform` draws, with the batch's targets after them when `in_batch` is given.
    fn draw(
        uniform: Vec<u32>,
        in_batch: Option<&TargetShare>,
        batch: &[&[ItemId]],
        prefixes: bool,
    ) -> Self {
        let Some(shares) = in_batch else {
            return NegativeSample {
                items: uniform,
                logit_shift: Vec::new(),
            };
        };
        let mut items = uniform;
        for s in batch {
            items.extend(sample_targets(s, prefixes));
        }
        let in_batch = batch_targets(batch, prefixes) as f64;
        let logit_shift = items
            .iter()
            .map(|&i| {
                let expected = shares.uniform + in_batch * shares.share[i as usize];
                -(expected / shares.uniform).ln() as f32
            })
            .collect();
        NegativeSample { items, logit_shift }
    }

    /// The sample with `log_stand_in` added to every negative's logit: the log of how many
    /// trained items one uniform draw stands for, so the sampled normaliser estimates the
    /// catalogue's (0 leaves the sample as it is).
    fn raised_by(mut self, log_stand_in: f32) -> Self {
        if log_stand_in != 0.0 {
            if self.logit_shift.is_empty() {
                self.logit_shift = vec![log_stand_in; self.items.len()];
            } else {
                self.logit_shift.iter_mut().for_each(|s| *s += log_stand_in);
            }
        }
        self
    }
}

/// The log of how many of `pool` items one of `draws` uniform draws stands for: added to a
/// drawn negative's logit, the draws' exponentials sum, in expectation, to the pool's.
fn log_stand_in(pool: usize, draws: usize) -> f32 {
    (pool as f64 / draws.max(1) as f64).ln() as f32
}

/// The targets one sample trains: a prefix's last item, or every item after a window's first.
fn sample_targets(sample: &[ItemId], prefixes: bool) -> &[ItemId] {
    if prefixes {
        &sample[sample.len() - 1..]
    } else {
        &sample[1..]
    }
}

/// How many targets a batch trains.
fn batch_targets(batch: &[&[ItemId]], prefixes: bool) -> usize {
    batch
        .iter()
        .map(|s| sample_targets(s, prefixes).len())
        .sum()
}

/// Each item's share of the targets the training samples hold.
fn target_shares(samples: &[&[ItemId]], prefixes: bool, n_items: usize) -> Vec<f64> {
    let mut counts = vec![0f64; n_items];
    for s in samples {
        for &t in sample_targets(s, prefixes) {
            counts[t as usize] += 1.0;
        }
    }
    let total = counts.iter().sum::<f64>().max(1.0);
    counts.iter().map(|n| n / total).collect()
}

/// Cross-entropy of each target against the negatives `sample` shared by the batch (a
/// negative equal to the row's target is masked out), each negative's logit moved by its
/// `shift` (none when empty). `targets` and `sample` are rows of `items`. The cost no
/// longer grows with the catalogue.
fn sampled_softmax_loss(
    h: &Tensor,
    items: &Tensor,
    targets: &[u32],
    sample: &[u32],
    shift: &[f32],
    extra: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let device = h.device();
    let rows = targets.len();
    let negatives = sample.len();
    let target_t = Tensor::from_vec(targets.to_vec(), rows, device)?;
    let positive = (h * items.index_select(&target_t, 0)?)?.sum_keepdim(1)?;
    let negative_items =
        items.index_select(&Tensor::from_vec(sample.to_vec(), negatives, device)?, 0)?;
    let mut mask = vec![0f32; rows * negatives];
    for (r, &t) in targets.iter().enumerate() {
        let row = &mut mask[r * negatives..(r + 1) * negatives];
        if !shift.is_empty() {
            row.copy_from_slice(shift);
        }
        for (k, &s) in sample.iter().enumerate() {
            if s == t {
                row[k] = -1e9;
            }
        }
    }
    let negative =
        h.matmul(&negative_items.t()?)?
            .add(&Tensor::from_vec(mask, (rows, negatives), device)?)?;
    let mut logits = Tensor::cat(&[positive, negative], 1)?;
    if let Some(extra) = extra {
        logits = (logits + extra)?;
    }
    let zeros = Tensor::zeros(rows, DType::U32, device)?;
    candle_nn::loss::cross_entropy(&logits, &zeros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::links::RECENCY_CLASSES;

    #[test]
    fn link_logits_place_every_link_at_its_target_and_each_draw_of_a_sampled_item() {
        // Item 0 links to 1 and 2 (kind 0), item 3 to 1 (kind 1).
        let links = ItemLinks::from_lists(
            vec!["a".into(), "b".into()],
            vec![vec![(1, 0), (2, 0)], vec![], vec![], vec![(1, 1)]],
        );
        // Item 1 drawn twice, item 2 once; item 9 is beyond the table.
        let sample = [1, 9, 2, 1];
        let op = sampled_link_logits(&links, &[&[0], &[3]], &[2, 1], &sample, |_, _| false);
        let mut entries = op.entries.clone();
        entries.sort_unstable();
        let feature = |kind: u32| kind * RECENCY_CLASSES as u32;
        let cols = 5u32;
        assert_eq!(op.cols, cols as usize);
        assert_eq!(
            entries,
            vec![
                // Row 0 reads item 0: its target 2 (column 0), item 1 at columns 1 and 4,
                // item 2 at column 3.
                (0, feature(0)),
                (1, feature(0)),
                (3, feature(0)),
                (4, feature(0)),
                // Row 1 reads item 3: its target 1, and item 1's two draws.
                (cols, feature(1)),
                (cols + 1, feature(1)),
                (cols + 4, feature(1)),
            ]
        );
        // A skipped link adds nothing.
        let op = sampled_link_logits(&links, &[&[0]], &[2], &sample, |to, _| to == 1);
        assert_eq!(op.entries.len(), 2);
    }

    #[test]
    fn corrected_draws_sum_to_the_pools_normaliser_in_expectation() {
        // Logits of a pool of 50 items; 10 uniform draws at a time, over many samples.
        let logits: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
        let pool: f64 = logits.iter().map(|s| s.exp()).sum();
        let shift = log_stand_in(50, 10) as f64;
        let mut rng = SeededRng::for_stream(7, 0);
        let samples = 20_000;
        let mean = (0..samples)
            .map(|_| {
                (0..10)
                    .map(|_| (logits[rng.below(50)] + shift).exp())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / samples as f64;
        assert!((mean / pool - 1.0).abs() < 0.02, "{mean} against {pool}");
        // Uncorrected, ten draws stand for ten items: a fifth of the pool's normaliser.
        assert!((mean * (-shift).exp() / pool - 0.2).abs() < 0.01);
    }

    #[test]
    fn in_batch_negatives_follow_the_uniform_draws_and_are_shifted_by_how_often_they_come() {
        // Targets: 2 and 3 once each, 4 twice (windows: every item after the first).
        let (a, b): (&[ItemId], &[ItemId]) = (&[1, 2, 4], &[0, 3, 4]);
        let share = target_shares(&[a, b], false, 6);
        assert_eq!(share, vec![0.0, 0.0, 0.25, 0.25, 0.5, 0.0]);
        let shares = TargetShare {
            share,
            uniform: 0.5,
        };
        let sample = NegativeSample::draw(vec![5, 4], Some(&shares), &[a, b], false);
        assert_eq!(sample.items, vec![5, 4, 2, 4, 3, 4]);
        // Expected count in a sample: .5 uniform + 4 targets × share; shift −ln(count / .5).
        let shift = |share: f64| -((0.5 + 4.0 * share) / 0.5).ln() as f32;
        let expected = [0.0, 0.5, 0.25, 0.5, 0.25, 0.5].map(shift);
        for (got, want) in sample.logit_shift.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{:?}", sample.logit_shift);
        }
        assert_eq!(sample.logit_shift[0], 0.0);
        // A prefix's only target is its last item; without in-batch, the draws alone.
        let sample = NegativeSample::draw(vec![5], Some(&shares), &[a, b], true);
        assert_eq!(sample.items, vec![5, 4, 4]);
        let sample = NegativeSample::draw(vec![5], None, &[a, b], true);
        assert_eq!((sample.items, sample.logit_shift), (vec![5], vec![]));
        // Corrected: every negative stands for 1 / .5 = 2 trained items, on top of logQ.
        let raised = NegativeSample::draw(vec![5], None, &[a, b], true).raised_by(2f32.ln());
        assert_eq!(raised.logit_shift, vec![2f32.ln()]);
        let raised =
            NegativeSample::draw(vec![5, 4], Some(&shares), &[a, b], false).raised_by(2f32.ln());
        for (got, share) in raised
            .logit_shift
            .iter()
            .zip([0.0, 0.5, 0.25, 0.5, 0.25, 0.5])
        {
            let want = -(0.5f64 + 4.0 * share).ln() as f32;
            assert!((got - want).abs() < 1e-6, "{:?}", raised.logit_shift);
        }
    }

    #[test]
    fn the_sampled_loss_moves_each_negative_by_its_shift_and_masks_the_target() {
        let device = Device::Cpu;
        let h = Tensor::new(&[[1f32, 0.0], [0.0, 2.0]], &device).unwrap();
        let items = Tensor::new(&[[1f32, 1.0], [2.0, 0.0], [0.0, 1.0]], &device).unwrap();
        // Row 0's target is item 0, row 1's item 2; the sample holds items 1 and 2.
        let (targets, sample, shift) = ([0, 2], [1, 2], [-1.0f32, -0.5]);
        let loss = sampled_softmax_loss(&h, &items, &targets, &sample, &shift, None)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let ce = |positive: f32, negatives: &[f32]| {
            let z: f32 = negatives.iter().map(|x| x.exp()).sum::<f32>() + positive.exp();
            z.ln() - positive
        };
        // Row 0: positive 1, negatives 2 − 1 and 0 − .5. Row 1: positive 2, negative
        // 0 − 1; item 2 is its own target, masked.
        let want = (ce(1.0, &[1.0, -0.5]) + ce(2.0, &[-1.0])) / 2.0;
        assert!((loss - want).abs() < 1e-5, "{loss} against {want}");
    }

    #[test]
    fn the_parts_of_a_step_add_up_to_the_gradient_of_the_whole_batch() {
        // 12 items with KG structure and links; sequences of different lengths.
        let n_items = 12;
        let mut rng = SeededRng::new(3);
        let structure = (0..n_items * 4).map(|_| rng.unit_f32() - 0.5).collect();
        let lists = (0..n_items)
            .map(|i| {
                vec![
                    (((i + 1) % n_items) as ItemId, 0),
                    (((i + 5) % n_items) as ItemId, 1),
                ]
            })
            .collect();
        let features = ItemFeatures {
            structure: Some((4, structure)),
            links: Some(ItemLinks::from_lists(vec!["a".into(), "b".into()], lists)),
            ..Default::default()
        };
        let sequences: Vec<Vec<ItemId>> = vec![
            vec![0, 1, 2, 3, 4],
            vec![5, 6, 7],
            vec![8, 9, 10, 11, 0, 1],
            vec![2, 3],
            vec![4, 7, 1, 9],
        ];
        let batch: Vec<&[ItemId]> = sequences.iter().map(Vec::as_slice).collect();
        for (samples, negatives, in_batch) in [
            (TrainingSamples::Windows, 0, false),
            (TrainingSamples::Windows, 6, false),
            (TrainingSamples::Windows, 6, true),
            (TrainingSamples::Prefixes, 6, true),
        ] {
            let c = SequentialConfig {
                dim: 8,
                layers: 1,
                max_len: 6,
                dropout: 0.0,
                negatives,
                samples,
                use_text: false,
                ..Default::default()
            };
            let mut params = Params::new(1, Device::Cpu);
            let network = build_network(&mut params, &features, &c, n_items).unwrap();
            let prefixes = samples == TrainingSamples::Prefixes;
            let step = Step {
                network: &network,
                config: &c,
                full: negatives == 0,
                prefixes,
                n_items,
                untrained: &[],
                direct_features: &[false, false],
                no_link_weights: Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
                device: Device::Cpu,
            };
            let uniform = if negatives == 0 {
                vec![]
            } else {
                vec![3, 3, 7, 0, 11, 5]
            };
            // In-batch negatives, shifted by how often they come.
            let shares = TargetShare {
                share: target_shares(&batch, prefixes, n_items),
                uniform: 0.5,
            };
            let sample =
                &NegativeSample::draw(uniform, in_batch.then_some(&shares), &batch, prefixes);
            let mut scratch = PartScratch::new(n_items, 1, 0);
            let whole = step.part(&batch, sample, 1.0, &mut scratch).unwrap();
            // Parts of 2 and 3 sequences: 4 + 2 and 5 + 1 + 3 window targets (6 and 9 of
            // 15), or 2 and 3 prefixes: 40% and 60% of the batch's targets either way.
            let (first, second) = batch.split_at(2);
            let (w1, w2) = (0.4, 0.6);
            let a = step.part(first, sample, w1, &mut scratch).unwrap();
            let b = step.part(second, sample, w2, &mut scratch).unwrap();
            assert!(
                (a.loss + b.loss - whole.loss).abs() < 1e-5,
                "{samples:?}, in-batch {in_batch}"
            );
            for var in params.vars.all_vars() {
                let add = |g: Option<&Tensor>| -> Vec<f32> {
                    g.map_or_else(
                        || vec![0.0; var.elem_count()],
                        |g| g.flatten_all().unwrap().to_vec1().unwrap(),
                    )
                };
                let parts: Vec<f32> = add(a.grads.get(&var))
                    .iter()
                    .zip(add(b.grads.get(&var)))
                    .map(|(x, y)| x + y)
                    .collect();
                let whole = add(whole.grads.get(&var));
                let gap = parts
                    .iter()
                    .zip(&whole)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(
                    gap < 1e-5,
                    "{samples:?}, {negatives} negatives, in-batch {in_batch}: gap {gap}"
                );
            }
        }
    }
}
