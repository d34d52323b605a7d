//! [`NewItemHead`]: how the model scores a product with no ID part, that is a product nobody
//! in training interacted with (a new product). Its fused vector holds only its KG and text
//! parts, which a model trained on products with IDs scores far below any bought product;
//! and it has none of the co-purchase links that lift bought products. The head adds two
//! terms to such a product's score: an offset, and a weight on the cosine between the
//! user's text profile (the recency-weighted sum of their recent items' unit text vectors)
//! and the product's text, the signal a text-similarity recommender ranks by.
//!
//! The score the terms are added to is either the product's own (its KG and text parts,
//! and its links that pass through no other product), or the one it borrows from its nearest
//! products with an ID by text ([`NEIGHBOURS`] of them, weighted by cosine): a new shade of
//! a lipstick scores as the shades bought before it do for this user, on the same scale as
//! every bought product. Validation chooses between the two, as it fits the terms.
//!
//! The offset may also differ by user ([`NewItemTerms::bar_weight`]): less a weight on the
//! user's text bar, the tenth best text cosine between their profile and the products with
//! an ID, which is what a new product must beat to enter a top ten ranked by text alone. A
//! user whom many bought products already describe well then gets fewer new products than
//! one whom none does (or more, if validation says so; 0 gives everyone the same offset).
//!
//! All are fit after training, on validation ([`fit_new_item_terms`]): a share of the
//! trained products ([`COLD_ITEM_SHARE`], as many as the `cold-items` protocol leaves out)
//! is scored as if new (no ID part, no KG structure vector, no link through another
//! product), and the terms are the ones that rank the validation targets best, new and
//! bought alike. New products thus get the share of the top ranks that new products earn
//! among the next items, not more. Products with an ID never get the terms, so the scores
//! of every other product are unchanged.
//!
//! Over 600 lines (about 1,000, 250 of them tests) because it is one idea: how a new product
//! is scored, and the fit on validation that sets it.

use candle_core::{Device, Tensor, Var};

use super::network::Network;
use super::scoring::ScoringView;
use crate::eval::{EvalSplit, ItemId, Stage, COLD_ITEM_SHARE};
use crate::model::embedding_knn::recency_profile;
use crate::model::links::RECENT_ITEMS;
use crate::util::{unit_rows, SeededRng};

/// How fast a history's text profile forgets: the item `k` steps back weighs `0.7^k`
/// (the recency decay of kgrec's profile scorers).
const PROFILE_DECAY: f32 = 0.7;

/// How many products with an ID a new product borrows its score from, when it does.
pub(super) const NEIGHBOURS: usize = 5;

/// The fitted terms that score products without an ID part (see the module documentation).
pub(super) struct NewItemHead {
    /// `[offset, text weight]`, the parameter a checkpoint stores (fit, not trained).
    pub(super) weights: Var,
    /// `[1]` when new products borrow their neighbours' scores, `[0]` when they keep their
    /// own: stored beside the terms, fit with them.
    pub(super) basis: Var,
    /// `[weight on the user's text bar]` (see [`NewItemTerms::bar_weight`]), fit with them.
    pub(super) placement: Var,
    /// What `weights` and `basis` hold, read once: what scoring reads.
    terms: NewItemTerms,
    /// Unit text vectors, row-major (items × dim), when the model reads text.
    pub(super) text: Option<(usize, Vec<f32>)>,
    /// The products without an ID part, which the head scores at inference (ascending).
    items: Vec<ItemId>,
    /// For each of `items`, its nearest products with an ID by text and their cosines.
    neighbours: Vec<Vec<(ItemId, f32)>>,
}

impl NewItemHead {
    /// A head over `text` (raw rows, items × dim) with parameters `weights`; no product is
    /// scored until [`NewItemHead::items`] is set.
    pub(super) fn new(
        weights: Var,
        basis: Var,
        placement: Var,
        text: Option<(usize, &[f32])>,
    ) -> Self {
        let text = text.map(|(dim, rows)| (dim, unit_rows(rows, dim)));
        NewItemHead {
            weights,
            basis,
            placement,
            text,
            items: Vec::new(),
            neighbours: Vec::new(),
            terms: NewItemTerms::default(),
        }
    }

    /// The products without an ID part (ascending).
    #[cfg(test)]
    pub(super) fn items(&self) -> &[ItemId] {
        &self.items
    }

    /// Sets the products without an ID part (ascending), and finds each one's nearest
    /// products with an ID by text.
    pub(super) fn set_items(&mut self, items: Vec<ItemId>) -> candle_core::Result<()> {
        self.neighbours = text_neighbours(self.text.as_ref(), &items, |j| {
            items.binary_search(&j).is_err()
        })?;
        self.items = items;
        Ok(())
    }

    /// The score `items[k]` borrows from its neighbours, given their scores: their mean
    /// weighted by cosine (`None` without neighbours).
    fn borrowed(&self, k: usize, score: impl Fn(ItemId) -> f32) -> Option<f32> {
        borrowed_score(self.neighbours.get(k)?, score)
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
        let (dim, rows) = self.text.as_ref()?;
        let mut profile = recency_profile(rows, *dim, history, PROFILE_DECAY, RECENT_ITEMS);
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

    /// One product's score for a history, given its own score (`own`) and how to score any
    /// product with an ID (`warm`): the slot of `item` in [`NewItemHead::add_scores`].
    pub(super) fn score_of(
        &self,
        history: &[ItemId],
        item: ItemId,
        own: f32,
        warm: impl Fn(ItemId) -> f32,
    ) -> f32 {
        let Ok(k) = self.items.binary_search(&item) else {
            return own;
        };
        let profile = self.profile(history);
        let bar = self.text_bar(profile.as_deref(), history);
        self.new_score(k, own, profile.as_deref(), bar, warm)
    }

    /// The history's text bar, when the terms weigh it (0 otherwise): the
    /// [`BAR_RANK`]-th best text cosine between its profile and the products with an ID
    /// outside the history, the cosine a product must beat to enter a top ten ranked by
    /// text alone.
    fn text_bar(&self, profile: Option<&[f32]>, history: &[ItemId]) -> f32 {
        let (Some(profile), Some((dim, rows))) = (profile, self.text.as_ref()) else {
            return 0.0;
        };
        if self.terms.bar_weight == 0.0 {
            return 0.0;
        }
        let mut seen = history.to_vec();
        seen.sort_unstable();
        let cosines: Vec<f32> = rows
            .chunks_exact(*dim)
            .enumerate()
            .filter(|&(j, _)| {
                let j = j as ItemId;
                seen.binary_search(&j).is_err() && !self.scores(j)
            })
            .map(|(_, row)| row.iter().zip(profile).map(|(a, b)| a * b).sum())
            .collect();
        kth_best(cosines, BAR_RANK)
    }

    /// The score of `items[k]`, given its own score, the history's text profile and how to
    /// score any product with an ID: the terms added to its own score or to the one it
    /// borrows from its neighbours.
    fn new_score(
        &self,
        k: usize,
        own: f32,
        profile: Option<&[f32]>,
        bar: f32,
        warm: impl Fn(ItemId) -> f32,
    ) -> f32 {
        let terms = self.terms;
        let base = if terms.from_neighbours {
            self.borrowed(k, warm).unwrap_or(own)
        } else {
            own
        };
        base + terms.offset + terms.text_weight * self.similarity(profile, self.items[k])
            - terms.bar_weight * bar
    }

    /// For a product the head scores with a positive text weight: the recent item of the
    /// history whose text is closest to it (what moved its score), if any has text.
    pub(super) fn closest_recent_text(&self, history: &[ItemId], item: ItemId) -> Option<ItemId> {
        if !self.scores(item) || self.terms.text_weight <= 0.0 {
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
    #[cfg(test)]
    pub(super) fn values(&self) -> (f32, f32) {
        (self.terms.offset, self.terms.text_weight)
    }

    /// The terms, as set or read from a checkpoint.
    #[cfg(test)]
    pub(super) fn terms(&self) -> NewItemTerms {
        self.terms
    }

    /// Whether new products borrow their neighbours' scores.
    #[cfg(test)]
    pub(super) fn borrows(&self) -> bool {
        self.terms.from_neighbours
    }

    /// Sets the terms and the score they are added to (the parameters and what scoring
    /// reads).
    pub(super) fn set_terms(&mut self, terms: NewItemTerms) -> candle_core::Result<()> {
        let device = self.weights.as_tensor().device().clone();
        self.weights.set(&Tensor::from_vec(
            vec![terms.offset, terms.text_weight],
            2,
            &device,
        )?)?;
        let basis = if terms.from_neighbours { 1.0f32 } else { 0.0 };
        self.basis
            .set(&Tensor::from_vec(vec![basis], 1, &device)?)?;
        self.placement
            .set(&Tensor::from_vec(vec![terms.bar_weight], 1, &device)?)?;
        self.terms = terms;
        Ok(())
    }

    /// Reads the terms from the parameters (after a checkpoint set them).
    pub(super) fn read_terms(&mut self) -> candle_core::Result<()> {
        let w: Vec<f32> = self.weights.as_tensor().to_vec1()?;
        let basis: Vec<f32> = self.basis.as_tensor().to_vec1()?;
        let placement: Vec<f32> = self.placement.as_tensor().to_vec1()?;
        match (&w[..], &basis[..], &placement[..]) {
            (&[offset, weight], &[basis], &[bar_weight]) => {
                self.terms = NewItemTerms {
                    offset,
                    text_weight: weight,
                    from_neighbours: basis > 0.5,
                    bar_weight,
                };
                Ok(())
            }
            _ => candle_core::bail!(
                "new_items.weights holds {} values, new_items.basis {} and \
                 new_items.placement {}, not 2, 1 and 1",
                w.len(),
                basis.len(),
                placement.len()
            ),
        }
    }

    /// Scores the products without an ID part for a history (oldest first): the terms
    /// added to their own score (what `scores` holds for them) or to the one they borrow
    /// from their neighbours (what `scores` holds for those).
    pub(super) fn add_scores(&self, history: &[ItemId], scores: &mut [f32]) {
        let profile = self.profile(history);
        let bar = self.text_bar(profile.as_deref(), history);
        for (k, &item) in self.items.iter().enumerate() {
            let Some(&own) = scores.get(item as usize) else {
                continue;
            };
            // Neighbours have IDs, so no write of this loop changes what they read.
            scores[item as usize] = self.new_score(k, own, profile.as_deref(), bar, |j| {
                scores.get(j as usize).copied().unwrap_or(0.0)
            });
        }
    }
}

/// What a new product's score is made of: the two terms, and whether they are added to the
/// score it borrows from its neighbours by text or to its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewItemTerms {
    /// The offset added to a new product's score.
    pub offset: f32,
    /// The weight on its text cosine to the user's profile (0 without text).
    pub text_weight: f32,
    /// Whether the terms are added to the cosine-weighted mean score of its [`NEIGHBOURS`]
    /// nearest products with an ID by text, rather than to its own.
    #[serde(default)]
    pub from_neighbours: bool,
    /// The weight subtracted per unit of the history's text bar (the [`BAR_RANK`]-th best
    /// text cosine between the user's profile and the products with an ID outside the
    /// history): a per-user offset that places new products higher for users whom no
    /// bought product describes well, and lower for those whom many do. 0 leaves the
    /// offset the same for everyone.
    #[serde(default)]
    pub bar_weight: f32,
}

/// The rank of the text bar: the cosine a product must beat to enter a top ten by text.
const BAR_RANK: usize = 10;

/// The `k`-th best of `values` (the worst when there are fewer; 0 when there are none).
fn kth_best(mut values: Vec<f32>, k: usize) -> f32 {
    let k = k.min(values.len());
    if k == 0 {
        return 0.0;
    }
    values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    values[k - 1]
}

/// The cosine-weighted mean of the neighbours' scores (`None` without neighbours).
fn borrowed_score(neighbours: &[(ItemId, f32)], score: impl Fn(ItemId) -> f32) -> Option<f32> {
    let total: f32 = neighbours.iter().map(|n| n.1).sum();
    (total > 0.0).then(|| neighbours.iter().map(|&(j, c)| c * score(j)).sum::<f32>() / total)
}

/// For each item of `of`, its [`NEIGHBOURS`] nearest items by text among those `candidate`
/// admits, with their (positive) cosines, nearest first; empty lists without text. `text`
/// holds unit rows, so the product of two rows is their cosine.
fn text_neighbours(
    text: Option<&(usize, Vec<f32>)>,
    of: &[ItemId],
    candidate: impl Fn(ItemId) -> bool,
) -> candle_core::Result<Vec<Vec<(ItemId, f32)>>> {
    let Some((dim, rows)) = text else {
        return Ok(vec![Vec::new(); of.len()]);
    };
    let n = rows.len() / dim.max(&1);
    if n == 0 {
        return Ok(vec![Vec::new(); of.len()]);
    }
    let all = Tensor::from_slice(rows, (n, *dim), &Device::Cpu)?;
    // About 64 MB of cosines at a time, whatever the catalogue's size.
    let per_block = (16_000_000 / n).max(1);
    let mut lists = Vec::with_capacity(of.len());
    for block in of.chunks(per_block) {
        let mut picked = vec![0f32; block.len() * dim];
        for (row, &i) in picked.chunks_mut(*dim).zip(block) {
            if let Some(own) = rows.get(i as usize * dim..(i as usize + 1) * dim) {
                row.copy_from_slice(own);
            }
        }
        let picked = Tensor::from_vec(picked, (block.len(), *dim), &Device::Cpu)?;
        let cosines: Vec<Vec<f32>> = picked.matmul(&all.t()?)?.to_vec2()?;
        for (&i, row) in block.iter().zip(cosines) {
            let mut near: Vec<(ItemId, f32)> = row
                .into_iter()
                .enumerate()
                .map(|(j, c)| (j as ItemId, c))
                .filter(|&(j, c)| c > 0.0 && j != i && candidate(j))
                .collect();
            let keep = near.len().min(NEIGHBOURS);
            if keep > 0 && near.len() > keep {
                near.select_nth_unstable_by(keep - 1, |a, b| b.1.total_cmp(&a.1));
            }
            near.truncate(keep);
            near.sort_by(|a, b| b.1.total_cmp(&a.1));
            lists.push(near);
        }
    }
    Ok(lists)
}

/// Each history's text bar (see [`NewItemTerms::bar_weight`]) among the products `with_id`
/// admits outside it, from unit text `rows` (items × dim) and the histories' `profiles`:
/// zeros without text.
fn text_bars(
    rows: Option<&Tensor>,
    profiles: &[Option<Vec<f32>>],
    histories: &[&[ItemId]],
    with_id: impl Fn(usize) -> bool,
) -> candle_core::Result<Vec<f32>> {
    let (Some(rows), Some(dim)) = (rows, profiles.iter().flatten().next().map(Vec::len)) else {
        return Ok(vec![0.0; profiles.len()]);
    };
    let stacked: Vec<f32> = profiles
        .iter()
        .flat_map(|p| p.clone().unwrap_or_else(|| vec![0.0; dim]))
        .collect();
    let stacked = Tensor::from_vec(stacked, (profiles.len(), dim), &Device::Cpu)?;
    let cosines: Vec<Vec<f32>> = stacked.matmul(&rows.t()?)?.to_vec2()?;
    Ok(cosines
        .into_iter()
        .zip(histories)
        .map(|(row, history)| {
            let mut seen = history.to_vec();
            seen.sort_unstable();
            let admitted = row
                .into_iter()
                .enumerate()
                .filter(|&(j, _)| with_id(j) && seen.binary_search(&(j as ItemId)).is_err())
                .map(|(_, c)| c)
                .collect();
            kth_best(admitted, BAR_RANK)
        })
        .collect())
}

/// Validation cases the fit reads at most (drawn at random, seeded). Only the tenth whose
/// target is a held product can reward the text weight, so a few thousand cases set it
/// unsteadily (Beauty, 2,000 cases: 6.4 on one seed, 0 on the next).
const FIT_CASES: usize = 20_000;

/// Validation cases the fit needs: with fewer, two numbers fit to a handful of cases say
/// nothing, and new products score by their KG and text parts alone.
const MIN_FIT_CASES: usize = 100;

/// What [`fit_new_item_terms`] chose, and on what.
#[derive(Clone, Debug, PartialEq)]
pub struct NewItemFit {
    /// The terms chosen, and the score they are added to.
    pub terms: NewItemTerms,
    /// Validation cases read.
    pub cases: usize,
    /// Trained products scored as new.
    pub held: usize,
    /// NDCG@10 of those cases with the held products scored as new, without the terms.
    pub before: f64,
    /// The same with the terms.
    pub after: f64,
}

/// A validation target, with the held products scored as new.
enum FitTarget {
    /// A bought product: its score.
    Bought(f32),
    /// A held product: its score without the terms, and its text cosine.
    Held(f32, f32),
}

/// One validation case as the fit reads it.
struct FitCase {
    target: FitTarget,
    /// Bought competitors above a bought target (10 or more: the case cannot count).
    warm_above: usize,
    /// The ten best scores of the bought competitors, best first.
    warm_top: Vec<f32>,
    /// Held competitors: score without the terms, text cosine.
    held: Vec<(f32, f32)>,
    /// The history's text bar among the products with an ID in this fit (see
    /// [`NewItemTerms::bar_weight`]).
    bar: f32,
}

/// The terms the fit searches: `offset`, `weight` on the text cosine, `bar` weight.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Terms {
    offset: f32,
    weight: f32,
    bar: f32,
}

impl Terms {
    /// What a held product of `case` gets on top of its score without the terms.
    fn lift(&self, case: &FitCase, cosine: f32) -> f32 {
        self.offset + self.weight * cosine - self.bar * case.bar
    }
}

/// Mean NDCG@10 of `cases` when held products get `terms` (offset, weight × cosine, less
/// the bar term). A competitor that ties with the target counts above it: products the model
/// cannot tell apart (no ID, no text, no KG) must not look like a ranking the terms could lift.
fn mean_ndcg(cases: &[FitCase], terms: Terms) -> f64 {
    let weight = terms.weight;
    let mut sum = 0.0;
    for case in cases {
        let rank = match case.target {
            FitTarget::Bought(score) => {
                let mut rank = case.warm_above;
                let lift = terms.lift(case, 0.0);
                for &(base, cosine) in &case.held {
                    if rank >= 10 {
                        break;
                    }
                    if base + lift + weight * cosine >= score {
                        rank += 1;
                    }
                }
                rank
            }
            FitTarget::Held(base, cosine) => {
                let score = base + terms.lift(case, cosine);
                // Held competitors get the same offset and bar term: only the cosine tells.
                let own = base + weight * cosine;
                let mut rank = case.warm_top.iter().filter(|&&w| w >= score).count();
                for &(b, x) in &case.held {
                    if rank >= 10 {
                        break;
                    }
                    if b + weight * x >= own {
                        rank += 1;
                    }
                }
                rank
            }
        };
        if rank < 10 {
            sum += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    sum / cases.len().max(1) as f64
}

/// The terms that rank the cases best: text weights in multiples of the spread of the held
/// products' scores, and for each the offsets that lift the best held product of 0, 5, …,
/// 100% of the cases above the first, fifth or tenth bought competitor; then, at the chosen
/// text weight, bar weights that move the offset by up to eight spreads across users (one
/// standard deviation of the bar), with the offsets searched again. Ties keep no lift, no
/// bar term, then the smaller weight and offset.
fn best_terms(cases: &[FitCase], with_text: bool) -> Terms {
    let spread = {
        let (mut sum, mut read) = (0.0, 0usize);
        for case in cases.iter().filter(|c| !c.held.is_empty()) {
            let n = case.held.len() as f32;
            let mean = case.held.iter().map(|h| h.0).sum::<f32>() / n;
            let var = case.held.iter().map(|h| (h.0 - mean).powi(2)).sum::<f32>() / n;
            sum += var.sqrt();
            read += 1;
        }
        sum / read.max(1) as f32
    };
    let mut best = Terms::default();
    let mut best_ndcg = mean_ndcg(cases, best);
    let mut search = |weight: f32, bar: f32, best: &mut Terms| {
        for offset in offset_candidates(cases, weight, bar) {
            let terms = Terms {
                offset,
                weight,
                bar,
            };
            let ndcg = mean_ndcg(cases, terms);
            if ndcg > best_ndcg {
                best_ndcg = ndcg;
                *best = terms;
            }
        }
    };
    if !with_text {
        search(0.0, 0.0, &mut best);
        return best;
    }
    for m in [0.0, 0.5, 1.0, 2.0, 4.0, 8.0] {
        search(m * spread, 0.0, &mut best);
    }
    let bar_spread = {
        let n = cases.len().max(1) as f32;
        let mean = cases.iter().map(|c| c.bar).sum::<f32>() / n;
        (cases.iter().map(|c| (c.bar - mean).powi(2)).sum::<f32>() / n).sqrt()
    };
    if bar_spread > 0.0 {
        let weight = best.weight;
        for m in [
            -8.0, -4.0, -2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0,
        ] {
            search(weight, m * spread / bar_spread, &mut best);
        }
    }
    best
}

/// Offsets worth trying at a text weight and bar weight: those that lift the best held
/// product of 0, 5, …, 100% of the cases just above their first, fifth or tenth bought
/// competitor, and 0.
fn offset_candidates(cases: &[FitCase], weight: f32, bar: f32) -> Vec<f32> {
    let mut offsets = vec![0.0];
    for place in [0, 4, 9] {
        let mut gaps: Vec<f32> = cases
            .iter()
            .filter_map(|c| {
                let target = c.warm_top.get(place)?;
                let top = c
                    .held
                    .iter()
                    .map(|&(b, x)| b + weight * x)
                    .reduce(f32::max)?
                    - bar * c.bar;
                // Just above the competitor: a tie does not lift.
                Some(target - top + (target - top).abs().max(1.0) * 1e-4)
            })
            .collect();
        gaps.sort_by(f32::total_cmp);
        offsets.extend(
            (0..=20).filter_map(|q| gaps.get(gaps.len().saturating_sub(1) * q / 20).copied()),
        );
    }
    offsets.sort_by(f32::total_cmp);
    offsets.dedup();
    offsets
}

/// Fits the new-product terms of `network`'s head on the split's validation cases (see the
/// module documentation), for the caller to set; `None` when the model has no head or the split too
/// few validation cases ([`MIN_FIT_CASES`]). `trained` are the products training interacted with; `items` the
/// fused item matrix.
pub(super) fn fit_new_item_terms(
    network: &Network,
    items: &Tensor,
    max_len: usize,
    split: &EvalSplit,
    trained: &[ItemId],
    seed: u64,
) -> candle_core::Result<Option<NewItemFit>> {
    let Some(head) = &network.new_items else {
        return Ok(None);
    };
    // Without a KG or text part or links every new product scores the same: nothing to
    // rank them by, so no terms (an offset would lift them all alike).
    if network.inputs.is_empty() && network.links.is_none() {
        return Ok(None);
    }
    let mut cases = split.ranking_cases(Stage::Valid);
    cases.retain(|c| !c.relevant.is_empty() && !c.history.is_empty());
    if cases.len() < MIN_FIT_CASES || trained.is_empty() {
        return Ok(None);
    }
    let mut rng = SeededRng::for_stream(seed, 4);
    rng.shuffle(&mut cases);
    cases.truncate(FIT_CASES);
    let mut pool = trained.to_vec();
    rng.shuffle(&mut pool);
    let n_held = ((pool.len() as f64 * COLD_ITEM_SHARE).round() as usize).clamp(1, pool.len());
    let mut held_items = pool[..n_held].to_vec();
    held_items.sort_unstable();
    let n = items.dims()[0];
    let mut held_at = vec![usize::MAX; n];
    for (k, &i) in held_items.iter().enumerate() {
        held_at[i as usize] = k;
    }
    // The held products' neighbours have IDs in this fit: trained, and not held.
    let mut with_id = vec![false; n];
    for &i in trained {
        with_id[i as usize] = held_at[i as usize] == usize::MAX;
    }
    let neighbours = text_neighbours(head.text.as_ref(), &held_items, |j| {
        with_id.get(j as usize).copied().unwrap_or(false)
    })?;
    let borrowing = neighbours.iter().any(|n| !n.is_empty());
    let device = items.device();
    let index = Tensor::from_vec(held_items.clone(), n_held, device)?;
    let content = network.item_rows_as_new(&index)?;
    let links = network.link_weights()?;
    let direct = links
        .as_ref()
        .map_or_else(Vec::new, |(l, _)| l.direct_features());
    let view = ScoringView {
        network,
        items,
        max_len,
    };
    let text_rows = match head.text.as_ref() {
        Some((dim, rows)) if !rows.is_empty() => Some(Tensor::from_slice(
            rows,
            (rows.len() / dim, *dim),
            &Device::Cpu,
        )?),
        _ => None,
    };
    // The cases twice: the held products with their own scores, and with the scores they
    // borrow from their neighbours (when any has neighbours).
    let mut table = Vec::with_capacity(cases.len());
    let mut borrowed_table = Vec::new();
    let mut excluded = vec![false; n];
    for batch in cases.chunks(256) {
        let histories: Vec<&[ItemId]> = batch.iter().map(|c| c.history.as_slice()).collect();
        let mut full = vec![0f32; batch.len() * n];
        view.score_histories(&histories, &mut full)?;
        let h = view.encode_histories(&histories)?;
        let base: Vec<f32> = h.matmul(&content.t()?)?.flatten_all()?.to_vec1()?;
        let profiles: Vec<Option<Vec<f32>>> =
            batch.iter().map(|c| head.profile(&c.history)).collect();
        let bars = text_bars(text_rows.as_ref(), &profiles, &histories, |j| {
            with_id.get(j).copied().unwrap_or(false)
        })?;
        for (b, case) in batch.iter().enumerate() {
            let scores = &full[b * n..(b + 1) * n];
            let mut base_row = base[b * n_held..(b + 1) * n_held].to_vec();
            if let Some((links, w)) = &links {
                links.for_each_feature(&case.history, |to, f| {
                    let k = held_at[to as usize];
                    if k != usize::MAX && !direct[f] {
                        base_row[k] += w[f];
                    }
                });
            }
            let borrowed_row: Vec<f32> = if borrowing {
                neighbours
                    .iter()
                    .zip(&base_row)
                    .map(|(near, &own)| borrowed_score(near, |j| scores[j as usize]).unwrap_or(own))
                    .collect()
            } else {
                Vec::new()
            };
            let profile = &profiles[b];
            let target_item = case.relevant[0];
            for &i in &case.history {
                excluded[i as usize] = true;
            }
            excluded[target_item as usize] = true;
            let mut warm: Vec<f32> = (0..n)
                .filter(|&j| held_at[j] == usize::MAX && !excluded[j])
                .map(|j| scores[j])
                .collect();
            let held_target = held_at[target_item as usize];
            let warm_above = match held_target {
                usize::MAX => {
                    let s = scores[target_item as usize];
                    warm.iter().filter(|&&w| w >= s).count()
                }
                _ => 0,
            };
            // A bought target below ten bought competitors counts nothing whatever the
            // terms: its held competitors need not be read.
            let competitors: Vec<(usize, f32)> = if held_target == usize::MAX && warm_above >= 10 {
                Vec::new()
            } else {
                held_items
                    .iter()
                    .enumerate()
                    .filter(|(_, &i)| !excluded[i as usize])
                    .map(|(k, &i)| (k, head.similarity(profile.as_deref(), i)))
                    .collect()
            };
            let target_cosine = head.similarity(profile.as_deref(), target_item);
            let case_with = |row: &[f32]| {
                let target = match held_target {
                    usize::MAX => FitTarget::Bought(scores[target_item as usize]),
                    k => FitTarget::Held(row[k], target_cosine),
                };
                let held = competitors.iter().map(|&(k, x)| (row[k], x)).collect();
                (target, held)
            };
            for &i in &case.history {
                excluded[i as usize] = false;
            }
            excluded[target_item as usize] = false;
            let top = warm.len().min(10);
            if top > 0 {
                warm.select_nth_unstable_by(top - 1, |a, b| b.total_cmp(a));
            }
            warm.truncate(top);
            warm.sort_by(|a, b| b.total_cmp(a));
            if borrowing {
                let (target, held) = case_with(&borrowed_row);
                borrowed_table.push(FitCase {
                    target,
                    warm_above,
                    warm_top: warm.clone(),
                    held,
                    bar: bars[b],
                });
            }
            let (target, held) = case_with(&base_row);
            table.push(FitCase {
                target,
                warm_above,
                warm_top: warm,
                held,
                bar: bars[b],
            });
        }
    }
    let with_text = head.text.is_some();
    let fit_on = |table: &[FitCase], from_neighbours: bool| {
        let best = best_terms(table, with_text);
        let terms = NewItemTerms {
            offset: best.offset,
            text_weight: best.weight,
            from_neighbours,
            bar_weight: best.bar,
        };
        (terms, mean_ndcg(table, best))
    };
    let (mut terms, mut after) = fit_on(&table, false);
    if borrowing {
        // Borrowing must earn its place: a tie keeps the products' own scores.
        let (borrowed_terms, borrowed_after) = fit_on(&borrowed_table, true);
        if borrowed_after > after {
            (terms, after) = (borrowed_terms, borrowed_after);
        }
    }
    Ok(Some(NewItemFit {
        terms,
        cases: table.len(),
        held: n_held,
        before: mean_ndcg(&table, Terms::default()),
        after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn head() -> NewItemHead {
        // Items 0 and 1 point different ways; 2 is close to 0, 3 close to 1.
        let text = [1.0, 0.0, 0.0, 2.0, 0.9, 0.1, 0.1, 0.9];
        let weights = Var::from_vec(vec![0f32, 0.0], 2, &Device::Cpu).unwrap();
        let basis = Var::from_vec(vec![0f32], 1, &Device::Cpu).unwrap();
        let placement = Var::from_vec(vec![0f32], 1, &Device::Cpu).unwrap();
        let mut head = NewItemHead::new(weights, basis, placement, Some((2, &text)));
        head.set_terms(NewItemTerms {
            offset: 0.1,
            text_weight: 0.5,
            from_neighbours: false,
            bar_weight: 0.0,
        })
        .unwrap();
        head.set_items(vec![2, 3]).unwrap();
        head
    }

    #[test]
    fn only_products_without_an_id_get_the_terms_and_the_closer_text_more() {
        let head = head();
        let mut scores = vec![0f32; 4];
        head.add_scores(&[1, 0], &mut scores);
        assert_eq!(&scores[..2], &[0.0, 0.0]);
        assert!(scores[2] > scores[3], "{scores:?}");
        // Offset .1 and weight .5 on a cosine of at most 1.
        assert!(scores[2] <= 0.6 + 1e-5 && scores[3] > 0.1, "{scores:?}");
    }

    #[test]
    fn a_new_product_borrows_its_text_neighbours_scores_weighted_by_cosine() {
        let mut head = head();
        assert_eq!(head.neighbours[0][0].0, 0);
        assert_eq!(head.neighbours[1][0].0, 1);
        head.set_terms(NewItemTerms {
            offset: 0.1,
            text_weight: 0.0,
            from_neighbours: true,
            bar_weight: 0.0,
        })
        .unwrap();
        let warm = [5.0, -5.0];
        let mut scores = vec![warm[0], warm[1], 0.0, 0.0];
        head.add_scores(&[1, 0], &mut scores);
        // Item 2 (cosines .994 to item 0 and .110 to item 1) scores near item 0.
        let c = (0.994f32, 0.110f32);
        let expected = (c.0 * 5.0 - c.1 * 5.0) / (c.0 + c.1) + 0.1;
        assert!((scores[2] - expected).abs() < 1e-2, "{scores:?}");
        assert!((scores[3] + expected - 0.2).abs() < 1e-2, "{scores:?}");
        assert_eq!(&scores[..2], &warm);
        for item in [2, 3] {
            let one = head.score_of(&[1, 0], item, 0.0, |j| warm[j as usize]);
            assert!((one - scores[item as usize]).abs() < 1e-6);
        }
        // A product with no text has no neighbours and keeps its own score.
        assert!(text_neighbours(None, &[2], |_| true).unwrap()[0].is_empty());
    }

    #[test]
    fn the_bar_term_lowers_new_products_for_users_whom_bought_products_describe_well() {
        let mut head = head();
        let history = [3];
        let mut plain = vec![0f32; 4];
        head.add_scores(&history, &mut plain);
        head.set_terms(NewItemTerms {
            bar_weight: 1.0,
            ..head.terms()
        })
        .unwrap();
        let mut with_bar = vec![0f32; 4];
        head.add_scores(&history, &mut with_bar);
        // Item 3's profile against the bought items 0 and 1: fewer than ten, so the bar
        // is the lower cosine (item 0's, about .11).
        let bar = 0.1 / 0.82f32.sqrt();
        for item in [2, 3] {
            let lowered = plain[item] - with_bar[item];
            assert!((lowered - bar).abs() < 1e-3, "{lowered} {bar}");
            let one = head.score_of(&history, item as ItemId, 0.0, |_| 0.0);
            assert!((one - with_bar[item]).abs() < 1e-6);
        }
        assert_eq!(&with_bar[..2], &[0.0, 0.0]);
        // A history that leaves no bought product outside it has no bar.
        let mut none = vec![0f32; 4];
        head.add_scores(&[0, 1], &mut none);
        assert_eq!(kth_best(Vec::new(), BAR_RANK), 0.0);
        assert!(none[2] > 0.1, "{none:?}");
    }

    #[test]
    fn the_fit_weighs_the_bar_when_new_targets_come_to_users_with_a_low_one() {
        let warm_top: Vec<f32> = (0..10).map(|k| 5.0 - k as f32).collect();
        // Users whom bought products describe well (bar 1) buy a bought product; a lift
        // past 1.5 puts a new product above it.
        let bought = || FitCase {
            target: FitTarget::Bought(5.5),
            warm_above: 0,
            warm_top: warm_top.clone(),
            held: vec![(4.0, 0.0), (2.0, 0.0)],
            bar: 1.0,
        };
        // The others (bar 0) buy a new product, which needs a lift past 2 to come first.
        let held = || FitCase {
            target: FitTarget::Held(3.0, 0.0),
            warm_above: 0,
            warm_top: warm_top.clone(),
            held: vec![(1.0, 0.0), (0.0, 0.0)],
            bar: 0.0,
        };
        let cases: Vec<FitCase> = (0..10).flat_map(|_| [bought(), held()]).collect();
        let best = best_terms(&cases, true);
        assert!(best.bar > 0.0, "{best:?}");
        assert_eq!(mean_ndcg(&cases, best), 1.0, "{best:?}");
        // One offset for everyone cannot rank both kinds first.
        let same_for_all = offset_candidates(&cases, 0.0, 0.0)
            .into_iter()
            .map(|offset| mean_ndcg(&cases, terms(offset, 0.0)))
            .fold(0.0, f64::max);
        assert!(same_for_all < 0.9, "{same_for_all}");
    }

    fn terms(offset: f32, weight: f32) -> Terms {
        Terms {
            offset,
            weight,
            bar: 0.0,
        }
    }

    #[test]
    fn the_fit_lifts_new_products_only_as_far_as_the_validation_targets_reward() {
        let warm_top: Vec<f32> = (0..10).map(|k| 10.0 - k as f32).collect();
        // A bought target first, new products around it (one described like the profile).
        let bought = || FitCase {
            target: FitTarget::Bought(11.0),
            warm_above: 0,
            warm_top: warm_top.clone(),
            held: vec![(1.0, 0.9), (-1.0, 0.1)],
            bar: 0.0,
        };
        // A new target described like the profile, below every bought product.
        let held = || FitCase {
            target: FitTarget::Held(0.0, 0.9),
            warm_above: 0,
            warm_top: warm_top.clone(),
            held: vec![(-1.0, 0.1), (1.0, 0.0)],
            bar: 0.0,
        };
        assert_eq!(mean_ndcg(&[held()], terms(0.0, 0.0)), 0.0);
        assert_eq!(mean_ndcg(&[held()], terms(11.0, 2.0)), 1.0);
        // Many bought targets, one new: new products are lifted into the top ten, never
        // above the bought targets.
        let mut cases: Vec<FitCase> = (0..20).map(|_| bought()).collect();
        cases.push(held());
        let best = best_terms(&cases, true);
        assert_eq!(mean_ndcg(&cases[..20], best), 1.0, "{best:?}");
        assert!(mean_ndcg(&cases[20..], best) > 0.0, "{best:?}");
        // Mostly new targets: the text weight ranks them first among the new products.
        let mut cases: Vec<FitCase> = (0..20).map(|_| held()).collect();
        cases.push(bought());
        let best = best_terms(&cases, true);
        assert!(mean_ndcg(&cases, best) > 0.9, "{best:?}");
        // Without text, only the offset moves.
        assert_eq!(best_terms(&cases, false).weight, 0.0);
        // New products the model cannot tell apart (equal scores, no text): lifting them
        // all would put a new target first only by winning every tie, so nothing is lifted.
        let tied = || FitCase {
            target: FitTarget::Held(0.0, 0.0),
            warm_above: 0,
            warm_top: warm_top.clone(),
            held: vec![(0.0, 0.0); 12],
            bar: 0.0,
        };
        let flat_bought = || FitCase {
            held: vec![(0.0, 0.0); 12],
            ..bought()
        };
        let mut cases: Vec<FitCase> = (0..5).map(|_| tied()).collect();
        cases.extend((0..20).map(|_| flat_bought()));
        assert_eq!(best_terms(&cases, false), Terms::default());
        assert_eq!(mean_ndcg(&cases[..5], terms(20.0, 0.0)), 0.0);
    }
}
