//! Experiments: fit each requested model on a protocol's training part, for each seed, and
//! score validation and test on the same code path; then mean ± std over seeds.

use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::baselines::{BprConfig, BprMf, ItemKnn, ItemKnnConfig, Popularity};
use super::data::{InteractionData, ItemId};
use super::embedding_knn::EmbeddingKnn;
use super::eval::{evaluate_ctr, evaluate_ranking, CtrReport, RankingReport, Scorer};
use super::graph_features::{item_links, item_neighbourhood, item_structure, StructureConfig};
use super::links::ItemLinks;
use super::sequential::{ItemFeatures, SequentialConfig, SequentialModel};
use super::split::{EvalSplit, Protocol, Stage};
use super::text_features::{item_texts, load_encoder, text_neighbours, TextFeatureConfig};
use super::RecError;
use crate::kg::KgStore;

/// The models `kgrec eval` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Most-interacted items first.
    Popularity,
    /// Item-based kNN, cosine over training users.
    ItemKnn,
    /// BPR matrix factorisation.
    BprMf,
    /// Skip-gram vectors of KG walks, scored by cosine to the recency-weighted history.
    WalkKnn,
    /// The ID-only self-attentive sequence model trained with cross-entropy (SASRec+CE).
    Sasrec,
    /// kgrec's model: the sequence model with fused ID, KG-structure and text inputs, and
    /// the KG's links from the recent items scored directly.
    Kgrec,
    /// Ablation: kgrec without the KG (ID and text inputs).
    KgrecNoKg,
    /// Ablation: kgrec without text (ID and KG-structure inputs).
    KgrecNoText,
    /// Ablation: kgrec with the KG read directly (one-hop neighbourhood codes) instead of
    /// through walks and skip-gram.
    KgrecNoWalks,
    /// Ablation: kgrec without the direct KG links (the KG only through the walk vectors).
    KgrecNoLinks,
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: [ModelKind; 10] = [
        ModelKind::Popularity,
        ModelKind::ItemKnn,
        ModelKind::BprMf,
        ModelKind::WalkKnn,
        ModelKind::Sasrec,
        ModelKind::Kgrec,
        ModelKind::KgrecNoKg,
        ModelKind::KgrecNoText,
        ModelKind::KgrecNoWalks,
        ModelKind::KgrecNoLinks,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Popularity => "popularity",
            ModelKind::ItemKnn => "item-knn",
            ModelKind::BprMf => "bpr-mf",
            ModelKind::WalkKnn => "walk-knn",
            ModelKind::Sasrec => "sasrec",
            ModelKind::Kgrec => "kgrec",
            ModelKind::KgrecNoKg => "kgrec-no-kg",
            ModelKind::KgrecNoText => "kgrec-no-text",
            ModelKind::KgrecNoWalks => "kgrec-no-walks",
            ModelKind::KgrecNoLinks => "kgrec-no-links",
        }
    }
}

/// The item inputs of a sequence-model variant, besides its ID embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceInputs {
    /// Structure vectors from KG walks and skip-gram.
    pub walks: bool,
    /// One-hop KG neighbourhood codes (the KG without walks).
    pub neighbourhood: bool,
    /// Text vectors from the sentence model.
    pub text: bool,
    /// Links from the recent items scored directly: the KG's item-to-item links when the
    /// model reads the KG, the nearest items by text when it reads text.
    pub links: bool,
}

impl ModelKind {
    /// The inputs of a sequence model, or `None` for a model that is not one.
    pub fn sequence_inputs(self) -> Option<SequenceInputs> {
        let (walks, neighbourhood, text, links) = match self {
            ModelKind::Sasrec => (false, false, false, false),
            ModelKind::Kgrec => (true, false, true, true),
            ModelKind::KgrecNoKg => (false, false, true, true),
            ModelKind::KgrecNoText => (true, false, false, true),
            ModelKind::KgrecNoWalks => (false, true, true, true),
            ModelKind::KgrecNoLinks => (true, false, true, false),
            _ => return None,
        };
        Some(SequenceInputs {
            walks,
            neighbourhood,
            text,
            links,
        })
    }
}

impl FromStr for ModelKind {
    type Err = RecError;
    fn from_str(s: &str) -> Result<Self, RecError> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                RecError::InvalidConfig(format!(
                    "unknown model {s:?}; known: {}",
                    ModelKind::ALL.map(ModelKind::as_str).join(", ")
                ))
            })
    }
}

/// Everything an experiment needs besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    /// Evaluation protocol.
    pub protocol: Protocol,
    /// One run per seed; the seed drives the split (random protocols) and the models.
    pub seeds: Vec<u64>,
    /// Item-kNN settings.
    pub item_knn: ItemKnnConfig,
    /// BPR-MF settings.
    pub bpr: BprConfig,
    /// KG projection, walks and skip-gram.
    pub structure: StructureConfig,
    /// Weight ratio between consecutive history items for profile-based scorers.
    pub recency_decay: f32,
    /// The sequence model (sasrec and kgrec variants).
    pub sequential: SequentialConfig,
    /// The sentence model for text features.
    pub text: TextFeatureConfig,
    /// Size of the one-hop neighbourhood codes of `kgrec-no-walks`.
    pub neighbourhood_dim: usize,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            protocol: Protocol::Loo,
            seeds: vec![1],
            item_knn: ItemKnnConfig::default(),
            bpr: BprConfig::default(),
            structure: StructureConfig {
                interactions: true,
                ..Default::default()
            },
            recency_decay: 0.7,
            sequential: SequentialConfig::default(),
            text: TextFeatureConfig::default(),
            neighbourhood_dim: 128,
        }
    }
}

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

/// Item inputs computed once and shared by the models of a run: text vectors (the same for
/// every split) and the current seed's structure vectors.
pub struct FeatureCache<'a> {
    store: &'a KgStore,
    data: &'a InteractionData,
    config: &'a ExperimentConfig,
    text: Option<Option<(usize, Vec<f32>)>>,
    structure: Option<(u64, (usize, Vec<f32>))>,
    links: Option<ItemLinks>,
    text_neighbours: Option<Vec<Vec<ItemId>>>,
    text_note: Option<String>,
    notes: Vec<String>,
}

impl<'a> FeatureCache<'a> {
    /// An empty cache over `store` and `data`.
    pub fn new(
        store: &'a KgStore,
        data: &'a InteractionData,
        config: &'a ExperimentConfig,
    ) -> Self {
        FeatureCache {
            store,
            data,
            config,
            text: None,
            structure: None,
            links: None,
            text_neighbours: None,
            text_note: None,
            notes: Vec::new(),
        }
    }

    /// Text vectors of the items, or `None` when no item has text.
    pub fn text(&mut self, progress: Progress<'_>) -> Result<Option<(usize, Vec<f32>)>, RecError> {
        if self.text.is_none() {
            let encoder = load_encoder(&self.config.text)?;
            let texts = item_texts(self.store, self.data, &encoder, progress)?;
            let n = self.data.item_count();
            self.text_note = if texts.with_text == 0 {
                Some("no item has text (name, brand, category or price) in this store, so the text input is left out".into())
            } else if texts.with_text < n {
                Some(format!(
                    "{} of {n} items have text; the others have a zero text vector",
                    texts.with_text
                ))
            } else {
                None
            };
            self.text = Some((texts.with_text > 0).then_some((texts.dim, texts.vectors)));
        }
        self.notes.extend(self.text_note.clone());
        Ok(self.text.clone().flatten())
    }

    /// Walk-based structure vectors of the items for `split`, trained once per seed.
    pub fn structure(
        &mut self,
        split: &EvalSplit,
        seed: u64,
        progress: Progress<'_>,
    ) -> Result<(usize, Vec<f32>), RecError> {
        match &self.structure {
            Some((s, v)) if *s == seed => Ok(v.clone()),
            _ => {
                let v = structure(self.store, self.data, split, self.config, seed, progress)?;
                self.structure = Some((seed, v.clone()));
                Ok(v)
            }
        }
    }

    /// The KG's item-to-item links (the same for every split: they read no interaction).
    pub fn links(&mut self, split: &EvalSplit) -> Result<ItemLinks, RecError> {
        if self.links.is_none() {
            let links = item_links(
                self.store,
                self.data,
                split,
                &self.config.structure.projection,
            )?;
            self.notes.push(format!(
                "{} KG links between items, of {} kinds",
                links.len(),
                links.kinds.len()
            ));
            self.links = Some(links);
        }
        Ok(self.links.clone().unwrap_or_default())
    }

    /// Each item's nearest items by text ([`TEXT_NEIGHBOURS`] of them), or `None` when no
    /// item has text.
    pub fn text_neighbours(
        &mut self,
        progress: Progress<'_>,
    ) -> Result<Option<Vec<Vec<ItemId>>>, RecError> {
        if self.text_neighbours.is_none() {
            let Some((dim, vectors)) = self.text(progress)? else {
                return Ok(None);
            };
            self.text_neighbours = Some(text_neighbours(dim, &vectors, TEXT_NEIGHBOURS)?);
        }
        Ok(self.text_neighbours.clone())
    }

    /// Notes about the inputs handed out since the last call, each once.
    pub fn take_notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        let mut seen = std::collections::HashSet::new();
        notes.retain(|n| seen.insert(n.clone()));
        notes
    }
}

/// The item inputs `model` needs, from the cache.
pub fn item_features(
    model: ModelKind,
    cache: &mut FeatureCache<'_>,
    split: &EvalSplit,
    seed: u64,
    progress: Progress<'_>,
) -> Result<ItemFeatures, RecError> {
    let Some(SequenceInputs {
        walks,
        neighbourhood,
        text,
        links,
    }) = model.sequence_inputs()
    else {
        return Ok(ItemFeatures::default());
    };
    let structure = if walks {
        Some(cache.structure(split, seed, progress)?)
    } else if neighbourhood {
        let v = item_neighbourhood(
            cache.store,
            cache.data,
            split,
            &cache.config.structure.projection,
            cache.config.neighbourhood_dim,
            seed,
        )?;
        Some((v.dim, v.data))
    } else {
        None
    };
    let text = if text { cache.text(progress)? } else { None };
    if model == ModelKind::KgrecNoKg && text.is_none() {
        return Err(RecError::BadData(
            "kgrec-no-kg needs item text, and no item in this store has any".into(),
        ));
    }
    // Links: the KG's when the model reads the KG, and the nearest items by text when it
    // reads text.
    let mut table = None;
    if links && structure.is_some() {
        table = Some(cache.links(split)?);
    }
    if links && text.is_some() {
        if let Some(neighbours) = cache.text_neighbours(progress)? {
            table = Some(
                table
                    .unwrap_or_default()
                    .with_kind(TEXT_LINK_KIND, &neighbours),
            );
        }
    }
    let links = table.filter(|l| !l.is_empty());
    Ok(ItemFeatures {
        structure,
        text,
        links,
    })
}

/// Trains the sequence-model variant `model` (sasrec or a kgrec variant) on `split`.
pub fn fit_sequential(
    model: ModelKind,
    cache: &mut FeatureCache<'_>,
    split: &EvalSplit,
    seed: u64,
    progress: Progress<'_>,
) -> Result<(SequentialModel, ItemFeatures), RecError> {
    if model.sequence_inputs().is_none() {
        return Err(RecError::InvalidConfig(format!(
            "{} is not a sequence model",
            model.as_str()
        )));
    }
    let features = item_features(model, cache, split, seed, progress)?;
    let sequential = SequentialConfig {
        seed,
        use_id: true,
        use_structure: features.structure.is_some(),
        use_text: features.text.is_some(),
        use_links: features.links.is_some() && cache.config.sequential.use_links,
        ..cache.config.sequential.clone()
    };
    let fitted = SequentialModel::fit(split, &features, &sequential, progress)?;
    if let Some(best) = fitted
        .validation
        .iter()
        .find(|(epoch, _)| *epoch == fitted.best_epoch)
    {
        cache.notes.push(format!(
            "seed {seed}: kept epoch {} of the {} trained, by validation {} ({:.4})",
            best.0,
            fitted.losses.len(),
            if split.protocol == Protocol::Ctr {
                "AUC"
            } else {
                "NDCG@10"
            },
            best.1
        ));
    }
    let mut weights = fitted.link_weights()?;
    if !weights.is_empty() {
        weights.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
        let shown: Vec<String> = weights
            .iter()
            .take(LINK_KINDS_SHOWN)
            .map(|(kind, w)| {
                let w: Vec<String> = w.iter().map(|x| format!("{x:.2}")).collect();
                format!("{kind} {}", w.join("/"))
            })
            .collect();
        cache.notes.push(format!(
            "seed {seed}: link weights (from the last item / the two before / the rest of the \
             last 10), strongest first: {}",
            shown.join("; ")
        ));
    }
    Ok((fitted, features))
}

/// How many nearest items by text each item links to.
pub const TEXT_NEIGHBOURS: usize = 10;

/// The name of the link kind "among the nearest items by text".
pub const TEXT_LINK_KIND: &str = "similar text";

/// How many link kinds a report's note shows.
const LINK_KINDS_SHOWN: usize = 8;

/// Fits one model on `split` with `seed`.
pub fn fit(
    model: ModelKind,
    cache: &mut FeatureCache<'_>,
    split: &EvalSplit,
    seed: u64,
    progress: Progress<'_>,
) -> Result<Box<dyn Scorer>, RecError> {
    let config = cache.config;
    Ok(match model {
        ModelKind::Popularity => Box::new(Popularity::fit(split)),
        ModelKind::ItemKnn => Box::new(ItemKnn::fit(split, &config.item_knn)),
        ModelKind::BprMf => Box::new(BprMf::fit(
            split,
            &BprConfig {
                seed,
                ..config.bpr.clone()
            },
        )),
        ModelKind::WalkKnn => {
            let s = cache.structure(split, seed, progress)?;
            Box::new(EmbeddingKnn::new(s.0, s.1, config.recency_decay))
        }
        _ => Box::new(fit_sequential(model, cache, split, seed, progress)?.0),
    })
}

/// Items' KG-structure vectors for this split: (dim, rows).
fn structure(
    store: &KgStore,
    data: &InteractionData,
    split: &EvalSplit,
    config: &ExperimentConfig,
    seed: u64,
    progress: Progress<'_>,
) -> Result<(usize, Vec<f32>), RecError> {
    let mut structure = config.structure.clone();
    structure.walks.seed = seed;
    structure.skipgram.seed = seed;
    let s = item_structure(store, data, split, &structure, progress)?;
    Ok((s.vectors.dim, s.vectors.data))
}

/// Scores validation and test of `split` with `scorer`.
pub fn evaluate(scorer: &dyn Scorer, split: &EvalSplit) -> (StageReport, StageReport) {
    match split.protocol {
        Protocol::Ctr => {
            let report = evaluate_ctr(
                scorer,
                &split.valid_pairs,
                &split.test_pairs,
                &split.train,
                split.n_items,
            );
            // Validation AUC/F1: the threshold is chosen on validation itself.
            let valid = evaluate_ctr(
                scorer,
                &split.valid_pairs,
                &split.valid_pairs,
                &split.train,
                split.n_items,
            );
            (StageReport::Ctr(valid), StageReport::Ctr(report))
        }
        _ => {
            let valid = evaluate_ranking(scorer, &split.ranking_cases(Stage::Valid), split.n_items);
            let test = evaluate_ranking(scorer, &split.ranking_cases(Stage::Test), split.n_items);
            (StageReport::Ranking(valid), StageReport::Ranking(test))
        }
    }
}

/// Runs every model on every seed.
pub fn run_experiment(
    store: &KgStore,
    data: &InteractionData,
    models: &[ModelKind],
    config: &ExperimentConfig,
    progress: Progress<'_>,
) -> Result<Vec<ModelReport>, RecError> {
    if config.seeds.is_empty() {
        return Err(RecError::InvalidConfig(
            "at least one seed is needed".into(),
        ));
    }
    let mut reports: Vec<ModelReport> = models
        .iter()
        .map(|m| ModelReport {
            model: m.as_str().to_owned(),
            runs: Vec::new(),
            test: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    let mut cache = FeatureCache::new(store, data, config);
    for &seed in &config.seeds {
        let split = EvalSplit::new(data, config.protocol, seed)?;
        for (m, report) in models.iter().zip(reports.iter_mut()) {
            let started = Instant::now();
            let label = format!("{} seed {seed}", m.as_str());
            let scorer = fit(*m, &mut cache, &split, seed, &|stage, done, total| {
                progress(&format!("{label}: {stage}"), done, total)
            })?;
            for note in cache.take_notes() {
                if !report.notes.contains(&note) {
                    report.notes.push(note);
                }
            }
            let fit_seconds = started.elapsed().as_secs_f64();
            let (valid, test) = evaluate(scorer.as_ref(), &split);
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
        assert_eq!("item-knn".parse::<ModelKind>().unwrap(), ModelKind::ItemKnn);
        assert!("knn".parse::<ModelKind>().is_err());
    }
}
