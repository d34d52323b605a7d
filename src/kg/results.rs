//! Writing query outcomes: an aligned table for people, SPARQL JSON/XML/CSV/TSV for programs,
//! and Turtle or N-Triples for CONSTRUCT/DESCRIBE.

use std::io::Write;

use oxigraph::io::{RdfFormat, RdfSerializer};
use oxigraph::model::Term;
use oxigraph::sparql::results::{QueryResultsFormat, QueryResultsSerializer};

use super::error::KgError;
use super::store::QueryOutcome;
use super::vocab::{FREEBASE, ID, KGR, RDF, RDFS, SCHEMA, SKOS, XSD};

/// How `kgrec query` prints results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultFormat {
    /// Aligned text table with compact IRIs (for people).
    Table,
    /// SPARQL 1.1 Query Results JSON.
    Json,
    /// SPARQL Query Results XML.
    Xml,
    /// SPARQL 1.1 Query Results CSV.
    Csv,
    /// SPARQL 1.1 Query Results TSV.
    Tsv,
    /// Turtle (CONSTRUCT/DESCRIBE).
    Turtle,
    /// N-Triples (CONSTRUCT/DESCRIBE).
    Ntriples,
    /// JSON-LD (CONSTRUCT/DESCRIBE).
    Jsonld,
    /// RDF/XML (CONSTRUCT/DESCRIBE).
    Rdfxml,
}

impl ResultFormat {
    /// The media type of this format on the wire (`text/plain` for the table).
    pub fn media_type(self) -> &'static str {
        match self {
            ResultFormat::Table => "text/plain; charset=utf-8",
            ResultFormat::Json => "application/sparql-results+json",
            ResultFormat::Xml => "application/sparql-results+xml",
            ResultFormat::Csv => "text/csv; charset=utf-8",
            ResultFormat::Tsv => "text/tab-separated-values; charset=utf-8",
            ResultFormat::Turtle => "text/turtle",
            ResultFormat::Ntriples => "application/n-triples",
            ResultFormat::Jsonld => "application/ld+json",
            ResultFormat::Rdfxml => "application/rdf+xml",
        }
    }
}

const PREFIXES: &[(&str, &str)] = &[
    ("kgr:", KGR),
    ("schema:", SCHEMA),
    ("skos:", SKOS),
    ("rdfs:", RDFS),
    ("rdf:", RDF),
    ("xsd:", XSD),
    ("fb:", FREEBASE),
    ("id:", ID),
];

/// The IRI in a result cell, if it holds one.
pub fn cell_iri(cell: &Option<Term>) -> Option<&str> {
    match cell {
        Some(Term::NamedNode(n)) => Some(n.as_str()),
        _ => None,
    }
}

/// The lexical value of the literal in a result cell, if it holds one.
pub fn cell_literal(cell: &Option<Term>) -> Option<&str> {
    match cell {
        Some(Term::Literal(l)) => Some(l.value()),
        _ => None,
    }
}

/// A term as a person reads it: prefixed IRIs, plain literal values.
pub fn display_term(term: &Term) -> String {
    match term {
        Term::NamedNode(n) => {
            for (p, ns) in PREFIXES {
                if let Some(local) = n.as_str().strip_prefix(ns) {
                    return format!("{p}{local}");
                }
            }
            format!("<{}>", n.as_str())
        }
        Term::Literal(l) => l.value().to_owned(),
        other => other.to_string(),
    }
}

/// Writes `outcome` to `out` in `format`.
pub fn write_outcome(
    outcome: QueryOutcome,
    format: ResultFormat,
    mut out: impl Write,
) -> Result<(), KgError> {
    match outcome {
        QueryOutcome::Solutions { variables, rows } => {
            let results_format =
                match format {
                    ResultFormat::Table => return write_table(&variables, &rows, out),
                    ResultFormat::Json => QueryResultsFormat::Json,
                    ResultFormat::Xml => QueryResultsFormat::Xml,
                    ResultFormat::Csv => QueryResultsFormat::Csv,
                    ResultFormat::Tsv => QueryResultsFormat::Tsv,
                    ResultFormat::Turtle
                    | ResultFormat::Ntriples
                    | ResultFormat::Jsonld
                    | ResultFormat::Rdfxml => return Err(KgError::Format(
                        "SELECT results cannot be written as RDF; use table, json, xml, csv or tsv"
                            .into(),
                    )),
                };
            let mut ser = QueryResultsSerializer::from_format(results_format)
                .serialize_solutions_to_writer(&mut out, variables.clone())?;
            for row in rows {
                let pairs = variables
                    .iter()
                    .zip(row.iter())
                    .filter_map(|(v, t)| t.as_ref().map(|t| (v.as_ref(), t.as_ref())));
                ser.serialize(pairs)?;
            }
            ser.finish()?;
        }
        QueryOutcome::Boolean(b) => match format {
            ResultFormat::Table => writeln!(out, "{b}")?,
            ResultFormat::Json | ResultFormat::Xml | ResultFormat::Csv | ResultFormat::Tsv => {
                let f = match format {
                    ResultFormat::Json => QueryResultsFormat::Json,
                    ResultFormat::Xml => QueryResultsFormat::Xml,
                    ResultFormat::Csv => QueryResultsFormat::Csv,
                    _ => QueryResultsFormat::Tsv,
                };
                QueryResultsSerializer::from_format(f).serialize_boolean_to_writer(&mut out, b)?;
            }
            _ => {
                return Err(KgError::Format(
                    "ASK results cannot be written as RDF".into(),
                ))
            }
        },
        QueryOutcome::Graph(triples) => {
            let rdf = match format {
                ResultFormat::Ntriples => RdfFormat::NTriples,
                ResultFormat::Turtle | ResultFormat::Table => RdfFormat::Turtle,
                ResultFormat::Jsonld => RdfFormat::JsonLd {
                    profile: oxigraph::io::JsonLdProfileSet::empty(),
                },
                ResultFormat::Rdfxml => RdfFormat::RdfXml,
                _ => return Err(KgError::Format(
                    "CONSTRUCT/DESCRIBE results are RDF: use turtle, ntriples, jsonld or rdfxml"
                        .into(),
                )),
            };
            let mut ser = RdfSerializer::from_format(rdf);
            if rdf == RdfFormat::Turtle {
                for (p, ns) in PREFIXES {
                    ser = ser
                        .with_prefix(p.trim_end_matches(':'), *ns)
                        .map_err(|e| KgError::Format(e.to_string()))?;
                }
            }
            let mut w = ser.for_writer(&mut out);
            for t in &triples {
                w.serialize_triple(t)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

fn write_table(
    variables: &[oxigraph::model::Variable],
    rows: &[Vec<Option<Term>>],
    mut out: impl Write,
) -> Result<(), KgError> {
    const MAX: usize = 60;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|t| {
                    let s = t
                        .as_ref()
                        .map(display_term)
                        .unwrap_or_default()
                        .replace(['\n', '\t'], " ");
                    if s.chars().count() > MAX {
                        format!("{}…", s.chars().take(MAX - 1).collect::<String>())
                    } else {
                        s
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = variables
        .iter()
        .map(|v| v.as_str().chars().count())
        .collect();
    for r in &cells {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| -> String {
        cols.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect::<Vec<_>>()
            .join(" │ ")
            .trim_end()
            .to_owned()
    };
    writeln!(
        out,
        "{}",
        line(variables.iter().map(|v| v.as_str()).collect())
    )?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "─".repeat(*w))
            .collect::<Vec<_>>()
            .join("─┼─")
    )?;
    for r in &cells {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    writeln!(
        out,
        "({} row{})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::{Literal, NamedNode, Variable};

    #[test]
    fn table_and_csv() {
        let outcome = || QueryOutcome::Solutions {
            variables: vec![Variable::new_unchecked("p"), Variable::new_unchecked("n")],
            rows: vec![vec![
                Some(NamedNode::new_unchecked("http://schema.org/Product").into()),
                Some(Literal::from(3).into()),
            ]],
        };
        let mut buf = Vec::new();
        write_outcome(outcome(), ResultFormat::Table, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("schema:Product │ 3"), "{text}");
        assert!(text.contains("(1 row)"));
        let mut buf = Vec::new();
        write_outcome(outcome(), ResultFormat::Csv, &mut buf).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "p,n\r\nhttp://schema.org/Product,3\r\n"
        );
    }
}
