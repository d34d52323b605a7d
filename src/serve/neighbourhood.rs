//! A product's neighbourhood in the KG projection the explanations walk: its brand,
//! categories, linked products and their links, one or two hops out, capped so that a page
//! can draw it. Hubs (a node with more links than [`HUB_DEGREE`], such as a root category)
//! are shown but not expanded, with their degree, so one popular node does not flood the
//! drawing.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use crate::graph::{KgProjection, NodeId, NodeKind};

/// Links past which a node is a hub: drawn, not expanded.
pub const HUB_DEGREE: usize = 60;

/// One entity of a neighbourhood.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct NeighbourNode {
    /// Its IRI.
    pub iri: String,
    /// `product`, `brand`, `category`, `external` or `other`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Its name or label, if it has one.
    pub label: Option<String>,
    /// Hops from the product (0 for the product itself).
    pub hops: u8,
    /// Its links in the projection.
    pub degree: usize,
    /// Whether it was left unexpanded for having more than [`HUB_DEGREE`] links.
    pub collapsed: bool,
}

/// One KG triple of a neighbourhood.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct NeighbourEdge {
    /// Subject IRI.
    pub subject: String,
    /// Property IRI.
    pub predicate: String,
    /// A readable name of the property (`brand`, `also bought`…).
    pub label: String,
    /// Object IRI.
    pub object: String,
}

/// A product's neighbourhood.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Neighbourhood {
    /// The product first, then by hops.
    pub nodes: Vec<NeighbourNode>,
    /// The triples among them that the walk followed.
    pub edges: Vec<NeighbourEdge>,
    /// Neighbours left out by the per-node cap.
    pub left_out: usize,
}

impl Neighbourhood {
    /// A product with no links in the projection: itself alone.
    pub fn alone(iri: &str, label: Option<String>) -> Self {
        Neighbourhood {
            nodes: vec![NeighbourNode {
                iri: iri.to_owned(),
                kind: NodeKind::Product.as_str(),
                label,
                hops: 0,
                degree: 0,
                collapsed: false,
            }],
            edges: Vec::new(),
            left_out: 0,
        }
    }
}

/// Kinds in the order a capped list keeps them: what describes a product first.
fn rank(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Brand => 0,
        NodeKind::Category => 1,
        NodeKind::External | NodeKind::Other => 2,
        NodeKind::Product | NodeKind::User => 3,
    }
}

/// The neighbourhood of `start` out to `hops` (1 or 2), keeping at most `per_node`
/// neighbours of each expanded node (brands and categories first, then the best-linked).
pub fn around(
    projection: &KgProjection,
    labels: &HashMap<String, String>,
    start: NodeId,
    hops: u8,
    per_node: usize,
) -> Neighbourhood {
    let mut depth: HashMap<NodeId, u8> = HashMap::from([(start, 0)]);
    let mut order = vec![start];
    let mut edges = BTreeSet::new();
    let mut left_out = 0;
    let mut frontier = vec![start];
    for hop in 1..=hops {
        let mut next = Vec::new();
        for &n in &frontier {
            if n != start && projection.degree(n) > HUB_DEGREE {
                continue;
            }
            let mut around: Vec<NodeId> = projection.neighbors(n).to_vec();
            around.sort_by_key(|&m| {
                (
                    rank(projection.kind(m)),
                    std::cmp::Reverse(projection.degree(m)),
                    m,
                )
            });
            left_out += around.len().saturating_sub(per_node);
            for m in around.into_iter().take(per_node) {
                for rel in projection.relations_between(n, m) {
                    let r = &projection.relations()[rel.relation() as usize];
                    let (s, o) = if rel.is_inverse() { (m, n) } else { (n, m) };
                    edges.insert(NeighbourEdge {
                        subject: projection.iri(s).to_owned(),
                        predicate: r.iri.clone(),
                        label: r.name.replace('_', " "),
                        object: projection.iri(o).to_owned(),
                    });
                }
                if let std::collections::hash_map::Entry::Vacant(e) = depth.entry(m) {
                    e.insert(hop);
                    order.push(m);
                    next.push(m);
                }
            }
        }
        frontier = next;
    }
    let nodes = order
        .into_iter()
        .map(|n| {
            let iri = projection.iri(n);
            let degree = projection.degree(n);
            NeighbourNode {
                iri: iri.to_owned(),
                kind: projection.kind(n).as_str(),
                label: labels.get(iri).cloned(),
                hops: depth[&n],
                degree,
                collapsed: n != start && degree > HUB_DEGREE,
            }
        })
        .collect();
    Neighbourhood {
        nodes,
        edges: edges.into_iter().collect(),
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ProjectionBuilder;

    /// p0 by brand b in category c with 70 other products (a hub), also bought with p1.
    #[test]
    fn hubs_are_shown_but_not_expanded_and_the_cap_holds() {
        let mut b = ProjectionBuilder::new();
        let brand = b.relation("https://schema.org/brand");
        let category = b.relation("https://w3id.org/kgrec/ns#category");
        let also = b.relation("https://w3id.org/kgrec/ns#alsoBought");
        let p0 = b.node("p0", NodeKind::Product);
        let p1 = b.node("p1", NodeKind::Product);
        let bb = b.node("b", NodeKind::Brand);
        let c = b.node("c", NodeKind::Category);
        b.add_edge(p0, brand, bb);
        b.add_edge(p0, category, c);
        b.add_edge(p0, also, p1);
        b.add_edge(p1, brand, bb);
        for k in 0..70 {
            let p = b.node(&format!("q{k}"), NodeKind::Product);
            b.add_edge(p, category, c);
        }
        let g = b.build();
        let labels = HashMap::from([("b".to_owned(), "Brand B".to_owned())]);
        let n = around(&g, &labels, g.node_id("p0").unwrap(), 2, 5);
        let iris: Vec<&str> = n.nodes.iter().map(|x| x.iri.as_str()).collect();
        assert_eq!(
            &iris[..4],
            ["p0", "b", "c", "p1"],
            "brand and category first"
        );
        assert_eq!(n.nodes[1].label.as_deref(), Some("Brand B"));
        let hub = n.nodes.iter().find(|x| x.iri == "c").unwrap();
        assert!(hub.collapsed && hub.degree == 71, "{hub:?}");
        // The hub's 70 other products are not drawn; p1 is reached through b or directly.
        assert_eq!(n.nodes.len(), 4, "{iris:?}");
        assert!(n.edges.contains(&NeighbourEdge {
            subject: "p0".into(),
            predicate: "https://w3id.org/kgrec/ns#alsoBought".into(),
            label: n
                .edges
                .iter()
                .find(|e| e.object == "p1" && e.subject == "p0")
                .unwrap()
                .label
                .clone(),
            object: "p1".into(),
        }));
        assert!(
            n.edges.iter().any(|e| e.subject == "p1" && e.object == "b"),
            "p1's brand, found at hop 2"
        );
        // A cap of one keeps the brand only.
        let one = around(&g, &labels, g.node_id("p0").unwrap(), 1, 1);
        assert_eq!(one.nodes.len(), 2);
        assert_eq!(one.left_out, 2);
    }
}
