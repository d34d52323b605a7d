//! A scorer over fixed item vectors: the user is the recency-weighted mean of their
//! history's (normalised) vectors and items score by cosine. It shows what a set of item
//! vectors is worth for recommendation before any learned model, and compares skip-gram
//! implementations on the same downstream task.

use crate::eval::Scorer;
use crate::eval::{ItemId, LearnError, UserId};
use crate::util::unit_rows;

/// Cosine scoring against a recency-weighted history profile.
pub struct EmbeddingKnn {
    dim: usize,
    vectors: Vec<f32>,
    decay: f32,
}

impl EmbeddingKnn {
    /// Item `i`'s vector is `vectors[i·dim..(i+1)·dim]`; the history item `k` steps back
    /// from the last weighs `decay^k`.
    pub fn new(dim: usize, vectors: Vec<f32>, decay: f32) -> Self {
        EmbeddingKnn {
            dim,
            vectors: unit_rows(&vectors, dim),
            decay,
        }
    }
}

/// The recency-weighted sum of the rows (`dim` columns) of the last `recent` items of a
/// history (oldest first): the item `k` steps back weighs `decay^k`; items beyond the rows
/// add nothing.
pub fn recency_profile(
    rows: &[f32],
    dim: usize,
    history: &[ItemId],
    decay: f32,
    recent: usize,
) -> Vec<f32> {
    let mut profile = vec![0f32; dim];
    let mut weight = 1.0;
    for &h in history.iter().rev().take(recent) {
        if let Some(row) = rows.get(h as usize * dim..(h as usize + 1) * dim) {
            profile
                .iter_mut()
                .zip(row)
                .for_each(|(p, x)| *p += weight * x);
        }
        weight *= decay;
    }
    profile
}

impl Scorer for EmbeddingKnn {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        let dim = self.dim;
        let profile = recency_profile(&self.vectors, dim, history, self.decay, usize::MAX);
        for (i, s) in out.iter_mut().enumerate() {
            let row = &self.vectors[i * dim..(i + 1) * dim];
            *s = profile.iter().zip(row).map(|(a, b)| a * b).sum();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_history_weighs_more() {
        // Items 0 and 1 point different ways; 2 is close to 0, 3 close to 1.
        let v = vec![1.0, 0.0, 0.0, 1.0, 0.9, 0.1, 0.1, 0.9];
        let knn = EmbeddingKnn::new(2, v, 0.5);
        let mut out = vec![0.0; 4];
        knn.score(0, &[0, 1], &mut out).unwrap();
        assert!(out[3] > out[2], "{out:?}");
        knn.score(0, &[1, 0], &mut out).unwrap();
        assert!(out[2] > out[3], "{out:?}");
    }
}
