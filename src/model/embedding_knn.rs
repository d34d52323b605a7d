//! A scorer over fixed item vectors: the user is the recency-weighted mean of their
//! history's (normalised) vectors and items score by cosine. It shows what a set of item
//! vectors is worth for recommendation before any learned model, and compares skip-gram
//! implementations on the same downstream task.

use crate::eval::Scorer;
use crate::eval::{ItemId, LearnError, UserId};

/// Cosine scoring against a recency-weighted history profile.
pub struct EmbeddingKnn {
    dim: usize,
    vectors: Vec<f32>,
    decay: f32,
}

impl EmbeddingKnn {
    /// Item `i`'s vector is `vectors[i·dim..(i+1)·dim]`; the history item `k` steps back
    /// from the last weighs `decay^k`.
    pub fn new(dim: usize, mut vectors: Vec<f32>, decay: f32) -> Self {
        for row in vectors.chunks_mut(dim.max(1)) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        EmbeddingKnn {
            dim,
            vectors,
            decay,
        }
    }
}

impl Scorer for EmbeddingKnn {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        let dim = self.dim;
        let mut profile = vec![0f32; dim];
        let mut weight = 1.0;
        for &h in history.iter().rev() {
            let row = &self.vectors[h as usize * dim..(h as usize + 1) * dim];
            profile
                .iter_mut()
                .zip(row)
                .for_each(|(p, x)| *p += weight * x);
            weight *= self.decay;
        }
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
