//! `kgrec train`: from the store to a registered model. The stages (structure, text,
//! training, evaluation, saving) are timed and their peak memory measured, and the model's
//! folder holds everything another tool needs:
//!
//! - `model.safetensors`: the trained parameters, the item inputs and the fused
//!   `item_vectors` (items × dim) the model scores with;
//! - `user_vectors.safetensors`: `user_vectors` (users × dim), each user's state after
//!   their training history (zero for a user with none); score = user · item;
//! - `items.txt`, `users.txt`: the IRI of each row, one per line (also in the registry);
//! - `entry.json`: the registry entry.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::{Device, Tensor};

use super::config::ExperimentConfig;
use super::served::{candidates, choose, CandidateResult, ModelChoice, RegisteredModel};
use super::versions::{ExclusionRecord, ModelEntry, ModelRegistry, StageCost};
use crate::error::RecError;
use crate::eval::{
    evaluate_stages, EvalSplit, InteractionData, ItemId, LearnError, Progress, Protocol,
    StageReport,
};
use crate::features::StoreFeatures;
use crate::kg::KgStore;
use crate::model::ease::Ease;
use crate::model::{fit_ease, fit_sequential, FitInputs, ItemFeatures, ModelKind, SequentialModel};
use crate::quality::exclude::{restrict_split, Exclusions};
use crate::util::{peak_rss_bytes, reset_peak_rss};

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The model: `kgrec`, one of its ablations, `sasrec`, `ease` or `ease-kg`; `None`
    /// fits every candidate that suits the data and keeps the best on validation
    /// ([`super::served`]).
    pub model: Option<ModelKind>,
    /// Keep this protocol's validation and test parts out and report metrics on them; `None`
    /// trains on every interaction (the model to serve).
    pub holdout: Option<Protocol>,
    /// Seed of the split, walks and training.
    pub seed: u64,
    /// What `--exclude-flagged` acts on, recorded in the entry: the caller has merged the
    /// duplicates into `data` ([`Exclusions::apply`]); the flagged accounts are kept as
    /// history only here (not learned from, and scored only when `eval_users` names them).
    pub exclusions: Option<Exclusions>,
    /// With a holdout, report metrics only for these users (IRIs): the others still train
    /// but their held-out items are not scored.
    pub eval_users: Option<BTreeSet<String>>,
}

/// Users scored per batch when computing user vectors.
const USER_BATCH: usize = 256;

/// Times one stage and measures its peak memory.
struct Stages {
    costs: Vec<StageCost>,
}

impl Stages {
    fn run<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<T, RecError>,
    ) -> Result<T, RecError> {
        let reset = reset_peak_rss();
        let started = Instant::now();
        let out = f()?;
        self.costs.push(StageCost {
            stage: name.to_owned(),
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: if reset { peak_rss_bytes() } else { None },
        });
        Ok(out)
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RecError + '_ {
    move |source| RecError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Trains `options.model` on `data` and registers it; returns its entry.
pub fn train_and_register(
    store: &KgStore,
    data: &InteractionData,
    config: &ExperimentConfig,
    options: &TrainOptions,
    registry: &ModelRegistry,
    progress: Progress<'_>,
) -> Result<ModelEntry, RecError> {
    let mut stages = Stages { costs: Vec::new() };
    let split_for = |protocol: Option<Protocol>| -> Result<EvalSplit, RecError> {
        let mut split = match protocol {
            Some(p) => EvalSplit::new(data, p, options.seed)?,
            None => EvalSplit::all_training(data)?,
        };
        restrict_split(
            &mut split,
            data,
            options.exclusions.as_ref(),
            options.eval_users.as_ref(),
        );
        Ok(split)
    };
    let split = split_for(options.holdout)?;
    let mut store_features = StoreFeatures::new(store, data, &config.features).with_repairs(
        options
            .exclusions
            .as_ref()
            .map(|x| x.repairs.clone())
            .unwrap_or_default(),
    );
    let mut fitter = Fitter {
        features: &mut store_features,
        stages: &mut stages,
        seed: options.seed,
        progress,
    };
    // The candidates: the one asked for, else those that suit the data.
    let protocol = options.holdout.unwrap_or(if data.has_split() {
        Protocol::Ratio
    } else {
        Protocol::Loo
    });
    let (fitted, skipped) = match options.model {
        Some(model) => (vec![model], Vec::new()),
        None => candidates(split.n_items, protocol, &config.model),
    };
    // With a holdout, its validation split chooses. With nothing held out, a split made for
    // the choice (the data's own, else leave-one-out) chooses between candidates and the
    // sequence model's epoch count; the kept model is then fitted again on every interaction
    // with what it chose. Without that, a sequence model would train all `epochs` blind.
    let selection = match options.holdout {
        None if fitted.len() > 1 || fitted.iter().any(|m| m.is_sequential()) => {
            Some(split_for(Some(protocol))?)
        }
        _ => None,
    };
    let on = selection.as_ref().unwrap_or(&split);
    let (chosen, choice) = fitter.fit_best(fitted, skipped, protocol, on, &config.model)?;
    let chosen = if selection.is_some() {
        fitter.features.forget_structure();
        let settled = chosen.settled_config(&config.model);
        let mut refit = fitter.fit(chosen.model, &split, &settled)?;
        let mut notes: Vec<String> = chosen
            .notes
            .iter()
            .map(|n| format!("on the {} validation split: {n}", protocol.as_str()))
            .collect();
        if chosen.model.is_sequential() {
            let drops: Vec<String> = settled
                .sequential
                .drop_after
                .iter()
                .map(usize::to_string)
                .collect();
            notes.push(format!(
                "fitted again on every interaction for the {} epochs chosen there{}",
                settled.sequential.epochs,
                if drops.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", the learning rate dropping to a tenth after epoch {}",
                        drops.join(" and ")
                    )
                }
            ));
        }
        notes.append(&mut refit.notes);
        refit.notes = notes;
        refit
    } else {
        chosen
    };
    let choice = options.model.is_none().then_some(choice);
    let Candidate {
        model: kind,
        fitted: model,
        validation,
        features,
        notes: fit_notes,
        ..
    } = chosen;
    let mut notes = store_features.take_notes();
    notes.extend(fit_notes);
    if let Some(c) = &choice {
        notes.push(format!("chose {}: {}", c.chosen, c.reason));
    }

    let mut metrics = std::collections::BTreeMap::new();
    if let RegisteredModel::Sequential(m) = &model {
        // The loss of the epoch whose parameters were kept (the last without validation).
        if let Some(loss) = m.losses.get(m.best_epoch.wrapping_sub(1)) {
            metrics.insert("train.loss".to_owned(), f64::from(*loss));
        }
        metrics.insert("train.epochs".to_owned(), m.losses.len() as f64);
        metrics.insert("train.best_epoch".to_owned(), m.best_epoch as f64);
    }
    if options.holdout.is_some() {
        let (valid, test) = stages.run("evaluation", || {
            let valid_scorer: &dyn crate::eval::Scorer = match &validation {
                Some(m) => m,
                None => &model,
            };
            Ok(evaluate_stages(valid_scorer, &model, &split)?)
        })?;
        for (name, v) in valid.values() {
            metrics.insert(format!("valid.{name}"), v);
        }
        for (name, v) in test.values() {
            metrics.insert(format!("test.{name}"), v);
        }
        // How many users the figures average over (--eval-users and exclusions change it).
        for (stage, report) in [("valid", &valid), ("test", &test)] {
            if let StageReport::Ranking(r) = report {
                metrics.insert(format!("{stage}.cases"), r.cases as f64);
            }
        }
    }

    // The version and its folder are given by the registry when the files are written.
    let mut entry = ModelEntry {
        version: 0,
        model: kind.as_str().to_owned(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        folder: String::new(),
        holdout: options.holdout.map(|p| p.as_str().to_owned()),
        seed: options.seed,
        config: serde_json::to_value(config).map_err(|e| RecError::Registry(e.to_string()))?,
        sequential: match &model {
            RegisteredModel::Sequential(m) => m.config().clone(),
            RegisteredModel::Ease(_) => Default::default(),
        },
        ease: match &model {
            RegisteredModel::Ease(m) => Some(m.choice.clone()),
            RegisteredModel::Sequential(_) => None,
        },
        choice,
        data_hash: data.content_hash(),
        counts: [
            ("users", data.user_count()),
            ("items", data.item_count()),
            ("interactions", data.events.len()),
            ("training_interactions", split.train_len()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v as u64))
        .collect(),
        metrics,
        stages: Vec::new(),
        notes,
        exclusions: options.exclusions.as_ref().map(|x| ExclusionRecord {
            kinds: x.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            users_left_out: x.users.len() as u64,
            group_accounts_kept: x.group_representatives.len() as u64,
            interactions_left_out: x.interactions_left_out,
            item_aliases: x.item_aliases.clone(),
            titles_repaired: x.repairs.names.len() as u64,
            brands_linked: x.repairs.brands.len() as u64,
        }),
    };
    if let Some(users) = &options.eval_users {
        entry.notes.push(format!(
            "held-out metrics are over the {} users of --eval-users only",
            users.len()
        ));
    }
    registry.add_version(|_, partial| {
        stages.run("saving", || {
            let path = partial.join("model.safetensors");
            match &model {
                RegisteredModel::Sequential(m) => {
                    m.save(&features, &path)?;
                    save_user_vectors(m, &split, &partial.join("user_vectors.safetensors"))?;
                }
                RegisteredModel::Ease(m) => m.save(&path)?,
            }
            write_lines(&partial.join("items.txt"), &data.items)?;
            write_lines(&partial.join("users.txt"), &data.users)?;
            Ok(())
        })?;
        entry.stages = stages.costs;
        Ok(entry)
    })
}

/// Loads a registered model's weights and item inputs from its folder.
pub fn load_registered(
    registry: &ModelRegistry,
    entry: &ModelEntry,
) -> Result<(RegisteredModel, ItemFeatures), RecError> {
    let path = registry.folder(entry).join("model.safetensors");
    if !path.is_file() {
        return Err(RecError::Registry(format!(
            "version {} is registered but {} is missing",
            entry.version,
            path.display()
        )));
    }
    let kind: ModelKind = entry.model.parse()?;
    if matches!(kind, ModelKind::Ease | ModelKind::EaseKg) {
        let choice = entry.ease.clone().unwrap_or_default();
        return Ok((
            RegisteredModel::Ease(Ease::load(&path, choice)?),
            ItemFeatures::default(),
        ));
    }
    let (model, features) = SequentialModel::load(&path, &entry.sequential)?;
    Ok((RegisteredModel::Sequential(Box::new(model)), features))
}

/// A candidate model fitted on a split: the model, its inputs, its notes and its
/// validation NDCG@10.
struct Candidate {
    model: ModelKind,
    fitted: RegisteredModel,
    /// What validation is scored with when it is not `fitted` (EASE before its refit).
    validation: Option<Ease>,
    features: ItemFeatures,
    notes: Vec<String>,
    valid_ndcg: Option<f64>,
}

impl Candidate {
    /// `config` with what this candidate chose on validation fixed, to fit it again on
    /// every interaction: EASE's setting; the sequence model's epoch count, samples, its
    /// terms for products nobody bought and whether it kept a moving average.
    fn settled_config(&self, config: &crate::model::ModelConfig) -> crate::model::ModelConfig {
        let mut c = config.clone();
        match &self.fitted {
            RegisteredModel::Ease(m) => {
                c.ease.l2 = vec![m.choice.l2];
                c.ease.dropout = vec![m.choice.dropout];
                c.ease.kg_weight = vec![m.choice.kg_weight];
            }
            RegisteredModel::Sequential(m) => {
                let (epochs, drop_after) = m.settled_schedule();
                c.sequential.epochs = epochs.max(1);
                c.sequential.drop_after = drop_after;
                // The samples and their settings as trained (a refit's longer histories must
                // not change what `Auto` chose).
                let used = m.config();
                c.sequential.samples = used.samples;
                c.sequential.batch_size = used.batch_size;
                c.sequential.validate_every = used.validate_every;
                c.sequential.patience = used.patience;
                c.sequential.frequency_cutoff = used.frequency_cutoff;
                c.sequential.lr_drops = Some(0);
                // The refit cannot validate: it averages only if this fit kept the average.
                if !m.kept_average {
                    c.sequential.weight_average_epochs = 0.0;
                }
                c.sequential.choose_weight_average = false;
                c.sequential.new_item_terms = m.new_item_fit.as_ref().map(|f| f.terms);
            }
        }
        c
    }
}

/// What fitting a model for registration shares between candidates: the store's item
/// inputs (built once), the timed stages, the seed and the progress report.
struct Fitter<'f, 'a> {
    features: &'f mut StoreFeatures<'a>,
    stages: &'f mut Stages,
    seed: u64,
    progress: Progress<'f>,
}

impl Fitter<'_, '_> {
    /// Fits each of `fitted` on `split` and keeps the best by validation NDCG@10; the choice
    /// lists `skipped` too.
    fn fit_best(
        &mut self,
        fitted: Vec<ModelKind>,
        skipped: Vec<CandidateResult>,
        protocol: Protocol,
        split: &EvalSplit,
        config: &crate::model::ModelConfig,
    ) -> Result<(Candidate, ModelChoice), RecError> {
        let mut results = Vec::new();
        let mut kept: Vec<Candidate> = Vec::new();
        for model in fitted {
            let c = self.fit(model, split, config)?;
            results.push(CandidateResult {
                model: model.as_str().to_owned(),
                valid_ndcg: c.valid_ndcg,
                note: c.notes.first().cloned().unwrap_or_default(),
            });
            kept.push(c);
        }
        results.extend(skipped);
        let choice = if kept.len() == 1 {
            ModelChoice {
                protocol: protocol.as_str().to_owned(),
                chosen: results[0].model.clone(),
                reason: "the only candidate that suits this data".to_owned(),
                candidates: results,
            }
        } else {
            choose(protocol.as_str(), results)?
        };
        let index = kept
            .iter()
            .position(|c| c.model.as_str() == choice.chosen)
            .unwrap_or(0);
        Ok((kept.swap_remove(index), choice))
    }

    /// Builds `model`'s inputs (each a timed stage) and fits it on `split`.
    fn fit(
        &mut self,
        model: ModelKind,
        split: &EvalSplit,
        config: &crate::model::ModelConfig,
    ) -> Result<Candidate, RecError> {
        let (store_features, stages) = (&mut *self.features, &mut *self.stages);
        let (seed, progress) = (self.seed, self.progress);
        let inputs = model.inputs();
        if inputs.walks {
            stages.run("structure", || {
                store_features.structure(split, seed, progress).map(drop)
            })?;
        }
        if inputs.text {
            stages.run("text", || store_features.text(progress).map(drop))?;
        }
        let mut for_model = || store_features.for_model(model, split, seed, progress);
        let features = if inputs.links || inputs.attributes {
            stages.run("links", for_model)?
        } else {
            for_model()?
        };
        let fit_inputs = FitInputs {
            split,
            features: &features,
            config,
            seed,
        };
        let stage = format!("training {}", model.as_str());
        let mut candidate = stages.run(&stage, || {
            if model.is_sequential() {
                let (m, notes) = fit_sequential(model, &fit_inputs, progress)?;
                let valid_ndcg = m
                    .validation
                    .iter()
                    .find(|(epoch, _)| *epoch == m.best_epoch)
                    .map(|(_, v)| *v);
                Ok(Candidate {
                    model,
                    fitted: RegisteredModel::Sequential(Box::new(m)),
                    validation: None,
                    features: ItemFeatures::default(),
                    notes,
                    valid_ndcg,
                })
            } else if matches!(model, ModelKind::Ease | ModelKind::EaseKg) {
                let (mut m, notes) = fit_ease(model, &fit_inputs)?;
                let valid_ndcg = m.choice.valid_ndcg;
                Ok(Candidate {
                    model,
                    validation: m.take_before_refit(),
                    fitted: RegisteredModel::Ease(m),
                    features: ItemFeatures::default(),
                    notes,
                    valid_ndcg,
                })
            } else {
                Err(RecError::InvalidConfig(format!(
                    "kgrec train registers the sequence models (kgrec, its ablations, sasrec) and EASE (ease, ease-kg), not {}",
                    model.as_str()
                )))
            }
        })?;
        // The sequence model's checkpoint carries its inputs; EASE's weights are all it needs.
        if let RegisteredModel::Sequential(_) = candidate.fitted {
            candidate.features = features;
        }
        Ok(candidate)
    }
}

/// Each user's vector after their history before the held-out items (the training items,
/// or a left-out account's context), row `u` for user `u`.
fn save_user_vectors(
    model: &SequentialModel,
    split: &EvalSplit,
    path: &Path,
) -> Result<(), RecError> {
    let dim = model.dim();
    let n_users = split.train.len();
    let mut values = vec![0f32; n_users * dim];
    let with_history: Vec<usize> = (0..n_users)
        .filter(|&u| !split.history(u).is_empty())
        .collect();
    for chunk in with_history.chunks(USER_BATCH) {
        let histories: Vec<&[ItemId]> = chunk.iter().map(|&u| split.history(u)).collect();
        let vectors = model.user_vectors(&histories)?;
        for (k, &u) in chunk.iter().enumerate() {
            values[u * dim..(u + 1) * dim].copy_from_slice(&vectors[k * dim..(k + 1) * dim]);
        }
    }
    let failed = |e: candle_core::Error| LearnError::Checkpoint {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let tensor = Tensor::from_vec(values, (n_users, dim), &Device::Cpu).map_err(failed)?;
    let tensors = std::collections::HashMap::from([("user_vectors".to_owned(), tensor)]);
    Ok(candle_core::safetensors::save(&tensors, path).map_err(failed)?)
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), RecError> {
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let mut out = std::io::BufWriter::new(file);
    for line in lines {
        writeln!(out, "{line}").map_err(io_error(path))?;
    }
    out.flush().map_err(io_error(path))
}
