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

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Positions per block: a block's logits (`BLOCK × items` floats) stay within a few MB.
const BLOCK: usize = 64;

/// Most probabilities (`rows × items`) the forward pass keeps for the backward pass: 128 MB.
const CACHE_FLOATS: usize = 32 << 20;

/// Mean cross-entropy of `hidden · itemsᵀ` against one target item per row; apply with
/// `hidden.apply_op2(&items, FullSoftmaxLoss::new(targets))` to contiguous f32 tensors
/// `hidden: [rows, dim]` and `items: [n_items, dim]`.
pub(crate) struct FullSoftmaxLoss {
    targets: Vec<u32>,
    /// The forward pass's softmax probabilities (`rows × items`), taken by the backward pass.
    probabilities: std::sync::Mutex<Option<Vec<f32>>>,
}

impl FullSoftmaxLoss {
    /// The loss for these target rows of `items`, one per row of `hidden`.
    pub(crate) fn new(targets: Vec<u32>) -> Self {
        FullSoftmaxLoss {
            targets,
            probabilities: std::sync::Mutex::new(None),
        }
    }

    fn check(&self, rows: usize, n_items: usize) -> candle_core::Result<()> {
        if rows != self.targets.len() {
            candle_core::bail!("{rows} hidden rows for {} targets", self.targets.len());
        }
        if let Some(t) = self.targets.iter().find(|&&t| t as usize >= n_items) {
            candle_core::bail!("target {t} outside the {n_items} items");
        }
        Ok(())
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

/// A block's softmax probabilities over the items, written into `out` (`rows × n_items`);
/// returns the block's summed cross-entropy.
fn block_probabilities(
    out: &mut [f32],
    hidden: &[f32],
    items: &[f32],
    dim: usize,
    targets: &[u32],
) -> f64 {
    block_logits(out, hidden, items, dim);
    let n_items = items.len() / dim;
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

impl CustomOp2 for FullSoftmaxLoss {
    fn name(&self) -> &'static str {
        "full-softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (hidden, rows, dim) = matrix(s1, l1)?;
        let (items, n_items, item_dim) = matrix(s2, l2)?;
        if dim != item_dim {
            candle_core::bail!("hidden size {dim} against item size {item_dim}");
        }
        self.check(rows, n_items)?;
        let cache = rows * n_items <= CACHE_FLOATS;
        let mut kept = if cache {
            vec![0f32; rows * n_items]
        } else {
            Vec::new()
        };
        let blocks = hidden
            .par_chunks(BLOCK * dim)
            .zip(self.targets.par_chunks(BLOCK));
        let total: f64 = if cache {
            blocks
                .zip(kept.par_chunks_mut(BLOCK * n_items))
                .map(|((h, targets), out)| block_probabilities(out, h, items, dim, targets))
                .sum()
        } else {
            blocks
                .map(|(h, targets)| {
                    let mut out = vec![0f32; targets.len() * n_items];
                    block_probabilities(&mut out, h, items, dim, targets)
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
        _loss: &Tensor,
        grad_loss: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (rows, dim) = hidden.dims2()?;
        let (n_items, _) = items.dims2()?;
        let h: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        let it: Vec<f32> = items.flatten_all()?.to_vec1()?;
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
        // Each worker sums its blocks' item gradients; the partial sums are added at the end.
        let grad_items = grad_hidden
            .par_chunks_mut(BLOCK * dim)
            .zip(block_slots.par_iter_mut())
            .zip(h.par_chunks(BLOCK * dim))
            .zip(self.targets.par_chunks(BLOCK))
            .fold(
                || vec![0f32; n_items * dim],
                |mut acc, (((gh, slot), hb), targets)| {
                    let block = targets.len();
                    let mut own = Vec::new();
                    let p: &mut [f32] = if recompute {
                        own.resize(block * n_items, 0f32);
                        block_probabilities(&mut own, hb, &it, dim, targets);
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
                    acc
                },
            )
            .reduce(
                || vec![0f32; n_items * dim],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        let device = hidden.device();
        Ok((
            Some(Tensor::from_vec(grad_hidden, (rows, dim), device)?),
            Some(Tensor::from_vec(grad_items, (n_items, dim), device)?),
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
            .apply_op2(items.as_tensor(), FullSoftmaxLoss::new(targets.clone()))
            .unwrap();
        let logits = hidden
            .as_tensor()
            .matmul(&items.as_tensor().t().unwrap())
            .unwrap();
        let t = Tensor::from_vec(targets, rows, &Device::Cpu).unwrap();
        let reference = candle_nn::loss::cross_entropy(&logits, &t).unwrap();
        let loss_gap =
            (fused.to_scalar::<f32>().unwrap() - reference.to_scalar::<f32>().unwrap()).abs();
        assert!(loss_gap < 1e-4, "loss differs by {loss_gap}");

        // Scale both by 3 so that the upstream gradient is not just 1.
        let fused_grads = (fused * 3.0).unwrap().backward().unwrap();
        let reference_grads = (reference * 3.0).unwrap().backward().unwrap();
        for var in [&hidden, &items] {
            let a = fused_grads.get(var.as_tensor()).unwrap();
            let b = reference_grads.get(var.as_tensor()).unwrap();
            let gap = close(a, b);
            assert!(gap < 1e-5, "gradient differs by {gap}");
        }
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
        let loss = hidden
            .as_tensor()
            .apply_op2_no_bwd(items.as_tensor(), &kept_op)
            .unwrap();
        let kept = kept_op
            .bwd(hidden.as_tensor(), items.as_tensor(), &loss, &grad)
            .unwrap();
        let fresh = FullSoftmaxLoss::new(targets)
            .bwd(hidden.as_tensor(), items.as_tensor(), &loss, &grad)
            .unwrap();
        for (a, b) in [(kept.0, fresh.0), (kept.1, fresh.1)] {
            assert_eq!(close(&a.unwrap(), &b.unwrap()), 0.0);
        }
    }

    #[test]
    fn bad_targets_are_refused() {
        let mut rng = SeededRng::new(1);
        let hidden = random(&mut rng, (3, 4));
        let items = random(&mut rng, (5, 4));
        for targets in [vec![0, 1], vec![0, 1, 5]] {
            let r = hidden
                .as_tensor()
                .apply_op2(items.as_tensor(), FullSoftmaxLoss::new(targets));
            assert!(r.is_err());
        }
    }
}
