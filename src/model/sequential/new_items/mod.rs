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
//! an ID nearest by text to their recent items, about what a new product must beat to enter a
//! top ten ranked by text alone. A user whom many bought products already describe well then
//! gets fewer new products than one whom none does (or more, if validation says so; 0 gives
//! everyone the same offset).
//!
//! All are fit after training, on validation ([`fit::fit_new_item_terms`]): a share of the
//! trained products ([`COLD_ITEM_SHARE`], as many as the `cold-items` protocol leaves out)
//! is scored as if new (no ID part, no KG structure vector, no link through another
//! product), and the terms are the ones that rank the validation targets best, new and
//! bought alike. New products thus get the share of the top ranks that new products earn
//! among the next items, not more. Products with an ID never get the terms, so the scores
//! of every other product are unchanged.
//!
//! The fit is in [`fit`]; this module holds the head, the terms and how they score.

mod fit;

use candle_core::{Device, Tensor, Var};

pub(super) use fit::fit_new_item_terms;
pub use fit::NewItemFit;

use crate::eval::ItemId;
use crate::model::embedding_knn::recency_profile;
use crate::model::links::RECENT_ITEMS;
use crate::util::{dot, unit_rows};

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
    /// What `weights`, `basis` and `placement` hold, read once: what scoring reads.
    terms: NewItemTerms,
    /// Unit text vectors, row-major (items × dim), when the model reads text.
    pub(super) text: Option<(usize, Vec<f32>)>,
    /// The products without an ID part, which the head scores at inference (ascending).
    items: Vec<ItemId>,
    /// For each of `items`, its nearest products with an ID by text and their cosines.
    neighbours: Vec<Vec<(ItemId, f32)>>,
    /// For every product, its [`BAR_NEIGHBOURS`] nearest products with an ID by text, where
    /// the text bar is read from (empty while the terms give the bar no weight).
    bar_lists: Vec<Vec<ItemId>>,
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
            bar_lists: Vec::new(),
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
        self.neighbours = text_neighbours(self.text.as_ref(), &items, NEIGHBOURS, |j| {
            items.binary_search(&j).is_err()
        })?;
        self.items = items;
        self.refresh_bar_lists()
    }

    /// Finds every product's nearest products with an ID by text when the terms weigh the
    /// text bar, and drops them when not.
    fn refresh_bar_lists(&mut self) -> candle_core::Result<()> {
        self.bar_lists = match self.text.as_ref() {
            Some((dim, rows)) if self.terms.bar_weight != 0.0 => {
                let all: Vec<ItemId> = (0..(rows.len() / dim.max(&1)) as ItemId).collect();
                bar_lists(self.text.as_ref(), &all, |j| !self.scores(j))?
            }
            _ => Vec::new(),
        };
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

    /// The history's text bar, when the terms weigh it (0 otherwise; see
    /// [`NewItemTerms::bar_weight`]).
    fn text_bar(&self, profile: Option<&[f32]>, history: &[ItemId]) -> f32 {
        if self.terms.bar_weight == 0.0 || self.items.is_empty() {
            return 0.0;
        }
        profile.map_or(0.0, |p| {
            text_bar(p, history, &self.bar_lists, |j| self.text_of(j))
        })
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
        self.replace_terms(terms)
    }

    /// What scoring reads from now on; the text bar's lists are found when the bar gains a
    /// weight and dropped when it loses it (finding them takes seconds on a large catalogue).
    fn replace_terms(&mut self, terms: NewItemTerms) -> candle_core::Result<()> {
        let weighed = self.terms.bar_weight != 0.0;
        self.terms = terms;
        if weighed != (terms.bar_weight != 0.0) {
            self.refresh_bar_lists()?;
        }
        Ok(())
    }

    /// Reads the terms from the parameters (after a checkpoint set them).
    pub(super) fn read_terms(&mut self) -> candle_core::Result<()> {
        let w: Vec<f32> = self.weights.as_tensor().to_vec1()?;
        let basis: Vec<f32> = self.basis.as_tensor().to_vec1()?;
        let placement: Vec<f32> = self.placement.as_tensor().to_vec1()?;
        match (&w[..], &basis[..], &placement[..]) {
            (&[offset, weight], &[basis], &[bar_weight]) => self.replace_terms(NewItemTerms {
                offset,
                text_weight: weight,
                from_neighbours: basis > 0.5,
                bar_weight,
            }),
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
    /// text cosine between the user's profile and the products with an ID nearest by text to
    /// their recent items, [`BAR_NEIGHBOURS`] each, outside the history): a per-user offset that places new products higher for users whom no
    /// bought product describes well, and lower for those whom many do. 0 leaves the
    /// offset the same for everyone.
    #[serde(default)]
    pub bar_weight: f32,
}

/// The rank of the text bar: the cosine a product must beat to enter a top ten by text.
const BAR_RANK: usize = 10;

/// How many nearest products with an ID by text each recent item puts forward for the text
/// bar. The bar reads the profile's cosines to these alone, at most 200 of them, not to the
/// whole catalogue: a pass over every text vector per request costs about 2 ms on Beauty's
/// 12,101 products, five times what scoring them costs.
const BAR_NEIGHBOURS: usize = 20;

/// The text bar of a history (oldest first) with unit text `profile`: the [`BAR_RANK`]-th
/// best cosine between the profile and the products that `lists` puts forward for its
/// recent items, outside the history (the worst with fewer, 0 with none). `row` gives a
/// product's unit text vector.
fn text_bar<'a>(
    profile: &[f32],
    history: &[ItemId],
    lists: &[Vec<ItemId>],
    row: impl Fn(ItemId) -> Option<&'a [f32]>,
) -> f32 {
    let mut candidates: Vec<ItemId> = history
        .iter()
        .rev()
        .take(RECENT_ITEMS)
        .filter_map(|&h| lists.get(h as usize))
        .flatten()
        .copied()
        .filter(|j| !history.contains(j))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let cosines = candidates
        .into_iter()
        .filter_map(|j| row(j).map(|r| dot(profile, r)))
        .collect();
    kth_best(cosines, BAR_RANK)
}

/// For each item of `of`, its [`BAR_NEIGHBOURS`] nearest items by text among those
/// `candidate` admits (see [`text_neighbours`]), without their cosines.
fn bar_lists(
    text: Option<&(usize, Vec<f32>)>,
    of: &[ItemId],
    candidate: impl Fn(ItemId) -> bool,
) -> candle_core::Result<Vec<Vec<ItemId>>> {
    Ok(text_neighbours(text, of, BAR_NEIGHBOURS, candidate)?
        .into_iter()
        .map(|near| near.into_iter().map(|(j, _)| j).collect())
        .collect())
}

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

/// For each item of `of`, its `keep` nearest items by text among those `candidate` admits,
/// with their (positive) cosines, nearest first; empty lists without text. `text` holds unit
/// rows, so the product of two rows is their cosine.
fn text_neighbours(
    text: Option<&(usize, Vec<f32>)>,
    of: &[ItemId],
    keep: usize,
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
            let keep = near.len().min(keep);
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
        assert!(text_neighbours(None, &[2], NEIGHBOURS, |_| true).unwrap()[0].is_empty());
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
    fn the_bar_reads_the_recent_items_nearest_products_outside_the_history() {
        // Unit rows on a line: item k at angle k × 0.1.
        let rows: Vec<Vec<f32>> = (0..30)
            .map(|k| vec![(k as f32 * 0.1).cos(), (k as f32 * 0.1).sin()])
            .collect();
        let row = |j: ItemId| rows.get(j as usize).map(Vec::as_slice);
        // Item 0 puts forward 1 and 2, item 5 puts forward 4, 6 and 0 (in the history).
        let mut lists = vec![Vec::new(); 30];
        lists[0] = vec![1, 2];
        lists[5] = vec![4, 6, 0];
        let profile = [1.0, 0.0];
        // Candidates 1, 2, 4, 6: fewer than ten, so the worst (6, at angle .6).
        let bar = text_bar(&profile, &[0, 5], &lists, row);
        assert!((bar - 0.6f32.cos()).abs() < 1e-6, "{bar}");
        // Only the recent items put candidates forward; none, no bar.
        assert_eq!(text_bar(&profile, &[7], &lists, row), 0.0);
        // The lists hold only the products the candidate test admits, nearest first.
        let flat: Vec<f32> = rows.concat();
        let lists = bar_lists(Some(&(2, flat)), &[0], |j| j % 2 == 1).unwrap();
        assert_eq!(lists[0][..3], [1, 3, 5]);
        assert!(lists[0].iter().all(|j| j % 2 == 1));
    }
}
