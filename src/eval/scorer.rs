//! The scoring interface every model implements, and evaluation over a split: full ranking
//! for `loo` and `ratio`, AUC and F1 for `ctr`. Serving scores through the same trait.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::data::{ItemId, UserId};
use super::metrics::{
    auc, best_f1_threshold, f1_at, ranks_of, top_k, MetricsAtK, RankingAccumulator, CUTOFFS,
};
use super::split::{LabelledPair, RankingCase};
use super::LearnError;

/// Anything that scores every item for a user given their history (higher is better).
pub trait Scorer: Sync {
    /// Writes one score per item into `out` (`out.len()` is the catalogue size). `history`
    /// is what the user did, oldest first; `user` may be unknown to the model (cold start).
    /// A model that fails (a tensor error) says so: an evaluation must not go on with
    /// made-up scores.
    fn score(&self, user: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError>;

    /// Scores several users at once into consecutive rows of `out` (`queries.len()` ×
    /// catalogue size). Models that batch (matrix products) override this.
    fn score_batch(
        &self,
        queries: &[(UserId, &[ItemId])],
        out: &mut [f32],
    ) -> Result<(), LearnError> {
        let n = out.len() / queries.len().max(1);
        for (row, (user, history)) in out.chunks_mut(n.max(1)).zip(queries) {
            self.score(*user, history, row)?;
        }
        Ok(())
    }
}

/// Ranking metrics of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// Number of ranking cases (users with held-out items).
    pub cases: usize,
    /// Metrics at each cut-off.
    pub at: Vec<MetricsAtK>,
    /// The same cases ranked among new products only (products no training interaction
    /// touched, the `cold-items` protocol's): how well a model orders new products among
    /// themselves, apart from how high it places them against bought ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub among_new: Option<Vec<MetricsAtK>>,
}

impl RankingReport {
    /// The metrics at cut-off `k`, if reported.
    pub fn at_k(&self, k: usize) -> Option<&MetricsAtK> {
        self.at.iter().find(|m| m.k == k)
    }
}

/// Click-through metrics of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtrReport {
    /// Test pairs scored.
    pub pairs: usize,
    /// Area under the ROC curve on the test pairs.
    pub auc: f64,
    /// F1 on the test pairs at the threshold chosen on validation.
    pub f1: f64,
    /// That threshold.
    pub threshold: f32,
}

/// Ranks the whole catalogue for every case, the history excluded, in parallel; fails with
/// the scorer's first error.
pub fn evaluate_ranking(
    scorer: &dyn Scorer,
    cases: &[RankingCase],
    n_items: usize,
) -> Result<RankingReport, LearnError> {
    evaluate_ranking_with_new(scorer, cases, n_items, None)
}

/// [`evaluate_ranking`], and with `new` (one flag per item) the same cases ranked a second
/// time among the flagged items alone ([`RankingReport::among_new`]), from the same scores.
/// Meant for cases whose held-out items are all flagged (`cold-items`' test): a held-out
/// item that is not is still ranked, against the flagged items only.
pub fn evaluate_ranking_with_new(
    scorer: &dyn Scorer,
    cases: &[RankingCase],
    n_items: usize,
    new: Option<&[bool]>,
) -> Result<RankingReport, LearnError> {
    let top_len = CUTOFFS.iter().copied().max().unwrap_or(0);
    let bought: Option<Vec<ItemId>> = new.map(|new| {
        (0..n_items as ItemId)
            .filter(|&i| !new.get(i as usize).copied().unwrap_or(false))
            .collect()
    });
    // The second tally only when new products are ranked apart.
    let empty = || {
        (
            RankingAccumulator::new(n_items),
            bought.as_ref().map(|_| RankingAccumulator::new(n_items)),
        )
    };
    let (acc, acc_new) = cases
        .par_chunks(64)
        .try_fold(
            || (empty(), Vec::new(), vec![false; n_items]),
            |((mut acc, mut acc_new), mut scores, mut mask), chunk| {
                let queries: Vec<(UserId, &[ItemId])> = chunk
                    .iter()
                    .map(|c| (c.user, c.history.as_slice()))
                    .collect();
                scores.resize(chunk.len() * n_items, 0f32);
                scorer.score_batch(&queries, &mut scores)?;
                for (case, row) in chunk.iter().zip(scores.chunks(n_items.max(1))) {
                    let ranks = ranks_of(row, &case.history, &case.relevant, &mut mask);
                    let top = top_k(row, &case.history, top_len, &mut mask);
                    acc.add(&ranks, case.relevant.len(), &top);
                    if let (Some(bought), Some(acc_new)) = (&bought, acc_new.as_mut()) {
                        // The history and every bought product left out: ranks and top
                        // lists count new products only.
                        let mut excluded = case.history.clone();
                        excluded.extend_from_slice(bought);
                        let ranks = ranks_of(row, &excluded, &case.relevant, &mut mask);
                        let top = top_k(row, &excluded, top_len, &mut mask);
                        acc_new.add(&ranks, case.relevant.len(), &top);
                    }
                }
                Ok(((acc, acc_new), scores, mask))
            },
        )
        .map(|state| state.map(|(accs, _, _)| accs))
        .try_reduce(empty, |a, b| {
            let new = match (a.1, b.1) {
                (Some(x), Some(y)) => Some(x.merge(y)),
                (x, y) => x.or(y),
            };
            Ok::<_, LearnError>((a.0.merge(b.0), new))
        })?;
    Ok(RankingReport {
        cases: acc.cases(),
        at: acc.finish(),
        among_new: acc_new.map(|a| a.finish()),
    })
}

/// Scores labelled pairs: each user's history is `history[user]`.
fn score_pairs(
    scorer: &dyn Scorer,
    pairs: &[LabelledPair],
    history: &[Vec<ItemId>],
    n_items: usize,
) -> Result<Vec<(f32, bool)>, LearnError> {
    let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); history.len()];
    for (i, p) in pairs.iter().enumerate() {
        by_user[p.user as usize].push(i);
    }
    let mut out = vec![(0f32, false); pairs.len()];
    let scored: Vec<(usize, f32)> = by_user
        .par_iter()
        .enumerate()
        .filter(|(_, idx)| !idx.is_empty())
        .map(|(u, idx)| {
            let mut scores = vec![0f32; n_items];
            scorer.score(u as UserId, &history[u], &mut scores)?;
            Ok(idx
                .iter()
                .map(|&i| (i, scores[pairs[i].item as usize]))
                .collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>, LearnError>>()?
        .into_iter()
        .flatten()
        .collect();
    for (i, s) in scored {
        out[i] = (s, pairs[i].positive);
    }
    Ok(out)
}

/// AUC on the test pairs, and F1 at the threshold that maximises F1 on the validation pairs.
pub fn evaluate_ctr(
    scorer: &dyn Scorer,
    valid: &[LabelledPair],
    test: &[LabelledPair],
    train: &[Vec<ItemId>],
    n_items: usize,
) -> Result<CtrReport, LearnError> {
    let valid_scored = score_pairs(scorer, valid, train, n_items)?;
    let threshold = best_f1_threshold(&valid_scored);
    let test_scored = score_pairs(scorer, test, train, n_items)?;
    Ok(CtrReport {
        pairs: test.len(),
        auc: auc(&test_scored).unwrap_or(0.5),
        f1: f1_at(&test_scored, threshold),
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores item i as i for everyone: item n-1 is always first.
    struct ById;
    impl Scorer for ById {
        fn score(&self, _: UserId, _: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
            for (i, s) in out.iter_mut().enumerate() {
                *s = i as f32;
            }
            Ok(())
        }
    }

    /// Fails for user 1: a tensor error in the middle of an evaluation.
    struct FailsForOne;
    impl Scorer for FailsForOne {
        fn score(&self, user: UserId, h: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
            if user == 1 {
                return Err(LearnError::Model("shape mismatch".into()));
            }
            ById.score(user, h, out)
        }
    }

    #[test]
    fn a_scoring_error_fails_the_evaluation() {
        let case = |user| RankingCase {
            user,
            history: vec![],
            relevant: vec![0],
        };
        let err = evaluate_ranking(&FailsForOne, &[case(0), case(1)], 5).unwrap_err();
        assert!(err.to_string().contains("shape mismatch"), "{err}");
        let pair = |user| LabelledPair {
            user,
            item: 0,
            positive: true,
        };
        let ctr = evaluate_ctr(&FailsForOne, &[pair(0)], &[pair(1)], &[vec![], vec![]], 5);
        assert!(ctr.is_err());
    }

    #[test]
    fn ranking_excludes_history() {
        let cases = vec![
            // 29 is in the history, so 28 is first.
            RankingCase {
                user: 0,
                history: vec![29],
                relevant: vec![28],
            },
            // 0 is last of 30 with nothing excluded: rank 29, no hit.
            RankingCase {
                user: 1,
                history: vec![],
                relevant: vec![0],
            },
        ];
        let r = evaluate_ranking(&ById, &cases, 30).unwrap();
        assert_eq!(r.cases, 2);
        let at10 = r.at_k(10).unwrap();
        assert_eq!(at10.hr, 0.5);
        assert_eq!(at10.ndcg, 0.5);
        assert_eq!(at10.mrr, 0.5);
        // Top 10: 28..19 for the first case, 29..20 for the second → items 19..=29.
        assert!((at10.coverage - 11.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn new_products_are_also_ranked_among_themselves() {
        // Items 0..10 are new; the target 0 is last of 30 overall (rank 29), and last of
        // the ten new ones (rank 9); with 9 in the history, rank 8 of the nine left.
        let case = |history: Vec<ItemId>| RankingCase {
            user: 0,
            history,
            relevant: vec![0],
        };
        let new: Vec<bool> = (0..30).map(|i| i < 10).collect();
        let r = evaluate_ranking_with_new(&ById, &[case(vec![]), case(vec![9])], 30, Some(&new))
            .unwrap();
        assert_eq!(r.at_k(10).unwrap().hr, 0.0);
        let among = r.among_new.as_ref().unwrap();
        let at5 = among.iter().find(|m| m.k == 5).unwrap();
        let at10 = among.iter().find(|m| m.k == 10).unwrap();
        assert_eq!((at5.hr, at10.hr), (0.0, 1.0));
        let expected = (1.0 / 11f64.log2() + 1.0 / 10f64.log2()) / 2.0;
        assert!((at10.ndcg - expected).abs() < 1e-12, "{}", at10.ndcg);
        // Top lists hold new products only: items 0..=9.
        assert!((at10.coverage - 10.0 / 30.0).abs() < 1e-12);
        assert!(evaluate_ranking(&ById, &[case(vec![])], 30)
            .unwrap()
            .among_new
            .is_none());
    }

    #[test]
    fn ctr_scores_pairs() {
        let pair = |user, item, positive| LabelledPair {
            user,
            item,
            positive,
        };
        let valid = vec![pair(0, 5, true), pair(0, 1, false)];
        let test = vec![pair(1, 9, true), pair(1, 2, false), pair(0, 3, false)];
        let r = evaluate_ctr(&ById, &valid, &test, &[vec![], vec![]], 10).unwrap();
        assert_eq!(r.auc, 1.0);
        assert_eq!(r.threshold, 5.0);
        assert_eq!(r.f1, 1.0);
    }
}
