//! SHACL: the store validated against `ontology/shapes.ttl` (or a shapes file given) with
//! rudof's `shacl_validation`, a maintained SHACL Core engine in Rust that works on oxrdf
//! terms, the ones the store hands out, so the data goes to it without a serialisation.
//! (pySHACL is the reference engine but would put Python in the product; rudof passes the
//! W3C SHACL Core test suite it ships with.)
//!
//! The data graph is the union of every named graph but the quality graph: some constraints
//! (`sh:class`) follow links from one graph (interactions) to entities typed in another
//! (the catalogue). The result is a W3C `sh:ValidationReport`, whose results become
//! `shape-violation` findings (severity from `sh:resultSeverity`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use oxigraph::model::{GraphNameRef, NamedNode, NamedOrBlankNode, Term, Triple};
use rudof_rdf::rdf_core::RDFFormat;
use rudof_rdf::rdf_impl::InMemoryGraph;
use shacl_validation::shacl_processor::{GraphValidation, ShaclProcessor, ShaclValidationMode};
use shacl_validation::store::{Graph, ShaclDataManager};

use super::findings::{Finding, IssueKind, Severity};
use super::record::{quality_graph, QUALITY_ID};
use crate::error::RecError;
use crate::kg::results::display_term;
use crate::kg::KgStore;

/// The bundled shapes, `ontology/shapes.ttl`.
pub const BUNDLED_SHAPES: &str = include_str!("../../ontology/shapes.ttl");

const SH: &str = "http://www.w3.org/ns/shacl#";

/// The validation report and the findings read from it.
pub struct ShapesOutcome {
    /// One finding per `sh:ValidationResult`.
    pub findings: Vec<Finding>,
    /// The report's triples, its report and result nodes named under `…/id/quality/`.
    pub report: Vec<Triple>,
}

fn shapes_error(source: &str, message: impl std::fmt::Display) -> RecError {
    RecError::Shapes {
        file: source.to_owned(),
        message: message.to_string(),
    }
}

/// Validates the store against the shapes in `shapes` (the bundled ones when `None`).
pub fn validate(store: &KgStore, shapes: Option<&Path>) -> Result<ShapesOutcome, RecError> {
    let (text, source) = match shapes {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|source| RecError::Io {
                path: path.to_owned(),
                source,
            })?,
            path.display().to_string(),
        ),
        None => (BUNDLED_SHAPES.to_owned(), "ontology/shapes.ttl".to_owned()),
    };
    let schema = ShaclDataManager::load(&mut text.as_bytes(), &source, RDFFormat::Turtle, None)
        .map_err(|e| shapes_error(&source, e))?;
    let quality = quality_graph();
    let mut data = InMemoryGraph::new();
    let mut failed = None;
    store.for_each_quad(|q| {
        if q.graph_name == GraphNameRef::NamedNode(quality.as_ref()) {
            return;
        }
        if let Err(e) = data.add_triple_ref(q.subject, q.predicate, q.object) {
            failed.get_or_insert(e.to_string());
        }
    })?;
    if let Some(message) = failed {
        return Err(shapes_error(&source, message));
    }
    let graph = Graph::from_graph(data).map_err(|e| shapes_error(&source, e))?;
    let report = GraphValidation::from_graph(graph, ShaclValidationMode::Native)
        .validate(&schema)
        .map_err(|e| shapes_error(&source, e))?;
    let mut rdf = InMemoryGraph::new();
    report
        .to_rdf(&mut rdf)
        .map_err(|e| shapes_error(&source, e))?;
    let triples: Vec<Triple> = rdf
        .quads()
        .map(|q| Triple::new(q.subject, q.predicate, q.object))
        .collect();
    Ok(name_results(triples))
}

/// A constraint component (`datatype` for `sh:DatatypeConstraintComponent`) in words.
fn describe(component: &str) -> String {
    match component {
        "datatype" => "wrong datatype".into(),
        "class" => "not of the required class".into(),
        "nodeKind" => "wrong node kind".into(),
        "minInclusive" | "minExclusive" => "too small".into(),
        "maxInclusive" | "maxExclusive" => "too large".into(),
        "pattern" => "does not match the pattern".into(),
        "in" => "not one of the allowed values".into(),
        other => format!("sh:{other} not met"),
    }
}

/// Names the report node `…/id/quality/shacl-report` and each result `…/id/quality/shacl/N`
/// (so that API pages and later runs can point at them), and reads a finding from each.
fn name_results(triples: Vec<Triple>) -> ShapesOutcome {
    let report_type = NamedNode::new_unchecked(format!("{SH}ValidationReport"));
    let result_p = NamedNode::new_unchecked(format!("{SH}result"));
    let rdf_type = crate::kg::vocab::rdf_type();
    let mut names: HashMap<NamedOrBlankNode, NamedNode> = HashMap::new();
    for t in &triples {
        if t.predicate == rdf_type && t.object == Term::NamedNode(report_type.clone()) {
            names.insert(
                t.subject.clone(),
                NamedNode::new_unchecked(format!("{QUALITY_ID}shacl-report")),
            );
        }
    }
    // Results in a stable order: by focus node, then message.
    let mut by_result: HashMap<NamedOrBlankNode, BTreeMap<String, Term>> = HashMap::new();
    for t in &triples {
        if t.predicate == result_p {
            if let Term::BlankNode(b) = &t.object {
                by_result
                    .entry(NamedOrBlankNode::BlankNode(b.clone()))
                    .or_default();
            }
        }
    }
    for t in &triples {
        if let Some(fields) = by_result.get_mut(&t.subject) {
            if let Some(local) = t.predicate.as_str().strip_prefix(SH) {
                fields
                    .entry(local.to_owned())
                    .or_insert_with(|| t.object.clone());
            }
        }
    }
    let text = |fields: &BTreeMap<String, Term>, key: &str| -> Option<String> {
        fields.get(key).map(|t| match t {
            Term::NamedNode(n) => n.as_str().to_owned(),
            Term::Literal(l) => l.value().to_owned(),
            other => other.to_string(),
        })
    };
    let mut ordered: Vec<(String, String, String, NamedOrBlankNode)> = by_result
        .iter()
        .map(|(node, fields)| {
            (
                text(fields, "focusNode").unwrap_or_default(),
                format!(
                    "{:?}{:?}",
                    text(fields, "resultPath"),
                    text(fields, "sourceConstraintComponent")
                ),
                format!("{:?}", text(fields, "value")),
                node.clone(),
            )
        })
        .collect();
    ordered.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    let mut findings = Vec::with_capacity(ordered.len());
    for (k, (focus, _, _, node)) in ordered.into_iter().enumerate() {
        let iri = NamedNode::new_unchecked(format!("{QUALITY_ID}shacl/{k}"));
        let fields = &by_result[&node];
        let severity = text(fields, "resultSeverity")
            .map_or(Severity::Error, |s| Severity::from_shacl_iri(&s));
        // `sh:MinCountConstraintComponent` or, as this engine writes it, `sh:minCount`.
        let component = text(fields, "sourceConstraintComponent")
            .map(|c| {
                let local = c.strip_prefix(SH).unwrap_or(&c);
                let local = local.strip_suffix("ConstraintComponent").unwrap_or(local);
                let mut chars = local.chars();
                chars
                    .next()
                    .map(|f| f.to_ascii_lowercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let path = text(fields, "resultPath");
        let value = text(fields, "value");
        // The engine's own messages ("MinCount(1) not satisfied") do not say on what; the
        // path and component do.
        let reason = match (text(fields, "resultMessage"), &path) {
            (_, Some(p)) => {
                let short = display_term(&Term::NamedNode(NamedNode::new_unchecked(p.as_str())));
                match (component.as_str(), &value) {
                    ("minCount", _) => format!("has no {short}"),
                    ("maxCount", _) => format!("has more than one {short}"),
                    (_, Some(v)) => format!("{short} {v}: {}", describe(&component)),
                    (_, None) => format!("{short}: {}", describe(&component)),
                }
            }
            (Some(m), None) => m,
            (None, None) => describe(&component),
        };
        let mut f = Finding::new(IssueKind::ShapeViolation, severity, &focus, reason, 1.0)
            .with("component", component)
            .with("shacl_result", iri.as_str());
        if let Some(p) = path {
            f = f.with("path", p);
        }
        if let Some(v) = text(fields, "value") {
            f = f.with("value", v);
        }
        findings.push(f);
        names.insert(node, iri);
    }
    let rename = |s: &NamedOrBlankNode| -> NamedOrBlankNode {
        names
            .get(s)
            .cloned()
            .map_or_else(|| s.clone(), NamedOrBlankNode::NamedNode)
    };
    let report = triples
        .into_iter()
        .map(|t| {
            let object = match &t.object {
                Term::BlankNode(b) => match names.get(&NamedOrBlankNode::BlankNode(b.clone())) {
                    Some(n) => Term::NamedNode(n.clone()),
                    None => t.object.clone(),
                },
                other => other.clone(),
            };
            Triple::new(rename(&t.subject), t.predicate, object)
        })
        .collect();
    ShapesOutcome { findings, report }
}
