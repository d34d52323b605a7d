//! Ranking and click-through metrics: HR, Recall, Precision, NDCG, MRR at K, item coverage,
//! AUC and F1. Plain functions over ranks and labels, so each is checked on hand-computed
//! examples.

use serde::{Deserialize, Serialize};

use super::data::ItemId;

/// The cut-offs every report uses.
pub const CUTOFFS: [usize; 3] = [5, 10, 20];

/// Where the relevant items of one case landed in the full ranking (0 = top), ascending.
pub fn ranks_of(
    scores: &[f32],
    excluded: &[ItemId],
    relevant: &[ItemId],
    is_excluded: &mut [bool],
) -> Vec<usize> {
    for &e in excluded {
        is_excluded[e as usize] = true;
    }
    let mut ranks: Vec<usize> = relevant
        .iter()
        .map(|&r| {
            let sr = scores[r as usize];
            // Ties are broken by item id, the same rule as `top_k`.
            scores
                .iter()
                .enumerate()
                .filter(|&(j, &s)| {
                    !is_excluded[j] && (s > sr || (s == sr && (j as ItemId) < r)) && j != r as usize
                })
                .count()
        })
        .collect();
    for &e in excluded {
        is_excluded[e as usize] = false;
    }
    ranks.sort_unstable();
    ranks
}

/// The `k` best items by score, best first, skipping `excluded`; ties by item id.
pub fn top_k(
    scores: &[f32],
    excluded: &[ItemId],
    k: usize,
    is_excluded: &mut [bool],
) -> Vec<ItemId> {
    for &e in excluded {
        is_excluded[e as usize] = true;
    }
    let better = |a: &(f32, ItemId), b: &(f32, ItemId)| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
    };
    let mut heap: Vec<(f32, ItemId)> = Vec::with_capacity(k + 1);
    for (j, &s) in scores.iter().enumerate() {
        if is_excluded[j] || s.is_nan() {
            continue;
        }
        let candidate = (s, j as ItemId);
        if heap.len() < k {
            heap.push(candidate);
            if heap.len() == k {
                heap.sort_by(better);
            }
        } else if k > 0 && better(&candidate, &heap[k - 1]) == std::cmp::Ordering::Less {
            let at = heap.partition_point(|x| better(x, &candidate) == std::cmp::Ordering::Less);
            heap.insert(at, candidate);
            heap.pop();
        }
    }
    if heap.len() < k {
        heap.sort_by(better);
    }
    for &e in excluded {
        is_excluded[e as usize] = false;
    }
    heap.into_iter().map(|(_, j)| j).collect()
}

/// Metrics of one ranking case at cut-off `k`, from the sorted 0-based ranks of its
/// relevant items and how many relevant items it has.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CaseMetrics {
    /// 1 if any relevant item is in the top k.
    pub hit: f64,
    /// Relevant items in the top k over all relevant items.
    pub recall: f64,
    /// Relevant items in the top k over k.
    pub precision: f64,
    /// DCG over the ideal DCG of min(|relevant|, k) items.
    pub ndcg: f64,
    /// 1 / (rank of the first relevant item) when it is in the top k, else 0.
    pub mrr: f64,
}

/// Per-case metrics at `k`; `ranks` sorted ascending.
pub fn case_metrics(ranks: &[usize], n_relevant: usize, k: usize) -> CaseMetrics {
    if n_relevant == 0 || k == 0 {
        return CaseMetrics::default();
    }
    let hits: Vec<usize> = ranks.iter().copied().filter(|&r| r < k).collect();
    let dcg: f64 = hits.iter().map(|&r| 1.0 / ((r + 2) as f64).log2()).sum();
    let idcg: f64 = (0..n_relevant.min(k))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    CaseMetrics {
        hit: if hits.is_empty() { 0.0 } else { 1.0 },
        recall: hits.len() as f64 / n_relevant as f64,
        precision: hits.len() as f64 / k as f64,
        ndcg: dcg / idcg,
        mrr: hits.first().map_or(0.0, |&r| 1.0 / (r + 1) as f64),
    }
}

/// Averages of ranking metrics at one cut-off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsAtK {
    /// The cut-off.
    pub k: usize,
    /// Hit rate.
    pub hr: f64,
    /// Recall.
    pub recall: f64,
    /// Precision.
    pub precision: f64,
    /// NDCG.
    pub ndcg: f64,
    /// MRR.
    pub mrr: f64,
    /// Share of all items that appear in at least one top-k list.
    pub coverage: f64,
}

/// Sums ranking metrics over cases (mergeable, for parallel evaluation).
#[derive(Clone, Debug)]
pub struct RankingAccumulator {
    sums: Vec<CaseMetrics>,
    covered: Vec<Vec<bool>>,
    cases: usize,
}

impl RankingAccumulator {
    /// An empty accumulator for a catalogue of `n_items`.
    pub fn new(n_items: usize) -> Self {
        RankingAccumulator {
            sums: vec![CaseMetrics::default(); CUTOFFS.len()],
            covered: vec![vec![false; n_items]; CUTOFFS.len()],
            cases: 0,
        }
    }

    /// Adds one case: sorted ranks of its relevant items, their number, and its top list
    /// (at least as long as the largest cut-off, when the catalogue allows).
    pub fn add(&mut self, ranks: &[usize], n_relevant: usize, top: &[ItemId]) {
        self.cases += 1;
        for (i, &k) in CUTOFFS.iter().enumerate() {
            let m = case_metrics(ranks, n_relevant, k);
            let s = &mut self.sums[i];
            s.hit += m.hit;
            s.recall += m.recall;
            s.precision += m.precision;
            s.ndcg += m.ndcg;
            s.mrr += m.mrr;
            for &item in top.iter().take(k) {
                self.covered[i][item as usize] = true;
            }
        }
    }

    /// Combines two partial sums.
    pub fn merge(mut self, other: Self) -> Self {
        self.cases += other.cases;
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.hit += b.hit;
            a.recall += b.recall;
            a.precision += b.precision;
            a.ndcg += b.ndcg;
            a.mrr += b.mrr;
        }
        for (a, b) in self.covered.iter_mut().zip(&other.covered) {
            for (x, y) in a.iter_mut().zip(b) {
                *x |= *y;
            }
        }
        self
    }

    /// Number of cases added.
    pub fn cases(&self) -> usize {
        self.cases
    }

    /// The averages at each cut-off.
    pub fn finish(&self) -> Vec<MetricsAtK> {
        let n = self.cases.max(1) as f64;
        CUTOFFS
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let s = &self.sums[i];
                let items = self.covered[i].len().max(1) as f64;
                MetricsAtK {
                    k,
                    hr: s.hit / n,
                    recall: s.recall / n,
                    precision: s.precision / n,
                    ndcg: s.ndcg / n,
                    mrr: s.mrr / n,
                    coverage: self.covered[i].iter().filter(|&&c| c).count() as f64 / items,
                }
            })
            .collect()
    }
}

/// Area under the ROC curve: the probability that a random positive outscores a random
/// negative, ties counting half (Mann–Whitney). `None` without both classes.
pub fn auc(scored: &[(f32, bool)]) -> Option<f64> {
    let mut v: Vec<(f32, bool)> = scored
        .iter()
        .copied()
        .filter(|(s, _)| !s.is_nan())
        .collect();
    v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let positives = v.iter().filter(|(_, l)| *l).count() as f64;
    let negatives = v.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of positive ranks with ties given their average rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let average_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += v[i..j].iter().filter(|(_, l)| *l).count() as f64 * average_rank;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// F1 of predicting "positive" when the score is at least `threshold`.
pub fn f1_at(scored: &[(f32, bool)], threshold: f32) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for &(s, l) in scored {
        match (s >= threshold, l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fneg)
    }
}

/// The threshold that maximises F1 on `scored` (chosen on validation, applied to test).
pub fn best_f1_threshold(scored: &[(f32, bool)]) -> f32 {
    // Sweep from the highest threshold down, counting true and false positives.
    let mut by_score: Vec<(f32, bool)> = scored
        .iter()
        .copied()
        .filter(|(s, _)| !s.is_nan())
        .collect();
    by_score.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let positives = scored.iter().filter(|(_, l)| *l).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let (mut best, mut best_f1) = (f32::INFINITY, -1.0);
    let mut i = 0;
    while i < by_score.len() {
        let s = by_score[i].0;
        while i < by_score.len() && by_score[i].0 == s {
            if by_score[i].1 {
                tp += 1.0
            } else {
                fp += 1.0
            }
            i += 1;
        }
        let f1 = 2.0 * tp / (tp + fp + positives);
        if f1 > best_f1 {
            best_f1 = f1;
            best = s;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn ranks_skip_excluded_items_and_break_ties_by_id() {
        let scores = [0.9, 0.5, 0.7, 0.5, 0.1];
        let mut mask = vec![false; 5];
        // Item 0 is in the history: item 2 becomes first, items 1 and 3 tie (1 wins).
        assert_eq!(ranks_of(&scores, &[0], &[3], &mut mask), [2]);
        assert_eq!(ranks_of(&scores, &[0], &[1, 2], &mut mask), [0, 1]);
        assert_eq!(ranks_of(&scores, &[], &[4], &mut mask), [4]);
        assert_eq!(top_k(&scores, &[0], 3, &mut mask), [2, 1, 3]);
        assert_eq!(top_k(&scores, &[], 10, &mut mask), [0, 2, 1, 3, 4]);
        assert!(mask.iter().all(|m| !m));
    }

    #[test]
    fn case_metrics_by_hand() {
        // One relevant item at rank 3 (0-based 2).
        let m = case_metrics(&[2], 1, 5);
        assert_eq!(m.hit, 1.0);
        assert_eq!(m.recall, 1.0);
        assert!(close(m.precision, 0.2));
        assert!(close(m.ndcg, 1.0 / 4f64.log2())); // = 0.5
        assert!(close(m.mrr, 1.0 / 3.0));
        assert_eq!(case_metrics(&[2], 1, 2), CaseMetrics::default());

        // Three relevant, at ranks 0 and 3 within k = 5, the third at 7.
        let m = case_metrics(&[0, 3, 7], 3, 5);
        assert!(close(m.recall, 2.0 / 3.0));
        assert!(close(m.precision, 0.4));
        let dcg = 1.0 + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(m.ndcg, dcg / idcg));
        assert!(close(m.mrr, 1.0));

        // Ideal DCG uses min(|relevant|, k) items: 3 relevant at the top 3 of k = 2 → 1.
        let m = case_metrics(&[0, 1, 2], 3, 2);
        assert!(close(m.ndcg, 1.0));
        assert!(close(m.recall, 2.0 / 3.0));
    }

    #[test]
    fn accumulator_averages_and_covers() {
        let mut a = RankingAccumulator::new(30);
        a.add(&[0], 1, &(0..20).collect::<Vec<_>>());
        let mut b = RankingAccumulator::new(30);
        b.add(&[9], 1, &(10..30).collect::<Vec<_>>());
        let all = a.merge(b).finish();
        assert_eq!(all[0].k, 5);
        assert!(close(all[0].hr, 0.5)); // only the first case hits at 5
        assert!(close(all[1].hr, 1.0));
        assert!(close(all[1].ndcg, (1.0 + 1.0 / 11f64.log2()) / 2.0));
        assert!(close(all[1].mrr, (1.0 + 0.1) / 2.0));
        assert!(close(all[0].coverage, 10.0 / 30.0)); // 0..5 and 10..15
        assert!(close(all[2].coverage, 1.0));
    }

    #[test]
    fn auc_and_f1_by_hand() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false)];
        assert_eq!(auc(&perfect), Some(1.0));
        // Positives 0.8 and 0.4; negatives 0.6 and 0.4: pairs (0.8>0.6), (0.8>0.4),
        // (0.4<0.6), (0.4=0.4 → ½) → 2.5 / 4.
        let mixed = [(0.8, true), (0.4, true), (0.6, false), (0.4, false)];
        assert_eq!(auc(&mixed), Some(0.625));
        assert_eq!(auc(&[(0.1, true)]), None);
        // Threshold 0.5: tp 1 (0.8), fp 1 (0.6), fn 1 (0.4) → 2/(2+1+1).
        assert!(close(f1_at(&mixed, 0.5), 0.5));
        // Best: everything at or above 0.4 → tp 2, fp 2 → 4/6; or 0.8 → tp 1 → 2/3 too:
        // the first (highest) threshold reaching the best wins.
        assert_eq!(best_f1_threshold(&mixed), 0.8);
        assert!(close(f1_at(&mixed, best_f1_threshold(&mixed)), 2.0 / 3.0));
    }
}
