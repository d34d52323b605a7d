//! Which extension functions a query calls, and whether it reads beyond named graphs, read
//! from its parsed algebra (never from its text, where a prefix, a comment or a string could
//! hide or fake a call).

use spargebra::algebra::{
    AggregateExpression, Expression, Function, GraphPattern, OrderExpression,
};
use spargebra::term::NamedNodePattern;
use spargebra::Query;

use super::error::KgError;

/// Whether the SPARQL query `text` calls a function named by one of `functions` (IRIs)
/// anywhere: in a filter, a `BIND`, a projection, an ordering, an aggregate or a nested
/// pattern.
pub fn calls_any(text: &str, functions: &[&str]) -> Result<bool, KgError> {
    let query = spargebra::SparqlParser::new()
        .parse_query(text)
        .map_err(KgError::Syntax)?;
    let pattern = match &query {
        Query::Select { pattern, .. }
        | Query::Construct { pattern, .. }
        | Query::Describe { pattern, .. }
        | Query::Ask { pattern, .. } => pattern,
    };
    Ok(in_pattern(pattern, &Calls(functions)))
}

/// Whether every triple and path pattern of `pattern` stands inside a `GRAPH <iri>`, so that
/// the query reads the same whatever its default graph and whichever other named graphs its
/// dataset holds (a remote store then sends it without listing the graphs).
pub fn reads_only_named_graphs(pattern: &GraphPattern) -> bool {
    !in_pattern(pattern, &BeyondNamedGraphs)
}

/// A question asked of each pattern and function call of a query, answered yes for the query
/// if it is for any of them.
trait Probe {
    /// The answer for a whole pattern, or `None` to ask of what it holds.
    fn pattern(&self, _: &GraphPattern) -> Option<bool> {
        None
    }
    /// The answer for a call of `function` (its arguments are asked of as well).
    fn function(&self, _: &Function) -> bool {
        false
    }
}

/// Calls one of these functions (IRIs).
struct Calls<'a>(&'a [&'a str]);

impl Probe for Calls<'_> {
    fn function(&self, function: &Function) -> bool {
        matches!(function, Function::Custom(iri) if self.0.contains(&iri.as_str()))
    }
}

/// Matches triples outside a `GRAPH <iri>`: in the default graph, in a graph named by a
/// variable, or at another service.
struct BeyondNamedGraphs;

impl Probe for BeyondNamedGraphs {
    fn pattern(&self, p: &GraphPattern) -> Option<bool> {
        match p {
            GraphPattern::Graph {
                name: NamedNodePattern::NamedNode(_),
                ..
            } => Some(false),
            GraphPattern::Graph {
                name: NamedNodePattern::Variable(_),
                ..
            }
            | GraphPattern::Path { .. }
            | GraphPattern::Service { .. } => Some(true),
            GraphPattern::Bgp { patterns } => Some(!patterns.is_empty()),
            _ => None,
        }
    }
}

fn in_pattern(p: &GraphPattern, f: &impl Probe) -> bool {
    if let Some(answer) = f.pattern(p) {
        return answer;
    }
    match p {
        GraphPattern::Bgp { .. } | GraphPattern::Path { .. } | GraphPattern::Values { .. } => false,
        GraphPattern::Join { left, right }
        | GraphPattern::Lateral { left, right }
        | GraphPattern::Union { left, right }
        | GraphPattern::Minus { left, right } => in_pattern(left, f) || in_pattern(right, f),
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
        } => {
            in_pattern(left, f)
                || in_pattern(right, f)
                || expression.as_ref().is_some_and(|e| in_expression(e, f))
        }
        GraphPattern::Filter { expr, inner } => in_expression(expr, f) || in_pattern(inner, f),
        GraphPattern::Extend {
            inner, expression, ..
        } => in_expression(expression, f) || in_pattern(inner, f),
        GraphPattern::OrderBy { inner, expression } => {
            in_pattern(inner, f)
                || expression.iter().any(|o| match o {
                    OrderExpression::Asc(e) | OrderExpression::Desc(e) => in_expression(e, f),
                })
        }
        GraphPattern::Group {
            inner, aggregates, ..
        } => {
            in_pattern(inner, f)
                || aggregates.iter().any(|(_, a)| match a {
                    AggregateExpression::CountSolutions { .. } => false,
                    AggregateExpression::FunctionCall { expr, .. } => in_expression(expr, f),
                })
        }
        GraphPattern::Graph { inner, .. }
        | GraphPattern::Project { inner, .. }
        | GraphPattern::Distinct { inner }
        | GraphPattern::Reduced { inner }
        | GraphPattern::Slice { inner, .. }
        | GraphPattern::Service { inner, .. } => in_pattern(inner, f),
    }
}

fn in_expression(e: &Expression, f: &impl Probe) -> bool {
    match e {
        Expression::NamedNode(_)
        | Expression::Literal(_)
        | Expression::Variable(_)
        | Expression::Bound(_) => false,
        Expression::Or(a, b)
        | Expression::And(a, b)
        | Expression::Equal(a, b)
        | Expression::SameTerm(a, b)
        | Expression::Greater(a, b)
        | Expression::GreaterOrEqual(a, b)
        | Expression::Less(a, b)
        | Expression::LessOrEqual(a, b)
        | Expression::Add(a, b)
        | Expression::Subtract(a, b)
        | Expression::Multiply(a, b)
        | Expression::Divide(a, b) => in_expression(a, f) || in_expression(b, f),
        Expression::UnaryPlus(a) | Expression::UnaryMinus(a) | Expression::Not(a) => {
            in_expression(a, f)
        }
        Expression::In(a, list) => in_expression(a, f) || list.iter().any(|x| in_expression(x, f)),
        Expression::Exists(p) => in_pattern(p, f),
        Expression::If(a, b, c) => {
            in_expression(a, f) || in_expression(b, f) || in_expression(c, f)
        }
        Expression::Coalesce(list) => list.iter().any(|x| in_expression(x, f)),
        Expression::FunctionCall(function, args) => {
            f.function(function) || args.iter().any(|x| in_expression(x, f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORE: &str = "https://w3id.org/kgrec/ns#score";

    #[test]
    fn finds_calls_wherever_they_are_and_only_calls() {
        let p = "PREFIX kgr: <https://w3id.org/kgrec/ns#>\n";
        for q in [
            "SELECT ?p (kgr:score(?u, ?p) AS ?s) WHERE { ?u ?x ?p }",
            "SELECT ?p WHERE { ?u ?x ?p FILTER(kgr:score(?u, ?p) > 1) }",
            "SELECT ?p WHERE { ?u ?x ?p } ORDER BY DESC(kgr:score(?u, ?p))",
            "SELECT (MAX(kgr:score(?u, ?p)) AS ?m) WHERE { ?u ?x ?p }",
            "ASK { ?u ?x ?p FILTER EXISTS { ?p ?y ?z FILTER(kgr:score(?u, ?p) > 0) } }",
            "SELECT ?s WHERE { ?u ?x ?p BIND(<https://w3id.org/kgrec/ns#score>(?u, ?p) AS ?s) }",
        ] {
            assert!(calls_any(&format!("{p}{q}"), &[SCORE]).unwrap(), "{q}");
        }
        for q in [
            // Named, but not called: a comment, a string, a term.
            "SELECT ?p WHERE { ?u ?x ?p } # kgr:score(?u, ?p)",
            "SELECT ?p WHERE { ?u ?x \"kgr:score(\" }",
            "SELECT ?p WHERE { ?u kgr:score ?p }",
        ] {
            assert!(!calls_any(&format!("{p}{q}"), &[SCORE]).unwrap(), "{q}");
        }
        assert!(calls_any("SELECT WHERE", &[SCORE]).is_err());
    }

    fn only_named(q: &str) -> bool {
        match spargebra::SparqlParser::new().parse_query(q).unwrap() {
            Query::Select { pattern, .. } | Query::Ask { pattern, .. } => {
                reads_only_named_graphs(&pattern)
            }
            _ => unreachable!("{q}"),
        }
    }

    #[test]
    fn tells_queries_that_read_only_named_graphs() {
        for q in [
            "ASK { }",
            "SELECT ?s WHERE { GRAPH <urn:g> { ?s ?p ?o } }",
            "SELECT ?s WHERE { VALUES ?x { 1 } { GRAPH <urn:g> { ?s ?p ?o OPTIONAL { ?s <urn:q>* ?z } } } \
             UNION { GRAPH <urn:h> { ?s ?p ?o } } FILTER(?x > 0) }",
            "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <urn:g> { ?s ?p ?o FILTER EXISTS { ?s ?p ?z } } }",
        ] {
            assert!(only_named(q), "{q}");
        }
        for q in [
            "ASK { ?s ?p ?o }",
            "SELECT ?s WHERE { ?s <urn:p>+ ?o }",
            "SELECT ?s WHERE { GRAPH ?g { ?s ?p ?o } }",
            "SELECT ?s WHERE { GRAPH <urn:g> { ?s ?p ?o } ?s ?q ?z }",
            "SELECT ?s WHERE { GRAPH <urn:g> { ?s ?p ?o } FILTER NOT EXISTS { ?s ?q ?z } }",
            "SELECT ?s WHERE { GRAPH <urn:g> { ?s ?p ?o } OPTIONAL { ?s ?q ?z } }",
            "SELECT ?s WHERE { SERVICE <urn:x> { ?s ?p ?o } }",
            "SELECT ?s WHERE { GRAPH <urn:g> { ?s ?p ?o } { SELECT ?s WHERE { ?s ?q ?z } } }",
        ] {
            assert!(!only_named(q), "{q}");
        }
    }
}
