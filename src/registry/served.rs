//! [`RegisteredModel`]: what a registered version holds, the sequence model or EASE, and
//! [`ModelChoice`]: which of its candidates `kgrec train` kept when no model was named, and
//! why.
//!
//! The sequence model (`kgrec`) is right for data that is a sequence of purchases, where
//! the next item is what matters; EASE is right where the held-out items are any of the
//! user's (ratings, a random split), and it needs a dense matrix of the catalogue's size.
//! Neither wins everywhere (BENCHMARKS.md, "Other datasets"), so with no `--model` every
//! candidate that suits the data is fitted and the best on the validation split is kept.

use serde::{Deserialize, Serialize};

use crate::eval::{ItemId, LearnError, Protocol, Scorer, UserId};
use crate::model::ease::Ease;
use crate::model::{ModelConfig, ModelKind, SequentialModel};

/// A registered model, loaded.
pub enum RegisteredModel {
    /// The sequence model (kgrec, an ablation or SASRec).
    Sequential(Box<SequentialModel>),
    /// EASE, with or without the KG.
    Ease(Ease),
}

impl RegisteredModel {
    /// Number of items it ranks.
    pub fn item_count(&self) -> usize {
        match self {
            RegisteredModel::Sequential(m) => m.item_count(),
            RegisteredModel::Ease(m) => m.item_count(),
        }
    }

    /// The user's state after `history` (rows the model does not rank are left out): the
    /// sequence model's vector; empty for EASE, which scores from the history itself.
    pub fn user_vector(&self, history: &[ItemId]) -> Result<Vec<f32>, LearnError> {
        let RegisteredModel::Sequential(model) = self else {
            return Ok(Vec::new());
        };
        let known = model.item_count();
        let history: Vec<ItemId> = history
            .iter()
            .copied()
            .filter(|&r| (r as usize) < known)
            .collect();
        model.user_vectors(&[&history])
    }

    /// A new product's item vector from its text vector (cold start); `None` for a model
    /// that cannot place one (EASE, or a sequence model without text).
    pub fn cold_item_vector(&self, text: &[f32]) -> Result<Option<Vec<f32>>, LearnError> {
        match self {
            RegisteredModel::Sequential(m) => m.cold_item_vector(text),
            RegisteredModel::Ease(_) => Ok(None),
        }
    }

    /// The links the score counts from history item `from`, `back` positions before the
    /// end, to item `to`, with their weights; none for EASE.
    pub fn links_between(&self, back: usize, from: ItemId, to: ItemId) -> Vec<(&str, f32)> {
        match self {
            RegisteredModel::Sequential(m) => m.links_between(back, from, to),
            RegisteredModel::Ease(_) => Vec::new(),
        }
    }

    /// For a product nobody in training bought that the model scores by its text, the
    /// recent history item whose text is closest (see
    /// [`SequentialModel::new_product_text_match`]); `None` for EASE.
    pub fn new_product_text_match(&self, history: &[ItemId], item: ItemId) -> Option<ItemId> {
        match self {
            RegisteredModel::Sequential(m) => m.new_product_text_match(history, item),
            RegisteredModel::Ease(_) => None,
        }
    }

    /// Each KG link kind's learned weight per recency class; empty for EASE.
    pub fn link_weights(&self) -> Result<Vec<(String, Vec<f32>)>, LearnError> {
        match self {
            RegisteredModel::Sequential(m) => m.link_weights(),
            RegisteredModel::Ease(_) => Ok(Vec::new()),
        }
    }
}

impl Scorer for RegisteredModel {
    fn score(&self, user: UserId, history: &[ItemId], out: &mut [f32]) -> Result<(), LearnError> {
        match self {
            RegisteredModel::Sequential(m) => m.score(user, history, out),
            RegisteredModel::Ease(m) => m.score(user, history, out),
        }
    }

    fn score_batch(
        &self,
        queries: &[(UserId, &[ItemId])],
        out: &mut [f32],
    ) -> Result<(), LearnError> {
        match self {
            RegisteredModel::Sequential(m) => m.score_batch(queries, out),
            RegisteredModel::Ease(m) => m.score_batch(queries, out),
        }
    }
}

/// One candidate of a choice and how it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateResult {
    /// The model kind (`kgrec`, `ease-kg`, …).
    pub model: String,
    /// Its validation NDCG@10; `None` when it was not fitted.
    pub valid_ndcg: Option<f64>,
    /// Why it was not fitted, or what it chose (`λ 500`).
    pub note: String,
}

/// Which model `kgrec train` kept when none was named; recorded in the entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelChoice {
    /// The protocol whose validation split compared the candidates.
    pub protocol: String,
    /// Every candidate considered.
    pub candidates: Vec<CandidateResult>,
    /// The model kept.
    pub chosen: String,
    /// Why, in a sentence.
    pub reason: String,
}

/// The models worth fitting on data with `n_items` items compared on `protocol`'s
/// validation split, and a note for each left out: kgrec always; EASE with the KG and
/// without it when the catalogue fits its dense matrix and the split is a ranking one.
pub fn candidates(
    n_items: usize,
    protocol: Protocol,
    config: &ModelConfig,
) -> (Vec<ModelKind>, Vec<CandidateResult>) {
    let mut fitted = vec![ModelKind::Kgrec];
    let mut skipped = Vec::new();
    for ease in [ModelKind::EaseKg, ModelKind::Ease] {
        if protocol == Protocol::Ctr {
            skipped.push(CandidateResult {
                model: ease.as_str().to_owned(),
                valid_ndcg: None,
                note: "not fitted: click-through data is compared by AUC on labelled pairs, which EASE does not learn from".to_owned(),
            });
        } else if n_items <= config.ease.max_items {
            fitted.push(ease);
        } else {
            skipped.push(CandidateResult {
                model: ease.as_str().to_owned(),
                valid_ndcg: None,
                note: format!(
                    "not fitted: {n_items} items, above EASE's limit of {} (ease.max_items; its matrix is items × items)",
                    config.ease.max_items
                ),
            });
        }
    }
    (fitted, skipped)
}

/// The best of the fitted candidates by validation NDCG@10 (the first on a tie), and the
/// reason to record; the first candidate when none could be validated.
pub fn choose(protocol: &str, results: Vec<CandidateResult>) -> Result<ModelChoice, LearnError> {
    let best = results
        .iter()
        .filter_map(|c| c.valid_ndcg.map(|v| (c, v)))
        .fold(None::<(&CandidateResult, f64)>, |best, (c, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((c, v)),
        });
    let Some((best, value)) = best else {
        // Too little data to hold anything out for validation: keep the first candidate
        // (kgrec), and say so.
        let Some(first) = results.first() else {
            return Err(LearnError::InvalidConfig(
                "no candidate model to choose from".into(),
            ));
        };
        return Ok(ModelChoice {
            protocol: protocol.to_owned(),
            chosen: first.model.clone(),
            reason: format!(
                "the {protocol} split holds nothing out to compare the candidates on, so the first, {}, is kept",
                first.model
            ),
            candidates: results,
        });
    };
    let chosen = best.model.clone();
    let others: Vec<String> = results
        .iter()
        .filter(|c| c.model != chosen)
        .map(|c| match c.valid_ndcg {
            Some(v) => format!("{} {v:.4}", c.model),
            None => format!("{} not fitted", c.model),
        })
        .collect();
    let reason = format!(
        "best validation NDCG@10 on the {protocol} split: {value:.4}{}",
        if others.is_empty() {
            String::new()
        } else {
            format!(" (against {})", others.join(", "))
        }
    );
    Ok(ModelChoice {
        protocol: protocol.to_owned(),
        candidates: results,
        chosen,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(model: &str, valid_ndcg: Option<f64>) -> CandidateResult {
        CandidateResult {
            model: model.into(),
            valid_ndcg,
            note: String::new(),
        }
    }

    #[test]
    fn the_best_on_validation_is_kept_and_the_reason_names_the_others() {
        let c = choose(
            "ratio",
            vec![
                result("kgrec", Some(0.16)),
                result("ease-kg", Some(0.33)),
                result("ease", Some(0.33)),
            ],
        )
        .unwrap();
        assert_eq!(c.chosen, "ease-kg");
        assert!(c.reason.contains("kgrec 0.1600"), "{}", c.reason);
        let c = choose("loo", vec![result("kgrec", None), result("ease", None)]).unwrap();
        assert_eq!(c.chosen, "kgrec");
        assert!(c.reason.contains("nothing out"), "{}", c.reason);
        assert!(choose("loo", Vec::new()).is_err());
    }

    #[test]
    fn a_large_catalogue_leaves_ease_out() {
        let config = ModelConfig::default();
        let (fitted, skipped) = candidates(config.ease.max_items + 1, Protocol::Loo, &config);
        assert_eq!(fitted, [ModelKind::Kgrec]);
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].note.contains("ease.max_items"));
        let (fitted, _) = candidates(100, Protocol::Ratio, &config);
        assert_eq!(fitted.len(), 3);
        let (fitted, skipped) = candidates(100, Protocol::Ctr, &config);
        assert_eq!(fitted, [ModelKind::Kgrec]);
        assert!(skipped[0].note.contains("AUC"));
    }
}
