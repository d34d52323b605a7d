//! [`KgProjection`]: the KG as a compact typed graph (petgraph CSR) for walks and paths.
//!
//! Nodes are IRIs typed by their `rdf:type` (product, user, brand, category, external
//! entity); edges are IRI-to-IRI triples labelled with their relation, stored in both
//! directions so that walks can go either way, with the direction kept in the label.
//! Literals stay out. Interactions are never read from the store here: the caller adds the
//! user→item edges it wants (only training ones when evaluating), so held-out edges cannot
//! leak into the graph.

use std::collections::HashMap;

use oxigraph::model::Term;
use petgraph::csr::Csr;
use petgraph::Directed;
use serde::{Deserialize, Serialize};

use crate::kg::vocab::{GRAPH, KGR, RDF, RDFS, SCHEMA};
use crate::kg::KgStore;

use super::GraphError;

/// Index of a node in a [`KgProjection`].
pub type NodeId = u32;

/// Index of a relation in a [`KgProjection`], without direction.
pub type RelationId = u32;

/// What kind of entity a node is, from its `rdf:type`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum NodeKind {
    /// `schema:Product`.
    Product,
    /// `kgr:User`.
    User,
    /// `schema:Brand`.
    Brand,
    /// `kgr:Category`.
    Category,
    /// `kgr:ExternalEntity`: an entity of an external KG (Freebase, Satori, …).
    External,
    /// Anything else named as the object of a relation.
    #[default]
    Other,
}

impl NodeKind {
    /// Short lower-case name, as used in configs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Product => "product",
            NodeKind::User => "user",
            NodeKind::Brand => "brand",
            NodeKind::Category => "category",
            NodeKind::External => "external",
            NodeKind::Other => "other",
        }
    }

    fn from_type_iri(iri: &str) -> Option<Self> {
        match iri {
            "http://schema.org/Product" => Some(NodeKind::Product),
            "https://w3id.org/kgrec/ns#User" => Some(NodeKind::User),
            "http://schema.org/Brand" => Some(NodeKind::Brand),
            "https://w3id.org/kgrec/ns#Category" => Some(NodeKind::Category),
            "https://w3id.org/kgrec/ns#ExternalEntity" => Some(NodeKind::External),
            _ => None,
        }
    }
}

/// A relation that takes part in the projection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    /// The property IRI.
    pub iri: String,
    /// A short name: the kgrec name for known properties (`brand`, `also_bought`…), else the
    /// IRI's last segment.
    pub name: String,
}

/// A relation with the direction an edge is followed in: forward (subject → object) or
/// inverse (object → subject). Encoded as `2·relation + inverse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DirectedRelation(pub u32);

impl DirectedRelation {
    /// `relation` followed from subject to object.
    pub fn forward(relation: RelationId) -> Self {
        DirectedRelation(relation * 2)
    }
    /// `relation` followed from object to subject.
    pub fn inverse(relation: RelationId) -> Self {
        DirectedRelation(relation * 2 + 1)
    }
    /// The relation, without direction.
    pub fn relation(self) -> RelationId {
        self.0 / 2
    }
    /// Whether the edge is followed from object to subject.
    pub fn is_inverse(self) -> bool {
        self.0 % 2 == 1
    }
}

/// Known relations by their short names, so configs can say `brand` instead of an IRI.
const KNOWN_RELATIONS: &[(&str, &str)] = &[
    ("brand", "http://schema.org/brand"),
    ("category", "http://schema.org/category"),
    ("also_bought", "https://w3id.org/kgrec/ns#alsoBought"),
    ("also_viewed", "https://w3id.org/kgrec/ns#alsoViewed"),
    (
        "bought_together",
        "https://w3id.org/kgrec/ns#boughtTogether",
    ),
    ("broader", "http://www.w3.org/2004/02/skos/core#broader"),
    ("interacted", "https://w3id.org/kgrec/ns#interactedWith"),
];

/// The IRI for a relation given by short name (`brand`, `also_bought`, …) or by IRI.
pub fn relation_iri(name_or_iri: &str) -> Result<String, GraphError> {
    if let Some((_, iri)) = KNOWN_RELATIONS.iter().find(|(n, _)| *n == name_or_iri) {
        return Ok((*iri).to_owned());
    }
    if name_or_iri.contains(':') && oxigraph::model::NamedNode::new(name_or_iri).is_ok() {
        return Ok(name_or_iri.to_owned());
    }
    Err(GraphError::UnknownRelation {
        name: name_or_iri.to_owned(),
        known: KNOWN_RELATIONS.iter().map(|(n, _)| *n).collect(),
    })
}

fn relation_name(iri: &str) -> String {
    if let Some((name, _)) = KNOWN_RELATIONS.iter().find(|(_, i)| *i == iri) {
        return (*name).to_owned();
    }
    iri.rsplit(['/', '#']).next().unwrap_or(iri).to_owned()
}

/// Predicates that are never graph edges: schema-level vocabulary, interaction records and
/// links whose information is already on the product (see `ontology/README.md`).
fn is_structural_predicate(iri: &str) -> bool {
    const SKIPPED: &[&str] = &[
        "http://schema.org/offers",
        "https://w3id.org/kgrec/ns#linkedEntity",
        "https://w3id.org/kgrec/ns#user",
        "https://w3id.org/kgrec/ns#item",
        "https://w3id.org/kgrec/ns#kind",
        "https://w3id.org/kgrec/ns#split",
        "https://w3id.org/kgrec/ns#interactedWith",
    ];
    iri.starts_with(RDF)
        || iri.starts_with(RDFS)
        || iri.starts_with("http://www.w3.org/2002/07/owl#")
        || iri.starts_with("http://www.w3.org/ns/shacl#")
        || SKIPPED.contains(&iri)
}

/// Which relations of the store take part in a projection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelationSelection {
    /// Every IRI-to-IRI relation of the catalogue and external graphs.
    #[default]
    All,
    /// Only these relation IRIs.
    Only(Vec<String>),
}

impl RelationSelection {
    /// A selection from short names or IRIs (`["brand", "category"]`).
    pub fn only<S: AsRef<str>>(names: &[S]) -> Result<Self, GraphError> {
        names
            .iter()
            .map(|n| relation_iri(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(RelationSelection::Only)
    }

    /// Whether the relation `iri` takes part.
    pub fn admits(&self, iri: &str) -> bool {
        match self {
            RelationSelection::All => true,
            RelationSelection::Only(list) => list.iter().any(|r| r == iri),
        }
    }
}

/// What a projection reads from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectionConfig {
    /// Relations that take part.
    pub relations: RelationSelection,
    /// Read only the graphs of this import source (e.g. `amazon-beauty`); all when `None`.
    pub source: Option<String>,
}

/// Collects nodes and edges, then freezes them into a [`KgProjection`].
#[derive(Default)]
pub struct ProjectionBuilder {
    kinds: Vec<NodeKind>,
    iris: Vec<String>,
    index: HashMap<String, NodeId>,
    relations: Vec<Relation>,
    relation_index: HashMap<String, RelationId>,
    edges: Vec<(NodeId, NodeId, DirectedRelation)>,
}

impl ProjectionBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node for `iri`, added with kind `kind` if new (an existing node's kind is refined
    /// from `Other` only).
    pub fn node(&mut self, iri: &str, kind: NodeKind) -> NodeId {
        if let Some(&id) = self.index.get(iri) {
            let current = &mut self.kinds[id as usize];
            if *current == NodeKind::Other {
                *current = kind;
            }
            return id;
        }
        let id = self.iris.len() as NodeId;
        self.iris.push(iri.to_owned());
        self.kinds.push(kind);
        self.index.insert(iri.to_owned(), id);
        id
    }

    /// Makes `alias` another name of `target`'s node (a duplicate merged into its
    /// representative): whatever is read about `alias` later lands on `target`. Call it
    /// before reading anything about `alias`.
    pub fn alias(&mut self, alias: &str, target: &str) -> NodeId {
        let id = self.node(target, NodeKind::Product);
        self.index.entry(alias.to_owned()).or_insert(id);
        id
    }

    /// The id of `relation_iri`, registered if new.
    pub fn relation(&mut self, relation_iri: &str) -> RelationId {
        if let Some(&id) = self.relation_index.get(relation_iri) {
            return id;
        }
        let id = self.relations.len() as RelationId;
        self.relations.push(Relation {
            iri: relation_iri.to_owned(),
            name: relation_name(relation_iri),
        });
        self.relation_index.insert(relation_iri.to_owned(), id);
        id
    }

    /// Adds the edge `head —relation→ tail` (walkable both ways).
    pub fn add_edge(&mut self, head: NodeId, relation: RelationId, tail: NodeId) {
        if head != tail {
            self.edges
                .push((head, tail, DirectedRelation::forward(relation)));
        }
    }

    /// Reads node types and the selected IRI-to-IRI relations from the store. Only
    /// catalogue, external and user-loaded graphs are read: never interactions, meta, the
    /// forgetting records, A/B tests' exposures or the quality graph (`kgrec check`'s
    /// findings are about the data, not part of it).
    pub fn read_store(
        &mut self,
        store: &KgStore,
        config: &ProjectionConfig,
    ) -> Result<(), GraphError> {
        let graph_prefix = config.source.as_ref().map(|s| format!("{GRAPH}{s}/"));
        let admits_graph = |g: &str| -> bool {
            if g.starts_with(GRAPH) {
                if g.ends_with("/interactions")
                    || g == format!("{GRAPH}meta")
                    || g == format!("{GRAPH}quality")
                    || g == crate::kg::vocab::forgotten_graph().as_str()
                    || g.starts_with(&format!("{GRAPH}experiments/"))
                {
                    return false;
                }
                graph_prefix.as_ref().is_none_or(|p| g.starts_with(p))
            } else {
                graph_prefix.is_none()
            }
        };

        let types = format!(
            "SELECT ?s ?t WHERE {{ VALUES ?t {{ <{SCHEMA}Product> <{KGR}User> <{SCHEMA}Brand> \
             <{KGR}Category> <{KGR}ExternalEntity> }} ?s a ?t }}"
        );
        let mut typed = Vec::new();
        store.for_each_solution(&types, |row| {
            if let (Some(Term::NamedNode(s)), Some(Term::NamedNode(t))) = (&row[0], &row[1]) {
                if let Some(kind) = NodeKind::from_type_iri(t.as_str()) {
                    typed.push((s.as_str().to_owned(), kind));
                }
            }
        })?;
        // Sorted, so node ids do not depend on the store's iteration order.
        typed.sort();
        for (iri, kind) in &typed {
            self.node(iri, *kind);
        }

        // Graph by graph, straight from the store's index: the interaction graphs, which hold
        // most quads of a large store, are never read.
        let mut rows = Vec::new();
        for g in store.graph_names()? {
            if !admits_graph(g.as_str()) {
                continue;
            }
            store.for_each_link_in_graph(&g, |s, p, o| {
                if !is_structural_predicate(p) && config.relations.admits(p) {
                    rows.push((s.to_owned(), p.to_owned(), o.to_owned()));
                }
            })?;
        }
        rows.sort();
        rows.dedup();
        for (s, p, o) in rows {
            let r = self.relation(&p);
            let s = self.node(&s, NodeKind::Other);
            let o = self.node(&o, NodeKind::Other);
            self.add_edge(s, r, o);
        }
        Ok(())
    }

    /// Drops every edge between one of `nodes` and another product: what a product nobody
    /// has bought yet cannot have (co-purchase and co-view links come from interactions). Its
    /// edges to brands, categories and other attributes stay.
    pub fn drop_product_links_of(&mut self, nodes: &[NodeId]) {
        if nodes.is_empty() {
            return;
        }
        let set: std::collections::HashSet<NodeId> = nodes.iter().copied().collect();
        let kinds = &self.kinds;
        let is_product = |n: NodeId| kinds[n as usize] == NodeKind::Product;
        self.edges.retain(|&(h, t, _)| {
            !((set.contains(&h) && is_product(t)) || (set.contains(&t) && is_product(h)))
        });
    }

    /// Freezes the graph: edges in both directions, parallel edges between the same two
    /// nodes merged into one edge that carries all their directed relations.
    pub fn build(self) -> KgProjection {
        let mut directed: Vec<(NodeId, NodeId, DirectedRelation)> =
            Vec::with_capacity(self.edges.len() * 2);
        for &(h, t, r) in &self.edges {
            directed.push((h, t, r));
            directed.push((t, h, DirectedRelation(r.0 | 1)));
        }
        directed.sort_unstable();
        directed.dedup();

        let mut label_sets: Vec<Vec<DirectedRelation>> = Vec::new();
        let mut label_index: HashMap<Vec<DirectedRelation>, u32> = HashMap::new();
        let mut merged: Vec<(NodeId, NodeId, u32)> = Vec::new();
        let mut i = 0;
        while i < directed.len() {
            let (h, t, _) = directed[i];
            let mut set = Vec::new();
            while i < directed.len() && directed[i].0 == h && directed[i].1 == t {
                set.push(directed[i].2);
                i += 1;
            }
            let next = label_sets.len() as u32;
            let label = *label_index.entry(set.clone()).or_insert_with(|| {
                label_sets.push(set);
                next
            });
            merged.push((h, t, label));
        }

        let mut graph: Csr<NodeKind, u32, Directed, u32> = match Csr::from_sorted_edges(&merged) {
            Ok(g) => g,
            // Unreachable: `merged` is sorted and unique by construction.
            Err(_) => Csr::new(),
        };
        while graph.node_count() < self.iris.len() {
            graph.add_node(NodeKind::Other);
        }
        for (id, kind) in self.kinds.iter().enumerate() {
            graph[id as u32] = *kind;
        }
        KgProjection {
            graph,
            iris: self.iris,
            index: self.index,
            relations: self.relations,
            label_sets,
        }
    }
}

/// The KG as a typed, labelled CSR graph with stable id maps both ways.
pub struct KgProjection {
    graph: Csr<NodeKind, u32, Directed, u32>,
    iris: Vec<String>,
    index: HashMap<String, NodeId>,
    relations: Vec<Relation>,
    label_sets: Vec<Vec<DirectedRelation>>,
}

impl KgProjection {
    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.iris.len()
    }

    /// Number of (directed, merged) edges: each KG triple counts twice, once per direction.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The node with this IRI.
    pub fn node_id(&self, iri: &str) -> Option<NodeId> {
        self.index.get(iri).copied()
    }

    /// The IRI of a node.
    pub fn iri(&self, node: NodeId) -> &str {
        &self.iris[node as usize]
    }

    /// All node IRIs, indexed by node id.
    pub fn iris(&self) -> &[String] {
        &self.iris
    }

    /// The kind of a node.
    pub fn kind(&self, node: NodeId) -> NodeKind {
        self.graph[node]
    }

    /// The relations taking part, indexed by [`RelationId`].
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// The id of a relation IRI, if it takes part.
    pub fn relation_id(&self, iri: &str) -> Option<RelationId> {
        self.relations
            .iter()
            .position(|r| r.iri == iri)
            .map(|i| i as RelationId)
    }

    /// Neighbours of `node`, sorted by id.
    pub fn neighbors(&self, node: NodeId) -> &[NodeId] {
        self.graph.neighbors_slice(node)
    }

    /// Edge labels parallel to [`Self::neighbors`]; see [`Self::label_relations`].
    pub fn edge_labels(&self, node: NodeId) -> &[u32] {
        self.graph.edges_slice(node)
    }

    /// The directed relations an edge label stands for (two nodes may be linked by several).
    pub fn label_relations(&self, label: u32) -> &[DirectedRelation] {
        &self.label_sets[label as usize]
    }

    /// The directed relations on the edge `from → to`, empty when there is none.
    pub fn relations_between(&self, from: NodeId, to: NodeId) -> &[DirectedRelation] {
        match self.neighbors(from).binary_search(&to) {
            Ok(i) => self.label_relations(self.edge_labels(from)[i]),
            Err(_) => &[],
        }
    }

    /// Whether `a` and `b` are adjacent.
    pub fn has_edge(&self, a: NodeId, b: NodeId) -> bool {
        self.neighbors(a).binary_search(&b).is_ok()
    }

    /// Number of neighbours of `node`.
    pub fn degree(&self, node: NodeId) -> usize {
        self.graph.out_degree(node)
    }

    /// Number of nodes of each kind.
    pub fn kind_counts(&self) -> Vec<(NodeKind, usize)> {
        let mut counts: HashMap<NodeKind, usize> = HashMap::new();
        for n in 0..self.node_count() as NodeId {
            *counts.entry(self.kind(n)).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by_key(|(k, _)| k.as_str());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> KgProjection {
        let mut b = ProjectionBuilder::new();
        let p1 = b.node("ex:p1", NodeKind::Product);
        let p2 = b.node("ex:p2", NodeKind::Product);
        let brand = b.node("ex:b", NodeKind::Brand);
        let rb = b.relation("http://schema.org/brand");
        let ra = b.relation("https://w3id.org/kgrec/ns#alsoBought");
        let rv = b.relation("https://w3id.org/kgrec/ns#alsoViewed");
        b.add_edge(p1, rb, brand);
        b.add_edge(p2, rb, brand);
        b.add_edge(p1, ra, p2);
        b.add_edge(p1, rv, p2);
        b.add_edge(p1, ra, p2); // duplicate triple
        b.node("ex:isolated", NodeKind::User);
        b.build()
    }

    #[test]
    fn an_alias_is_its_targets_node() {
        let mut b = ProjectionBuilder::new();
        let a = b.alias("ex:copy", "ex:p1");
        let brand = b.node("ex:b", NodeKind::Brand);
        let other = b.node("ex:p2", NodeKind::Product);
        let rb = b.relation("http://schema.org/brand");
        let copy = b.node("ex:copy", NodeKind::Other);
        assert_eq!(copy, a);
        b.add_edge(copy, rb, brand);
        b.add_edge(copy, rb, other);
        b.add_edge(copy, rb, a); // the copy and its target: no self-loop
        let g = b.build();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.node_id("ex:copy"), g.node_id("ex:p1"));
        assert_eq!(g.kind(a), NodeKind::Product);
        assert_eq!(g.neighbors(a), &[brand, other]);
    }

    #[test]
    fn edges_both_ways_with_merged_labels() {
        let g = small();
        assert_eq!(g.node_count(), 4);
        assert_eq!(g.relations()[0].name, "brand");
        let (p1, p2, b) = (0, 1, 2);
        assert_eq!(g.neighbors(p1), &[p2, b]);
        assert_eq!(g.neighbors(b), &[p1, p2]);
        // p1→p2 carries alsoBought and alsoViewed forward; p2→p1 both inverse.
        assert_eq!(
            g.relations_between(p1, p2),
            &[DirectedRelation::forward(1), DirectedRelation::forward(2)]
        );
        assert_eq!(
            g.relations_between(p2, p1),
            &[DirectedRelation::inverse(1), DirectedRelation::inverse(2)]
        );
        assert_eq!(g.relations_between(b, p1), &[DirectedRelation::inverse(0)]);
        assert_eq!(g.edge_count(), 6);
        assert_eq!(g.kind(3), NodeKind::User);
        assert_eq!(g.degree(3), 0);
        assert_eq!(g.node_id("ex:p2"), Some(1));
    }

    #[test]
    fn the_quality_graph_is_not_part_of_the_kg() {
        let store = crate::kg::KgStore::in_memory().unwrap();
        store
            .update(
                "INSERT DATA { GRAPH <https://w3id.org/kgrec/graph/s/catalogue> { \
                 <http://e/p1> a <http://schema.org/Product> ; <http://schema.org/brand> <http://e/b> . \
                 <http://e/p2> a <http://schema.org/Product> } \
                 GRAPH <https://w3id.org/kgrec/graph/quality> { \
                 <http://e/i> <http://www.w3.org/ns/shacl#focusNode> <http://e/p2> ; \
                 <https://w3id.org/kgrec/ns#relatedNode> <http://e/p1> } }",
            )
            .unwrap();
        let mut b = ProjectionBuilder::new();
        b.read_store(&store, &ProjectionConfig::default()).unwrap();
        let g = b.build();
        assert_eq!(g.node_count(), 3, "p1, p2 and the brand only");
        assert!(g.node_id("http://e/i").is_none());
    }

    #[test]
    fn relation_names_resolve() {
        assert_eq!(relation_iri("brand").unwrap(), "http://schema.org/brand");
        assert!(relation_iri("http://example.org/r").is_ok());
        assert!(relation_iri("brnad").is_err());
    }
}
