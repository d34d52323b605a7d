//! Baselines every kgrec model is measured against, on the same evaluation code path:
//! popularity, item-based kNN (cosine) and BPR matrix factorisation.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::eval::EvalSplit;
use crate::eval::Scorer;
use crate::eval::{ItemId, LearnError, UserId};
use crate::util::SeededRng;

/// Scores items by how often they were interacted with in training.
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Counts training interactions per item.
    pub fn fit(split: &EvalSplit) -> Self {
        let mut counts = vec![0f32; split.n_items];
        for (_, i) in split.train_pairs() {
            counts[i as usize] += 1.0;
        }
        Popularity { counts }
    }
}

impl Scorer for Popularity {
    fn score(&self, _: UserId, _: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        out.copy_from_slice(&self.counts);
        Ok(())
    }
}

/// Item-kNN settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemKnnConfig {
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Cosine shrinkage: similarity = co-count / (sqrt(n_i · n_j) + shrink).
    pub shrink: f32,
}

impl Default for ItemKnnConfig {
    fn default() -> Self {
        ItemKnnConfig {
            neighbours: 100,
            shrink: 0.0,
        }
    }
}

/// Item-based collaborative filtering: an item scores the sum of its cosine similarities
/// (over training users) to the items of the history.
pub struct ItemKnn {
    neighbours: Vec<Vec<(ItemId, f32)>>,
}

impl ItemKnn {
    /// Computes each item's nearest neighbours from training co-occurrence.
    pub fn fit(split: &EvalSplit, config: &ItemKnnConfig) -> Self {
        let n = split.n_items;
        let mut degree = vec![0f32; n];
        let mut co: Vec<HashMap<ItemId, f32>> = vec![HashMap::new(); n];
        for items in &split.train {
            let mut set = items.clone();
            set.sort_unstable();
            set.dedup();
            for &i in &set {
                degree[i as usize] += 1.0;
            }
            for (a, &i) in set.iter().enumerate() {
                for &j in &set[a + 1..] {
                    *co[i as usize].entry(j).or_default() += 1.0;
                    *co[j as usize].entry(i).or_default() += 1.0;
                }
            }
        }
        let neighbours = co
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let mut list: Vec<(ItemId, f32)> = row
                    .into_iter()
                    .map(|(j, c)| {
                        let denom = (degree[i] * degree[j as usize]).sqrt() + config.shrink;
                        (j, c / denom)
                    })
                    .collect();
                list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                list.truncate(config.neighbours);
                list
            })
            .collect();
        ItemKnn { neighbours }
    }
}

impl Scorer for ItemKnn {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        out.fill(0.0);
        for &h in history {
            if let Some(list) = self.neighbours.get(h as usize) {
                for &(j, s) in list {
                    out[j as usize] += s;
                }
            }
        }
        Ok(())
    }
}

/// BPR-MF settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BprConfig {
    /// Factor size.
    pub dim: usize,
    /// Passes; each draws as many (user, positive, negative) triples as there are
    /// training interactions.
    pub epochs: usize,
    /// SGD step.
    pub learning_rate: f32,
    /// L2 regularisation.
    pub regularization: f32,
    /// Seed of initialisation and sampling.
    pub seed: u64,
}

impl Default for BprConfig {
    fn default() -> Self {
        BprConfig {
            dim: 64,
            epochs: 60,
            learning_rate: 0.05,
            regularization: 0.002,
            seed: 42,
        }
    }
}

/// Bayesian personalised ranking matrix factorisation (Rendle et al. 2009), trained by SGD
/// with uniform negative sampling.
pub struct BprMf {
    dim: usize,
    users: Vec<f32>,
    items: Vec<f32>,
    bias: Vec<f32>,
}

impl BprMf {
    /// Trains on the split's training interactions.
    pub fn fit(split: &EvalSplit, config: &BprConfig) -> Self {
        let (n_users, n_items, dim) = (split.train.len(), split.n_items, config.dim);
        let mut rng = SeededRng::new(config.seed);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.unit_f32() - 0.5) * 0.1).collect() };
        let mut users = init(n_users * dim);
        let mut items = init(n_items * dim);
        let mut bias = vec![0f32; n_items];
        let pairs: Vec<(UserId, ItemId)> = split.train_pairs().collect();
        let seen: Vec<Vec<ItemId>> = split
            .train
            .iter()
            .map(|v| {
                let mut s = v.clone();
                s.sort_unstable();
                s
            })
            .collect();
        let mut rng = SeededRng::for_stream(config.seed, 1);
        let (lr, reg) = (config.learning_rate, config.regularization);
        for _ in 0..config.epochs {
            for _ in 0..pairs.len() {
                let (u, i) = pairs[rng.below(pairs.len())];
                let j = loop {
                    let j = rng.below(n_items) as ItemId;
                    if seen[u as usize].binary_search(&j).is_err() {
                        break j;
                    }
                };
                let (u, i, j) = (u as usize, i as usize, j as usize);
                let mut x = bias[i] - bias[j];
                for d in 0..dim {
                    x += users[u * dim + d] * (items[i * dim + d] - items[j * dim + d]);
                }
                // d/dx of ln σ(x) is σ(-x).
                let g = 1.0 / (1.0 + x.exp());
                bias[i] += lr * (g - reg * bias[i]);
                bias[j] += lr * (-g - reg * bias[j]);
                for d in 0..dim {
                    let (pu, qi, qj) = (users[u * dim + d], items[i * dim + d], items[j * dim + d]);
                    users[u * dim + d] += lr * (g * (qi - qj) - reg * pu);
                    items[i * dim + d] += lr * (g * pu - reg * qi);
                    items[j * dim + d] += lr * (-g * pu - reg * qj);
                }
            }
        }
        BprMf {
            dim,
            users,
            items,
            bias,
        }
    }
}

impl Scorer for BprMf {
    fn score(&self, user: UserId, _: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        let dim = self.dim;
        let u = user as usize;
        if (u + 1) * dim > self.users.len() {
            out.copy_from_slice(&self.bias);
            return Ok(());
        }
        let pu = &self.users[u * dim..(u + 1) * dim];
        for (i, s) in out.iter_mut().enumerate() {
            let qi = &self.items[i * dim..(i + 1) * dim];
            *s = self.bias[i] + pu.iter().zip(qi).map(|(a, b)| a * b).sum::<f32>();
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::eval::evaluate_ranking;
    use crate::eval::InteractionData;
    use crate::eval::{Protocol, Stage};

    /// Two taste groups: even users take items 0..10 in a fixed order, odd users 10..20;
    /// item 0 and 10 are the most popular of each group.
    pub(crate) fn grouped_tastes() -> EvalSplit {
        let mut events = Vec::new();
        for u in 0..200 {
            let base = if u % 2 == 0 { 0 } else { 10 };
            let len = 4 + u % 6;
            for p in 0..len {
                events.push((
                    format!("u:{u:03}"),
                    format!("i:{:02}", base + (u / 2 + p) % 10),
                    p as i64,
                ));
            }
        }
        let data = InteractionData::from_triples(
            events.iter().map(|(u, i, p)| (u.as_str(), i.as_str(), *p)),
        );
        EvalSplit::new(&data, Protocol::Loo, 0).unwrap()
    }

    #[test]
    fn personalised_baselines_beat_popularity_on_grouped_tastes() {
        let s = grouped_tastes();
        let cases = s.ranking_cases(Stage::Test);
        let pop = evaluate_ranking(&Popularity::fit(&s), &cases, s.n_items).unwrap();
        let knn = evaluate_ranking(
            &ItemKnn::fit(&s, &ItemKnnConfig::default()),
            &cases,
            s.n_items,
        )
        .unwrap();
        let bpr = evaluate_ranking(
            &BprMf::fit(
                &s,
                &BprConfig {
                    dim: 8,
                    epochs: 30,
                    ..Default::default()
                },
            ),
            &cases,
            s.n_items,
        )
        .unwrap();
        let ndcg = |r: &crate::eval::RankingReport| r.at_k(5).unwrap().ndcg;
        // Within a group every item is eligible; knowing the group halves the candidates.
        assert!(
            ndcg(&knn) > ndcg(&pop) + 0.1,
            "knn {} pop {}",
            ndcg(&knn),
            ndcg(&pop)
        );
        assert!(
            ndcg(&bpr) > ndcg(&pop) + 0.1,
            "bpr {} pop {}",
            ndcg(&bpr),
            ndcg(&pop)
        );
    }

    #[test]
    fn bpr_is_deterministic_for_a_seed() {
        let s = grouped_tastes();
        let c = BprConfig {
            dim: 4,
            epochs: 2,
            ..Default::default()
        };
        let (a, b) = (BprMf::fit(&s, &c), BprMf::fit(&s, &c));
        assert_eq!(a.items, b.items);
    }
}
