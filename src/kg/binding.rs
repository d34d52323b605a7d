//! Binding query parameters as RDF terms by rewriting the query algebra, never the text.
//!
//! A bound variable `?x = t` is pushed down the algebra tree as a one-row `VALUES` joined at
//! each leaf pattern where `?x` can be bound: through solution modifiers, filters, `BIND`s,
//! joins, unions, the mandatory side of `OPTIONAL`/`MINUS`, named graphs and sub-`SELECT`s
//! that project `?x`. The result has the meaning of replacing `?x` by `t` throughout the query
//! (SPARQL SEP-0007), and it lets the evaluator start from the bound term instead of
//! filtering a full result at the end.

use oxigraph::model::{Term, Variable};
use spargebra::algebra::GraphPattern;
use spargebra::term::GroundTerm;

use super::error::KgError;

/// Parses `text` and binds every `(variable, term)` pair into it.
pub fn bind_query(text: &str, bindings: &[(Variable, Term)]) -> Result<spargebra::Query, KgError> {
    let mut query = spargebra::SparqlParser::new()
        .parse_query(text)
        .map_err(KgError::Syntax)?;
    for (var, term) in bindings {
        let value = match term {
            Term::NamedNode(n) => GroundTerm::NamedNode(n.clone()),
            Term::Literal(l) => GroundTerm::Literal(l.clone()),
            other => {
                return Err(KgError::Parameter(format!(
                    "?{} cannot be bound to {other}: only IRIs and literals can be parameters",
                    var.as_str()
                )))
            }
        };
        let (pattern, level) = match &mut query {
            spargebra::Query::Select { pattern, .. } => (pattern, Level::Outer),
            spargebra::Query::Construct { pattern, .. }
            | spargebra::Query::Describe { pattern, .. }
            | spargebra::Query::Ask { pattern, .. } => (pattern, Level::Where),
        };
        let taken = std::mem::replace(
            pattern,
            GraphPattern::Bgp {
                patterns: Vec::new(),
            },
        );
        *pattern = restrict(taken, var, &value, level);
    }
    Ok(query)
}

fn values(var: &Variable, value: &GroundTerm) -> GraphPattern {
    GraphPattern::Values {
        variables: vec![var.clone()],
        bindings: vec![vec![Some(value.clone())]],
    }
}

fn join_values(p: GraphPattern, var: &Variable, value: &GroundTerm) -> GraphPattern {
    GraphPattern::Join {
        left: Box::new(values(var, value)),
        right: Box::new(p),
    }
}

/// Where in the algebra tree a pattern sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Solution modifiers above the query's own projection.
    Outer,
    /// The query's WHERE clause with its grouping, HAVING and aggregate bindings: the variable
    /// is in scope whatever is projected.
    Where,
    /// Inside the WHERE clause: sub-SELECTs only see the variable if they project it.
    Nested,
}

/// Restricts `p` to solutions where `var` is `value`.
fn restrict(p: GraphPattern, var: &Variable, value: &GroundTerm, level: Level) -> GraphPattern {
    use Level::{Nested, Outer, Where};
    let r = |p: Box<GraphPattern>, level: Level| Box::new(restrict(*p, var, value, level));
    match p {
        GraphPattern::Slice {
            inner,
            start,
            length,
        } => GraphPattern::Slice {
            inner: r(inner, level),
            start,
            length,
        },
        GraphPattern::Distinct { inner } => GraphPattern::Distinct {
            inner: r(inner, level),
        },
        GraphPattern::Reduced { inner } => GraphPattern::Reduced {
            inner: r(inner, level),
        },
        GraphPattern::OrderBy { inner, expression } => GraphPattern::OrderBy {
            inner: r(inner, level),
            expression,
        },
        GraphPattern::Project { inner, variables } => {
            if level == Outer || variables.contains(var) {
                GraphPattern::Project {
                    inner: r(inner, Where),
                    variables,
                }
            } else {
                // A sub-SELECT that does not project the variable cannot see it.
                GraphPattern::Project { inner, variables }
            }
        }
        GraphPattern::Group {
            inner,
            variables,
            aggregates,
        } => {
            if level != Nested || variables.contains(var) {
                GraphPattern::Group {
                    inner: r(inner, Nested),
                    variables,
                    aggregates,
                }
            } else {
                join_values(
                    GraphPattern::Group {
                        inner,
                        variables,
                        aggregates,
                    },
                    var,
                    value,
                )
            }
        }
        GraphPattern::Filter { expr, inner } => GraphPattern::Filter {
            expr,
            inner: r(inner, level),
        },
        GraphPattern::Extend {
            inner,
            variable,
            expression,
        } => {
            if &variable == var {
                // `BIND(… AS ?x)`: keep only solutions where the expression gives the value.
                join_values(
                    GraphPattern::Extend {
                        inner,
                        variable,
                        expression,
                    },
                    var,
                    value,
                )
            } else {
                GraphPattern::Extend {
                    inner: r(inner, level),
                    variable,
                    expression,
                }
            }
        }
        GraphPattern::Join { left, right } => GraphPattern::Join {
            left: r(left, Nested),
            right: r(right, Nested),
        },
        GraphPattern::Union { left, right } => GraphPattern::Union {
            left: r(left, Nested),
            right: r(right, Nested),
        },
        GraphPattern::LeftJoin {
            left,
            right,
            expression,
        } => GraphPattern::LeftJoin {
            left: r(left, Nested),
            right,
            expression,
        },
        GraphPattern::Minus { left, right } => GraphPattern::Minus {
            left: r(left, Nested),
            right,
        },
        GraphPattern::Graph { name, inner } => {
            if matches!(&name, spargebra::term::NamedNodePattern::Variable(v) if v == var) {
                join_values(GraphPattern::Graph { name, inner }, var, value)
            } else {
                GraphPattern::Graph {
                    name,
                    inner: r(inner, Nested),
                }
            }
        }
        leaf => join_values(leaf, var, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kg::{KgStore, QueryOutcome};
    use oxigraph::model::{Literal, NamedNode, Quad};

    fn store() -> KgStore {
        let s = KgStore::in_memory().unwrap();
        let n = |i: &str| NamedNode::new_unchecked(format!("http://e/{i}"));
        let quads = [("u1", "p1"), ("u1", "p2"), ("u2", "p1"), ("u3", "p3")]
            .into_iter()
            .map(|(u, p)| Ok::<_, String>(Quad::new(n(u), n("bought"), n(p), n("g"))));
        s.bulk_load(quads, None).unwrap();
        s
    }

    fn rows(s: &KgStore, q: &str, b: &[(Variable, Term)]) -> Vec<Vec<Option<Term>>> {
        match s.query(q, b, true).unwrap() {
            QueryOutcome::Solutions { rows, .. } => rows,
            _ => panic!("not a SELECT"),
        }
    }

    fn user(u: &str) -> Vec<(Variable, Term)> {
        vec![(
            Variable::new_unchecked("u"),
            NamedNode::new_unchecked(format!("http://e/{u}")).into(),
        )]
    }

    #[test]
    fn binds_unprojected_variables_and_aggregates() {
        let s = store();
        assert_eq!(
            rows(
                &s,
                "SELECT ?p WHERE { ?u <http://e/bought> ?p }",
                &user("u1")
            )
            .len(),
            2
        );
        let r = rows(
            &s,
            "SELECT (COUNT(*) AS ?n) WHERE { ?u <http://e/bought> ?p }",
            &user("u2"),
        );
        assert_eq!(r[0][0], Some(Literal::from(1).into()));
    }

    #[test]
    fn pushes_into_subqueries_that_project_it_only() {
        let s = store();
        let q = "SELECT ?u ?n WHERE { { SELECT ?u (COUNT(?p) AS ?n) WHERE { ?u <http://e/bought> ?p } GROUP BY ?u } }";
        let r = rows(&s, q, &user("u1"));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0][1], Some(Literal::from(2).into()));
        // ?u inside a sub-SELECT that does not project it is another variable.
        let q = "SELECT ?u ?n WHERE { ?u <http://e/bought> <http://e/p1> { SELECT (COUNT(*) AS ?n) WHERE { ?u <http://e/bought> ?p } } }";
        let r = rows(&s, q, &user("u2"));
        assert_eq!(
            r,
            vec![vec![
                Some(NamedNode::new_unchecked("http://e/u2").into()),
                Some(Literal::from(4).into())
            ]]
        );
    }

    #[test]
    fn optional_side_is_constrained_through_the_join() {
        let s = store();
        let q = "SELECT ?p ?u WHERE { ?x <http://e/bought> ?p OPTIONAL { ?u <http://e/bought> ?p } } ORDER BY ?p";
        let b = user("u3");
        let r = rows(&s, q, &b);
        // Every solution has ?u = u3; only p3 is actually bought by u3, the rest keep ?u as bound.
        assert!(r.iter().all(|row| row[1] == Some(b[0].1.clone())));
    }

    #[test]
    fn blank_nodes_are_refused() {
        let b = vec![(
            Variable::new_unchecked("u"),
            oxigraph::model::BlankNode::default().into(),
        )];
        assert!(bind_query("SELECT * WHERE { ?u ?p ?o }", &b).is_err());
    }
}
