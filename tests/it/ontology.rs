//! The ontology and shapes parse, every `kgr:` term is documented, and the data kgrec writes
//! uses no `kgr:` term the ontology does not define.

use std::collections::BTreeSet;

use oxigraph::io::{RdfFormat, RdfParser};
use oxigraph::model::{NamedNodeRef, NamedOrBlankNode, Term};

use crate::common::*;

const KGR: &str = "https://w3id.org/kgrec/ns#";

fn parse(name: &str) -> Vec<oxigraph::model::Triple> {
    let text = std::fs::read(repo().join("ontology").join(name)).unwrap();
    RdfParser::from_format(RdfFormat::Turtle)
        .for_slice(&text)
        .map(|q| {
            q.map(oxigraph::model::Triple::from)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

#[test]
fn every_kgr_term_has_label_and_comment() {
    let triples = parse("kgrec.ttl");
    let label = NamedNodeRef::new_unchecked("http://www.w3.org/2000/01/rdf-schema#label");
    let comment = NamedNodeRef::new_unchecked("http://www.w3.org/2000/01/rdf-schema#comment");
    let defined: BTreeSet<String> = triples
        .iter()
        .filter_map(|t| match &t.subject {
            NamedOrBlankNode::NamedNode(n) if n.as_str().starts_with(KGR) => {
                Some(n.as_str().to_owned())
            }
            _ => None,
        })
        .collect();
    assert!(defined.len() >= 30, "{defined:?}");
    for term in &defined {
        for p in [label, comment] {
            assert!(
                triples.iter().any(
                    |t| matches!(&t.subject, NamedOrBlankNode::NamedNode(n) if n.as_str() == term)
                        && t.predicate.as_ref() == p
                ),
                "{term} has no {p}"
            );
        }
    }
    // Every kgr: term in the data kgrec writes (the bundled KG, fixtures) is defined.
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    s.ok(&["import", "kgat", fixture("kgat").to_str().unwrap()]);
    // … and in the quality graph `kgrec check` writes.
    s.ok(&["check", "--only", "shapes,text,outliers,behaviour"]);
    let used = s.select("SELECT DISTINCT ?t WHERE { { GRAPH ?g { ?s ?t ?o } } UNION { GRAPH ?g { ?s a ?t } } UNION { GRAPH ?g { ?s ?p ?t } } FILTER(isIRI(?t) && STRSTARTS(STR(?t), \"https://w3id.org/kgrec/ns#\")) }");
    assert!(!used.is_empty());
    for row in used {
        assert!(
            defined.contains(&row["t"]),
            "{} is used but not defined in ontology/kgrec.ttl",
            row["t"]
        );
    }
}

#[test]
fn shapes_parse_and_target_the_ontology() {
    let shapes = parse("shapes.ttl");
    let target = NamedNodeRef::new_unchecked("http://www.w3.org/ns/shacl#targetClass");
    let targets: BTreeSet<String> = shapes
        .iter()
        .filter(|t| t.predicate.as_ref() == target)
        .filter_map(|t| match &t.object {
            Term::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
        .collect();
    for class in [
        "http://schema.org/Product",
        "https://w3id.org/kgrec/ns#Interaction",
        "https://w3id.org/kgrec/ns#User",
        "https://w3id.org/kgrec/ns#Category",
    ] {
        assert!(targets.contains(class), "no shape targets {class}");
    }
}
