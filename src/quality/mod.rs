//! Data quality: what `kgrec check` finds wrong in the catalogue and the behaviour, recorded
//! in the store so that SPARQL, the API and training see it.
//!
//! Five checks, each a module: [`shapes`] (SHACL Core over the whole store, with rudof's
//! engine), [`text`] (entities, markup, control characters, mojibake, all-caps or empty
//! names), [`duplicates`] (exact and near, by normalised titles and MiniLM sentence
//! vectors), [`outliers`] (prices within their category, categories that contradict the
//! product's co-purchase neighbours) and [`behaviour`] (accounts and items that do not look
//! human). Each yields [`Finding`]s; [`record`] writes them, with the SHACL validation report,
//! into the named graph `…/graph/quality` (one transaction, replacing the previous run) and
//! reads them back; [`exclude`] turns them into what training leaves out.
//!
//! May import: `kg`, `graph`, `embed`, `eval`, `model`, `features`, `util`. It sits after
//! `features` (it reads interactions and product sentences through it) and before
//! `registry`, whose training leaves flagged data out.

pub mod behaviour;
pub mod catalogue;
pub mod duplicates;
pub mod exclude;
pub mod findings;
pub mod outliers;
pub mod record;
pub mod shapes;
pub mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

pub use findings::{Check, Finding, IssueKind, Severity};

use crate::error::RecError;
use crate::eval::Progress;
use crate::features::{read_interactions, TextFeatureConfig};
use crate::kg::KgStore;

/// What `kgrec check` runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The checks to run (all by default).
    pub checks: Vec<Check>,
    /// The SHACL shapes file; `None` uses the bundled `ontology/shapes.ttl`.
    pub shapes: Option<PathBuf>,
    /// Settings of each check.
    pub settings: CheckSettings,
    /// Where the sentence model comes from (near duplicates).
    pub text: TextFeatureConfig,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            checks: Check::ALL.to_vec(),
            shapes: None,
            settings: CheckSettings::default(),
            text: TextFeatureConfig::default(),
        }
    }
}

/// The thresholds of the checks. The defaults were chosen on the injected-noise benchmark
/// (`scripts/noisy-beauty.py`, BENCHMARKS.md), on its first seed, and reported on a second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckSettings {
    /// Near duplicates: the lowest pair score (title similarity × sentence cosine) reported.
    pub duplicate_threshold: f64,
    /// Price outliers: the robust z-score (median and MAD of log price) past which a price is
    /// flagged.
    pub price_z: f64,
    /// Accounts: the robust z-score of log activity past which an account is "far more
    /// active than the rest".
    pub activity_z: f64,
    /// Accounts: the random-activity score (mean log-likelihood ratio of popularity over
    /// uniform, plus the share of related items) under which an account looks random.
    pub random_score: f64,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            duplicate_threshold: duplicates::DEFAULT_THRESHOLD,
            price_z: outliers::DEFAULT_PRICE_Z,
            activity_z: behaviour::DEFAULT_ACTIVITY_Z,
            random_score: behaviour::DEFAULT_RANDOM_SCORE,
        }
    }
}

/// What one run of the checks found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// When the run started (`xsd:dateTime`, UTC).
    pub detected_at: String,
    /// The checks that ran.
    pub checks: Vec<Check>,
    /// Every finding, most severe and highest score first.
    pub findings: Vec<Finding>,
    /// Seconds each check took.
    pub seconds: BTreeMap<String, f64>,
    /// What a check could not look at, and why (no timestamps, no prices, …).
    pub notes: Vec<String>,
    /// The SHACL validation report's triples, written to the quality graph with the findings.
    #[serde(skip)]
    pub shacl_report: Vec<oxigraph::model::Triple>,
}

impl CheckReport {
    /// Findings counted per kind and severity.
    pub fn counts(&self) -> BTreeMap<(IssueKind, Severity), usize> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry((f.kind, f.severity)).or_insert(0) += 1;
        }
        out
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Runs the checks on `store` (which it only reads) and returns what they found; write it
/// with [`record::write`].
pub fn run_checks(
    store: &KgStore,
    options: &CheckOptions,
    progress: Progress<'_>,
) -> Result<CheckReport, RecError> {
    if store.is_empty()? {
        return Err(RecError::BadData(
            "the store is empty: load data first (kgrec load …)".into(),
        ));
    }
    let started = Instant::now();
    let detected_at = record::now_datetime();
    let mut findings = Vec::new();
    let mut seconds = BTreeMap::new();
    let mut notes = Vec::new();
    let mut shacl_report = Vec::new();
    let wants = |c: Check| options.checks.contains(&c);
    // Shapes validate their own in-memory copy of the store on one core while the other
    // checks run (the duplicates check encodes sentences on the rest).
    let (shapes, others) = std::thread::scope(|scope| {
        let shapes = wants(Check::Shapes).then(|| {
            scope.spawn(|| {
                let t = Instant::now();
                shapes::validate(store, options.shapes.as_deref()).map(|o| (o, t.elapsed()))
            })
        });
        let others = run_catalogue_checks(store, options, progress);
        // rudof reports no progress: the bar says what the run still waits for.
        if shapes.is_some() {
            progress("shapes (SHACL validation)", 0, 1);
        }
        let shapes = shapes.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err(RecError::BadData("the shapes check panicked".into())))
        });
        (shapes, others)
    });
    let (found, other_notes, other_seconds) = others?;
    findings.extend(found);
    notes.extend(other_notes);
    seconds.extend(other_seconds);
    if let Some(outcome) = shapes {
        progress("shapes (SHACL validation)", 1, 1);
        let (outcome, elapsed) = outcome?;
        findings.extend(outcome.findings);
        shacl_report = outcome.report;
        seconds.insert(Check::Shapes.as_str().to_owned(), elapsed.as_secs_f64());
    }
    findings.sort_by(|a, b| {
        (b.severity, b.kind.check())
            .cmp(&(a.severity, a.kind.check()))
            .then(b.score.total_cmp(&a.score))
            .then(a.focus.cmp(&b.focus))
    });
    seconds.insert("total".into(), started.elapsed().as_secs_f64());
    let mut checks = options.checks.clone();
    checks.sort();
    checks.dedup();
    Ok(CheckReport {
        detected_at,
        checks,
        findings,
        seconds,
        notes,
        shacl_report,
    })
}

/// What the checks other than shapes found, with notes and seconds per check.
type CatalogueChecks = (Vec<Finding>, Vec<String>, BTreeMap<String, f64>);

/// Runs every requested check but shapes, on one read of the catalogue and interactions.
fn run_catalogue_checks(
    store: &KgStore,
    options: &CheckOptions,
    progress: Progress<'_>,
) -> Result<CatalogueChecks, RecError> {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut seconds = BTreeMap::new();
    let wants = |c: Check| options.checks.contains(&c);
    if !options.checks.iter().any(|c| *c != Check::Shapes) {
        return Ok((findings, notes, seconds));
    }
    // A check's stage on the progress bar, and its start time.
    let start = |name: Check| {
        progress(name.as_str(), 0, 1);
        Instant::now()
    };
    let mut timed = |name: Check, t: Instant| {
        seconds.insert(name.as_str().to_owned(), t.elapsed().as_secs_f64());
    };
    progress("reading the catalogue and interactions", 0, 1);
    let catalogue = catalogue::Catalogue::read(store)?;
    let data = read_interactions(store, None)?;
    progress("reading the catalogue and interactions", 1, 1);
    if wants(Check::Text) {
        let t = start(Check::Text);
        findings.extend(text::check(&catalogue));
        timed(Check::Text, t);
    }
    if wants(Check::Duplicates) {
        let t = Instant::now();
        let found = duplicates::check(
            store,
            &catalogue,
            &data,
            &options.text,
            options.settings.duplicate_threshold,
            progress,
        )?;
        findings.extend(found.findings);
        notes.extend(found.notes);
        timed(Check::Duplicates, t);
    }
    if wants(Check::Outliers) {
        let t = start(Check::Outliers);
        let (found, outlier_notes) = outliers::check(&catalogue, options.settings.price_z);
        findings.extend(found);
        notes.extend(outlier_notes);
        timed(Check::Outliers, t);
    }
    if wants(Check::Behaviour) {
        let t = start(Check::Behaviour);
        let (found, behaviour_notes) = behaviour::check(&catalogue, &data, &options.settings);
        findings.extend(found);
        notes.extend(behaviour_notes);
        timed(Check::Behaviour, t);
    }
    Ok((findings, notes, seconds))
}
