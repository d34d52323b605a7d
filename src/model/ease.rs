//! EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a
//! closed-form item-to-item model, the strongest simple model on data that is not a next-item
//! sequence (random held-out items, ratings). With the KG (`ease-kg`), every KG node an item
//! is joined to is read as one more row of the interaction matrix, a pseudo-user who "has"
//! all the items joined to it, weighted against the real users (side information as extra
//! rows, after Jeunen et al., "Closed-Form Models for Collaborative Filtering with
//! Side-Information", RecSys 2020). Items that share a director, a brand or a co-purchase
//! then lean on each other where interactions are few.
//!
//! The weights: `B = I − P·diag(1/diag P)`, `P = (XᵀX + λI)⁻¹`, `B`'s diagonal zero; a user
//! scores item `j` by the sum of `B[i][j]` over their history items `i`. The regularisation
//! `λ` and the KG rows' weight are chosen on the validation split from a small grid.
//! Inversion is a dense Cholesky in `f64`, `n³` work and `3n²` memory for `n` items, so the
//! model takes catalogues up to [`EaseConfig::max_items`].
//!
//! Over 600 lines (about 640, 130 of them tests) because it is one idea: the closed form,
//! the search over its settings on validation, the inversion it needs and its checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eval::{evaluate_ranking, EvalSplit, ItemId, LearnError, Scorer, Stage, UserId};

/// The tensor a saved model's weights are in.
const WEIGHTS: &str = "ease_weights";

/// EASE settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EaseConfig {
    /// The L2 weights `λ` tried; the best by validation NDCG@10 is kept (the first when
    /// nothing is held out).
    pub l2: Vec<f64>,
    /// The dropout rates tried: the L2 weight of item `i` grows by `p/(1−p)` times its
    /// count, as emphasised denoising (EDLAE, Steck NeurIPS 2020) has it, which keeps popular
    /// items from explaining each other by their popularity alone. 0 is EASE as published.
    pub dropout: Vec<f64>,
    /// The weights of the KG rows tried (`ease-kg`): each KG node counts as this many users
    /// who have every item it joins.
    pub kg_weight: Vec<f64>,
    /// KG nodes that join more than this share of the catalogue are left out: a root
    /// category joins nearly everything and says nothing about any two items.
    pub kg_max_share: f64,
    /// The largest catalogue EASE fits: the Gram matrix and its inverse are dense, and each
    /// setting tried is one `n³` inversion (1.5–3 s at 1,682 items on 2 cores, so by `n³`
    /// about 10–20 s at 3,000 and eight times that at 6,000), so that `kgrec train` and
    /// `start` stay within minutes.
    pub max_items: usize,
    /// Once the setting is chosen on validation, fit once more on the training and the
    /// validation interactions: test is scored from a history that holds both, and a closed
    /// form costs one more inversion. Off, the model learns from the training part only, as
    /// RecBole's models do.
    pub refit: bool,
}

impl Default for EaseConfig {
    fn default() -> Self {
        EaseConfig {
            l2: vec![250.0, 10.0, 25.0, 50.0, 100.0, 500.0, 1000.0, 2500.0],
            dropout: vec![0.0, 0.1, 0.25, 0.5, 0.75],
            kg_weight: vec![1.0, 0.25, 0.5, 2.0, 4.0],
            kg_max_share: 0.1,
            max_items: 3_000,
            refit: true,
        }
    }
}

/// The KG nodes each item is joined to, as the rows EASE reads: node `e`'s items.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemAttributes {
    /// For each KG node (brand, category, director, co-purchased product) joined to two or
    /// more catalogue items, those items.
    pub groups: Vec<Vec<ItemId>>,
}

/// What an EASE fit chose and how it scored on validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EaseChoice {
    /// The L2 weight kept.
    pub l2: f64,
    /// The dropout rate kept.
    pub dropout: f64,
    /// The KG rows' weight kept (0: without the KG).
    pub kg_weight: f64,
    /// Validation NDCG@10 of the kept setting (`None` when nothing is held out).
    pub valid_ndcg: Option<f64>,
    /// Every setting tried: (λ, dropout, KG weight) and its validation NDCG@10 (`None`
    /// when nothing is held out).
    pub tried: Vec<([f64; 3], Option<f64>)>,
    /// Whether the kept weights were fit again on training and validation interactions.
    #[serde(default)]
    pub refit: bool,
}

/// A fitted EASE model: the item-to-item weights, row `i` for history item `i`.
pub struct Ease {
    n: usize,
    weights: Vec<f32>,
    /// The weights before the refit, which validation is scored with.
    before_refit: Option<Vec<f32>>,
    /// What the fit chose.
    pub choice: EaseChoice,
}

impl Ease {
    /// Fits on the split's training interactions (and `attributes`' KG rows, if given),
    /// choosing `λ` and the KG weight on the validation split.
    pub fn fit(
        split: &EvalSplit,
        attributes: Option<&ItemAttributes>,
        config: &EaseConfig,
    ) -> Result<Self, LearnError> {
        let n = split.n_items;
        if n > config.max_items {
            return Err(LearnError::InvalidConfig(format!(
                "EASE inverts a dense {n} × {n} matrix; this catalogue is above its limit of {} items (ease.max_items)",
                config.max_items
            )));
        }
        if config.l2.is_empty() || config.l2.iter().any(|l| l.is_nan() || *l <= 0.0) {
            return Err(LearnError::InvalidConfig(
                "ease.l2 needs one or more positive weights".into(),
            ));
        }
        let interactions = gram_of_users(&split.train, n);
        let kg = attributes.map(|a| gram_of_groups(a, n, config.kg_max_share));
        let kg_weights: Vec<f64> = match &kg {
            Some(_) => config.kg_weight.clone(),
            None => vec![0.0],
        };
        let valid = split.ranking_cases(Stage::Valid);
        let fit_one = |setting: [f64; 3]| -> Result<(Vec<f32>, Option<f64>), LearnError> {
            let [l2, dropout, kg_weight] = setting;
            let gram = with_kg(interactions.clone(), kg.as_deref(), kg_weight);
            let weights = closed_form(gram, n, l2, dropout)?;
            let model = Ease {
                n,
                weights,
                before_refit: None,
                choice: EaseChoice::default(),
            };
            let ndcg = if valid.is_empty() {
                None
            } else {
                let report = evaluate_ranking(&model, &valid, n)?;
                report.at_k(10).map(|m| m.ndcg)
            };
            Ok((model.weights, ndcg))
        };
        // Coordinate search from the first value of each grid: every value of one setting
        // with the others at the best so far, setting by setting, until a round changes
        // nothing (at most three rounds). Nothing held out: the first values.
        let grids: [&[f64]; 3] = [&config.l2, &config.dropout, &kg_weights];
        if grids.iter().any(|g| g.is_empty()) {
            return Err(LearnError::InvalidConfig(
                "ease: every grid (l2, dropout, kg_weight) needs a value".into(),
            ));
        }
        let mut search = Search::default();
        let mut at = [grids[0][0], grids[1][0], grids[2][0]];
        search.consider(at, &fit_one)?;
        if !valid.is_empty() {
            for _round in 0..3 {
                let before = at;
                for (d, grid) in grids.iter().enumerate() {
                    for &v in grid.iter() {
                        let mut setting = at;
                        setting[d] = v;
                        search.consider(setting, &fit_one)?;
                    }
                    if let Some(best) = &search.best {
                        at = best.0;
                    }
                }
                if at == before {
                    break;
                }
            }
        }
        let Search { tried, best } = search;
        let Some((setting, valid_ndcg, mut weights)) = best else {
            return Err(LearnError::InvalidConfig("ease: no setting fitted".into()));
        };
        let [l2, dropout, kg_weight] = setting;
        let refit = config.refit && !valid.is_empty();
        let mut before_refit = None;
        if refit {
            let both: Vec<Vec<ItemId>> = split
                .train
                .iter()
                .zip(&split.valid)
                .map(|(t, v)| t.iter().chain(v).copied().collect())
                .collect();
            let gram = with_kg(gram_of_users(&both, n), kg.as_deref(), kg_weight);
            let refitted = closed_form(gram, n, l2, dropout)?;
            before_refit = Some(std::mem::replace(&mut weights, refitted));
        }
        Ok(Ease {
            n,
            weights,
            before_refit,
            choice: EaseChoice {
                l2,
                dropout,
                kg_weight,
                valid_ndcg,
                tried,
                refit,
            },
        })
    }

    /// The fitted weights, row-major (`n × n`): what history item `i` adds to item `j`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The model as it was before the refit on the validation interactions (`None` when it
    /// was not refit): what validation figures must be scored with. Takes the weights out.
    pub fn take_before_refit(&mut self) -> Option<Ease> {
        let weights = self.before_refit.take()?;
        Some(Ease {
            n: self.n,
            weights,
            before_refit: None,
            choice: EaseChoice {
                refit: false,
                ..self.choice.clone()
            },
        })
    }

    /// Number of items it ranks.
    pub fn item_count(&self) -> usize {
        self.n
    }

    /// The score of item `to` for a user with `history`: its weights from their distinct
    /// items, as [`Scorer::score`] gives it for every item.
    pub fn score_item(&self, history: &[ItemId], to: ItemId) -> f32 {
        distinct(history).iter().map(|&h| self.weight(h, to)).sum()
    }

    /// What history item `from` adds to item `to`'s score (0 for an unknown row).
    pub fn weight(&self, from: ItemId, to: ItemId) -> f32 {
        let (from, to) = (from as usize, to as usize);
        if from < self.n && to < self.n {
            self.weights[from * self.n + to]
        } else {
            0.0
        }
    }

    /// Writes the weights as one safetensors file, tensor `ease_weights` (items × items,
    /// row: the history item), readable from numpy and PyTorch.
    pub fn save(&self, path: &Path) -> Result<(), LearnError> {
        let failed = |e: candle_core::Error| LearnError::Checkpoint {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let t =
            Tensor::from_slice(&self.weights, (self.n, self.n), &Device::Cpu).map_err(failed)?;
        let tensors = HashMap::from([(WEIGHTS.to_owned(), t)]);
        candle_core::safetensors::save(&tensors, path).map_err(failed)
    }

    /// Loads weights written by [`Ease::save`], with the choice its entry records.
    pub fn load(path: &Path, choice: EaseChoice) -> Result<Self, LearnError> {
        let failed = |message: String| LearnError::Checkpoint {
            path: path.to_owned(),
            message,
        };
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| failed(e.to_string()))?;
        let t = tensors
            .get(WEIGHTS)
            .ok_or_else(|| failed(format!("no {WEIGHTS} tensor")))?;
        let n = match t.dims() {
            [a, b] if a == b => *a,
            other => return Err(failed(format!("{WEIGHTS} is {other:?}, not square"))),
        };
        let weights = t
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(|e| failed(e.to_string()))?;
        Ok(Ease {
            n,
            weights,
            before_refit: None,
            choice,
        })
    }
}

/// The settings (λ, dropout, KG weight) tried so far with their validation NDCG@10, and
/// the best of them with its weights.
#[derive(Default)]
struct Search {
    tried: Vec<([f64; 3], Option<f64>)>,
    best: Option<([f64; 3], Option<f64>, Vec<f32>)>,
}

type FitOne<'a> = dyn Fn([f64; 3]) -> Result<(Vec<f32>, Option<f64>), LearnError> + 'a;

impl Search {
    /// Fits `setting` unless tried already, keeping it if it validates best.
    fn consider(&mut self, setting: [f64; 3], fit_one: &FitOne<'_>) -> Result<(), LearnError> {
        if self.tried.iter().any(|t| t.0 == setting) {
            return Ok(());
        }
        let (weights, ndcg) = fit_one(setting)?;
        self.tried.push((setting, ndcg));
        let better = match (&self.best, ndcg) {
            (None, _) => true,
            (Some((_, Some(b), _)), Some(x)) => x > *b,
            _ => false,
        };
        if better {
            self.best = Some((setting, ndcg, weights));
        }
        Ok(())
    }
}

impl Default for EaseChoice {
    fn default() -> Self {
        EaseChoice {
            l2: 0.0,
            dropout: 0.0,
            kg_weight: 0.0,
            valid_ndcg: None,
            tried: Vec::new(),
            refit: false,
        }
    }
}

impl Scorer for Ease {
    fn score(&self, _: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        out.fill(0.0);
        for i in distinct(history) {
            let i = i as usize;
            if i < self.n {
                let row = &self.weights[i * self.n..(i + 1) * self.n];
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w;
                }
            }
        }
        Ok(())
    }
}

/// The distinct items of a history, in row order.
fn distinct(history: &[ItemId]) -> Vec<ItemId> {
    let mut seen = history.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// `XᵀX` of the users' items (each user's items counted once), dense `n × n`.
fn gram_of_users(users: &[Vec<ItemId>], n: usize) -> Vec<f64> {
    let mut gram = vec![0f64; n * n];
    for items in users {
        let set = distinct(items);
        for &i in &set {
            let row = &mut gram[i as usize * n..(i as usize + 1) * n];
            for &j in &set {
                row[j as usize] += 1.0;
            }
        }
    }
    gram
}

/// `gram` plus `weight` times the KG rows' Gram matrix, if any.
fn with_kg(mut gram: Vec<f64>, kg: Option<&[f64]>, weight: f64) -> Vec<f64> {
    if let (Some(kg), true) = (kg, weight > 0.0) {
        for (g, k) in gram.iter_mut().zip(kg) {
            *g += weight * k;
        }
    }
    gram
}

/// `EᵀE` of the KG rows: each node joining two or more items, and at most `max_share` of
/// the catalogue, adds 1 to every pair of its items.
fn gram_of_groups(attributes: &ItemAttributes, n: usize, max_share: f64) -> Vec<f64> {
    let limit = ((n as f64) * max_share).max(2.0) as usize;
    let mut gram = vec![0f64; n * n];
    for group in &attributes.groups {
        let mut set: Vec<usize> = group
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| i < n)
            .collect();
        set.sort_unstable();
        set.dedup();
        if set.len() < 2 || set.len() > limit {
            continue;
        }
        for &i in &set {
            let row = &mut gram[i * n..(i + 1) * n];
            for &j in &set {
                row[j] += 1.0;
            }
        }
    }
    gram
}

/// EASE's closed form on the Gram matrix `gram` (consumed): `B[i][j] = −P[i][j] / P[j][j]`
/// off the diagonal, `P = (gram + Λ)⁻¹`, `Λ = λI + p/(1−p)·diag(gram)`.
fn closed_form(
    mut gram: Vec<f64>,
    n: usize,
    l2: f64,
    dropout: f64,
) -> Result<Vec<f32>, LearnError> {
    if !(0.0..1.0).contains(&dropout) {
        return Err(LearnError::InvalidConfig(format!(
            "ease.dropout must be in [0, 1), not {dropout}"
        )));
    }
    let emphasis = dropout / (1.0 - dropout);
    for i in 0..n {
        let d = gram[i * n + i];
        gram[i * n + i] = d + l2 + emphasis * d;
    }
    let p = spd_inverse(gram, n)?;
    let mut weights = vec![0f32; n * n];
    weights
        .par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(i, row)| {
            for (j, w) in row.iter_mut().enumerate() {
                if i != j {
                    *w = (-p[i * n + j] / p[j * n + j]) as f32;
                }
            }
        });
    Ok(weights)
}

/// The inverse of a symmetric positive definite matrix (row-major, `n × n`): Cholesky
/// `A = LLᵀ`, then `L⁻¹` by rows, then `A⁻¹ = L⁻ᵀL⁻¹`. Every inner loop runs over a
/// contiguous row, and the last step in parallel over rows.
fn spd_inverse(mut a: Vec<f64>, n: usize) -> Result<Vec<f64>, LearnError> {
    // Cholesky in place, lower triangle (row-oriented Crout).
    for i in 0..n {
        for j in 0..=i {
            let (head, tail) = a.split_at_mut(i * n);
            let row_i = &tail[..n];
            let dot: f64 = if j < i {
                let row_j = &head[j * n..j * n + j];
                row_i[..j].iter().zip(row_j).map(|(x, y)| x * y).sum()
            } else {
                row_i[..j].iter().map(|x| x * x).sum()
            };
            let s = tail[j] - dot;
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return Err(LearnError::BadData(
                        "EASE: the regularised Gram matrix is not positive definite".into(),
                    ));
                }
                tail[j] = s.sqrt();
            } else {
                tail[j] = s / head[j * n + j];
            }
        }
    }
    // L⁻¹ by rows: row i = (e_i − Σ_{k<i} L[i][k] · row k of L⁻¹) / L[i][i].
    let mut inv = vec![0f64; n * n];
    for i in 0..n {
        let (done, rest) = inv.split_at_mut(i * n);
        let row = &mut rest[..n];
        row[i] = 1.0;
        for k in 0..i {
            let l = a[i * n + k];
            if l != 0.0 {
                let src = &done[k * n..k * n + k + 1];
                for (r, s) in row[..=k].iter_mut().zip(src) {
                    *r -= l * s;
                }
            }
        }
        let d = a[i * n + i];
        for r in row[..=i].iter_mut() {
            *r /= d;
        }
    }
    // A⁻¹[r][c] = Σ_{k ≥ max(r, c)} L⁻¹[k][r] · L⁻¹[k][c].
    let mut out = vec![0f64; n * n];
    out.par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            for k in r..n {
                let lk = &inv[k * n..k * n + k + 1];
                let f = lk[r];
                if f != 0.0 {
                    for (o, x) in row[..=k].iter_mut().zip(lk) {
                        *o += f * x;
                    }
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{InteractionData, Protocol};

    #[test]
    fn inverse_of_a_known_matrix() {
        // [[4, 2, 0], [2, 5, 1], [0, 1, 3]] and its inverse (from the adjugate; det 44).
        let a = vec![4.0, 2.0, 0.0, 2.0, 5.0, 1.0, 0.0, 1.0, 3.0];
        let inv = spd_inverse(a.clone(), 3).unwrap();
        let expect = [14.0, -6.0, 2.0, -6.0, 12.0, -4.0, 2.0, -4.0, 16.0].map(|x| x / 44.0);
        for (x, e) in inv.iter().zip(expect) {
            assert!((x - e).abs() < 1e-12, "{inv:?}");
        }
        assert!(spd_inverse(vec![1.0, 2.0, 2.0, 1.0], 2).is_err());
    }

    fn data_of(histories: &[&[u32]]) -> InteractionData {
        let mut events = Vec::new();
        for (u, items) in histories.iter().enumerate() {
            for (t, &i) in items.iter().enumerate() {
                events.push((format!("u{u}"), format!("i{i}"), t as i64));
            }
        }
        InteractionData::from_triples(events.iter().map(|(u, i, t)| (u.as_str(), i.as_str(), *t)))
    }

    #[test]
    fn co_consumed_items_lean_on_each_other() {
        // Items 0 and 1 go together, 2 and 3 go together; 4 only pads the held-out part.
        let data = data_of(&[
            &[0, 1, 4, 4],
            &[1, 0, 4, 4],
            &[0, 1, 4, 4],
            &[2, 3, 4, 4],
            &[3, 2, 4, 4],
        ]);
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let config = EaseConfig {
            l2: vec![1.0],
            dropout: vec![0.0],
            ..EaseConfig::default()
        };
        let model = Ease::fit(&split, None, &config).unwrap();
        let n = split.n_items;
        let id = |s: &str| data.item_id(s).unwrap() as usize;
        let mut out = vec![0f32; n];
        model.score(0, &[id("i0") as ItemId], &mut out).unwrap();
        assert!(out[id("i1")] > out[id("i2")]);
        assert!(out[id("i1")] > out[id("i3")]);
        // The diagonal is zero: an item never recommends itself.
        assert_eq!(model.weights()[id("i0") * n + id("i0")], 0.0);
    }

    #[test]
    fn kg_rows_join_items_no_one_has_taken_together() {
        // Nobody takes 0 with 2, but a KG node joins them: with the KG rows, 0's history
        // scores 2 above 3.
        let data = data_of(&[&[0, 1, 4, 4], &[1, 0, 4, 4], &[2, 3, 4, 4], &[3, 2, 4, 4]]);
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let id = |s: &str| data.item_id(s).unwrap();
        let attributes = ItemAttributes {
            groups: vec![vec![id("i0"), id("i2")]],
        };
        let config = EaseConfig {
            l2: vec![1.0],
            dropout: vec![0.0],
            kg_weight: vec![2.0],
            kg_max_share: 1.0,
            ..EaseConfig::default()
        };
        let score = |attributes: Option<&ItemAttributes>| {
            let model = Ease::fit(&split, attributes, &config).unwrap();
            let mut out = vec![0f32; split.n_items];
            model.score(0, &[id("i0")], &mut out).unwrap();
            out[id("i2") as usize] - out[id("i3") as usize]
        };
        assert!(score(None).abs() < 1e-6);
        assert!(score(Some(&attributes)) > 0.0);
    }

    #[test]
    fn validation_chooses_the_setting_and_beats_popularity() {
        let split = crate::model::baselines::tests::grouped_tastes();
        let model = Ease::fit(&split, None, &EaseConfig::default()).unwrap();
        let c = EaseConfig::default();
        assert!(model.choice.tried.len() >= c.l2.len() + c.dropout.len() - 1);
        let best = model
            .choice
            .tried
            .iter()
            .filter_map(|t| t.1)
            .fold(f64::MIN, f64::max);
        assert_eq!(model.choice.valid_ndcg, Some(best));
        let cases = split.ranking_cases(Stage::Test);
        let ease = evaluate_ranking(&model, &cases, split.n_items).unwrap();
        let pop = evaluate_ranking(
            &crate::model::baselines::Popularity::fit(&split),
            &cases,
            split.n_items,
        )
        .unwrap();
        assert!(ease.at_k(10).unwrap().ndcg > pop.at_k(10).unwrap().ndcg);
    }

    #[test]
    fn saved_weights_load_back() {
        let split = crate::model::baselines::tests::grouped_tastes();
        let config = EaseConfig {
            l2: vec![10.0],
            dropout: vec![0.0],
            ..EaseConfig::default()
        };
        let model = Ease::fit(&split, None, &config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ease.safetensors");
        model.save(&path).unwrap();
        let loaded = Ease::load(&path, model.choice.clone()).unwrap();
        assert_eq!(loaded.weights(), model.weights());
        std::fs::write(&path, b"not a tensor file").unwrap();
        assert!(Ease::load(&path, EaseChoice::default()).is_err());
    }

    #[test]
    fn a_catalogue_above_the_limit_is_refused() {
        let split = crate::model::baselines::tests::grouped_tastes();
        let config = EaseConfig {
            max_items: 5,
            ..EaseConfig::default()
        };
        let err = Ease::fit(&split, None, &config).err().unwrap();
        assert!(err.to_string().contains("max_items"), "{err}");
    }
}
