//! Splitting a query that calls kgrec's own functions (`kgr:score`, `kgr:similarity`) between
//! a remote store and kgrec: the service answers every part of the query that calls none of
//! them, and kgrec evaluates the rest (the calls, and the filters, binds, joins and
//! aggregates above them) over the service's answers.
//!
//! The query's algebra is rewritten: each largest sub-pattern that mentions no kgrec function
//! becomes `SERVICE <urn:kgrec:remote> { … }` (inside a `GRAPH`, the `GRAPH` goes into the
//! service call with it), and oxigraph's evaluator runs the rewritten query over an empty
//! local dataset, handing each service call to [`RemoteCalls`], which sends it to the remote
//! store as a SELECT. Each service call is answered whole, not joined value by value, so a
//! function's arguments should be bound by a selective pattern.
//!
//! May import: spargebra, spareval's service interface through oxigraph, `super::remote`.

use std::sync::Arc;

use oxigraph::model::{NamedNode, Term, Variable};
use oxigraph::sparql::{DefaultServiceHandler, QuerySolutionIter};
use spargebra::algebra::GraphPattern;
use spargebra::term::NamedNodePattern;
use spargebra::Query;

use super::error::KgError;
use super::remote::{ProtocolDataset, RemoteAnswer, RemoteStore};

/// The service name that stands for the remote store in a rewritten query.
pub const REMOTE_SERVICE: &str = "urn:kgrec:remote";

/// Rewrites `query` so that every largest part that calls none of `functions` is a service
/// call to [`REMOTE_SERVICE`]. A pattern kind the rewrite does not know (with a call inside)
/// is refused.
pub fn split_query(mut query: Query, functions: &[NamedNode]) -> Result<Query, KgError> {
    let (Query::Select { pattern, .. }
    | Query::Construct { pattern, .. }
    | Query::Describe { pattern, .. }
    | Query::Ask { pattern, .. }) = &mut query;
    let whole = std::mem::replace(
        pattern,
        GraphPattern::Bgp {
            patterns: Vec::new(),
        },
    );
    *pattern = split(whole, functions, None)?;
    Ok(query)
}

/// Whether a query, or a part of one, calls one of `functions` (its text names the IRI).
pub fn calls_any(query: &impl std::fmt::Display, functions: &[NamedNode]) -> bool {
    let text = query.to_string();
    functions
        .iter()
        .any(|f| text.contains(&format!("<{}>", f.as_str())))
}

fn split(
    pattern: GraphPattern,
    functions: &[NamedNode],
    graph: Option<&NamedNodePattern>,
) -> Result<GraphPattern, KgError> {
    if !calls_any(&pattern, functions) {
        let inner = match graph {
            Some(name) => GraphPattern::Graph {
                name: name.clone(),
                inner: Box::new(pattern),
            },
            None => pattern,
        };
        return Ok(GraphPattern::Service {
            name: NamedNodePattern::NamedNode(NamedNode::new_unchecked(REMOTE_SERVICE)),
            inner: Box::new(inner),
            silent: false,
        });
    }
    let sub = |p: Box<GraphPattern>| split(*p, functions, graph).map(Box::new);
    Ok(match pattern {
        GraphPattern::Join { left, right } => GraphPattern::Join {
            left: sub(left)?,
            right: sub(right)?,
        },
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
        } => GraphPattern::LeftJoin {
            left: sub(left)?,
            right: sub(right)?,
            expression,
        },
        GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
            expr,
            inner: sub(inner)?,
        },
        GraphPattern::Union { left, right } => GraphPattern::Union {
            left: sub(left)?,
            right: sub(right)?,
        },
        GraphPattern::Minus { left, right } => GraphPattern::Minus {
            left: sub(left)?,
            right: sub(right)?,
        },
        GraphPattern::Extend {
            inner,
            variable,
            expression,
        } => GraphPattern::Extend {
            inner: sub(inner)?,
            variable,
            expression,
        },
        GraphPattern::OrderBy { inner, expression } => GraphPattern::OrderBy {
            inner: sub(inner)?,
            expression,
        },
        GraphPattern::Project { inner, variables } => GraphPattern::Project {
            inner: sub(inner)?,
            variables,
        },
        GraphPattern::Distinct { inner } => GraphPattern::Distinct { inner: sub(inner)? },
        GraphPattern::Reduced { inner } => GraphPattern::Reduced { inner: sub(inner)? },
        GraphPattern::Slice {
            inner,
            start,
            length,
        } => GraphPattern::Slice {
            inner: sub(inner)?,
            start,
            length,
        },
        GraphPattern::Group {
            inner,
            variables,
            aggregates,
        } => GraphPattern::Group {
            inner: sub(inner)?,
            variables,
            aggregates,
        },
        GraphPattern::Graph { name, inner } => {
            if graph.is_some() {
                return Err(KgError::Unsupported(
                    "a GRAPH inside a GRAPH that calls a kgrec function cannot be split between \
                     the remote store and kgrec"
                        .into(),
                ));
            }
            split(*inner, functions, Some(&name))?
        }
        other => {
            return Err(KgError::Unsupported(format!(
                "this part of the query calls a kgrec function in a form that cannot be split \
                 between the remote store and kgrec: {other}"
            )))
        }
    })
}

/// Answers the service calls of a split query from the remote store.
pub struct RemoteCalls {
    /// The remote store.
    pub remote: Arc<RemoteStore>,
    /// The dataset each call runs over.
    pub dataset: ProtocolDataset,
}

impl DefaultServiceHandler for RemoteCalls {
    type Error = KgError;

    fn handle(
        &self,
        service_name: &NamedNode,
        pattern: &GraphPattern,
        _base_iri: Option<&oxiri::Iri<String>>,
    ) -> Result<QuerySolutionIter<'static>, KgError> {
        if service_name.as_str() != REMOTE_SERVICE {
            return Err(KgError::Unsupported(format!(
                "SERVICE {service_name}: kgrec calls no other service than its store"
            )));
        }
        let select = Query::Select {
            dataset: None,
            pattern: pattern.clone(),
            base_iri: None,
        };
        let (variables, rows) =
            match self
                .remote
                .query(&select.to_string(), &self.dataset, None, usize::MAX)?
            {
                RemoteAnswer::Solutions { variables, rows } => (variables, rows),
                _ => return Err(KgError::NotSelect),
            };
        let variables: Arc<[Variable]> = variables.into();
        Ok(QuerySolutionIter::from_tuples(
            variables,
            rows.into_iter().map(Ok::<Vec<Option<Term>>, _>),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score() -> NamedNode {
        NamedNode::new_unchecked("https://w3id.org/kgrec/ns#score")
    }

    #[test]
    fn only_the_parts_without_a_call_go_to_the_service() {
        let q = spargebra::SparqlParser::new()
            .parse_query(
                "PREFIX kgr: <https://w3id.org/kgrec/ns#>
                 SELECT ?i ?s WHERE {
                   GRAPH ?g { ?i a kgr:Product }
                   BIND(kgr:score(<http://x/u>, ?i) AS ?s)
                   FILTER(?s > 0)
                 } ORDER BY DESC(?s) LIMIT 5",
            )
            .unwrap();
        let text = split_query(q, &[score()]).unwrap().to_string();
        assert!(text.contains("SERVICE <urn:kgrec:remote>"), "{text}");
        assert_eq!(text.matches("SERVICE").count(), 1, "{text}");
        // The GRAPH goes to the service; the call, the filter and the order stay here.
        let service = &text[text.find("SERVICE").unwrap()..];
        assert!(service.contains("GRAPH ?g"), "{text}");
        let before = &text[..text.find("SERVICE").unwrap()];
        assert!(!before.contains("GRAPH"), "{text}");
        assert!(text.contains("ORDER BY"), "{text}");
    }

    #[test]
    fn a_query_without_calls_is_one_service_call() {
        let q = spargebra::SparqlParser::new()
            .parse_query("SELECT ?s WHERE { ?s ?p ?o } LIMIT 3")
            .unwrap();
        let text = split_query(q, &[score()]).unwrap().to_string();
        assert_eq!(text.matches("SERVICE").count(), 1, "{text}");
    }
}
