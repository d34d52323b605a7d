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

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use super::data::{ItemId, UserId};
use super::eval::{evaluate_ctr, evaluate_ranking, Scorer};
use super::links::{ItemLinks, LinkLogits};
use super::softmax_loss::{FullSoftmaxLoss, RowLinks};
use super::split::{EvalSplit, Protocol, Stage};
use super::RecError;
use crate::util::SeededRng;

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
    /// the most recent one (long histories, as in MovieLens, otherwise lose their older part).
    pub all_windows: bool,
    /// Epochs between validation passes (0: none). When the split has validation cases,
    /// training keeps the parameters of the epoch with the best validation NDCG@10 (AUC on
    /// click-through splits) (the
    /// usual protocol: `epochs` is then a maximum, not the epoch reported).
    pub validate_every: usize,
    /// Stop after this many validation passes without improvement (0: run every epoch).
    pub patience: usize,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
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
            seed: 42,
        }
    }
}

/// Fixed per-item input features, row `i` for item `i`.
#[derive(Clone, Debug, Default)]
pub struct ItemFeatures {
    /// KG structure vectors: (dim, rows × dim values).
    pub structure: Option<(usize, Vec<f32>)>,
    /// Text vectors: (dim, rows × dim values).
    pub text: Option<(usize, Vec<f32>)>,
    /// The KG's item-to-item links.
    pub links: Option<ItemLinks>,
}

fn candle_error(e: candle_core::Error) -> RecError {
    RecError::Model(e.to_string())
}

/// A seeded parameter factory that records every variable for the optimiser.
struct Params {
    vars: Vec<Var>,
    rng: SeededRng,
    device: Device,
}

impl Params {
    fn uniform(&mut self, shape: (usize, usize), scale: f32) -> candle_core::Result<Var> {
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| (self.rng.unit_f32() * 2.0 - 1.0) * scale)
            .collect();
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, &self.device)?)?;
        self.vars.push(var.clone());
        Ok(var)
    }
    fn constant(&mut self, len: usize, value: f32) -> candle_core::Result<Var> {
        let var = Var::from_tensor(&Tensor::from_vec(vec![value; len], len, &self.device)?)?;
        self.vars.push(var.clone());
        Ok(var)
    }
    fn linear(&mut self, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
        let bound = 1.0 / (inputs as f32).sqrt();
        Ok(Linear {
            weight: self.uniform((outputs, inputs), bound)?,
            bias: self.constant(outputs, 0.0)?,
        })
    }
    fn norm(&mut self, dim: usize) -> candle_core::Result<Norm> {
        Ok(Norm {
            alpha: self.constant(dim, 1.0)?,
            beta: self.constant(dim, 0.0)?,
        })
    }
}

struct Linear {
    weight: Var,
    bias: Var,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.weight.as_tensor();
        let y = match x.dims() {
            [b, t, i] => x
                .reshape((b * t, *i))?
                .matmul(&w.t()?)?
                .reshape((*b, *t, ()))?,
            _ => x.matmul(&w.t()?)?,
        };
        y.broadcast_add(self.bias.as_tensor())
    }
}

struct Norm {
    alpha: Var,
    beta: Var,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, self.alpha.as_tensor(), self.beta.as_tensor(), 1e-6)
    }
}

struct Block {
    attn_norm: Norm,
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    ffn_norm: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
}

/// A feature projected into the hidden space, normalised.
struct FeatureInput {
    features: Tensor,
    projection: Linear,
    norm: Norm,
}

struct Network {
    id_embedding: Option<Var>,
    inputs: Vec<FeatureInput>,
    gate: Option<Linear>,
    positions: Var,
    blocks: Vec<Block>,
    final_norm: Norm,
    /// The KG links and one weight per link feature (scaled by [`LINK_SCALE`]).
    links: Option<(ItemLinks, Var)>,
    dim: usize,
    heads: usize,
}

/// The factor on the link weights: Adam moves a weight by about the learning rate per step,
/// and a link's useful weight is a few units of logit, far more than the other parameters'.
const LINK_SCALE: f32 = 10.0;

/// Dropout with masks from the seeded generator (candle's own draws from an unseeded one).
struct Dropout<'a> {
    rng: Option<&'a std::cell::RefCell<SeededRng>>,
    p: f32,
}

impl Dropout<'_> {
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let Some(rng) = self.rng else {
            return Ok(x.clone());
        };
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - self.p);
        let n = x.elem_count();
        let mut rng = rng.borrow_mut();
        let mask: Vec<f32> = (0..n)
            .map(|_| if rng.unit_f32() < self.p { 0.0 } else { keep })
            .collect();
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
    }
}

impl Network {
    /// The link weights as they enter the score (`None` without links).
    fn link_weights(&self) -> candle_core::Result<Option<(&ItemLinks, Vec<f32>)>> {
        let Some((links, weights)) = &self.links else {
            return Ok(None);
        };
        let w: Vec<f32> = weights.as_tensor().to_vec1()?;
        Ok(Some((links, w.iter().map(|x| x * LINK_SCALE).collect())))
    }

    /// Every item's fused vector: ID embedding plus the gated mix of its feature parts.
    fn item_matrix(&self) -> candle_core::Result<Tensor> {
        self.item_rows(None)
    }

    /// The fused vectors of the items in `index` (all items when `None`), in that order.
    /// Training with sampled negatives needs only the batch's items and the negatives, so
    /// the projections and the gate run over those rows alone.
    fn item_rows(&self, index: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let rows = |t: &Tensor| match index {
            Some(ix) => t.index_select(ix, 0),
            None => Ok(t.clone()),
        };
        let features: Vec<Tensor> = self
            .inputs
            .iter()
            .map(|f| rows(&f.features))
            .collect::<candle_core::Result<_>>()?;
        let id = match &self.id_embedding {
            Some(id) => Some(rows(id.as_tensor())?),
            None => None,
        };
        self.fuse(&features, id)
    }

    /// Fuses raw feature rows (one tensor per input, in input order) and optional ID rows.
    fn fuse(&self, features: &[Tensor], id: Option<Tensor>) -> candle_core::Result<Tensor> {
        let parts: Vec<Tensor> = self
            .inputs
            .iter()
            .zip(features)
            .map(|(f, x)| f.norm.forward(&f.projection.forward(x)?))
            .collect::<candle_core::Result<_>>()?;
        let mut fused = match (&self.gate, parts.len()) {
            (_, 0) => None,
            (Some(gate), n) if n > 1 => {
                // Per-item softmax weights over the parts, from all parts together.
                let joined = Tensor::cat(&parts, 1)?;
                let weights = candle_nn::ops::softmax(&gate.forward(&joined)?, D::Minus1)?;
                let mut sum: Option<Tensor> = None;
                for (k, p) in parts.iter().enumerate() {
                    let w = weights.narrow(1, k, 1)?;
                    let term = p.broadcast_mul(&w)?;
                    sum = Some(match sum {
                        Some(s) => (s + term)?,
                        None => term,
                    });
                }
                sum
            }
            _ => Some(parts[0].clone()),
        };
        if let Some(id) = id {
            fused = Some(match fused {
                Some(f) => (f + id)?,
                None => id,
            });
        }
        match fused {
            Some(f) => Ok(f),
            None => candle_core::bail!("the model has no item input"),
        }
    }

    /// Hidden states for left-padded item sequences `ids` (batch × len, pad = `u32::MAX`
    /// mapped to item 0 and masked).
    fn encode(
        &self,
        items: &Tensor,
        ids: &[u32],
        batch: usize,
        len: usize,
        dropout: &Dropout<'_>,
    ) -> candle_core::Result<Tensor> {
        let device = items.device();
        let valid: Vec<f32> = ids
            .iter()
            .map(|&i| if i == u32::MAX { 0.0 } else { 1.0 })
            .collect();
        let index: Vec<u32> = ids
            .iter()
            .map(|&i| if i == u32::MAX { 0 } else { i })
            .collect();
        let index = Tensor::from_vec(index, batch * len, device)?;
        let valid_t = Tensor::from_vec(valid.clone(), (batch, len, 1), device)?;
        let mut h = items
            .index_select(&index, 0)?
            .reshape((batch, len, self.dim))?
            .affine((self.dim as f64).sqrt(), 0.0)?;
        // Positions count back from the most recent item, so recency has its own embedding.
        let max_len = self.positions.dims()[0];
        let pos_index: Vec<u32> = (0..len)
            .map(|t| (len - 1 - t).min(max_len - 1) as u32)
            .collect();
        let pos = self
            .positions
            .as_tensor()
            .index_select(&Tensor::from_vec(pos_index, len, device)?, 0)?;
        h = h.broadcast_add(&pos)?;
        h = dropout.apply(&h)?.broadcast_mul(&valid_t)?;

        // Additive mask: a query attends to itself and earlier valid keys.
        let mut mask = vec![0f32; batch * len * len];
        for b in 0..batch {
            for q in 0..len {
                for k in 0..len {
                    let ok = k == q || (k < q && valid[b * len + k] > 0.0);
                    if !ok {
                        mask[(b * len + q) * len + k] = -1e9;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (batch, 1, len, len), device)?;
        let head_dim = self.dim / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for block in &self.blocks {
            let x = block.attn_norm.forward(&h)?;
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((batch, len, self.heads, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(block.query.forward(&x)?)?;
            let k = split(block.key.forward(&x)?)?;
            let v = split(block.value.forward(&x)?)?;
            let scores = q
                .matmul(&k.t()?)?
                .affine(scale, 0.0)?
                .broadcast_add(&mask)?;
            let attn = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = attn
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch, len, self.dim))?;
            h = (h + dropout.apply(&block.out.forward(&ctx)?)?)?;
            let x = block.ffn_norm.forward(&h)?;
            let f = block
                .ffn_out
                .forward(&dropout.apply(&block.ffn_in.forward(&x)?.gelu_erf()?)?)?;
            h = (h + dropout.apply(&f)?)?.broadcast_mul(&valid_t)?;
        }
        self.final_norm.forward(&h)
    }
}

/// A trained sequence model, ready to score.
pub struct SequentialModel {
    network: Network,
    /// Every trained parameter, in the order the network creates them.
    vars: Vec<Var>,
    items: Tensor,
    config: SequentialConfig,
    /// Mean training loss of each epoch.
    pub losses: Vec<f32>,
    /// Validation NDCG@10 (AUC on click-through splits) after each validated epoch (1-based),
    /// when training validated.
    pub validation: Vec<(usize, f64)>,
    /// The epoch whose parameters the model kept (the last one without validation).
    pub best_epoch: usize,
    /// The link weights as they enter the score (empty without links), read once.
    link_values: Vec<f32>,
}

impl SequentialModel {
    /// Trains on the split's training sequences (next-item prediction at every position,
    /// full softmax over the catalogue).
    pub fn fit(
        split: &EvalSplit,
        features: &ItemFeatures,
        config: &SequentialConfig,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<Self, RecError> {
        Self::fit_inner(split, features, config, progress).map_err(candle_error)
    }

    fn fit_inner(
        split: &EvalSplit,
        features: &ItemFeatures,
        c: &SequentialConfig,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let n_items = split.n_items;
        if !c.dim.is_multiple_of(c.heads.max(1)) || c.max_len < 2 || c.batch_size == 0 {
            candle_core::bail!("dim must be a multiple of heads, max_len ≥ 2, batch_size > 0");
        }
        let mut params = Params {
            vars: Vec::new(),
            rng: SeededRng::new(c.seed),
            device: device.clone(),
        };
        let network = build_network(&mut params, features, c, n_items)?;
        let full = c.negatives == 0 || c.negatives >= n_items;
        // The weight operand of a full-softmax loss without links (not read).
        let no_link_weights = Tensor::zeros(1, DType::F32, &device)?;
        let mut optimizer = AdamW::new(
            params.vars.clone(),
            ParamsAdamW {
                lr: c.learning_rate,
                beta1: 0.9,
                beta2: 0.98,
                eps: 1e-8,
                weight_decay: c.weight_decay,
            },
        )?;

        let mut sequences = training_windows(&split.train, c.max_len, c.all_windows);
        // Batches of similar length, so padding stays small.
        sequences.sort_by_key(|s| s.len());
        let batches: Vec<&[&[ItemId]]> = sequences.chunks(c.batch_size).collect();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut batch_rng = SeededRng::for_stream(c.seed, 1);
        let dropout_rng = std::cell::RefCell::new(SeededRng::for_stream(c.seed, 2));
        let dropout = Dropout {
            rng: Some(&dropout_rng),
            p: c.dropout,
        };
        let total = (c.epochs * batches.len()) as u64;
        // Item id → row in this step's item subset (u32::MAX: not in it).
        let mut local = vec![u32::MAX; n_items];
        let mut losses = Vec::with_capacity(c.epochs);
        // Validation: the held-out next item after each training sequence (NDCG@10), or for
        // click-through splits the labelled validation pairs (AUC).
        let ctr = split.protocol == Protocol::Ctr;
        let valid_cases = if c.validate_every > 0 && !ctr {
            split.ranking_cases(Stage::Valid)
        } else {
            Vec::new()
        };
        let validates = c.validate_every > 0
            && (!valid_cases.is_empty() || (ctr && !split.valid_pairs.is_empty()));
        let mut validation = Vec::new();
        let mut best: Option<(f64, usize, Vec<Tensor>)> = None;
        let mut stale = 0usize;
        let mut best_epoch = 0usize;
        for epoch in 0..c.epochs {
            batch_rng.shuffle(&mut order);
            let mut loss_sum = 0f32;
            for (step, &b) in order.iter().enumerate() {
                let batch = batches[b];
                let len = batch.iter().map(|s| s.len() - 1).max().unwrap_or(1);
                let mut ids = vec![u32::MAX; batch.len() * len];
                let mut targets = Vec::new();
                let mut rows = Vec::new();
                // The history before each target (its sequence and last position).
                let mut before = Vec::new();
                for (r, s) in batch.iter().enumerate() {
                    let n = s.len() - 1;
                    for t in 0..n {
                        let at = r * len + len - n + t;
                        ids[at] = s[t];
                        rows.push(at as u32);
                        targets.push(s[t + 1]);
                        before.push(&s[..=t]);
                    }
                }
                let (items, ids, targets, sample, link_logits) = if full {
                    (network.item_matrix()?, ids, targets, Vec::new(), None)
                } else {
                    // Only the rows this step touches: inputs, targets and the negatives.
                    let sample: Vec<u32> = (0..c.negatives)
                        .map(|_| batch_rng.below(n_items) as u32)
                        .collect();
                    let link_logits = network
                        .links
                        .as_ref()
                        .map(|(links, weights)| {
                            let op = sampled_link_logits(links, &before, &targets, &sample);
                            weights.as_tensor().apply_op1(op)
                        })
                        .transpose()?;
                    let mut needed = Vec::new();
                    let mut to_local = |i: u32| {
                        if local[i as usize] == u32::MAX {
                            local[i as usize] = needed.len() as u32;
                            needed.push(i);
                        }
                        local[i as usize]
                    };
                    let ids: Vec<u32> = ids
                        .iter()
                        .map(|&i| if i == u32::MAX { i } else { to_local(i) })
                        .collect();
                    let targets: Vec<u32> = targets.iter().map(|&i| to_local(i)).collect();
                    let sample: Vec<u32> = sample.iter().map(|&i| to_local(i)).collect();
                    for &i in &needed {
                        local[i as usize] = u32::MAX;
                    }
                    let index = Tensor::from_vec(needed.clone(), needed.len(), &device)?;
                    (
                        network.item_rows(Some(&index))?,
                        ids,
                        targets,
                        sample,
                        link_logits,
                    )
                };
                let h = network.encode(&items, &ids, batch.len(), len, &dropout)?;
                let h = h
                    .reshape((batch.len() * len, c.dim))?
                    .index_select(&Tensor::from_vec(rows.clone(), rows.len(), &device)?, 0)?;
                let loss = if full {
                    let (h, items) = (h.contiguous()?, items.contiguous()?);
                    match &network.links {
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
                            );
                            h.apply_op3(&items, weights.as_tensor(), loss)?
                        }
                        None => {
                            h.apply_op3(&items, &no_link_weights, FullSoftmaxLoss::new(targets))?
                        }
                    }
                } else {
                    sampled_softmax_loss(&h, &items, &targets, &sample, link_logits.as_ref())?
                };
                optimizer.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                progress("training", (epoch * batches.len() + step + 1) as u64, total);
            }
            losses.push(loss_sum / batches.len().max(1) as f32);
            let done = epoch + 1;
            best_epoch = done;
            if !validates || (done % c.validate_every != 0 && done != c.epochs) {
                continue;
            }
            let items = network.item_matrix()?.detach();
            let view = ScoringView {
                network: &network,
                items: &items,
                max_len: c.max_len,
            };
            let score = if ctr {
                let pairs = &split.valid_pairs;
                evaluate_ctr(&view, pairs, pairs, &split.train, n_items).auc
            } else {
                evaluate_ranking(&view, &valid_cases, n_items)
                    .at_k(10)
                    .map_or(0.0, |m| m.ndcg)
            };
            validation.push((done, score));
            if best.as_ref().is_none_or(|(best, _, _)| score > *best) {
                let snapshot = params
                    .vars
                    .iter()
                    .map(|v| v.as_tensor().copy())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                best = Some((score, done, snapshot));
                stale = 0;
            } else {
                stale += 1;
                if c.patience > 0 && stale >= c.patience {
                    break;
                }
            }
        }
        if let Some((_, epoch, snapshot)) = best {
            for (var, saved) in params.vars.iter().zip(&snapshot) {
                var.set(saved)?;
            }
            best_epoch = epoch;
        }
        let items = network.item_matrix()?.detach();
        let link_values = network.link_weights()?.map_or_else(Vec::new, |(_, w)| w);
        Ok(SequentialModel {
            network,
            vars: params.vars,
            items,
            config: c.clone(),
            losses,
            validation,
            best_epoch,
            link_values,
        })
    }

    /// The settings it was trained with (what [`SequentialModel::load`] needs).
    pub fn config(&self) -> &SequentialConfig {
        &self.config
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
    pub fn item_vectors(&self) -> Result<Vec<f32>, RecError> {
        self.items
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(candle_error)
    }

    /// Whether the model reads item text (and so can place an item it never saw).
    pub fn reads_text(&self) -> bool {
        self.config.use_text && self.network.inputs.len() > usize::from(self.config.use_structure)
    }

    /// The vector of an item the model was not trained on (cold start), from its text
    /// vector alone: its structure input is zero (it has no walks yet) and it has no ID part.
    /// `None` when the model reads no text.
    pub fn cold_item_vector(&self, text: &[f32]) -> Result<Option<Vec<f32>>, RecError> {
        if !self.reads_text() {
            return Ok(None);
        }
        let device = Device::Cpu;
        let mut features = Vec::new();
        for (k, input) in self.network.inputs.iter().enumerate() {
            let fdim = input.features.dims()[1];
            let is_text = k + 1 == self.network.inputs.len();
            let row = if is_text {
                if text.len() != fdim {
                    return Err(RecError::Model(format!(
                        "a text vector of {} values, the model reads {fdim}",
                        text.len()
                    )));
                }
                text.to_vec()
            } else {
                vec![0f32; fdim]
            };
            features.push(Tensor::from_vec(row, (1, fdim), &device).map_err(candle_error)?);
        }
        let fused = self.network.fuse(&features, None).map_err(candle_error)?;
        fused
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map(Some)
            .map_err(candle_error)
    }

    /// Adds the KG-link part of the score to `scores` (one per item, in item order) for a
    /// history (oldest first): what the model adds to `user · item` when it reads links.
    pub fn add_link_scores(&self, history: &[ItemId], scores: &mut [f32]) {
        if let Some((links, _)) = &self.network.links {
            links.add_scores(history, &self.link_values, scores);
        }
    }

    /// The KG-link part of one item's score for a history (oldest first): the slot of
    /// `item` in [`SequentialModel::add_link_scores`], without scoring the catalogue.
    pub fn link_score(&self, history: &[ItemId], item: ItemId) -> f32 {
        self.network.links.as_ref().map_or(0.0, |(links, _)| {
            links.score_of(history, item, &self.link_values)
        })
    }

    /// The links the score counts from `from` to `to` when `from` is `back` positions before
    /// the end of the history: (kind name, weight). Empty when the model reads no links.
    pub fn links_between(&self, back: usize, from: ItemId, to: ItemId) -> Vec<(&str, f32)> {
        let (Some((links, _)), Some(class)) =
            (&self.network.links, super::links::recency_class(back))
        else {
            return Vec::new();
        };
        links
            .kinds_between(from, to)
            .map(|kind| {
                let w = self
                    .link_values
                    .get(kind * super::links::RECENCY_CLASSES + class)
                    .copied()
                    .unwrap_or(0.0);
                (links.kinds[kind].as_str(), w)
            })
            .collect()
    }

    /// The learned weight of each link kind for each recency class (last item, the two
    /// before it, the rest of the recent items), when the model reads links.
    pub fn link_weights(&self) -> Result<Vec<(String, Vec<f32>)>, RecError> {
        let Some((links, _)) = &self.network.links else {
            return Ok(Vec::new());
        };
        Ok(links
            .kinds
            .iter()
            .zip(self.link_values.chunks(super::links::RECENCY_CLASSES))
            .map(|(kind, w)| (kind.clone(), w.to_vec()))
            .collect())
    }

    /// The user vectors of several histories (each oldest first), row-major.
    pub fn user_vectors(&self, histories: &[&[ItemId]]) -> Result<Vec<f32>, RecError> {
        self.view()
            .encode_histories(histories)
            .and_then(|h| h.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(candle_error)
    }

    /// Writes the trained parameters (`param.N`, in creation order), the item inputs
    /// (`input.structure`, `input.text`) and the fused item vectors (`item_vectors`) as one
    /// safetensors file, readable from numpy and PyTorch.
    pub fn save(&self, features: &ItemFeatures, path: &std::path::Path) -> Result<(), RecError> {
        let mut tensors = std::collections::HashMap::new();
        for (k, var) in self.vars.iter().enumerate() {
            tensors.insert(format!("param.{k:03}"), var.as_tensor().clone());
        }
        let n = self.item_count();
        for (name, feature) in [("structure", &features.structure), ("text", &features.text)] {
            if let Some((dim, values)) = feature {
                let t =
                    Tensor::from_slice(values, (n, *dim), &Device::Cpu).map_err(candle_error)?;
                tensors.insert(format!("input.{name}"), t);
            }
        }
        if let Some((links, _)) = &self.network.links {
            let [offsets, targets, kinds] = links.to_parts();
            for (name, part) in [("offsets", offsets), ("targets", targets), ("kinds", kinds)] {
                let t = Tensor::from_slice(part, part.len(), &Device::Cpu).map_err(candle_error)?;
                tensors.insert(format!("input.links.{name}"), t);
            }
            let names = links.kinds.join("\n").into_bytes();
            let t =
                Tensor::from_vec(names.clone(), names.len(), &Device::Cpu).map_err(candle_error)?;
            tensors.insert("input.links.kind_names".into(), t);
        }
        tensors.insert("item_vectors".into(), self.items.clone());
        candle_core::safetensors::save(&tensors, path).map_err(candle_error)
    }

    /// Loads a model written by [`SequentialModel::save`] with the `config` it was trained
    /// with; returns it and its item inputs.
    pub fn load(
        path: &std::path::Path,
        config: &SequentialConfig,
    ) -> Result<(Self, ItemFeatures), RecError> {
        let bad = |m: String| RecError::BadData(format!("{}: {m}", path.display()));
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(candle_error)?;
        let items = tensors
            .get("item_vectors")
            .ok_or_else(|| bad("no item_vectors tensor".into()))?;
        let n_items = items.dims().first().copied().unwrap_or(0);
        let feature = |name: &str| -> Result<Option<(usize, Vec<f32>)>, RecError> {
            match tensors.get(&format!("input.{name}")) {
                None => Ok(None),
                Some(t) => match t.dims() {
                    [rows, dim] if *rows == n_items => Ok(Some((
                        *dim,
                        t.flatten_all()
                            .and_then(|t| t.to_vec1())
                            .map_err(candle_error)?,
                    ))),
                    _ => Err(bad(format!("input.{name} does not have one row per item"))),
                },
            }
        };
        let links = saved_links(&tensors, n_items).map_err(bad)?;
        let features = ItemFeatures {
            structure: feature("structure")?,
            text: feature("text")?,
            links,
        };
        let c = SequentialConfig {
            use_structure: features.structure.is_some(),
            use_text: features.text.is_some(),
            use_links: features.links.is_some(),
            ..config.clone()
        };
        let mut params = Params {
            vars: Vec::new(),
            rng: SeededRng::new(c.seed),
            device: Device::Cpu,
        };
        let network = build_network(&mut params, &features, &c, n_items).map_err(candle_error)?;
        for (k, var) in params.vars.iter().enumerate() {
            let saved = tensors.get(&format!("param.{k:03}")).ok_or_else(|| {
                bad(format!(
                    "parameter {k} is missing; was it saved with another configuration?"
                ))
            })?;
            if saved.dims() != var.dims() {
                return Err(bad(format!(
                    "parameter {k} has shape {:?}, the configuration needs {:?}",
                    saved.dims(),
                    var.dims()
                )));
            }
            var.set(saved).map_err(candle_error)?;
        }
        if tensors.keys().filter(|k| k.starts_with("param.")).count() != params.vars.len() {
            return Err(bad("more parameters than the configuration has".into()));
        }
        let items = network.item_matrix().map_err(candle_error)?.detach();
        let link_values = network
            .link_weights()
            .map_err(candle_error)?
            .map_or_else(Vec::new, |(_, w)| w);
        Ok((
            SequentialModel {
                network,
                vars: params.vars,
                items,
                config: c,
                losses: Vec::new(),
                validation: Vec::new(),
                best_epoch: 0,
                link_values,
            },
            features,
        ))
    }

    /// The model's parameters as a scorer.
    fn view(&self) -> ScoringView<'_> {
        ScoringView {
            network: &self.network,
            items: &self.items,
            max_len: self.config.max_len,
        }
    }
}

/// A network and its fused item matrix, scoring without dropout: the trained model, or the
/// model in training when it is validated.
struct ScoringView<'a> {
    network: &'a Network,
    items: &'a Tensor,
    max_len: usize,
}

impl ScoringView<'_> {
    /// The last hidden state of each history: the user vector (histories × dim).
    fn encode_histories(&self, histories: &[&[ItemId]]) -> candle_core::Result<Tensor> {
        let len = histories
            .iter()
            .map(|h| h.len().min(self.max_len))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![u32::MAX; histories.len() * len];
        for (r, h) in histories.iter().enumerate() {
            let h = &h[h.len().saturating_sub(len)..];
            for (t, &i) in h.iter().enumerate() {
                ids[r * len + len - h.len() + t] = i;
            }
        }
        let none = Dropout { rng: None, p: 0.0 };
        self.network
            .encode(self.items, &ids, histories.len(), len, &none)?
            .narrow(1, len - 1, 1)?
            .squeeze(1)
    }

    /// Scores the whole catalogue for several histories at once.
    fn score_histories(&self, histories: &[&[ItemId]], out: &mut [f32]) -> candle_core::Result<()> {
        let n_items = self.items.dims()[0];
        let h = self.encode_histories(histories)?;
        let scores = h.matmul(&self.items.t()?)?.to_dtype(DType::F32)?;
        let flat: Vec<f32> = scores.flatten_all()?.to_vec1()?;
        out[..histories.len() * n_items].copy_from_slice(&flat);
        if let Some((links, weights)) = self.network.link_weights()? {
            for (history, row) in histories.iter().zip(out.chunks_mut(n_items)) {
                links.add_scores(history, &weights, row);
            }
        }
        Ok(())
    }
}

impl Scorer for ScoringView<'_> {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) {
        if self.score_histories(&[history], out).is_err() {
            out.fill(0.0);
        }
    }

    fn score_batch(&self, queries: &[(UserId, &[ItemId])], out: &mut [f32]) {
        let histories: Vec<&[ItemId]> = queries.iter().map(|(_, h)| *h).collect();
        if self.score_histories(&histories, out).is_err() {
            out.fill(0.0);
        }
    }
}

/// Training sequences: the most recent `max_len + 1` items of each training sequence, or
/// (`all`) consecutive windows that overlap by one item, so every training item after the
/// first is a target exactly once.
fn training_windows(train: &[Vec<ItemId>], max_len: usize, all: bool) -> Vec<&[ItemId]> {
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

/// The link table saved with a model (`input.links.*`), if it has one; an error message when
/// the parts are missing or do not form a table of `n_items` items.
fn saved_links(
    tensors: &std::collections::HashMap<String, Tensor>,
    n_items: usize,
) -> Result<Option<ItemLinks>, String> {
    if !tensors.contains_key("input.links.offsets") {
        return Ok(None);
    }
    let part = |name: &str| -> Result<Vec<u32>, String> {
        tensors
            .get(&format!("input.links.{name}"))
            .ok_or_else(|| format!("input.links.{name} is missing"))?
            .to_vec1()
            .map_err(|e| e.to_string())
    };
    let names: Vec<u8> = tensors
        .get("input.links.kind_names")
        .ok_or("input.links.kind_names is missing")?
        .to_vec1()
        .map_err(|e| e.to_string())?;
    let names = String::from_utf8(names).map_err(|_| "input.links.kind_names is not UTF-8")?;
    let kinds = names.split('\n').map(str::to_owned).collect();
    ItemLinks::from_parts(kinds, part("offsets")?, part("targets")?, part("kinds")?)
        .filter(|l| l.item_count() == n_items)
        .map(Some)
        .ok_or_else(|| "input.links.* do not form a link table of the items".into())
}

/// The link part of a sampled step's logits, in the layout of [`sampled_softmax_loss`]:
/// column 0 is each row's target, column `1 + k` the negative `sample[k]`. Row `r` reads the
/// links from the recent items of `before[r]` (item ids, not the step's local rows).
fn sampled_link_logits(
    links: &ItemLinks,
    before: &[&[ItemId]],
    targets: &[ItemId],
    sample: &[ItemId],
) -> LinkLogits {
    let cols = sample.len() + 1;
    let mut columns: std::collections::HashMap<ItemId, Vec<u32>> =
        std::collections::HashMap::with_capacity(sample.len());
    for (k, &item) in sample.iter().enumerate() {
        columns.entry(item).or_default().push(k as u32 + 1);
    }
    let mut entries = Vec::new();
    for (row, (history, &target)) in before.iter().zip(targets).enumerate() {
        let base = (row * cols) as u32;
        links.for_each_feature(history, |to, feature| {
            if to == target {
                entries.push((base, feature as u32));
            }
            for &col in columns.get(&to).map_or(&[][..], Vec::as_slice) {
                entries.push((base + col, feature as u32));
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

/// Cross-entropy of each target against the negatives `sample` drawn uniformly for the
/// batch (a negative equal to the row's target is masked out). `targets` and `sample` are
/// rows of `items`. Uniform draws need no logQ correction, and the cost no longer grows
/// with the catalogue.
fn sampled_softmax_loss(
    h: &Tensor,
    items: &Tensor,
    targets: &[u32],
    sample: &[u32],
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
        for (k, &s) in sample.iter().enumerate() {
            if s == t {
                mask[r * negatives + k] = -1e9;
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

fn build_network(
    params: &mut Params,
    features: &ItemFeatures,
    c: &SequentialConfig,
    n_items: usize,
) -> candle_core::Result<Network> {
    let dim = c.dim;
    let id_embedding = if c.use_id {
        Some(params.uniform((n_items, dim), 1.0 / (dim as f32).sqrt())?)
    } else {
        None
    };
    let mut inputs = Vec::new();
    let wanted = [
        (c.use_structure, &features.structure),
        (c.use_text, &features.text),
    ];
    for (use_it, feature) in wanted {
        if let (true, Some((fdim, values))) = (use_it, feature) {
            if values.len() != n_items * fdim {
                candle_core::bail!("feature rows do not match the {n_items} items");
            }
            inputs.push(FeatureInput {
                features: Tensor::from_vec(values.clone(), (n_items, *fdim), &params.device)?,
                projection: params.linear(*fdim, dim)?,
                norm: params.norm(dim)?,
            });
        }
    }
    let gate = if inputs.len() > 1 {
        Some(params.linear(dim * inputs.len(), inputs.len())?)
    } else {
        None
    };
    let positions = params.uniform((c.max_len, dim), 0.02)?;
    let mut blocks = Vec::new();
    for _ in 0..c.layers {
        blocks.push(Block {
            attn_norm: params.norm(dim)?,
            query: params.linear(dim, dim)?,
            key: params.linear(dim, dim)?,
            value: params.linear(dim, dim)?,
            out: params.linear(dim, dim)?,
            ffn_norm: params.norm(dim)?,
            ffn_in: params.linear(dim, dim)?,
            ffn_out: params.linear(dim, dim)?,
        });
    }
    let final_norm = params.norm(dim)?;
    // Created last, so that the parameters of a model without links keep their order.
    let links = match (&features.links, c.use_links) {
        (Some(links), true) if links.feature_count() > 0 => {
            if links.item_count() != n_items {
                candle_core::bail!(
                    "the link table covers {} items, the model {n_items}",
                    links.item_count()
                );
            }
            Some((links.clone(), params.constant(links.feature_count(), 0.0)?))
        }
        _ => None,
    };
    Ok(Network {
        id_embedding,
        inputs,
        gate,
        positions,
        blocks,
        final_norm,
        links,
        dim,
        heads: c.heads.max(1),
    })
}

impl Scorer for SequentialModel {
    fn score(&self, user: UserId, history: &[ItemId], out: &mut [f32]) {
        self.view().score(user, history, out);
    }

    fn score_batch(&self, queries: &[(UserId, &[ItemId])], out: &mut [f32]) {
        self.view().score_batch(queries, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rec::data::InteractionData;
    use crate::rec::eval::evaluate_ranking;
    use crate::rec::split::{Protocol, Stage};

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

    fn small(epochs: usize) -> SequentialConfig {
        SequentialConfig {
            dim: 16,
            layers: 1,
            max_len: 10,
            dropout: 0.1,
            epochs,
            batch_size: 64,
            learning_rate: 5e-3,
            negatives: 0,
            use_structure: false,
            use_text: false,
            ..Default::default()
        }
    }

    #[test]
    fn learns_order_and_repeats_for_a_seed() {
        let split = cycles();
        let model =
            SequentialModel::fit(&split, &ItemFeatures::default(), &small(40), &|_, _, _| {})
                .unwrap();
        let report = evaluate_ranking(&model, &split.ranking_cases(Stage::Test), split.n_items);
        // Popularity is flat here (HR@5 of a random ranking of the 22 unseen items ≈ .23).
        assert!(report.at_k(5).unwrap().hr > 0.9, "{:?}", report.at_k(5));
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
    fn keeps_the_epoch_with_the_best_validation_ndcg() {
        let split = cycles();
        let config = SequentialConfig {
            validate_every: 1,
            patience: 3,
            learning_rate: 5e-2,
            ..small(30)
        };
        let model =
            SequentialModel::fit(&split, &ItemFeatures::default(), &config, &|_, _, _| {}).unwrap();
        assert_eq!(model.validation.len(), model.losses.len());
        let (best_epoch, best) = model
            .validation
            .iter()
            .copied()
            .fold((0, f64::MIN), |b, v| if v.1 > b.1 { v } else { b });
        assert_eq!(model.best_epoch, best_epoch);
        // The parameters kept are those of that epoch: they score validation the same.
        let valid = evaluate_ranking(&model, &split.ranking_cases(Stage::Valid), split.n_items);
        assert!((valid.at_k(10).unwrap().ndcg - best).abs() < 1e-9);
        // Patience: training stopped 3 passes after the best, or ran every epoch.
        let ran = model.losses.len();
        assert!(
            ran == 30 || ran == best_epoch + 3,
            "ran {ran}, best {best_epoch}"
        );
    }

    #[test]
    fn features_alone_rank_an_item_never_trained_on() {
        // Each item's features place it on a circle (a few harmonics of its cycle angle), so
        // "the successor" is learnable from the other items. Item 29 never appears in
        // training, and the model has no ID part: it is a cold-start item.
        let mut split = cycles();
        for seq in split.train.iter_mut() {
            seq.retain(|&i| i != 29);
        }
        let n = split.n_items;
        let mut circle = Vec::with_capacity(n * 6);
        for i in 0..n {
            let angle = i as f32 / n as f32 * std::f32::consts::TAU;
            for h in 1..=3 {
                circle.push((angle * h as f32).cos());
                circle.push((angle * h as f32).sin());
            }
        }
        let features = ItemFeatures {
            structure: Some((6, circle)),
            ..Default::default()
        };
        let mut config = small(40);
        config.use_id = false;
        config.use_structure = true;
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let mut out = vec![0f32; n];
        let history = [25, 26, 27, 28];
        model.score(0, &history, &mut out);
        let above = (0..n)
            .filter(|&i| i != 29 && !history.contains(&(i as u32)) && out[i] >= out[29])
            .count();
        // Ties count against it; a random ranking puts it about 13th of 26.
        assert!(
            above <= 2,
            "cold item ranked {} of {}",
            above + 1,
            n - history.len()
        );
    }

    /// The cycle's successor of every item as a KG link ("next").
    fn successor_links(n: usize) -> ItemLinks {
        let lists = (0..n).map(|i| vec![(((i + 1) % n) as ItemId, 0)]).collect();
        ItemLinks::from_lists(vec!["next".into()], lists)
    }

    #[test]
    fn learns_to_score_kg_links() {
        // Item 29 never appears in training, so its ID vector stays at its random start;
        // only the link 28 → 29, weighed like the links seen in training, can place it.
        let mut split = cycles();
        for seq in split.train.iter_mut() {
            seq.retain(|&i| i != 29);
        }
        let n = split.n_items;
        let features = ItemFeatures {
            links: Some(successor_links(n)),
            ..Default::default()
        };
        let config = SequentialConfig {
            negatives: 8,
            ..small(20)
        };
        let rank_of_29 = |model: &SequentialModel| {
            let mut out = vec![0f32; n];
            let history = [25, 26, 27, 28];
            model.score(0, &history, &mut out);
            (0..n)
                .filter(|&i| i != 29 && !history.contains(&(i as u32)) && out[i] >= out[29])
                .count()
        };
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let weights = model.link_weights().unwrap();
        assert_eq!(weights.len(), 1);
        assert!(weights[0].1[0] > 1.0, "{weights:?}");
        // Only item 0 may come first: in training, with 29 removed, 0 follows 28.
        let linked = rank_of_29(&model);
        assert!(linked <= 1, "with links, {linked} items above 29");
        // Without links, the same training cannot place it.
        let plain = SequentialConfig {
            use_links: false,
            ..config.clone()
        };
        let model = SequentialModel::fit(&split, &features, &plain, &|_, _, _| {}).unwrap();
        assert!(model.link_weights().unwrap().is_empty());
        let plain = rank_of_29(&model);
        assert!(plain > linked + 2, "without links {plain}, with {linked}");
        // The full softmax learns them too.
        let full = SequentialConfig {
            negatives: 0,
            ..config
        };
        let model = SequentialModel::fit(&split, &features, &full, &|_, _, _| {}).unwrap();
        let linked = rank_of_29(&model);
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
    fn saved_model_loads_and_scores_the_same() {
        let split = cycles();
        let n = split.n_items;
        let features = ItemFeatures {
            structure: Some((2, (0..n * 2).map(|i| (i as f32).sin()).collect())),
            text: Some((3, (0..n * 3).map(|i| (i as f32).cos()).collect())),
            links: Some(successor_links(n)),
        };
        let mut config = small(1);
        config.use_structure = true;
        config.use_text = true;
        config.negatives = 8;
        let model = SequentialModel::fit(&split, &features, &config, &|_, _, _| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        model.save(&features, &path).unwrap();
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
        model.score(0, &history, &mut a);
        loaded.score(0, &history, &mut b);
        assert_eq!(a, b);
        // A configuration that does not match the file is refused, not silently used.
        let mut other = config.clone();
        other.dim = 32;
        assert!(SequentialModel::load(&path, &other).is_err());
    }
}
