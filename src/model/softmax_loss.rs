//! Full-softmax cross-entropy of next-item prediction as one fused candle operation.
//!
//! Composed from candle's own operations, the loss over the whole catalogue materialises
//! the `positions × items` logits several times (logits, max, exponentials, log-softmax and
//! their gradients), each a fresh tensor of tens of megabytes. This operation walks the
//! positions in blocks instead: one matrix product gives a block's logits, the log-sum-exp
//! is taken in place, and the backward pass turns the block's probabilities into both
//! gradients with two more products. The forward pass keeps the probabilities for the
//! backward pass when they fit in [`CACHE_FLOATS`]; a longer batch recomputes them block by
//! block instead. The blocks run in parallel; the item gradient adds per-worker partial sums,
//! so results repeat only to within floating-point reduction order.
//!
//! A model that scores KG links (see [`super::links`]) adds, per row, the weights of the
//! links to some candidates; the third operand is that weight vector, and its gradient comes
//! from the same probabilities. Items can be left out of the softmax (those nothing in training
//! interacted with): probability zero, so no gradient reaches them.
//!
//! (Over 600 lines: half of it is the tests that hold the fused operation to candle's own
//! cross-entropy, with links, exclusions and recomputed probabilities; they belong beside it.)

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Positions per block: a block's logits (`BLOCK × items` floats) stay within a few MB.
const BLOCK: usize = 64;

/// Most probabilities (`rows × items`) the forward pass keeps for the backward pass: 128 MB.
const CACHE_FLOATS: usize = 32 << 20;

/// Mean cross-entropy of `hidden · itemsᵀ (+ link weights)` against one target item per
/// row; apply with `hidden.apply_op3(&items, &weights, FullSoftmaxLoss::new(targets))` to
/// contiguous f32 tensors `hidden: [rows, dim]`, `items: [n_items, dim]` and `weights:
/// [features]` (any vector when the loss has no links: it is then not read).
pub(crate) struct FullSoftmaxLoss {
    targets: Vec<u32>,
    links: Option<RowLinks>,
    /// Items outside the softmax: probability 0, so they get no gradient (the items nothing
    /// in training interacted with, which must not learn to be negatives).
    excluded: Vec<u32>,
    /// The forward pass's softmax probabilities (`rows × items`), taken by the backward pass.
    probabilities: std::sync::Mutex<Option<Vec<f32>>>,
}

/// Link logits of each row: `(item, feature)` pairs, each adding `scale × weights[feature]`
/// to that item's logit.
pub(crate) struct RowLinks {
    /// One list per row.
    pub rows: Vec<Vec<(u32, u32)>>,
    /// The factor on every weight.
    pub scale: f32,
}

impl FullSoftmaxLoss {
    /// The loss for these target rows of `items`, one per row of `hidden`.
    pub(crate) fn new(targets: Vec<u32>) -> Self {
        FullSoftmaxLoss {
            targets,
            links: None,
            excluded: Vec::new(),
            probabilities: std::sync::Mutex::new(None),
        }
    }

    /// The loss with link logits added to each row's candidates.
    pub(crate) fn with_links(targets: Vec<u32>, links: RowLinks) -> Self {
        FullSoftmaxLoss {
            links: Some(links),
            ..Self::new(targets)
        }
    }

    /// The same loss with `items` left out of every row's softmax (no target may be one).
    pub(crate) fn excluding(mut self, mut items: Vec<u32>) -> Self {
        items.sort_unstable();
        items.dedup();
        self.excluded = items;
        self
    }

    fn check(&self, rows: usize, n_items: usize, features: usize) -> candle_core::Result<()> {
        if let Some(i) = self.excluded.iter().find(|&&i| i as usize >= n_items) {
            candle_core::bail!("excluded item {i} outside the {n_items} items");
        }
        if self
            .targets
            .iter()
            .any(|t| self.excluded.binary_search(t).is_ok())
        {
            candle_core::bail!("a target is an item excluded from the softmax");
        }
        if rows != self.targets.len() {
            candle_core::bail!("{rows} hidden rows for {} targets", self.targets.len());
        }
        if let Some(t) = self.targets.iter().find(|&&t| t as usize >= n_items) {
            candle_core::bail!("target {t} outside the {n_items} items");
        }
        if let Some(links) = &self.links {
            if links.rows.len() != rows {
                candle_core::bail!("{rows} hidden rows for {} link rows", links.rows.len());
            }
            let bad = links
                .rows
                .iter()
                .flatten()
                .any(|&(i, f)| i as usize >= n_items || f as usize >= features);
            if bad {
                candle_core::bail!("a link outside the {n_items} items or {features} weights");
            }
        }
        Ok(())
    }

    /// The link rows of block `b` (empty without links).
    fn block_links(&self, b: usize) -> &[Vec<(u32, u32)>] {
        match &self.links {
            Some(l) => {
                let start = (b * BLOCK).min(l.rows.len());
                &l.rows[start..(start + BLOCK).min(l.rows.len())]
            }
            None => &[],
        }
    }

    /// Block `b`'s inputs.
    fn block<'a>(
        &'a self,
        b: usize,
        hidden: &'a [f32],
        targets: &'a [u32],
        weights: &'a [f32],
    ) -> Block<'a> {
        Block {
            hidden,
            targets,
            links: self.block_links(b),
            weights,
            excluded: &self.excluded,
        }
    }

    /// The weights as they enter the logits (empty without links).
    fn scaled_weights(&self, weights: &[f32]) -> Vec<f32> {
        match &self.links {
            Some(l) => weights.iter().map(|w| w * l.scale).collect(),
            None => Vec::new(),
        }
    }
}

/// Row-major `[rows, dim]` f32 data of a contiguous storage.
fn matrix<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<(&'a [f32], usize, usize)> {
    let (rows, dim) = l.shape().dims2()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok((&s.as_slice::<f32>()?[start..end], rows, dim)),
        None => candle_core::bail!("full-softmax loss needs contiguous inputs"),
    }
}

/// `dst (m×n) = [dst +] a · b` for strided operands (strides in elements: column, row).
fn product(
    dst: &mut [f32],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_cs, a_rs): (usize, usize),
    b: &[f32],
    (b_cs, b_rs): (usize, usize),
) {
    assert!(dst.len() >= m * n);
    assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    assert!(n == 0 || k == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    // SAFETY: the asserts keep every index gemm reads or writes inside its slice; `dst` is
    // borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A block's logits `hidden[rows] · itemsᵀ` into `out` (`rows × n_items`).
fn block_logits(out: &mut [f32], hidden: &[f32], items: &[f32], dim: usize) {
    let rows = hidden.len() / dim;
    let n_items = items.len() / dim;
    product(
        out,
        false,
        (rows, n_items, dim),
        hidden,
        (1, dim),
        items,
        (dim, 1),
    );
}

/// A block's inputs: its rows of `hidden`, their targets, their links, and the link weights
/// as they enter the logits.
struct Block<'a> {
    hidden: &'a [f32],
    targets: &'a [u32],
    links: &'a [Vec<(u32, u32)>],
    weights: &'a [f32],
    excluded: &'a [u32],
}

/// A block's softmax probabilities over the items, written into `out` (`rows × n_items`);
/// returns the block's summed cross-entropy.
fn block_probabilities(out: &mut [f32], block: &Block<'_>, items: &[f32], dim: usize) -> f64 {
    let targets = block.targets;
    block_logits(out, block.hidden, items, dim);
    let n_items = items.len() / dim;
    for (row, links) in out.chunks_exact_mut(n_items).zip(block.links) {
        for &(item, feature) in links {
            row[item as usize] += block.weights[feature as usize];
        }
    }
    for row in out.chunks_exact_mut(n_items) {
        for &item in block.excluded {
            row[item as usize] = f32::NEG_INFINITY;
        }
    }
    let mut loss = 0f64;
    for (row, &t) in out.chunks_exact_mut(n_items).zip(targets) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
        let lse = max + sum.ln();
        loss += f64::from(lse - row[t as usize]);
        for x in row.iter_mut() {
            *x = (*x - lse).exp();
        }
    }
    loss
}

impl CustomOp3 for FullSoftmaxLoss {
    fn name(&self) -> &'static str {
        "full-softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (hidden, rows, dim) = matrix(s1, l1)?;
        let (items, n_items, item_dim) = matrix(s2, l2)?;
        if dim != item_dim {
            candle_core::bail!("hidden size {dim} against item size {item_dim}");
        }
        let Some((start, end)) = l3.contiguous_offsets() else {
            candle_core::bail!("full-softmax loss needs contiguous link weights");
        };
        let weights = self.scaled_weights(&s3.as_slice::<f32>()?[start..end]);
        self.check(rows, n_items, end - start)?;
        let cache = rows * n_items <= CACHE_FLOATS;
        let mut kept = if cache {
            vec![0f32; rows * n_items]
        } else {
            Vec::new()
        };
        let blocks = hidden
            .par_chunks(BLOCK * dim)
            .zip(self.targets.par_chunks(BLOCK))
            .enumerate();
        let total: f64 = if cache {
            blocks
                .zip(kept.par_chunks_mut(BLOCK * n_items))
                .map(|((b, (h, t)), out)| {
                    block_probabilities(out, &self.block(b, h, t, &weights), items, dim)
                })
                .sum()
        } else {
            blocks
                .map(|(b, (h, t))| {
                    let mut out = vec![0f32; t.len() * n_items];
                    block_probabilities(&mut out, &self.block(b, h, t, &weights), items, dim)
                })
                .sum()
        };
        if let Ok(mut slot) = self.probabilities.lock() {
            *slot = cache.then_some(kept);
        }
        let mean = (total / rows.max(1) as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        items: &Tensor,
        link_weights: &Tensor,
        _loss: &Tensor,
        grad_loss: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, dim) = hidden.dims2()?;
        let (n_items, _) = items.dims2()?;
        let h: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        let it: Vec<f32> = items.flatten_all()?.to_vec1()?;
        let features = link_weights.elem_count();
        let weights = self.scaled_weights(&link_weights.flatten_all()?.to_vec1()?);
        let link_scale = self.links.as_ref().map_or(0.0, |l| l.scale);
        let scale = grad_loss.to_scalar::<f32>()? / rows.max(1) as f32;
        let mut grad_hidden = vec![0f32; rows * dim];
        let kept = self
            .probabilities
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .filter(|p| p.len() == rows * n_items);
        let recompute = kept.is_none();
        // Kept probabilities are split into blocks; otherwise each block recomputes its own.
        let mut probabilities = kept.unwrap_or_default();
        let mut block_slots: Vec<&mut [f32]> = if recompute {
            (0..rows.div_ceil(BLOCK))
                .map(|_| Default::default())
                .collect()
        } else {
            probabilities.chunks_mut(BLOCK * n_items).collect()
        };
        // Each worker sums its blocks' item (and link-weight) gradients; the partial sums
        // are added at the end.
        let zero = || (vec![0f32; n_items * dim], vec![0f32; features]);
        let (grad_items, grad_links) = grad_hidden
            .par_chunks_mut(BLOCK * dim)
            .zip(block_slots.par_iter_mut())
            .zip(h.par_chunks(BLOCK * dim))
            .zip(self.targets.par_chunks(BLOCK))
            .enumerate()
            .fold(
                zero,
                |(mut acc, mut acc_links), (b, (((gh, slot), hb), targets))| {
                    let block = targets.len();
                    let links = self.block_links(b);
                    let mut own = Vec::new();
                    let p: &mut [f32] = if recompute {
                        own.resize(block * n_items, 0f32);
                        let inputs = self.block(b, hb, targets, &weights);
                        block_probabilities(&mut own, &inputs, &it, dim);
                        &mut own
                    } else {
                        slot
                    };
                    // Softmax minus the one-hot target, times the upstream gradient.
                    for (row, &t) in p.chunks_exact_mut(n_items).zip(targets) {
                        for x in row.iter_mut() {
                            *x *= scale;
                        }
                        row[t as usize] -= scale;
                    }
                    // A link weight's gradient: the logit gradients where it was added.
                    for (row, links) in p.chunks_exact(n_items).zip(links) {
                        for &(item, feature) in links {
                            acc_links[feature as usize] += link_scale * row[item as usize];
                        }
                    }
                    // d hidden = P · items; d items += Pᵀ · hidden.
                    product(
                        gh,
                        false,
                        (block, dim, n_items),
                        p,
                        (1, n_items),
                        &it,
                        (1, dim),
                    );
                    product(
                        &mut acc,
                        true,
                        (n_items, dim, block),
                        p,
                        (n_items, 1),
                        hb,
                        (1, dim),
                    );
                    (acc, acc_links)
                },
            )
            .reduce(zero, |(mut a, mut a_links), (b, b_links)| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                for (x, y) in a_links.iter_mut().zip(b_links) {
                    *x += y;
                }
                (a, a_links)
            });
        let device = hidden.device();
        let grad_links = match self.links {
            Some(_) => Some(Tensor::from_vec(grad_links, link_weights.shape(), device)?),
            None => None,
        };
        Ok((
            Some(Tensor::from_vec(grad_hidden, (rows, dim), device)?),
            Some(Tensor::from_vec(grad_items, (n_items, dim), device)?),
            grad_links,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::SeededRng;
    use candle_core::{Device, Var};

    fn random(rng: &mut SeededRng, shape: (usize, usize)) -> Var {
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| rng.unit_f32() * 4.0 - 2.0)
            .collect();
        Var::from_tensor(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap()).unwrap()
    }

    /// The weight operand of a loss without links.
    fn no_weights() -> Tensor {
        Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap()
    }

    /// The fused loss equals candle's cross-entropy of `logits` against `targets`, and so do
    /// the gradients of `vars` (both losses scaled by `upstream` first).
    fn assert_matches_reference(
        fused: &Tensor,
        logits: &Tensor,
        targets: Vec<u32>,
        upstream: f64,
        vars: &[&Var],
    ) {
        let t = Tensor::from_vec(targets, logits.dims()[0], &Device::Cpu).unwrap();
        let reference = candle_nn::loss::cross_entropy(logits, &t).unwrap();
        let loss_gap =
            (fused.to_scalar::<f32>().unwrap() - reference.to_scalar::<f32>().unwrap()).abs();
        assert!(loss_gap < 1e-4, "loss differs by {loss_gap}");
        let fused_grads = (fused * upstream).unwrap().backward().unwrap();
        let reference_grads = (reference * upstream).unwrap().backward().unwrap();
        for var in vars {
            let a = fused_grads.get(var.as_tensor()).unwrap();
            let b = reference_grads.get(var.as_tensor()).unwrap();
            let gap = close(a, b);
            assert!(gap < 1e-5, "gradient differs by {gap}");
        }
    }

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Loss and both gradients equal candle's own log-softmax cross-entropy, over more
    /// rows than one block so that blocks and partial sums are exercised.
    #[test]
    fn matches_candle_cross_entropy() {
        let mut rng = SeededRng::new(7);
        let (rows, n_items, dim) = (BLOCK * 2 + 5, 37, 6);
        let hidden = random(&mut rng, (rows, dim));
        let items = random(&mut rng, (n_items, dim));
        let targets: Vec<u32> = (0..rows).map(|_| rng.below(n_items) as u32).collect();

        let fused = hidden
            .as_tensor()
            .apply_op3(
                items.as_tensor(),
                &no_weights(),
                FullSoftmaxLoss::new(targets.clone()),
            )
            .unwrap();
        let logits = hidden
            .as_tensor()
            .matmul(&items.as_tensor().t().unwrap())
            .unwrap();
        // Scale both by 3 so that the upstream gradient is not just 1.
        assert_matches_reference(&fused, &logits, targets, 3.0, &[&hidden, &items]);
    }

    /// Excluded items leave the softmax: the loss is the reference's with their logits at
    /// minus infinity, and their rows of the item gradient are exactly zero.
    #[test]
    fn excluded_items_get_no_probability_and_no_gradient() {
        let mut rng = SeededRng::new(5);
        let (rows, n_items, dim) = (BLOCK + 3, 17, 4);
        let excluded = vec![2u32, 9, 16];
        let hidden = random(&mut rng, (rows, dim));
        let items = random(&mut rng, (n_items, dim));
        let targets: Vec<u32> = (0..rows)
            .map(|_| loop {
                let t = rng.below(n_items) as u32;
                if !excluded.contains(&t) {
                    break t;
                }
            })
            .collect();
        let fused = hidden
            .as_tensor()
            .apply_op3(
                items.as_tensor(),
                &no_weights(),
                FullSoftmaxLoss::new(targets.clone()).excluding(excluded.clone()),
            )
            .unwrap();
        let mask: Vec<f32> = (0..n_items as u32)
            .map(|i| if excluded.contains(&i) { -1e30 } else { 0.0 })
            .collect();
        let logits = hidden
            .as_tensor()
            .matmul(&items.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(&Tensor::from_vec(mask, n_items, &Device::Cpu).unwrap())
            .unwrap();
        assert_matches_reference(&fused, &logits, targets.clone(), 1.0, &[&hidden, &items]);
        let grads = fused.backward().unwrap();
        let g: Vec<Vec<f32>> = grads.get(items.as_tensor()).unwrap().to_vec2().unwrap();
        for &i in &excluded {
            assert!(
                g[i as usize].iter().all(|&x| x == 0.0),
                "{:?}",
                g[i as usize]
            );
        }
        let bad = FullSoftmaxLoss::new(vec![2]).excluding(excluded);
        assert!(hidden
            .as_tensor()
            .narrow(0, 0, 1)
            .unwrap()
            .apply_op3(items.as_tensor(), &no_weights(), bad)
            .is_err());
    }

    /// Without the forward pass's probabilities (a batch too long to keep them), the
    /// backward pass recomputes them and gets the same gradients.
    #[test]
    fn recomputed_probabilities_give_the_same_gradients() {
        let mut rng = SeededRng::new(3);
        let (rows, n_items, dim) = (BLOCK + 9, 23, 5);
        let hidden = random(&mut rng, (rows, dim));
        let items = random(&mut rng, (n_items, dim));
        let targets: Vec<u32> = (0..rows).map(|_| rng.below(n_items) as u32).collect();
        let grad = Tensor::new(2.0f32, &Device::Cpu).unwrap();
        let kept_op = FullSoftmaxLoss::new(targets.clone());
        let w = no_weights();
        let loss = hidden
            .as_tensor()
            .apply_op3_no_bwd(items.as_tensor(), &w, &kept_op)
            .unwrap();
        let kept = kept_op
            .bwd(hidden.as_tensor(), items.as_tensor(), &w, &loss, &grad)
            .unwrap();
        let fresh = FullSoftmaxLoss::new(targets)
            .bwd(hidden.as_tensor(), items.as_tensor(), &w, &loss, &grad)
            .unwrap();
        assert!(kept.2.is_none() && fresh.2.is_none());
        for (a, b) in [(kept.0, fresh.0), (kept.1, fresh.1)] {
            assert_eq!(close(&a.unwrap(), &b.unwrap()), 0.0);
        }
    }

    /// With link logits, the loss and the gradients of hidden, items and link weights equal
    /// the composed reference: candle's cross-entropy of `hidden · itemsᵀ + links`.
    #[test]
    fn link_logits_match_the_composed_reference() {
        let mut rng = SeededRng::new(11);
        let (rows, n_items, dim, features) = (BLOCK + 7, 19, 4, 5);
        let hidden = random(&mut rng, (rows, dim));
        let items = random(&mut rng, (n_items, dim));
        let weights =
            Var::from_vec(vec![0.5f32, -0.25, 1.0, 0.0, 2.0], features, &Device::Cpu).unwrap();
        let targets: Vec<u32> = (0..rows).map(|_| rng.below(n_items) as u32).collect();
        let links: Vec<Vec<(u32, u32)>> = (0..rows)
            .map(|r| {
                let mut l = vec![(targets[r], (r % features) as u32)];
                for _ in 0..3 {
                    l.push((rng.below(n_items) as u32, rng.below(features) as u32));
                }
                l
            })
            .collect();
        let scale = 3.0;
        let fused = hidden
            .as_tensor()
            .apply_op3(
                items.as_tensor(),
                weights.as_tensor(),
                FullSoftmaxLoss::with_links(
                    targets.clone(),
                    RowLinks {
                        rows: links.clone(),
                        scale,
                    },
                ),
            )
            .unwrap();
        let entries = links
            .iter()
            .enumerate()
            .flat_map(|(r, l)| l.iter().map(move |&(i, f)| ((r * n_items) as u32 + i, f)))
            .collect();
        let extra = weights
            .as_tensor()
            .apply_op1(crate::model::links::LinkLogits {
                rows,
                cols: n_items,
                entries,
                scale,
            })
            .unwrap();
        let logits = (hidden
            .as_tensor()
            .matmul(&items.as_tensor().t().unwrap())
            .unwrap()
            + extra)
            .unwrap();
        assert_matches_reference(&fused, &logits, targets, 1.0, &[&hidden, &items, &weights]);
    }

    #[test]
    fn bad_targets_are_refused() {
        let mut rng = SeededRng::new(1);
        let hidden = random(&mut rng, (3, 4));
        let items = random(&mut rng, (5, 4));
        for targets in [vec![0, 1], vec![0, 1, 5]] {
            let r = hidden.as_tensor().apply_op3(
                items.as_tensor(),
                &no_weights(),
                FullSoftmaxLoss::new(targets),
            );
            assert!(r.is_err());
        }
    }
}
