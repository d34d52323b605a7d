//! [`layer_norm`]: layer normalisation over the last dimension as one operation with its own
//! gradient.
//!
//! candle's fused `layer_norm` has no backward pass, and `layer_norm_slow` builds the norm
//! from eleven element-wise tensors (each allocated, each with its own backward step), which
//! made the norms a large share of a training step of this small network. This one reads
//! and writes each row once forward and once backward, with the same values
//! (`y = (x − mean) / √(var + eps) · alpha + beta`). BENCHMARKS.md has the measurement.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

/// The added variance, as the network has always used.
const EPS: f32 = 1e-6;

/// Normalises each row of `x` (over its last dimension) and applies the per-dimension
/// `alpha` and `beta`. `f32` on the CPU.
pub(super) fn layer_norm(x: &Tensor, alpha: &Tensor, beta: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op3(&alpha.contiguous()?, &beta.contiguous()?, RowNorm)
}

/// The operation: arguments `x`, `alpha`, `beta`.
struct RowNorm;

/// The contiguous `f32` values of a CPU tensor argument.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("layer norm: arguments must be contiguous");
    };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// Each row's mean and `1 / √(var + eps)`.
fn row_stats(row: &[f32]) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + EPS).sqrt())
}

impl CustomOp3 for RowNorm {
    fn name(&self) -> &'static str {
        "kgrec-layer-norm"
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
        let (x, alpha, beta) = (values(s1, l1)?, values(s2, l2)?, values(s3, l3)?);
        let dim = alpha.len();
        if dim == 0 || beta.len() != dim || l1.dims().last() != Some(&dim) {
            candle_core::bail!("layer norm: {:?} rows against {dim} weights", l1.dims());
        }
        let mut out = vec![0f32; x.len()];
        for (row, y) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            let (mean, rstd) = row_stats(row);
            for (((y, &v), &a), &b) in y.iter_mut().zip(row).zip(alpha).zip(beta) {
                *y = (v - mean) * rstd * a + b;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        alpha: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dim = alpha.elem_count();
        let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let a: Vec<f32> = alpha.flatten_all()?.to_vec1()?;
        let grad: Vec<f32> = grad_res.flatten_all()?.to_vec1()?;
        let mut dx = vec![0f32; xs.len()];
        let mut d_alpha = vec![0f32; dim];
        let mut d_beta = vec![0f32; dim];
        let mut normed = vec![0f32; dim];
        let mut scaled = vec![0f32; dim];
        for ((row, g), dx) in xs
            .chunks_exact(dim)
            .zip(grad.chunks_exact(dim))
            .zip(dx.chunks_exact_mut(dim))
        {
            let (mean, rstd) = row_stats(row);
            for j in 0..dim {
                normed[j] = (row[j] - mean) * rstd;
                scaled[j] = g[j] * a[j];
                d_alpha[j] += g[j] * normed[j];
                d_beta[j] += g[j];
            }
            // dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)), ĝ = grad · alpha.
            let n = dim as f32;
            let mean_g = scaled.iter().sum::<f32>() / n;
            let mean_gx = scaled.iter().zip(&normed).map(|(g, x)| g * x).sum::<f32>() / n;
            for j in 0..dim {
                dx[j] = rstd * (scaled[j] - mean_g - normed[j] * mean_gx);
            }
        }
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), device)?),
            Some(Tensor::from_vec(d_alpha, alpha.shape(), device)?),
            Some(Tensor::from_vec(d_beta, alpha.shape(), device)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::largest_gap as gap;
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn gives_the_composed_norm_and_its_gradients() {
        let device = Device::Cpu;
        // Rows of 6 read through a transpose (not contiguous), at scales far apart.
        let values: Vec<f32> = (0..60)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * if i % 7 == 0 { 40.0 } else { 0.3 })
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(values, (2, 6, 5), &device).unwrap()).unwrap();
        let alpha = Var::from_vec((0..6).map(|i| 0.5 + i as f32).collect(), 6, &device).unwrap();
        let beta = Var::from_vec((0..6).map(|i| i as f32 - 2.0).collect(), 6, &device).unwrap();
        let rows = x.as_tensor().transpose(1, 2).unwrap();
        // A loss that weighs every output differently.
        let weights = Tensor::arange(0f32, 60.0, &device)
            .unwrap()
            .reshape((2, 5, 6))
            .unwrap()
            .sin()
            .unwrap();
        let fused = layer_norm(&rows, alpha.as_tensor(), beta.as_tensor()).unwrap();
        let slow = candle_nn::ops::layer_norm_slow(&rows, alpha.as_tensor(), beta.as_tensor(), EPS)
            .unwrap();
        assert!(gap(&fused, &slow) < 1e-5, "values {}", gap(&fused, &slow));
        let grads = |y: &Tensor| {
            let g = (y * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            [&x, &alpha, &beta].map(|v| g.get(v).unwrap().clone())
        };
        for (ours, theirs) in grads(&fused).iter().zip(&grads(&slow)) {
            let scale = theirs
                .abs()
                .unwrap()
                .max_keepdim(0)
                .unwrap()
                .flatten_all()
                .unwrap();
            let scale: f32 = scale.max(0).unwrap().to_scalar().unwrap();
            assert!(
                gap(ours, theirs) < 1e-4 * scale.max(1.0),
                "{}",
                gap(ours, theirs)
            );
        }
    }

    #[test]
    fn rows_that_do_not_match_the_weights_are_an_error() {
        let device = Device::Cpu;
        let x = Tensor::zeros((3, 4), candle_core::DType::F32, &device).unwrap();
        let w = Tensor::ones(5, candle_core::DType::F32, &device).unwrap();
        assert!(layer_norm(&x, &w, &w).is_err());
    }
}
