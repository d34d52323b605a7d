//! Experiments: fit each model on a protocol's training part, for each seed, and score
//! validation and test on the same code path; then mean ± std over seeds. The driver knows
//! models only as closures that fit a [`Scorer`] on a split, so it never reads the store.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::data::InteractionData;
use super::scorer::{
    evaluate_ctr, evaluate_ranking, evaluate_ranking_with_new, CtrReport, RankingReport, Scorer,
};
use super::split::{EvalSplit, Protocol, Stage};
use super::LearnError;

/// Metrics of one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StageReport {
    /// Full-ranking metrics.
    Ranking(RankingReport),
    /// Click-through metrics.
    Ctr(CtrReport),
}

impl StageReport {
    /// Named values, for averaging and tables: `HR@10`, `NDCG@10`, …, or `AUC`, `F1`.
    pub fn values(&self) -> Vec<(String, f64)> {
        match self {
            StageReport::Ranking(r) => {
                let mut v = Vec::new();
                for m in &r.at {
                    v.push((format!("HR@{}", m.k), m.hr));
                    v.push((format!("Recall@{}", m.k), m.recall));
                    v.push((format!("NDCG@{}", m.k), m.ndcg));
                    v.push((format!("MRR@{}", m.k), m.mrr));
                    v.push((format!("Precision@{}", m.k), m.precision));
                    v.push((format!("Coverage@{}", m.k), m.coverage));
                }
                for m in r.among_new.iter().flatten() {
                    v.push((format!("new-only HR@{}", m.k), m.hr));
                    v.push((format!("new-only NDCG@{}", m.k), m.ndcg));
                }
                v
            }
            StageReport::Ctr(c) => vec![("AUC".into(), c.auc), ("F1".into(), c.f1)],
        }
    }
}

/// One model, one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Validation metrics.
    pub valid: StageReport,
    /// Test metrics.
    pub test: StageReport,
}

/// A metric's mean and sample standard deviation over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Metric name (`NDCG@10`).
    pub metric: String,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 for one seed).
    pub std: f64,
}

/// All runs of one model and their test summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Model name.
    pub model: String,
    /// One entry per seed.
    pub runs: Vec<SeedRun>,
    /// Test metrics over seeds.
    pub test: Vec<Summary>,
    /// What the reader must know about these runs (an input the data lacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Summarises named values over runs.
pub fn summarize(runs: &[Vec<(String, f64)>]) -> Vec<Summary> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let xs: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = if xs.len() > 1 {
                xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            Summary {
                metric: name.clone(),
                mean,
                std: var.sqrt(),
            }
        })
        .collect()
}

/// Progress callback: stage name, done, total.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Scores validation and test of `split` with `scorer`.
pub fn evaluate(
    scorer: &dyn Scorer,
    split: &EvalSplit,
) -> Result<(StageReport, StageReport), LearnError> {
    evaluate_stages(scorer, scorer, split)
}

/// Scores validation of `split` with `valid_scorer` and test with `scorer`: a model that
/// learned from the validation interactions after choosing its settings there (EASE's
/// refit) is scored on validation as it was before.
pub fn evaluate_stages(
    valid_scorer: &dyn Scorer,
    scorer: &dyn Scorer,
    split: &EvalSplit,
) -> Result<(StageReport, StageReport), LearnError> {
    match split.protocol {
        Protocol::Ctr => {
            let histories = split.histories();
            let report = evaluate_ctr(
                scorer,
                &split.valid_pairs,
                &split.test_pairs,
                &histories,
                split.n_items,
            )?;
            // Validation AUC/F1: the threshold is chosen on validation itself.
            let valid = evaluate_ctr(
                valid_scorer,
                &split.valid_pairs,
                &split.valid_pairs,
                &histories,
                split.n_items,
            )?;
            Ok((StageReport::Ctr(valid), StageReport::Ctr(report)))
        }
        _ => {
            let valid = evaluate_ranking(
                valid_scorer,
                &split.ranking_cases(Stage::Valid),
                split.n_items,
            )?;
            // Under `cold-items` every test target is a new product: rank them also among
            // new products alone.
            let new = (split.protocol == Protocol::ColdItems).then(|| {
                let mut new = vec![false; split.n_items];
                for &i in &split.cold_items {
                    new[i as usize] = true;
                }
                new
            });
            let test = evaluate_ranking_with_new(
                scorer,
                &split.ranking_cases(Stage::Test),
                split.n_items,
                new.as_deref(),
            )?;
            Ok((StageReport::Ranking(valid), StageReport::Ranking(test)))
        }
    }
}

/// A model fitted for one seed: its scorer, and notes on what it learned (the epoch kept,
/// the link weights), shown once per model in the report.
pub struct Fitted {
    /// The fitted model.
    pub scorer: Box<dyn Scorer>,
    /// The model validation is scored with, when it differs: the fitted model before it
    /// learned from the validation interactions.
    pub validation: Option<Box<dyn Scorer>>,
    /// Notes for the report.
    pub notes: Vec<String>,
}

/// Runs every model (by name) on every seed of `protocol`: `restrict` narrows each seed's
/// split (who is learned from and scored), `fit(m, split, seed, progress)` fits model `m`
/// of `models`; each is scored on validation and test of the same split.
pub fn run_experiment<E: From<LearnError>>(
    data: &InteractionData,
    protocol: Protocol,
    seeds: &[u64],
    models: &[&str],
    restrict: impl Fn(&mut EvalSplit),
    mut fit: impl FnMut(usize, &EvalSplit, u64, Progress<'_>) -> Result<Fitted, E>,
    progress: Progress<'_>,
) -> Result<Vec<ModelReport>, E> {
    if seeds.is_empty() {
        return Err(LearnError::InvalidConfig("at least one seed is needed".into()).into());
    }
    let mut reports: Vec<ModelReport> = models
        .iter()
        .map(|m| ModelReport {
            model: (*m).to_owned(),
            runs: Vec::new(),
            test: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    for &seed in seeds {
        let mut split = EvalSplit::new(data, protocol, seed)?;
        restrict(&mut split);
        for (m, report) in reports.iter_mut().enumerate() {
            let started = Instant::now();
            let label = format!("{} seed {seed}", report.model);
            let fitted = fit(m, &split, seed, &|stage, done, total| {
                progress(&format!("{label}: {stage}"), done, total)
            })?;
            for note in fitted.notes {
                if !report.notes.contains(&note) {
                    report.notes.push(note);
                }
            }
            let fit_seconds = started.elapsed().as_secs_f64();
            let scorer = fitted.scorer.as_ref();
            let valid_scorer = fitted.validation.as_deref().unwrap_or(scorer);
            let (valid, test) = evaluate_stages(valid_scorer, scorer, &split)?;
            report.runs.push(SeedRun {
                seed,
                fit_seconds,
                valid,
                test,
            });
        }
    }
    for r in &mut reports {
        let values: Vec<_> = r.runs.iter().map(|run| run.test.values()).collect();
        r.test = summarize(&values);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_mean_and_sample_std() {
        let s = summarize(&[vec![("a".into(), 1.0)], vec![("a".into(), 3.0)]]);
        assert_eq!(s[0].mean, 2.0);
        assert!((s[0].std - 2f64.sqrt()).abs() < 1e-12);
    }
}
