//! [`FrequencyFilter`]: BSARec's low-pass filter over the positions of a sequence, the part
//! of each block that the network mixes with attention.

use candle_core::{Device, Tensor};

/// BSARec's inductive bias beside self-attention (Shin et al., AAAI 2024): each block mixes
/// `alpha ×` a frequency filter of its input (the low frequencies of the sequence, plus the
/// rest weighted by a learned `β²` per dimension) with `1 − alpha ×` attention. BSARec filters
/// the whole window and reads its last position. Trained on prefixes, so does this one
/// ([`TrainingSamples::Prefixes`](super::config::TrainingSamples::Prefixes)); trained on windows, every position is a target, so
/// position `t` reads the same filter over its own prefix instead: a causal convolution whose
/// kernel is the last row of the low-pass projection over `max_len` positions.
#[derive(Clone, Debug)]
pub(super) struct FrequencyFilter {
    /// `kernel[d]`: the weight of the item `d` positions away in the low-pass part.
    pub(super) kernel: Vec<f32>,
    /// The filter's share of the mix.
    pub(super) alpha: f64,
    /// Whether a position reads only itself and earlier items.
    pub(super) causal: bool,
}

impl FrequencyFilter {
    /// The filter keeping the `cutoff / 2 + 1` lowest frequency bins of `n` positions (BSARec's
    /// `c`), mixed in with weight `alpha`.
    pub(super) fn new(cutoff: usize, n: usize, alpha: f64, causal: bool) -> Self {
        let bins = (cutoff / 2 + 1).min(n / 2 + 1);
        // The projection onto bins 0..bins of a real signal of length n is circulant:
        // f(d) = (1/n)·Σ_k w_k·cos(2πkd/n), w_0 = 1 and w_k = 2 (1 for the Nyquist bin).
        let kernel = (0..n)
            .map(|d| {
                let sum: f64 = (0..bins)
                    .map(|k| {
                        let w = if k == 0 || 2 * k == n { 1.0 } else { 2.0 };
                        w * (2.0 * std::f64::consts::PI * (k * d) as f64 / n as f64).cos()
                    })
                    .sum();
                (sum / n as f64) as f32
            })
            .collect();
        FrequencyFilter {
            kernel,
            alpha,
            causal,
        }
    }

    /// The `len × len` matrix of the low-pass part: row `t` weighs position `s` by
    /// `kernel[|t − s|]`, and by nothing where `s > t` when causal. (The projection is
    /// circulant and its kernel symmetric, `f(d) = f(n − d)`, so over a window of `len ≤ n`
    /// positions with nothing before it, the full filter weighs `s` by `kernel[|t − s|]`.)
    pub(super) fn matrix(&self, len: usize, device: &Device) -> candle_core::Result<Tensor> {
        let mut m = vec![0f32; len * len];
        for t in 0..len {
            let last = if self.causal { t } else { len - 1 };
            for s in 0..=last {
                m[t * len + s] = self.kernel.get(t.abs_diff(s)).copied().unwrap_or(0.0);
            }
        }
        Tensor::from_vec(m, (len, len), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_low_pass_keeps_a_constant_and_all_bins_are_the_identity() {
        // Bin 0 alone sums to one over a period: a constant sequence passes unchanged.
        let f = FrequencyFilter::new(5, 50, 0.7, true);
        let sum: f32 = f.kernel.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        // Recent items weigh more than those half a period back.
        assert!(f.kernel[0] > f.kernel[25]);
        // Every bin kept: the projection is the identity.
        let all = FrequencyFilter::new(50, 50, 0.7, true);
        assert!((all.kernel[0] - 1.0).abs() < 1e-5);
        assert!(all.kernel[1..].iter().all(|x| x.abs() < 1e-5));
        let m: Vec<Vec<f32>> = f
            .matrix(3, &candle_core::Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(m[0][1], 0.0, "causal");
        assert_eq!(m[2][0], f.kernel[2]);
        // Without causality a window reads both ways, symmetrically.
        let both = FrequencyFilter::new(5, 50, 0.7, false);
        let m: Vec<Vec<f32>> = both
            .matrix(3, &candle_core::Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(m[0][2], both.kernel[2]);
        assert_eq!(m[0][2], m[2][0]);
    }

    #[test]
    fn the_full_filter_on_a_short_window_is_the_circulant_projection_on_the_padded_one() {
        // BSARec's rfft low-pass over n = 8 positions, the last 3 holding a signal and the
        // rest zero, computed directly with its DFT; the 3 × 3 matrix must give the same.
        let n = 8;
        let f = FrequencyFilter::new(3, n, 0.7, false);
        let signal = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 0.5f64];
        let bins = 3 / 2 + 1;
        let direct: Vec<f64> = (0..n)
            .map(|t| {
                (0..n)
                    .map(|s| {
                        let w: f64 = (0..bins)
                            .map(|k| {
                                let weight = if k == 0 { 1.0 } else { 2.0 };
                                weight
                                    * (std::f64::consts::TAU * (k * (t + n - s)) as f64 / n as f64)
                                        .cos()
                            })
                            .sum();
                        w / n as f64 * signal[s]
                    })
                    .sum()
            })
            .collect();
        let m: Vec<Vec<f32>> = f.matrix(3, &Device::Cpu).unwrap().to_vec2().unwrap();
        for t in 0..3 {
            let ours: f64 = (0..3).map(|s| f64::from(m[t][s]) * signal[5 + s]).sum();
            assert!(
                (ours - direct[5 + t]).abs() < 1e-5,
                "{t}: {ours} {}",
                direct[5 + t]
            );
        }
    }
}
