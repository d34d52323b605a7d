//! The fit of the new-product terms on validation ([`fit_new_item_terms`]): a share of the
//! trained products is scored as new, and the terms that rank the validation targets best,
//! new and bought alike, are kept (see the parent module's documentation).

use candle_core::Tensor;

use super::{bar_lists, borrowed_score, text_bar, text_neighbours, NewItemTerms, NEIGHBOURS};
use crate::eval::{EvalSplit, ItemId, Stage, COLD_ITEM_SHARE};
use crate::model::sequential::network::Network;
use crate::model::sequential::scoring::ScoringView;
use crate::util::SeededRng;

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
pub(in crate::model::sequential) fn fit_new_item_terms(
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
    let neighbours = text_neighbours(head.text.as_ref(), &held_items, NEIGHBOURS, |j| {
        with_id.get(j as usize).copied().unwrap_or(false)
    })?;
    // The text bar's lists in this fit: the nearest products that keep their ID here.
    let all: Vec<ItemId> = (0..n as ItemId).collect();
    let fit_bar_lists = bar_lists(head.text.as_ref(), &all, |j| {
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
        // Without text there is no profile, and no bar.
        let bars: Vec<f32> = profiles
            .iter()
            .zip(&histories)
            .map(|(profile, history)| {
                profile.as_deref().map_or(0.0, |p| {
                    text_bar(p, history, &fit_bar_lists, |j| head.text_of(j))
                })
            })
            .collect();
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
