//! A contrastive term beside next-item prediction, after DuoRec (Qiu et al., WSDM 2022) and
//! the contrastive SASRec variants the ID-only goal is set against: each training sample is
//! encoded twice with different dropout masks, and each of the two states must pick its
//! twin out of the other states of the batch (InfoNCE). It spreads the states of unlike
//! histories apart, which a softmax over next items alone leaves loose.
//!
//! States of samples with the same next item are not pushed apart (DuoRec's false-negative
//! mask): they are supposed to be near. Pure tensor code; [`super::training`] calls it.

use candle_core::{Tensor, D};

/// The InfoNCE loss between two views `a` and `b` (rows × dim) of the same rows, whose
/// next items are `targets`: row `i` of `a` must score its twin `b[i]` above every other row
/// of `b` and of `a`, and the same from `b`'s side; dot products over `temperature`, rows
/// with the same target left out, the mean over both sides.
pub(super) fn contrastive_loss(
    a: &Tensor,
    b: &Tensor,
    targets: &[u32],
    temperature: f32,
) -> candle_core::Result<Tensor> {
    let rows = targets.len();
    let device = a.device();
    // Row i's columns: its twin's side (j), then its own side (rows + j).
    let mut mask = vec![0f32; rows * 2 * rows];
    for (i, &t) in targets.iter().enumerate() {
        let row = &mut mask[i * 2 * rows..(i + 1) * 2 * rows];
        for (j, &u) in targets.iter().enumerate() {
            if j != i && u == t {
                row[j] = -1e9;
            }
            if j == i || u == t {
                row[rows + j] = -1e9;
            }
        }
    }
    let mask = Tensor::from_vec(mask, (rows, 2 * rows), device)?;
    let twins = Tensor::arange(0u32, rows as u32, device)?;
    let scale = f64::from(temperature).recip();
    let side = |x: &Tensor, y: &Tensor| -> candle_core::Result<Tensor> {
        let logits = Tensor::cat(&[x.matmul(&y.t()?)?, x.matmul(&x.t()?)?], D::Minus1)?;
        candle_nn::loss::cross_entropy(&((logits * scale)? + &mask)?, &twins)
    };
    (side(a, b)? + side(b, a)?)? * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rows(v: &[[f32; 2]]) -> Tensor {
        Tensor::from_vec(v.concat(), (v.len(), 2), &Device::Cpu).unwrap()
    }

    fn loss(a: &[[f32; 2]], b: &[[f32; 2]], targets: &[u32], t: f32) -> f32 {
        contrastive_loss(&rows(a), &rows(b), targets, t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn matches_the_infonce_written_out() {
        let (a, b) = ([[1.0, 0.0], [0.0, 2.0]], [[0.5, 0.5], [1.0, -1.0]]);
        let dot = |x: [f32; 2], y: [f32; 2]| x[0] * y[0] + x[1] * y[1];
        // From a's side, row 0: twin b0 against b1 and a1 (a0 itself is left out).
        let side = |x: [[f32; 2]; 2], y: [[f32; 2]; 2], i: usize, t: f32| {
            let j = 1 - i;
            let pos = dot(x[i], y[i]) / t;
            let all = [pos, dot(x[i], y[j]) / t, dot(x[i], x[j]) / t];
            let z: f32 = all.iter().map(|v| v.exp()).sum();
            z.ln() - pos
        };
        let t = 0.5;
        let want =
            (side(a, b, 0, t) + side(a, b, 1, t) + side(b, a, 0, t) + side(b, a, 1, t)) / 4.0;
        assert!((loss(&a, &b, &[3, 4], t) - want).abs() < 1e-5);
    }

    #[test]
    fn rows_with_the_same_next_item_are_not_negatives() {
        // Two rows with one target: each has only its twin left, so the loss is 0.
        let (a, b) = ([[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]);
        assert!(loss(&a, &b, &[7, 7], 1.0).abs() < 1e-6);
        // With different targets the same states are wrong twins: a positive loss.
        assert!(loss(&a, &b, &[7, 8], 1.0) > 1.0);
    }

    #[test]
    fn twins_that_agree_cost_less_than_twins_that_differ() {
        let a = [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]];
        let same = loss(&a, &a, &[1, 2, 3], 1.0);
        let swapped = loss(&a, &[a[1], a[2], a[0]], &[1, 2, 3], 1.0);
        assert!(same < swapped, "{same} against {swapped}");
    }
}
