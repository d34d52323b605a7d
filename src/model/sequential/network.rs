//! The network: named parameters ([`Params`]), the fusion of item inputs, and the
//! self-attentive encoder.
//!
//! Over 600 lines (about 900, 125 of them tests) because it is one idea: the parts of one
//! network, built in one fixed order that checkpoints rely on ([`build_network`]).

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;

use super::config::{NormPlacement, PositionEncoding, SequentialConfig, TrainingSamples};
use super::frequency_filter::FrequencyFilter;
use super::layer_norm::layer_norm;
use super::new_items::NewItemHead;
use crate::model::inputs::ItemFeatures;
use crate::model::links::ItemLinks;
use crate::util::SeededRng;

/// A seeded parameter factory: every variable is created from kgrec's seeded generator, in
/// a fixed order, and kept by name in a [`VarMap`] (the names a checkpoint stores).
pub(super) struct Params {
    pub(super) vars: VarMap,
    /// The names in creation order: the order of checkpoints written before parameters were
    /// named (see [`super::checkpoint`]).
    pub(super) order: Vec<String>,
    pub(super) rng: SeededRng,
    pub(super) device: Device,
}

impl Params {
    /// An empty factory whose draws start from `seed`.
    pub(super) fn new(seed: u64, device: Device) -> Self {
        Params {
            vars: VarMap::new(),
            order: Vec::new(),
            rng: SeededRng::new(seed),
            device,
        }
    }

    /// The variable called `name`.
    pub(super) fn get(&self, name: &str) -> candle_core::Result<Var> {
        self.vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the parameter map is poisoned".into()))?
            .get(name)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("no parameter {name}")))
    }

    /// A copy of every parameter's value, in creation order (what [`Params::restore`] reads).
    pub(super) fn snapshot(&self) -> candle_core::Result<Vec<Tensor>> {
        self.order
            .iter()
            .map(|name| self.get(name)?.as_tensor().copy())
            .collect()
    }

    /// Moves `average` (a [`Params::snapshot`]) towards the current values, parameter by
    /// parameter: `average ← decay · average + (1 − decay) · value`, detached from the graph.
    pub(super) fn update_average(
        &self,
        average: &mut [Tensor],
        decay: f64,
    ) -> candle_core::Result<()> {
        for (name, mean) in self.order.iter().zip(average.iter_mut()) {
            let value = self.get(name)?;
            *mean = ((&*mean * decay)? + (value.as_tensor() * (1.0 - decay))?)?.detach();
        }
        Ok(())
    }

    /// Sets every parameter to its value in `snapshot` (from [`Params::snapshot`]).
    pub(super) fn restore(&self, snapshot: &[Tensor]) -> candle_core::Result<()> {
        for (name, saved) in self.order.iter().zip(snapshot) {
            self.get(name)?.set(saved)?;
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, name: String, tensor: Tensor) -> candle_core::Result<Var> {
        let var = Var::from_tensor(&tensor)?;
        let mut map = self
            .vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the parameter map is poisoned".into()))?;
        if map.insert(name.clone(), var.clone()).is_some() {
            candle_core::bail!("parameter {name} is created twice");
        }
        self.order.push(name);
        Ok(var)
    }

    pub(super) fn uniform(
        &mut self,
        name: &str,
        shape: (usize, usize),
        scale: f32,
    ) -> candle_core::Result<Var> {
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| (self.rng.unit_f32() * 2.0 - 1.0) * scale)
            .collect();
        let tensor = Tensor::from_vec(values, shape, &self.device)?;
        self.insert(name.to_owned(), tensor)
    }

    /// A variable drawn from N(0, std²) (Box–Muller on the seeded generator).
    pub(super) fn normal(
        &mut self,
        name: &str,
        shape: (usize, usize),
        std: f32,
    ) -> candle_core::Result<Var> {
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| {
                let u = 1.0 - self.rng.unit_f32();
                let v = self.rng.unit_f32();
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos() * std
            })
            .collect();
        let tensor = Tensor::from_vec(values, shape, &self.device)?;
        self.insert(name.to_owned(), tensor)
    }

    /// A `rows × cols` weight drawn as `init` says: uniform in ±`bound`, or N(0, 0.02²).
    pub(super) fn weight(
        &mut self,
        name: &str,
        shape: (usize, usize),
        bound: f32,
        init: NormPlacement,
    ) -> candle_core::Result<Var> {
        match init {
            NormPlacement::Pre => self.uniform(name, shape, bound),
            NormPlacement::Post => self.normal(name, shape, POST_NORM_INIT_STD),
        }
    }

    pub(super) fn constant(
        &mut self,
        name: &str,
        len: usize,
        value: f32,
    ) -> candle_core::Result<Var> {
        let tensor = Tensor::from_vec(vec![value; len], len, &self.device)?;
        self.insert(name.to_owned(), tensor)
    }

    pub(super) fn linear(
        &mut self,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> candle_core::Result<Linear> {
        self.linear_drawn(name, inputs, outputs, NormPlacement::Pre)
    }

    /// A linear layer whose weight is drawn as `init` says ([`Params::weight`]).
    pub(super) fn linear_drawn(
        &mut self,
        name: &str,
        inputs: usize,
        outputs: usize,
        init: NormPlacement,
    ) -> candle_core::Result<Linear> {
        let bound = 1.0 / (inputs as f32).sqrt();
        Ok(Linear {
            weight: self.weight(&format!("{name}.weight"), (outputs, inputs), bound, init)?,
            bias: self.constant(&format!("{name}.bias"), outputs, 0.0)?,
        })
    }

    pub(super) fn norm(&mut self, name: &str, dim: usize) -> candle_core::Result<Norm> {
        Ok(Norm {
            alpha: self.constant(&format!("{name}.alpha"), dim, 1.0)?,
            beta: self.constant(&format!("{name}.beta"), dim, 0.0)?,
        })
    }
}

pub(super) struct Linear {
    pub(super) weight: Var,
    pub(super) bias: Var,
}

impl Linear {
    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
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

pub(super) struct Norm {
    pub(super) alpha: Var,
    pub(super) beta: Var,
}

impl Norm {
    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        layer_norm(x, self.alpha.as_tensor(), self.beta.as_tensor())
    }
}

pub(super) struct Block {
    pub(super) attn_norm: Norm,
    pub(super) query: Linear,
    pub(super) key: Linear,
    pub(super) value: Linear,
    pub(super) out: Linear,
    pub(super) ffn_norm: Norm,
    pub(super) ffn_in: Linear,
    pub(super) ffn_out: Linear,
    /// The square root of the per-dimension weight on the high frequencies, with the
    /// frequency filter ([`FrequencyFilter`]).
    pub(super) filter_beta: Option<Var>,
    /// The attention bias per head and distance back from the predicting position
    /// (`heads × max_len`), with relative positions ([`PositionEncoding::Relative`]).
    pub(super) position_bias: Option<Var>,
}

/// Which positions [`Network::encode`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Readout {
    /// Every position: training on windows, where each one is a target.
    Every,
    /// The last position only: a recommendation, and training on prefixes. The last block
    /// then computes one query, one feed-forward pass and one filter row per sequence, which
    /// saves about a third of the encoder's work with two blocks.
    Last,
}

/// Which item input a [`FeatureInput`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InputKind {
    /// The KG structure vectors.
    Structure,
    /// The text vectors.
    Text,
}

impl InputKind {
    /// The name of its parameters (`inputs.{name}.…`) and of its rows in a checkpoint
    /// (`input.{name}`).
    pub(super) fn name(self) -> &'static str {
        match self {
            InputKind::Structure => "structure",
            InputKind::Text => "text",
        }
    }
}

/// A feature projected into the hidden space, normalised.
pub(super) struct FeatureInput {
    pub(super) kind: InputKind,
    pub(super) features: Tensor,
    pub(super) projection: Linear,
    pub(super) norm: Norm,
}

pub(super) struct Network {
    pub(super) id_embedding: Option<Var>,
    pub(super) inputs: Vec<FeatureInput>,
    pub(super) gate: Option<Linear>,
    /// The input vector per place back from the window's end ([`PositionEncoding::Window`]).
    pub(super) positions: Option<Var>,
    /// Distances a relative position bias tells apart (`max_len`).
    pub(super) max_len: usize,
    pub(super) blocks: Vec<Block>,
    /// Where the blocks normalise.
    pub(super) norm: NormPlacement,
    /// The norm after the last block (pre-norm), or of the input (post-norm).
    pub(super) outer_norm: Norm,
    /// The KG links and one weight per link feature (scaled by [`LINK_SCALE`]).
    pub(super) links: Option<(ItemLinks, Var)>,
    pub(super) dim: usize,
    pub(super) heads: usize,
    /// BSARec's frequency filter beside attention, when configured.
    pub(super) filter: Option<FrequencyFilter>,
    /// The terms that score products without an ID part (when items have an ID part).
    pub(super) new_items: Option<NewItemHead>,
}

/// The standard deviation of weights drawn for a post-norm network (BSARec's and BERT's
/// `initializer_range`).
const POST_NORM_INIT_STD: f32 = 0.02;

/// The factor on the link weights: Adam moves a weight by about the learning rate per step,
/// and a link's useful weight is a few units of logit, far more than the other parameters'.
pub(super) const LINK_SCALE: f32 = 10.0;

/// Dropout with masks from the seeded generator (candle's own draws from an unseeded one).
pub(super) struct Dropout<'a> {
    pub(super) rng: Option<&'a std::cell::RefCell<SeededRng>>,
    pub(super) p: f32,
    /// The share of attention weights dropped.
    pub(super) attention_p: f32,
}

impl Dropout<'_> {
    /// No dropout: scoring, and training steps that should see the whole network.
    pub(super) const NONE: Dropout<'static> = Dropout {
        rng: None,
        p: 0.0,
        attention_p: 0.0,
    };

    pub(super) fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply_share(x, self.p)
    }

    /// Drops attention weights with `attention_p`.
    pub(super) fn apply_to_attention(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply_share(x, self.attention_p)
    }

    fn apply_share(&self, x: &Tensor, p: f32) -> candle_core::Result<Tensor> {
        let Some(rng) = self.rng else {
            return Ok(x.clone());
        };
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - p);
        let n = x.elem_count();
        let mut rng = rng.borrow_mut();
        let mask: Vec<f32> = (0..n)
            .map(|_| if rng.unit_f32() < p { 0.0 } else { keep })
            .collect();
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
    }
}

impl Network {
    /// The link weights as they enter the score (`None` without links).
    pub(super) fn link_weights(&self) -> candle_core::Result<Option<(&ItemLinks, Vec<f32>)>> {
        let Some((links, weights)) = &self.links else {
            return Ok(None);
        };
        let w: Vec<f32> = weights.as_tensor().to_vec1()?;
        Ok(Some((links, w.iter().map(|x| x * LINK_SCALE).collect())))
    }

    /// Sets the ID rows of `items` to zero: items with nothing to learn an ID from score by
    /// their feature parts alone (they then get no gradient, so they stay zero).
    pub(super) fn clear_id_rows(&self, items: &[u32]) -> candle_core::Result<()> {
        let Some(id) = &self.id_embedding else {
            return Ok(());
        };
        if items.is_empty() {
            return Ok(());
        }
        let (n, dim) = id.as_tensor().dims2()?;
        let mut keep = vec![1f32; n];
        for &i in items {
            keep[i as usize] = 0.0;
        }
        let keep = Tensor::from_vec(keep, (n, 1), id.as_tensor().device())?;
        id.set(&id.as_tensor().broadcast_mul(&keep)?.reshape((n, dim))?)
    }

    /// The items whose ID row is zero: nothing in training interacted with them (see
    /// [`Network::clear_id_rows`]), so they score as new products.
    pub(super) fn id_less_items(&self) -> candle_core::Result<Vec<u32>> {
        let Some(id) = &self.id_embedding else {
            return Ok(Vec::new());
        };
        let rows: Vec<Vec<f32>> = id.as_tensor().to_vec2()?;
        Ok((0..rows.len() as u32)
            .filter(|&i| rows[i as usize].iter().all(|&x| x == 0.0))
            .collect())
    }

    /// Every item's fused vector: ID embedding plus the gated mix of its feature parts.
    pub(super) fn item_matrix(&self) -> candle_core::Result<Tensor> {
        self.item_rows(None)
    }

    /// The fused vectors of the items in `index` (all items when `None`), in that order.
    /// Training with sampled negatives needs only the batch's items and the negatives, so
    /// the projections and the gate run over those rows alone.
    pub(super) fn item_rows(&self, index: Option<&Tensor>) -> candle_core::Result<Tensor> {
        self.item_rows_keeping_ids(index, None)
    }

    /// [`Network::item_rows`] with the ID part of row `r` multiplied by `id_keep[r]` (a
    /// `rows × 1` tensor of 0 and 1): training with ID dropout, so that the feature parts
    /// alone learn to place an item, as they must for a product nobody has bought.
    pub(super) fn item_rows_keeping_ids(
        &self,
        index: Option<&Tensor>,
        id_keep: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let rows = |t: &Tensor| match index {
            Some(ix) => t.index_select(ix, 0),
            None => Ok(t.clone()),
        };
        let features: Vec<Tensor> = self
            .inputs
            .iter()
            .map(|f| rows(&f.features))
            .collect::<candle_core::Result<_>>()?;
        let id = match (&self.id_embedding, id_keep) {
            (Some(id), Some(keep)) => Some(rows(id.as_tensor())?.broadcast_mul(keep)?),
            (Some(id), None) => Some(rows(id.as_tensor())?),
            (None, _) => None,
        };
        self.fuse(&features, id)
    }

    /// The fused vectors of the items in `index` scored as new products: no ID part, and no
    /// KG structure vector either. A bought product's was learned from walks through its own
    /// sales and co-purchases, which a new product's is not, so with it a bought product
    /// scored as new would look better placed than new products are. Its text is its own,
    /// as a new product's is.
    pub(super) fn item_rows_as_new(&self, index: &Tensor) -> candle_core::Result<Tensor> {
        let features: Vec<Tensor> = self
            .inputs
            .iter()
            .map(|f| {
                let rows = f.features.index_select(index, 0)?;
                match f.kind {
                    InputKind::Structure => rows.zeros_like(),
                    InputKind::Text => Ok(rows),
                }
            })
            .collect::<candle_core::Result<_>>()?;
        // A zero ID part: what a model with no inputs at all (links only) scores from.
        let id = Tensor::zeros((index.dims()[0], self.dim), DType::F32, index.device())?;
        self.fuse(&features, Some(id))
    }

    /// Fuses raw feature rows (one tensor per input, in input order) and optional ID rows.
    pub(super) fn fuse(
        &self,
        features: &[Tensor],
        id: Option<Tensor>,
    ) -> candle_core::Result<Tensor> {
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
    /// mapped to item 0 and masked): `batch × len × dim`, or with [`Readout::Last`]
    /// `batch × 1 × dim`, the same values as the last position of every one.
    pub(super) fn encode(
        &self,
        items: &Tensor,
        ids: &[u32],
        batch: usize,
        len: usize,
        dropout: &Dropout<'_>,
        readout: Readout,
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
            .reshape((batch, len, self.dim))?;
        let post = self.norm == NormPlacement::Post;
        if !post {
            h = h.affine((self.dim as f64).sqrt(), 0.0)?;
        }
        let max_len = self.max_len;
        if let Some(positions) = &self.positions {
            // Places count back from the window's last item, so recency has its own vector.
            let pos_index: Vec<u32> = (0..len)
                .map(|t| (len - 1 - t).min(max_len - 1) as u32)
                .collect();
            let pos = positions
                .as_tensor()
                .index_select(&Tensor::from_vec(pos_index, len, device)?, 0)?;
            h = h.broadcast_add(&pos)?;
        }
        // Relative positions: query `q` sees key `k ≤ q` at distance `q − k`.
        let distances = if self.positions.is_none() {
            let d: Vec<u32> = (0..len * len)
                .map(|at| {
                    let (q, k) = (at / len, at % len);
                    q.saturating_sub(k).min(max_len - 1) as u32
                })
                .collect();
            Some(Tensor::from_vec(d, len * len, device)?)
        } else {
            None
        };
        if post {
            h = self.outer_norm.forward(&h)?;
        }
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
        let low_pass = match &self.filter {
            Some(f) => Some(f.matrix(len, device)?),
            None => None,
        };
        let head_dim = self.dim / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let last_block = self.blocks.len().saturating_sub(1);
        for (at_block, block) in self.blocks.iter().enumerate() {
            // Positions this block computes: every one, or in the last block, when only the
            // last is read out, that one (keys, values and the low-pass still read them all).
            let from = if readout == Readout::Last && at_block == last_block {
                len - 1
            } else {
                0
            };
            let rows = len - from;
            let x = if post {
                h.clone()
            } else {
                block.attn_norm.forward(&h)?
            };
            let x_rows = x.narrow(1, from, rows)?;
            let split = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
                t.reshape((batch, n, self.heads, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(block.query.forward(&x_rows)?, rows)?;
            let k = split(block.key.forward(&x)?, len)?;
            let v = split(block.value.forward(&x)?, len)?;
            let mut scores = q
                .matmul(&k.t()?)?
                .affine(scale, 0.0)?
                .broadcast_add(&mask.narrow(2, from, rows)?)?;
            if let (Some(bias), Some(distances)) = (&block.position_bias, &distances) {
                let bias = bias
                    .as_tensor()
                    .reshape((self.heads, max_len))?
                    .index_select(distances, 1)?
                    .reshape((1, self.heads, len, len))?
                    .narrow(2, from, rows)?;
                scores = scores.broadcast_add(&bias)?;
            }
            let attn = dropout.apply_to_attention(&candle_nn::ops::softmax(&scores, D::Minus1)?)?;
            let ctx = attn
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((batch, rows, self.dim))?;
            let mut mixed = block.out.forward(&ctx)?;
            if let (Some(filter), Some(low_pass), Some(beta)) =
                (&self.filter, &low_pass, &block.filter_beta)
            {
                // Padding has no item: it adds nothing to the low-pass part.
                let low = low_pass
                    .narrow(0, from, rows)?
                    .broadcast_matmul(&x.broadcast_mul(&valid_t)?)?;
                let high = (&x_rows - &low)?.broadcast_mul(&beta.as_tensor().sqr()?)?;
                mixed = ((low + high)?.affine(filter.alpha, 0.0)?
                    + mixed.affine(1.0 - filter.alpha, 0.0)?)?;
            }
            h = (h.narrow(1, from, rows)? + dropout.apply(&mixed)?)?;
            let x = if post {
                h = block.attn_norm.forward(&h)?;
                h.clone()
            } else {
                block.ffn_norm.forward(&h)?
            };
            let f = block
                .ffn_out
                .forward(&dropout.apply(&block.ffn_in.forward(&x)?.gelu_erf()?)?)?;
            h = (h + dropout.apply(&f)?)?;
            if post {
                h = block.ffn_norm.forward(&h)?;
            }
            h = h.broadcast_mul(&valid_t.narrow(1, from, rows)?)?;
        }
        if readout == Readout::Last {
            // A no-op after the last block; a network without blocks reads its input.
            h = h.narrow(1, h.dim(1)? - 1, 1)?;
        }
        if post {
            Ok(h)
        } else {
            self.outer_norm.forward(&h)
        }
    }
}

/// Creates the network's parameters, by name, for `n_items` items and the inputs the
/// configuration switches on.
pub(super) fn build_network(
    params: &mut Params,
    features: &ItemFeatures,
    c: &SequentialConfig,
    n_items: usize,
) -> candle_core::Result<Network> {
    let dim = c.dim;
    let id_embedding = if c.use_id {
        Some(params.weight(
            "id_embedding",
            (n_items, dim),
            1.0 / (dim as f32).sqrt(),
            c.norm,
        )?)
    } else {
        None
    };
    let mut inputs = Vec::new();
    let wanted = [
        (InputKind::Structure, c.use_structure, &features.structure),
        (InputKind::Text, c.use_text, &features.text),
    ];
    for (kind, use_it, feature) in wanted {
        if let (true, Some((fdim, values))) = (use_it, feature) {
            if values.len() != n_items * fdim {
                candle_core::bail!("feature rows do not match the {n_items} items");
            }
            let name = kind.name();
            inputs.push(FeatureInput {
                kind,
                features: Tensor::from_vec(values.clone(), (n_items, *fdim), &params.device)?,
                projection: params.linear(&format!("inputs.{name}.projection"), *fdim, dim)?,
                norm: params.norm(&format!("inputs.{name}.norm"), dim)?,
            });
        }
    }
    let gate = if inputs.len() > 1 {
        Some(params.linear("gate", dim * inputs.len(), inputs.len())?)
    } else {
        None
    };
    let positions = match c.positions {
        PositionEncoding::Window => {
            Some(params.weight("positions", (c.max_len, dim), 0.02, c.norm)?)
        }
        PositionEncoding::Relative => None,
    };
    let ffn_dim = dim * c.ffn_width.max(1);
    let mut blocks = Vec::new();
    for layer in 0..c.layers {
        let name = |part: &str| format!("blocks.{layer}.{part}");
        blocks.push(Block {
            attn_norm: params.norm(&name("attn_norm"), dim)?,
            query: params.linear_drawn(&name("query"), dim, dim, c.norm)?,
            key: params.linear_drawn(&name("key"), dim, dim, c.norm)?,
            value: params.linear_drawn(&name("value"), dim, dim, c.norm)?,
            out: params.linear_drawn(&name("out"), dim, dim, c.norm)?,
            ffn_norm: params.norm(&name("ffn_norm"), dim)?,
            ffn_in: params.linear_drawn(&name("ffn_in"), dim, ffn_dim, c.norm)?,
            ffn_out: params.linear_drawn(&name("ffn_out"), ffn_dim, dim, c.norm)?,
            filter_beta: if c.frequency_cutoff() > 0 {
                Some(params.uniform(&name("filter_beta"), (1, dim), 1.0)?)
            } else {
                None
            },
            position_bias: match c.positions {
                PositionEncoding::Relative => Some(params.constant(
                    &name("position_bias"),
                    c.heads.max(1) * c.max_len,
                    0.0,
                )?),
                PositionEncoding::Window => None,
            },
        });
    }
    let outer_norm = params.norm(
        match c.norm {
            NormPlacement::Pre => "final_norm",
            NormPlacement::Post => "input_norm",
        },
        dim,
    )?;
    // Created last, so that the parameters of a model without links keep their order (the
    // order checkpoints written before parameters were named rely on).
    let links = match (&features.links, c.use_links) {
        (Some(links), true) if links.feature_count() > 0 => {
            if links.item_count() != n_items {
                candle_core::bail!(
                    "the link table covers {} items, the model {n_items}",
                    links.item_count()
                );
            }
            Some((
                links.clone(),
                params.constant("links.weights", links.feature_count(), 0.0)?,
            ))
        }
        _ => None,
    };
    // Last again: models saved before it have the parameters before it in this order.
    let new_items = if c.use_id {
        let weights = params.constant("new_items.weights", 2, 0.0)?;
        let basis = params.constant("new_items.basis", 1, 0.0)?;
        let placement = params.constant("new_items.placement", 1, 0.0)?;
        let text = features
            .text
            .as_ref()
            .filter(|_| c.use_text)
            .map(|(dim, rows)| (*dim, rows.as_slice()));
        Some(NewItemHead::new(weights, basis, placement, text))
    } else {
        None
    };
    Ok(Network {
        id_embedding,
        inputs,
        gate,
        positions,
        max_len: c.max_len,
        blocks,
        norm: c.norm,
        outer_norm,
        links,
        dim,
        heads: c.heads.max(1),
        filter: (c.frequency_cutoff() > 0).then(|| {
            FrequencyFilter::new(
                c.frequency_cutoff(),
                c.max_len,
                f64::from(c.frequency_alpha),
                // Causal unless every sample is a prefix (`Auto` is resolved before a fit).
                c.samples != TrainingSamples::Prefixes,
            )
        }),
        new_items,
    })
}

#[cfg(test)]
mod tests {
    use super::super::largest_gap;
    use super::*;

    #[test]
    fn the_moving_average_moves_each_parameter_towards_its_value() {
        let mut params = Params::new(1, Device::Cpu);
        params
            .insert("w".into(), Tensor::new(&[2f32, 4.0], &Device::Cpu).unwrap())
            .unwrap();
        let mut average = vec![Tensor::new(&[0f32, 0.0], &Device::Cpu).unwrap()];
        params.update_average(&mut average, 0.75).unwrap();
        assert_eq!(average[0].to_vec1::<f32>().unwrap(), vec![0.5, 1.0]);
        // Restoring the average sets the parameter; the average is its own copy.
        params.restore(&average).unwrap();
        params.update_average(&mut average, 0.5).unwrap();
        let w = params
            .get("w")
            .unwrap()
            .as_tensor()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(
            (w, average[0].to_vec1::<f32>().unwrap()),
            (vec![0.5, 1.0], vec![0.5, 1.0])
        );
    }

    #[test]
    fn relative_positions_read_every_prefix_as_a_recommendation_does() {
        // Item 1, 2, 3, 4: the position predicting after 3 in the window of four must see
        // what the last position of the window [1, 2, 3] sees, as a recommendation after
        // 3 does. Only relative positions give that; window positions place 3 one back.
        for (positions, same) in [
            (PositionEncoding::Relative, true),
            (PositionEncoding::Window, false),
        ] {
            let c = SequentialConfig {
                positions,
                dim: 8,
                heads: 2,
                max_len: 5,
                ..SequentialConfig::default()
            };
            let mut params = Params::new(7, Device::Cpu);
            let network = build_network(&mut params, &ItemFeatures::default(), &c, 6).unwrap();
            for block in &network.blocks {
                if let Some(bias) = &block.position_bias {
                    let values: Vec<f32> = (0..10).map(|d| 1.0 - 0.3 * d as f32).collect();
                    bias.set(&Tensor::from_vec(values, 10, &Device::Cpu).unwrap())
                        .unwrap();
                }
            }
            let items = network.item_matrix().unwrap();
            let none = Dropout::NONE;
            let at = |ids: &[u32], t: usize| -> Vec<f32> {
                network
                    .encode(&items, ids, 1, ids.len(), &none, Readout::Every)
                    .unwrap()
                    .narrow(1, t, 1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            };
            let gap = |a: &[f32], b: &[f32]| -> f32 {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max)
            };
            let alone = at(&[1, 2, 3], 2);
            let inside = gap(&at(&[1, 2, 3, 4], 2), &alone);
            assert_eq!(inside < 1e-5, same, "{positions:?}: {inside}");
            // A padded window reads the same as an unpadded one.
            let padded = gap(&at(&[u32::MAX, 1, 2, 3], 3), &alone);
            assert!(padded < 1e-5, "{positions:?}, padded: {padded}");
        }
    }

    #[test]
    fn reading_out_the_last_position_alone_gives_what_every_position_gives_there() {
        let layouts = [
            SequentialConfig {
                samples: TrainingSamples::Prefixes,
                frequency_cutoff: Some(3),
                ..SequentialConfig::default()
            },
            SequentialConfig {
                norm: NormPlacement::Post,
                positions: PositionEncoding::Relative,
                frequency_cutoff: Some(3),
                ffn_width: 2,
                ..SequentialConfig::default()
            },
            SequentialConfig {
                layers: 0,
                ..SequentialConfig::default()
            },
        ];
        for layout in layouts {
            let c = SequentialConfig {
                dim: 8,
                heads: 2,
                max_len: 5,
                ..layout
            };
            let mut params = Params::new(3, Device::Cpu);
            let network = build_network(&mut params, &ItemFeatures::default(), &c, 6).unwrap();
            let items = network.item_matrix().unwrap();
            // Two histories, the first padded.
            let ids = [u32::MAX, u32::MAX, 4, 1, 2, 5, 3, 1];
            let every = network
                .encode(&items, &ids, 2, 4, &Dropout::NONE, Readout::Every)
                .unwrap()
                .narrow(1, 3, 1)
                .unwrap();
            let last = network
                .encode(&items, &ids, 2, 4, &Dropout::NONE, Readout::Last)
                .unwrap();
            assert_eq!(last.dims(), &[2, 1, 8]);
            let gap = largest_gap(&every, &last);
            assert!(gap < 1e-5, "{c:?}: {gap}");
        }
    }
}
