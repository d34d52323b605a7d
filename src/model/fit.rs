//! Fitting a model of any kind on a split from its item inputs, with the notes a report
//! shows about what it learned. Training a version and the experiment driver both fit
//! through here.

use super::baselines::{BprConfig, BprMf, ItemKnn, Popularity};
use super::ease::Ease;
use super::embedding_knn::EmbeddingKnn;
use super::inputs::ItemFeatures;
use super::kind::{ModelConfig, ModelKind};
use super::sequential::{SequentialConfig, SequentialModel};
use crate::eval::{EvalSplit, Fitted, LearnError, Progress, Protocol};

/// What fitting a model reads besides its kind.
#[derive(Clone, Copy)]
pub struct FitInputs<'a> {
    /// The split whose training part it learns from (validation picks the epoch).
    pub split: &'a EvalSplit,
    /// The items' inputs.
    pub features: &'a ItemFeatures,
    /// The models' settings.
    pub config: &'a ModelConfig,
    /// Seed of initialisation, sampling and dropout.
    pub seed: u64,
}

/// How many link kinds a report's note shows.
const LINK_KINDS_SHOWN: usize = 8;

/// Fits `model` on `split` with `seed`, reading the item inputs it needs from `features`
/// (see [`ModelKind::inputs`]).
pub fn fit(
    model: ModelKind,
    inputs: &FitInputs<'_>,
    progress: Progress<'_>,
) -> Result<Fitted, LearnError> {
    let (split, config) = (inputs.split, inputs.config);
    let scorer: Box<dyn crate::eval::Scorer> = match model {
        ModelKind::Popularity => Box::new(Popularity::fit(split)),
        ModelKind::ItemKnn => Box::new(ItemKnn::fit(split, &config.item_knn)),
        ModelKind::BprMf => Box::new(BprMf::fit(
            split,
            &BprConfig {
                seed: inputs.seed,
                ..config.bpr.clone()
            },
        )),
        ModelKind::Ease | ModelKind::EaseKg => {
            let (mut fitted, notes) = fit_ease(model, inputs)?;
            let validation = fitted
                .take_before_refit()
                .map(|m| Box::new(m) as Box<dyn crate::eval::Scorer>);
            return Ok(Fitted {
                scorer: Box::new(fitted),
                validation,
                notes,
            });
        }
        ModelKind::WalkKnn | ModelKind::TextKnn => {
            let (vectors, what) = match model {
                ModelKind::WalkKnn => (&inputs.features.structure, "structure"),
                _ => (&inputs.features.text, "text"),
            };
            let Some((dim, vectors)) = vectors else {
                return Err(LearnError::InvalidConfig(format!(
                    "{} needs the items' {what} vectors",
                    model.as_str()
                )));
            };
            Box::new(EmbeddingKnn::new(
                *dim,
                vectors.clone(),
                config.recency_decay,
            ))
        }
        _ => {
            let (fitted, notes) = fit_sequential(model, inputs, progress)?;
            return Ok(Fitted {
                scorer: Box::new(fitted),
                validation: None,
                notes,
            });
        }
    };
    Ok(Fitted {
        scorer,
        validation: None,
        notes: Vec::new(),
    })
}

/// Fits EASE (`ease`, or `ease-kg` with the items' KG nodes from `inputs.features`);
/// returns it and a note on the setting it kept.
pub fn fit_ease(
    model: ModelKind,
    inputs: &FitInputs<'_>,
) -> Result<(Ease, Vec<String>), LearnError> {
    let attributes = match model {
        ModelKind::Ease => None,
        ModelKind::EaseKg => Some(inputs.features.attributes.as_ref().ok_or_else(|| {
            LearnError::InvalidConfig("ease-kg needs the KG nodes each item is joined to".into())
        })?),
        other => {
            return Err(LearnError::InvalidConfig(format!(
                "{} is not EASE",
                other.as_str()
            )))
        }
    };
    let fitted = Ease::fit(inputs.split, attributes, &inputs.config.ease)?;
    let c = &fitted.choice;
    let mut note = format!("{}: kept λ {}, dropout {}", model.as_str(), c.l2, c.dropout);
    if model == ModelKind::EaseKg {
        note.push_str(&format!(", KG weight {}", c.kg_weight));
    }
    if let Some(v) = c.valid_ndcg {
        note.push_str(&format!(
            ", by validation NDCG@10 ({v:.4}) of {} settings tried",
            c.tried.len()
        ));
    }
    if c.refit {
        note.push_str("; then fit again on the training and validation interactions");
    }
    Ok((fitted, vec![note]))
}

/// Trains the sequence-model variant `model` (sasrec or a kgrec variant) on `split`; returns
/// it with notes on the epoch kept and the strongest link weights.
pub fn fit_sequential(
    model: ModelKind,
    inputs: &FitInputs<'_>,
    progress: Progress<'_>,
) -> Result<(SequentialModel, Vec<String>), LearnError> {
    let FitInputs {
        split,
        features,
        config,
        seed,
    } = *inputs;
    if !model.is_sequential() {
        return Err(LearnError::InvalidConfig(format!(
            "{} is not a sequence model",
            model.as_str()
        )));
    }
    let sequential = SequentialConfig {
        seed,
        use_id: true,
        use_structure: features.structure.is_some(),
        use_text: features.text.is_some(),
        use_links: features.links.is_some() && config.sequential.use_links,
        ..config.sequential.clone()
    };
    let (sequential, samples_note) = sequential.resolved(&split.train);
    let fitted = SequentialModel::fit(split, features, &sequential, progress)?;
    let mut notes = Vec::new();
    if let Some(best) = fitted
        .validation
        .iter()
        .find(|(epoch, _)| *epoch == fitted.best_epoch)
    {
        notes.push(format!(
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
    notes.extend(samples_note);
    if sequential.choose_weight_average
        && sequential.weight_average_epochs > 0.0
        && !fitted.validation.is_empty()
    {
        notes.push(format!(
            "seed {seed}: kept {}, the better of the two on validation at that epoch",
            if fitted.kept_average {
                "the moving average of the parameters"
            } else {
                "the trained parameters, not their moving average"
            }
        ));
    }
    for &epoch in &fitted.lr_drops {
        let best = fitted
            .validation
            .iter()
            .filter(|(e, _)| *e <= epoch)
            .map(|(_, v)| *v)
            .fold(f64::MIN, f64::max);
        notes.push(format!(
            "seed {seed}: a plateau after epoch {epoch} (best so far {best:.4}) dropped the \
             learning rate to a tenth, from the best parameters"
        ));
    }
    if let Some(f) = &fitted.new_item_fit {
        notes.push(format!(
            "seed {seed}: products nobody bought score {} plus offset {:.3} and text weight \
             {:.3}, less {:.3} × the user's text bar, fit on {} validation cases with {} bought \
             products scored as new (their NDCG@10 {:.4} without the terms, {:.4} with them)",
            if f.terms.from_neighbours {
                "as their nearest bought products by text do"
            } else {
                "by their own KG and text parts"
            },
            f.terms.offset,
            f.terms.text_weight,
            f.terms.bar_weight,
            f.cases,
            f.held,
            f.before,
            f.after
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
        notes.push(format!(
            "seed {seed}: link weights (from the last item / the two before / the rest of the \
             last 10), strongest first: {}",
            shown.join("; ")
        ));
    }
    Ok((fitted, notes))
}
