//! [`NewItemHead`]: how the model scores a product with no ID part, that is a product nobody
//! in training interacted with (a new product). Its fused vector holds only its KG and text
//! parts, which a model trained on products with IDs scores far below any bought product;
//! and it has none of the co-purchase links that lift bought products. The head adds two
//! learned terms to such a product's score: an offset, and a weight on the cosine between
//! the user's text profile (the recency-weighted sum of their recent items' unit text
//! vectors) and the product's text, the signal a text-similarity recommender ranks by.
//!
//! Both are learned by ID dropout (`id_dropout`, DropoutNet): each training step, a share of
//! the step's products lose their ID part and their direct KG links to other products, as a
//! new product would, and the head scores them. Products with an ID never get the terms, so
//! a model trained without ID dropout has no head and scores as before.

use candle_core::{Tensor, Var};

use super::network::LINK_SCALE;
use crate::eval::ItemId;
use crate::model::links::RECENT_ITEMS;

/// How fast a history's text profile forgets: the item `k` steps back weighs `0.7^k`
/// (the recency decay of kgrec's profile scorers).
const PROFILE_DECAY: f32 = 0.7;

/// The learned terms that score products without an ID part (see the module documentation).
pub(super) struct NewItemHead {
    /// `[offset, text weight]`, each scaled by [`LINK_SCALE`] in the score.
    pub(super) weights: Var,
    /// Unit text vectors, row-major (items × dim), when the model reads text.
    pub(super) text: Option<(usize, Vec<f32>)>,
    /// The products without an ID part, which the head scores at inference (ascending).
    pub(super) items: Vec<ItemId>,
}

impl NewItemHead {
    /// A head over `text` (raw rows, items × dim) with parameters `weights`; no product is
    /// scored until [`NewItemHead::items`] is set.
    pub(super) fn new(weights: Var, text: Option<(usize, &[f32])>) -> Self {
        let text = text.map(|(dim, rows)| {
            let mut unit = rows.to_vec();
            for row in unit.chunks_mut(dim.max(1)) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
            (dim, unit)
        });
        NewItemHead {
            weights,
            text,
            items: Vec::new(),
        }
    }

    /// The unit text vector of `item` (`None` without text).
    fn text_of(&self, item: ItemId) -> Option<&[f32]> {
        let (dim, rows) = self.text.as_ref()?;
        rows.get(item as usize * dim..(item as usize + 1) * dim)
    }

    /// The unit-length text profile of a history (oldest first): its recent items' unit
    /// text vectors weighted by recency. `None` without text; zero when no recent item has
    /// text.
    pub(super) fn profile(&self, history: &[ItemId]) -> Option<Vec<f32>> {
        let (dim, _) = self.text.as_ref()?;
        let mut profile = vec![0f32; *dim];
        let mut weight = 1.0;
        for &item in history.iter().rev().take(RECENT_ITEMS) {
            if let Some(row) = self.text_of(item) {
                profile.iter_mut().zip(row).for_each(|(p, x)| *p += weight * x);
            }
            weight *= PROFILE_DECAY;
        }
        let norm = profile.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            profile.iter_mut().for_each(|x| *x /= norm);
        }
        Some(profile)
    }

    /// The cosine between a profile and `item`'s text (0 without text).
    pub(super) fn similarity(&self, profile: Option<&[f32]>, item: ItemId) -> f32 {
        match (profile, self.text_of(item)) {
            (Some(p), Some(row)) => p.iter().zip(row).map(|(a, b)| a * b).sum(),
            _ => 0.0,
        }
    }

    /// Whether `item` has no ID part, so the head scores it.
    pub(super) fn scores(&self, item: ItemId) -> bool {
        self.items.binary_search(&item).is_ok()
    }

    /// The head's term of one product for a history: the slot of `item` in
    /// [`NewItemHead::add_scores`].
    pub(super) fn score_of(&self, history: &[ItemId], item: ItemId) -> f32 {
        match self.values() {
            Ok((offset, weight)) if self.scores(item) => {
                offset + weight * self.similarity(self.profile(history).as_deref(), item)
            }
            _ => 0.0,
        }
    }

    /// For a product the head scores with a positive text weight: the recent item of the
    /// history whose text is closest to it (what moved its score), if any has text.
    pub(super) fn closest_recent_text(&self, history: &[ItemId], item: ItemId) -> Option<ItemId> {
        let (_, weight) = self.values().ok()?;
        if !self.scores(item) || weight <= 0.0 {
            return None;
        }
        let target = self.text_of(item)?;
        history
            .iter()
            .rev()
            .take(RECENT_ITEMS)
            .filter_map(|&h| {
                let row = self.text_of(h)?;
                let cosine: f32 = row.iter().zip(target).map(|(a, b)| a * b).sum();
                (cosine > 0.0).then_some((cosine, h))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, h)| h)
    }

    /// The terms as they enter the score: `(offset, text weight)`.
    pub(super) fn values(&self) -> candle_core::Result<(f32, f32)> {
        let w: Vec<f32> = self.weights.as_tensor().to_vec1()?;
        Ok((
            w.first().copied().unwrap_or(0.0) * LINK_SCALE,
            w.get(1).copied().unwrap_or(0.0) * LINK_SCALE,
        ))
    }

    /// Adds the head's terms to the scores (one per item) of the products without an ID
    /// part, for a history (oldest first).
    pub(super) fn add_scores(&self, history: &[ItemId], scores: &mut [f32]) {
        let Ok((offset, weight)) = self.values() else {
            return;
        };
        self.add_scores_with(history, offset, weight, scores);
    }

    /// [`NewItemHead::add_scores`] with the terms already read.
    pub(super) fn add_scores_with(
        &self,
        history: &[ItemId],
        offset: f32,
        weight: f32,
        scores: &mut [f32],
    ) {
        let profile = self.profile(history);
        for &item in &self.items {
            if let Some(s) = scores.get_mut(item as usize) {
                *s += offset + weight * self.similarity(profile.as_deref(), item);
            }
        }
    }

    /// The head's logits for a sampled step, in the layout of the sampled softmax (column 0
    /// each row's target, column `1 + k` the negative `sample[k]`), for the products
    /// `dropped` (by item id) lost their ID part in this step; `None` when none did.
    /// `before[r]` is row `r`'s history, `targets` and `sample` are item ids.
    pub(super) fn sampled_logits(
        &self,
        before: &[&[ItemId]],
        targets: &[ItemId],
        sample: &[ItemId],
        dropped: &[bool],
    ) -> candle_core::Result<Option<Tensor>> {
        let is_dropped = |i: ItemId| dropped.get(i as usize).copied().unwrap_or(false);
        let negatives: Vec<(usize, ItemId)> = sample
            .iter()
            .enumerate()
            .filter(|&(_, &i)| is_dropped(i))
            .map(|(k, &i)| (k + 1, i))
            .collect();
        if negatives.is_empty() && !targets.iter().any(|&t| is_dropped(t)) {
            return Ok(None);
        }
        let device = self.weights.as_tensor().device();
        let (rows, cols) = (targets.len(), sample.len() + 1);
        let mut mask = vec![0f32; rows * cols];
        let mut similarity = vec![0f32; rows * cols];
        // The dropped negatives' cosines with every row's profile, as one product.
        let profiles: Option<Vec<Vec<f32>>> = self
            .text
            .as_ref()
            .map(|_| {
                before
                    .iter()
                    .map(|h| self.profile(h).unwrap_or_default())
                    .collect()
            });
        let negative_similarity = match (&self.text, &profiles) {
            (Some((dim, _)), Some(profiles)) if !negatives.is_empty() => {
                let p = Tensor::from_vec(profiles.concat(), (rows, *dim), device)?;
                let rows_of: Vec<f32> = negatives
                    .iter()
                    .flat_map(|&(_, i)| self.text_of(i).unwrap_or(&[]).to_vec())
                    .collect();
                let n = Tensor::from_vec(rows_of, (negatives.len(), *dim), device)?;
                Some(p.matmul(&n.t()?)?.flatten_all()?.to_vec1::<f32>()?)
            }
            _ => None,
        };
        for r in 0..rows {
            let at = r * cols;
            if is_dropped(targets[r]) {
                mask[at] = 1.0;
                similarity[at] =
                    self.similarity(profiles.as_ref().map(|p| p[r].as_slice()), targets[r]);
            }
            for (j, &(col, item)) in negatives.iter().enumerate() {
                if item == targets[r] {
                    continue;
                }
                mask[at + col] = 1.0;
                if let Some(s) = &negative_similarity {
                    similarity[at + col] = s[r * negatives.len() + j];
                }
            }
        }
        let mask = Tensor::from_vec(mask, (rows, cols), device)?;
        let similarity = Tensor::from_vec(similarity, (rows, cols), device)?;
        let w = self.weights.as_tensor();
        let offset = mask.broadcast_mul(&w.narrow(0, 0, 1)?)?;
        let text = similarity.broadcast_mul(&w.narrow(0, 1, 1)?)?;
        Ok(Some(((offset + text)? * f64::from(LINK_SCALE))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn head() -> NewItemHead {
        // Items 0 and 1 point different ways; 2 is close to 0, 3 close to 1.
        let text = [1.0, 0.0, 0.0, 2.0, 0.9, 0.1, 0.1, 0.9];
        let weights = Var::from_vec(vec![0.1f32, 0.5], 2, &Device::Cpu).unwrap();
        let mut head = NewItemHead::new(weights, Some((2, &text)));
        head.items = vec![2, 3];
        head
    }

    #[test]
    fn only_products_without_an_id_get_the_terms_and_the_closer_text_more() {
        let head = head();
        let mut scores = vec![0f32; 4];
        head.add_scores(&[1, 0], &mut scores);
        assert_eq!(&scores[..2], &[0.0, 0.0]);
        assert!(scores[2] > scores[3], "{scores:?}");
        // Offset 1 and weight 5 (× LINK_SCALE) on a cosine of at most 1.
        assert!(scores[2] <= 6.0 + 1e-5 && scores[3] > 1.0, "{scores:?}");
    }

    #[test]
    fn sampled_logits_follow_the_dropped_products_and_match_inference() {
        let head = head();
        let before: [&[ItemId]; 2] = [&[0], &[1]];
        let dropped = [false, false, true, true];
        let logits = head
            .sampled_logits(&before, &[2, 1], &[3, 0, 2], &dropped)
            .unwrap()
            .unwrap();
        let logits: Vec<Vec<f32>> = logits.to_vec2().unwrap();
        let mut expected = vec![0f32; 4];
        head.add_scores(&[0], &mut expected);
        // Row 0: target 2 (dropped), negatives 3 (dropped), 0 (kept), 2 (its own target).
        assert!((logits[0][0] - expected[2]).abs() < 1e-5, "{logits:?}");
        assert!((logits[0][1] - expected[3]).abs() < 1e-5, "{logits:?}");
        assert_eq!((logits[0][2], logits[0][3]), (0.0, 0.0));
        // Row 1: target 1 (kept) gets nothing; the dropped negatives do.
        let mut expected = vec![0f32; 4];
        head.add_scores(&[1], &mut expected);
        assert_eq!(logits[1][0], 0.0);
        assert!((logits[1][3] - expected[2]).abs() < 1e-5, "{logits:?}");
        // No dropped product, no logits.
        let none = head
            .sampled_logits(&before, &[0, 1], &[0], &[false; 4])
            .unwrap();
        assert!(none.is_none());
    }
}
