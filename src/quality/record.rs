//! Findings in the store: the named graph `…/graph/quality` holds each finding as a
//! `kgr:QualityIssue` (kind, severity, focus node, reason, score, evidence, detected-at), the
//! SHACL `sh:ValidationReport`, and a `kgr:QualityRun` per check that ran. A run replaces,
//! in one transaction, what earlier runs of the same checks recorded and keeps the rest, so
//! `kgrec check --only behaviour` does not erase the shapes report. The data graphs are never
//! touched.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use oxigraph::model::vocab::xsd;
use oxigraph::model::{GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::findings::{Check, Finding, IssueKind, Severity};
use super::CheckReport;
use crate::error::RecError;
use crate::kg::results::cell_literal as lit;
use crate::kg::vocab::{kgr, rdf_type, GRAPH, KGR, RDF};
use crate::kg::KgStore;

/// Prefix of the IRIs minted for findings and reports.
pub const QUALITY_ID: &str = "https://w3id.org/kgrec/id/quality/";

const SH: &str = "http://www.w3.org/ns/shacl#";

/// The named graph `kgrec check` writes.
pub fn quality_graph() -> NamedNode {
    NamedNode::new_unchecked(format!("{GRAPH}quality"))
}

/// Now as an `xsd:dateTime` in UTC, to the second.
pub fn now_datetime() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The IRI of a finding: its SHACL result's IRI, or one minted from kind, focus and (for a
/// duplicate) the product it duplicates, so the same problem gets the same IRI run after run.
/// An account's related accounts change as others come and go; they are not part of it.
pub fn finding_iri(f: &Finding) -> NamedNode {
    if let Some(serde_json::Value::String(iri)) = f.evidence.get("shacl_result") {
        return NamedNode::new_unchecked(iri.clone());
    }
    let mut h = Sha256::new();
    h.update(f.focus.as_bytes());
    let identifying: &[String] = if f.kind.flags_account() {
        &[]
    } else {
        &f.related
    };
    for r in identifying {
        h.update(b"\0");
        h.update(r.as_bytes());
    }
    let digest: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    NamedNode::new_unchecked(format!("{QUALITY_ID}{}/{digest}", f.kind.as_str()))
}

fn node(value: &str) -> Term {
    if value.contains("://") || value.starts_with("urn:") {
        NamedNode::new(value).map_or_else(
            |_| Literal::new_simple_literal(value).into(),
            Term::NamedNode,
        )
    } else {
        Literal::new_simple_literal(value).into()
    }
}

fn sh(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SH}{local}"))
}

/// The quads of one finding.
fn finding_quads(f: &Finding, detected_at: &str, graph: &GraphName, out: &mut Vec<Quad>) {
    let s = NamedOrBlankNode::NamedNode(finding_iri(f));
    let mut add = |p: NamedNode, o: Term| out.push(Quad::new(s.clone(), p, o, graph.clone()));
    add(rdf_type(), kgr("QualityIssue").into());
    add(kgr("issueKind"), kgr(&f.kind.local_name()).into());
    add(
        kgr("severity"),
        sh(match f.severity {
            Severity::Error => "Violation",
            Severity::Warning => "Warning",
            Severity::Info => "Info",
        })
        .into(),
    );
    add(sh("focusNode"), node(&f.focus));
    for r in &f.related {
        add(kgr("relatedNode"), node(r));
    }
    add(kgr("reason"), Literal::new_simple_literal(&f.reason).into());
    add(kgr("issueScore"), Literal::from(f.score).into());
    add(
        kgr("detectedAt"),
        Literal::new_typed_literal(detected_at, xsd::DATE_TIME).into(),
    );
    if !f.evidence.is_empty() {
        let json = serde_json::to_string(&f.evidence).unwrap_or_default();
        add(
            kgr("evidence"),
            Literal::new_typed_literal(json, NamedNode::new_unchecked(format!("{RDF}JSON"))).into(),
        );
    }
}

/// Writes a run's findings (and SHACL report) into the quality graph, replacing what earlier
/// runs of the same checks wrote, in one transaction. Returns the quads now in the graph.
pub fn write(store: &KgStore, report: &CheckReport) -> Result<u64, RecError> {
    let graph = quality_graph();
    let graph_name = GraphName::NamedNode(graph.clone());
    let rerun: BTreeSet<Check> = report.checks.iter().copied().collect();
    // What to keep: every subject of the graph that is not from a re-run check.
    let mut existing: Vec<Quad> = Vec::new();
    store.for_each_quad_in_graph(&graph, |q| existing.push(q))?;
    let kind_p = kgr("issueKind");
    let check_p = kgr("check");
    let mut dropped: HashSet<NamedOrBlankNode> = HashSet::new();
    for q in &existing {
        let from_rerun = if q.predicate == kind_p {
            match &q.object {
                Term::NamedNode(n) => n
                    .as_str()
                    .strip_prefix(KGR)
                    .and_then(IssueKind::parse)
                    .is_none_or(|k| rerun.contains(&k.check())),
                _ => true,
            }
        } else if q.predicate == check_p {
            matches!(&q.object, Term::Literal(l) if Check::parse(l.value()).is_ok_and(|c| rerun.contains(&c)))
        } else {
            false
        };
        if from_rerun {
            dropped.insert(q.subject.clone());
        }
    }
    if rerun.contains(&Check::Shapes) {
        // The SHACL report: its report node and every node under `…/quality/shacl`.
        for q in &existing {
            if let NamedOrBlankNode::NamedNode(n) = &q.subject {
                if n.as_str().starts_with(&format!("{QUALITY_ID}shacl")) {
                    dropped.insert(q.subject.clone());
                }
            }
        }
    }
    let mut quads: Vec<Quad> = existing
        .into_iter()
        .filter(|q| !dropped.contains(&q.subject))
        .collect();
    for t in &report.shacl_report {
        quads.push(Quad::new(
            t.subject.clone(),
            t.predicate.clone(),
            t.object.clone(),
            graph_name.clone(),
        ));
    }
    for f in &report.findings {
        finding_quads(f, &report.detected_at, &graph_name, &mut quads);
    }
    for check in &report.checks {
        let run = NamedOrBlankNode::NamedNode(NamedNode::new_unchecked(format!(
            "{QUALITY_ID}run/{}",
            check.as_str()
        )));
        let count = report
            .findings
            .iter()
            .filter(|f| f.kind.check() == *check)
            .count();
        for (p, o) in [
            (rdf_type(), Term::from(kgr("QualityRun"))),
            (
                check_p.clone(),
                Literal::new_simple_literal(check.as_str()).into(),
            ),
            (
                kgr("detectedAt"),
                Literal::new_typed_literal(&report.detected_at, xsd::DATE_TIME).into(),
            ),
            (kgr("issueCount"), Literal::from(count as i64).into()),
        ] {
            quads.push(Quad::new(run.clone(), p, o, graph_name.clone()));
        }
        // Which check finds each kind, as the ontology says, so queries of this graph alone
        // (the saved `quality-summary`) can group by check in a store without the ontology.
        for kind in IssueKind::ALL.into_iter().filter(|k| k.check() == *check) {
            quads.push(Quad::new(
                kgr(&kind.local_name()),
                check_p.clone(),
                Literal::new_simple_literal(check.as_str()),
                graph_name.clone(),
            ));
        }
    }
    let mut seen = HashSet::new();
    quads.retain(|q| seen.insert(q.clone()));
    let n = quads.len() as u64;
    store.replace_graphs(
        &[graph],
        quads.into_iter().map(Ok::<_, std::convert::Infallible>),
        None,
    )?;
    Ok(n)
}

/// When a check last ran and how many findings it recorded.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CheckRun {
    /// The check.
    pub check: Check,
    /// When it ran (`xsd:dateTime`).
    pub detected_at: String,
    /// Findings it recorded.
    pub issues: u64,
}

/// Findings counted by kind and severity.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct IssueCount {
    /// The kind.
    pub kind: IssueKind,
    /// The check that finds it.
    pub check: Check,
    /// The severity.
    pub severity: Severity,
    /// How many.
    pub count: u64,
}

/// What the quality graph holds, in short.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QualitySummary {
    /// The checks that have run, with when.
    pub runs: Vec<CheckRun>,
    /// Findings by kind and severity, most first.
    pub counts: Vec<IssueCount>,
    /// All findings.
    pub total: u64,
}

fn kind_of(cell: &Option<Term>) -> Option<IssueKind> {
    match cell {
        Some(Term::NamedNode(n)) => n.as_str().strip_prefix(KGR).and_then(IssueKind::parse),
        _ => None,
    }
}

fn severity_of(cell: &Option<Term>) -> Option<Severity> {
    match cell {
        Some(Term::NamedNode(n)) => Some(Severity::from_shacl_iri(n.as_str())),
        _ => None,
    }
}

fn term_text(cell: &Option<Term>) -> String {
    match cell {
        Some(Term::NamedNode(n)) => n.as_str().to_owned(),
        Some(Term::Literal(l)) => l.value().to_owned(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

const PROLOGUE: &str =
    "PREFIX kgr: <https://w3id.org/kgrec/ns#>\nPREFIX sh: <http://www.w3.org/ns/shacl#>\n";

/// The quality graph in short: runs and counts.
pub fn summary(store: &KgStore) -> Result<QualitySummary, RecError> {
    let g = quality_graph();
    let mut runs = Vec::new();
    let q = format!(
        "{PROLOGUE}SELECT ?check ?at ?n WHERE {{ GRAPH <{}> {{ ?r a kgr:QualityRun ; kgr:check ?check ; kgr:detectedAt ?at ; kgr:issueCount ?n }} }} ORDER BY ?check",
        g.as_str()
    );
    store.for_each_solution(&q, |row| {
        if let (Some(Ok(check)), Some(at), Some(n)) = (
            lit(&row[0]).map(Check::parse),
            lit(&row[1]),
            lit(&row[2]).and_then(|n| n.parse().ok()),
        ) {
            runs.push(CheckRun {
                check,
                detected_at: at.to_owned(),
                issues: n,
            });
        }
    })?;
    let mut counts = Vec::new();
    let q = format!(
        "{PROLOGUE}SELECT ?kind ?sev (COUNT(?i) AS ?n) WHERE {{ GRAPH <{}> {{ ?i a kgr:QualityIssue ; kgr:issueKind ?kind ; kgr:severity ?sev }} }} GROUP BY ?kind ?sev",
        g.as_str()
    );
    store.for_each_solution(&q, |row| {
        if let (Some(kind), Some(severity), Some(count)) = (
            kind_of(&row[0]),
            severity_of(&row[1]),
            lit(&row[2]).and_then(|n| n.parse().ok()),
        ) {
            counts.push(IssueCount {
                kind,
                check: kind.check(),
                severity,
                count,
            });
        }
    })?;
    counts.sort_by(|a, b| (b.severity, b.count, a.kind).cmp(&(a.severity, a.count, b.kind)));
    let total = counts.iter().map(|c| c.count).sum();
    Ok(QualitySummary {
        runs,
        counts,
        total,
    })
}

/// Which findings to list.
#[derive(Clone, Debug, Default)]
pub struct IssueFilter {
    /// Only these kinds (empty: all).
    pub kinds: Vec<IssueKind>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only findings about this node (as focus or related node).
    pub focus: Option<String>,
    /// At most this many.
    pub limit: usize,
    /// Skip this many (the page cursor).
    pub offset: usize,
}

/// A recorded finding with its IRI.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RecordedIssue {
    /// The `kgr:QualityIssue`'s IRI.
    pub iri: String,
    /// When it was found.
    pub detected_at: String,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Findings in order (most severe, then highest score, then IRI), filtered and paged;
/// returns them and whether more follow.
pub fn issues(
    store: &KgStore,
    filter: &IssueFilter,
) -> Result<(Vec<RecordedIssue>, bool), RecError> {
    let g = quality_graph();
    let mut filters = String::new();
    if !filter.kinds.is_empty() {
        let list: Vec<String> = filter
            .kinds
            .iter()
            .map(|k| format!("<{}>", kgr(&k.local_name()).as_str()))
            .collect();
        filters.push_str(&format!("FILTER(?kind IN ({}))", list.join(", ")));
    }
    if let Some(s) = filter.severity {
        filters.push_str(&format!("FILTER(?sev = <{}>)", s.shacl_iri()));
    }
    let focus_pattern = match &filter.focus {
        Some(f) => {
            let term = node(f);
            format!("{{ ?i sh:focusNode {term} }} UNION {{ ?i kgr:relatedNode {term} }}")
        }
        None => String::new(),
    };
    let q = format!(
        "{PROLOGUE}SELECT ?i ?kind ?sev ?focus ?reason ?score ?at ?evidence ?related WHERE {{ GRAPH <{g}> {{ \
         {focus_pattern} ?i a kgr:QualityIssue ; kgr:issueKind ?kind ; kgr:severity ?sev ; sh:focusNode ?focus ; \
         kgr:reason ?reason ; kgr:issueScore ?score ; kgr:detectedAt ?at . \
         OPTIONAL {{ ?i kgr:evidence ?evidence }} OPTIONAL {{ ?i kgr:relatedNode ?related }} }} \
         VALUES (?sev ?rank) {{ (sh:Violation 3) (sh:Warning 2) (sh:Info 1) }} {filters} }} \
         ORDER BY DESC(?rank) DESC(?score) ?i LIMIT {} OFFSET {}",
        filter.limit + 1,
        filter.offset,
        g = g.as_str()
    );
    let mut out: Vec<RecordedIssue> = Vec::new();
    let mut bad = None;
    store.for_each_solution(&q, |row| {
        let (Some(kind), Some(severity)) = (kind_of(&row[1]), severity_of(&row[2])) else {
            bad.get_or_insert_with(|| {
                format!(
                    "an issue in the quality graph has an unknown kind or severity: {}",
                    term_text(&row[0])
                )
            });
            return;
        };
        let iri = term_text(&row[0]);
        let related = lit(&row[8]).map(str::to_owned).or_else(|| match &row[8] {
            Some(Term::NamedNode(n)) => Some(n.as_str().to_owned()),
            _ => None,
        });
        if let (Some(last), Some(r)) = (out.last_mut(), &related) {
            if last.iri == iri {
                last.finding.related.push(r.clone());
                return;
            }
        }
        let evidence: BTreeMap<String, serde_json::Value> = lit(&row[7])
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        out.push(RecordedIssue {
            iri,
            detected_at: lit(&row[6]).unwrap_or_default().to_owned(),
            finding: Finding {
                kind,
                severity,
                focus: term_text(&row[3]),
                related: related.into_iter().collect(),
                reason: lit(&row[4]).unwrap_or_default().to_owned(),
                score: lit(&row[5]).and_then(|s| s.parse().ok()).unwrap_or(0.0),
                evidence,
            },
        });
    })?;
    if let Some(message) = bad {
        return Err(RecError::BadData(message));
    }
    let more = out.len() > filter.limit;
    out.truncate(filter.limit);
    Ok((out, more))
}

/// A recorded finding as training reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedFinding {
    /// Its kind.
    pub kind: IssueKind,
    /// The node it is about.
    pub focus: String,
    /// Its related nodes.
    pub related: Vec<String>,
    /// Its figures (empty when it has none).
    pub evidence: BTreeMap<String, serde_json::Value>,
}

/// Every recorded finding of `kinds`, with what training needs of it.
pub fn flagged(store: &KgStore, kinds: &[IssueKind]) -> Result<Vec<RecordedFinding>, RecError> {
    let g = quality_graph();
    let q = format!(
        "{PROLOGUE}SELECT ?i ?kind ?focus ?related ?evidence WHERE {{ GRAPH <{}> {{ ?i a kgr:QualityIssue ; kgr:issueKind ?kind ; sh:focusNode ?focus \
         OPTIONAL {{ ?i kgr:relatedNode ?related }} OPTIONAL {{ ?i kgr:evidence ?evidence }} }} }} ORDER BY ?i",
        g.as_str()
    );
    let mut out: Vec<(String, RecordedFinding)> = Vec::new();
    let mut bad = None;
    store.for_each_solution(&q, |row| {
        let Some(kind) = kind_of(&row[1]).filter(|k| kinds.contains(k)) else {
            return;
        };
        let iri = term_text(&row[0]);
        let related = row[3].as_ref().map(|_| term_text(&row[3]));
        if let Some((last, f)) = out.last_mut() {
            if *last == iri {
                f.related.extend(related);
                return;
            }
        }
        let focus = term_text(&row[2]);
        let evidence = match lit(&row[4]).map(serde_json::from_str) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                bad.get_or_insert(format!(
                    "the evidence of a finding on {focus} is not JSON: {e}"
                ));
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        let finding = RecordedFinding {
            kind,
            focus,
            related: related.into_iter().collect(),
            evidence,
        };
        out.push((iri, finding));
    })?;
    match bad {
        Some(message) => Err(RecError::BadData(message)),
        None => Ok(out.into_iter().map(|(_, f)| f).collect()),
    }
}
