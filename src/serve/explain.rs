//! Explanations: the KG paths from a user to a recommended item, ranked by the model's own
//! similarity between the item and what the user did, and kept diverse.
//!
//! A path starts with the user, goes to an item of their history (`kgr:interactedWith`), and
//! reaches the recommended item in one KG edge (`kgr:alsoBought`…) or through one shared
//! entity (a brand, a category, a related product): at most 3 hops. Each path's score is
//! `recency(h) · (½ + ½·cos(h, item)) · specificity`, where `cos` is the cosine of the
//! model's vectors of the history item `h` and the recommended item, and a shared entity is
//! worth less the more items it links (`1 / ln(e + degree)`, halved when it has no name): "also
//! by OPI" says more than "also in Beauty". When the model scores KG links itself (see
//! [`super::links`]), a path that is such a link adds the weight the model gave it, so the
//! paths that raised the item's score come first. Paths through other users are not
//! offered: they would name them.
//!
//! A hub that a large share of the catalogue shares (the root category, any entity joined
//! to more than [`HUB_SHARE`] of the items) is no reason at all: no path goes through one.
//! When no specific path is left, the explanation says what did move the score
//! ([`ExplanationBasis`]): a link the model weighted from a history item that is not a KG
//! path (`similar text`), or plainly that customers with a history like the user's chose
//! the item.
//!
//! Over 600 lines (about 790, 200 of them tests) because it is one idea: finding, ranking
//! and telling the reasons for one recommendation; the sentence and the fallbacks read the
//! same candidates.

use std::collections::HashMap;

use oxigraph::model::Term;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::RecError;
use crate::eval::ItemId;
use crate::graph::{KgProjection, NodeId, NodeKind, ProjectionBuilder, ProjectionConfig};
use crate::kg::vocab::KGR;
use crate::kg::KgStore;
use crate::model::links::LinkKind;

/// The relation from a user to an item of their history.
pub const INTERACTED_WITH: &str = "https://w3id.org/kgrec/ns#interactedWith";

/// History items looked at, most recent first.
const MAX_HISTORY: usize = 50;
/// Paths through one history item at most.
const MAX_PER_HISTORY_ITEM: usize = 2;
/// Recency decay per older history item.
const RECENCY: f32 = 0.85;
/// Weight of a path through an entity without a name or label.
const UNNAMED_HUB: f32 = 0.5;
/// An entity joined to more than this share of the catalogue's items is a hub, no reason.
pub const HUB_SHARE: f64 = 0.05;
/// … and to more than this many items: in a small catalogue every entity joins a large
/// share, and a brand of ten products still says something.
pub const HUB_MIN_ITEMS: usize = 50;

/// An entity on a path.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EntityRef {
    /// Its IRI.
    pub iri: String,
    /// `user`, `product`, `brand`, `category`, `external` or `other`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// Its name or label, if it has one.
    pub label: Option<String>,
}

/// The relation that links one step of a path to the next.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RelationRef {
    /// The property IRI.
    pub iri: String,
    /// A readable name (`brand`, `also bought`…).
    pub label: String,
    /// `false`: the KG holds `(this, relation, next)`; `true`: it holds `(next, relation,
    /// this)`.
    pub inverse: bool,
}

/// One step: an entity and, except on the last step, the relation to the next one.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PathStep {
    /// The entity.
    pub entity: EntityRef,
    /// How it links to the next step (`None` on the last step).
    pub relation: Option<RelationRef>,
}

/// A path from the user to the recommended item.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ExplanationPath {
    /// How much this path says about the recommendation (see the module docs).
    pub score: f32,
    /// Number of edges.
    pub hops: usize,
    /// User first, recommended item last.
    pub steps: Vec<PathStep>,
}

/// The explanation of one recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Explanation {
    /// The best paths, best first, through different entities (never through a hub).
    pub paths: Vec<ExplanationPath>,
    /// What the explanation rests on.
    pub basis: ExplanationBasis,
    /// The top reasons in one plain-English sentence.
    pub sentence: Option<String>,
}

/// What an explanation rests on.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExplanationBasis {
    /// Specific KG paths from the user's history to the item (in `paths`).
    KgPath,
    /// No specific KG path: a link the model weighted from an item of the history that is
    /// not a KG edge (the items' descriptions are alike: `similar text`).
    ModelLink {
        /// The history item.
        history_item: EntityRef,
        /// The link's kind, as the model names it.
        link: String,
    },
    /// Neither: customers whose history is like the user's chose the item (for a user
    /// without history: customers in general).
    SimilarCustomers,
}

/// What explaining needs to know about the model and the user.
pub struct ExplainRequest<'a> {
    /// The user's IRI.
    pub user: &'a str,
    /// Their history (model rows), oldest first.
    pub history: &'a [ItemId],
    /// The recommended item.
    pub item: ItemId,
    /// The model's cosine between two items.
    pub similarity: &'a dyn Fn(ItemId, ItemId) -> f32,
    /// The links the model's score counts from the history item `back` positions before
    /// the end (0: the last) to the recommended item: (kind, weight), the kind named as in
    /// [`super::links::ItemLinks`] (`also_bought`, `^also_bought`, `shared brand`). Empty
    /// when the model scores no links.
    pub link_weights: &'a dyn Fn(usize, ItemId) -> Vec<(&'a str, f32)>,
    /// When the item is a product nobody has bought that the model scored by its text: the
    /// recent history item whose text is closest, which then explains it when no specific
    /// KG path does.
    pub new_product_like: Option<ItemId>,
    /// Paths wanted at most.
    pub max_paths: usize,
}

/// The KG projection with labels, and where each ranked item sits in it.
pub struct ExplanationGraph {
    projection: KgProjection,
    /// Model row → projection node.
    item_nodes: Vec<Option<NodeId>>,
    /// Per node: how many of the ranked items it is joined to.
    item_degree: Vec<u32>,
    /// Entities joined to more items than this are hubs.
    hub_limit: usize,
    labels: HashMap<String, String>,
    /// Per directed relation code: the link-kind names of a direct link by it and of two
    /// hops through a shared neighbour (`also_bought`, `shared also_bought`).
    link_kinds: Vec<(String, String)>,
}

/// One candidate path: history item, optional middle node, relations, score.
struct Candidate {
    score: f32,
    history_item: ItemId,
    middle: Option<NodeId>,
    /// Directed relation codes: history item → middle (or target), middle → target.
    relations: Vec<crate::graph::DirectedRelation>,
}

impl ExplanationGraph {
    /// Projects the store's KG (every relation, no interactions) and reads every entity's
    /// name or label. `items` are the IRIs of the model's rows.
    pub fn build(store: &KgStore, items: &[String]) -> Result<Self, RecError> {
        let mut builder = ProjectionBuilder::new();
        builder
            .read_store(store, &ProjectionConfig::default())
            .map_err(|e| RecError::BadData(e.to_string()))?;
        let projection = builder.build();
        let link_kinds = (0..projection.relations().len() as u32 * 2)
            .map(|code| {
                let rel = crate::graph::DirectedRelation(code);
                let relation = projection.relations()[rel.relation() as usize].name.clone();
                let inverse = rel.is_inverse();
                (
                    LinkKind::Hop {
                        relation: relation.clone(),
                        inverse,
                    }
                    .name(),
                    LinkKind::Shared { relation, inverse }.name(),
                )
            })
            .collect();
        let item_nodes: Vec<Option<NodeId>> = items.iter().map(|i| projection.node_id(i)).collect();
        let mut item_degree = vec![0u32; projection.node_count()];
        for node in item_nodes.iter().flatten() {
            // Sorted; a neighbour joined by two relations is listed twice but is one entity.
            let mut last = None;
            for &n in projection.neighbors(*node) {
                if last != Some(n) {
                    item_degree[n as usize] += 1;
                    last = Some(n);
                }
            }
        }
        let hub_limit = HUB_MIN_ITEMS.max((HUB_SHARE * items.len() as f64).ceil() as usize);
        let mut labels = HashMap::new();
        let q = "SELECT ?s ?label WHERE { \
                 VALUES ?p { <http://schema.org/name> <http://www.w3.org/2004/02/skos/core#prefLabel> \
                 <http://www.w3.org/2000/01/rdf-schema#label> } ?s ?p ?label FILTER(isIRI(?s) && isLiteral(?label)) }";
        store.for_each_solution(q, |row| {
            if let (Some(Term::NamedNode(s)), Some(Term::Literal(l))) = (&row[0], &row[1]) {
                let slot = labels
                    .entry(s.as_str().to_owned())
                    .or_insert_with(|| l.value().to_owned());
                if l.value() < slot.as_str() {
                    *slot = l.value().to_owned();
                }
            }
        })?;
        Ok(ExplanationGraph {
            projection,
            item_nodes,
            item_degree,
            hub_limit,
            labels,
            link_kinds,
        })
    }

    /// The neighbourhood of a product (by IRI) in the projection the paths are found in;
    /// `None` when the projection does not hold it.
    pub fn neighbourhood(
        &self,
        iri: &str,
        hops: u8,
        per_node: usize,
    ) -> Option<super::neighbourhood::Neighbourhood> {
        let start = self.projection.node_id(iri)?;
        Some(super::neighbourhood::around(
            &self.projection,
            &self.labels,
            start,
            hops,
            per_node,
        ))
    }

    /// The name or label of an IRI, if it has one.
    pub fn label(&self, iri: &str) -> Option<&str> {
        self.labels.get(iri).map(String::as_str)
    }

    /// Whether `node` is joined to so many items that it explains nothing.
    fn is_hub(&self, node: NodeId) -> bool {
        self.item_degree
            .get(node as usize)
            .is_some_and(|&d| d as usize > self.hub_limit)
    }

    /// The best diverse paths from the user to the item (see the module docs).
    pub fn explain(&self, r: &ExplainRequest<'_>) -> Explanation {
        let Some(Some(target)) = self.item_nodes.get(r.item as usize).copied() else {
            return self.without_paths(r, None);
        };
        let mut candidates = Vec::new();
        for (age, (back, h)) in recent_history(r).enumerate() {
            let Some(Some(h_node)) = self.item_nodes.get(h as usize).copied() else {
                continue;
            };
            let weight =
                RECENCY.powi(age as i32) * (0.5 + 0.5 * (r.similarity)(h, r.item).max(0.0));
            // The links the model scored from h to the item, by kind.
            let scored = (r.link_weights)(back, h);
            let link = |shared: bool, rel: crate::graph::DirectedRelation| {
                let Some((direct, via)) = self.link_kinds.get(rel.0 as usize) else {
                    return 0.0;
                };
                let kind = if shared { via } else { direct };
                scored
                    .iter()
                    .find(|(k, _)| *k == kind.as_str())
                    .map_or(0.0, |(_, w)| w.max(0.0))
            };
            for &rel in self.projection.relations_between(h_node, target) {
                candidates.push(Candidate {
                    score: weight + link(false, rel),
                    history_item: h,
                    middle: None,
                    relations: vec![rel],
                });
            }
            for e in common_neighbors(
                self.projection.neighbors(h_node),
                self.projection.neighbors(target),
            ) {
                if self.projection.kind(e) == NodeKind::User || self.is_hub(e) {
                    continue;
                }
                let (Some(&first), Some(&second)) = (
                    self.projection.relations_between(h_node, e).first(),
                    self.projection.relations_between(e, target).first(),
                ) else {
                    continue;
                };
                // A hub a person can read (a brand, a named product) says more than an id.
                let named = if self.labels.contains_key(self.projection.iri(e)) {
                    1.0
                } else {
                    UNNAMED_HUB
                };
                let specificity =
                    named / (std::f32::consts::E + self.projection.degree(e) as f32).ln();
                candidates.push(Candidate {
                    score: weight * specificity + link(true, first),
                    history_item: h,
                    middle: Some(e),
                    relations: vec![first, second],
                });
            }
        }
        // Best first; ties by history item, then middle node, so answers are stable.
        candidates.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.history_item.cmp(&b.history_item))
                .then(a.middle.cmp(&b.middle))
        });
        // Never two paths through the same hub; first at most MAX_PER_HISTORY_ITEM through
        // one history item, then, if slots remain, more through the same items.
        let mut chosen: Vec<usize> = Vec::new();
        for per_item_cap in [MAX_PER_HISTORY_ITEM, usize::MAX] {
            for (i, c) in candidates.iter().enumerate() {
                if chosen.len() == r.max_paths {
                    break;
                }
                let same_hub = chosen.iter().any(|&o| {
                    let o = &candidates[o];
                    match (o.middle, c.middle) {
                        (Some(a), Some(b)) => a == b,
                        (None, None) => o.history_item == c.history_item,
                        _ => false,
                    }
                });
                let per_item = chosen
                    .iter()
                    .filter(|&&o| candidates[o].history_item == c.history_item)
                    .count();
                if !chosen.contains(&i) && !same_hub && per_item < per_item_cap {
                    chosen.push(i);
                }
            }
        }
        chosen.sort_unstable();
        let paths: Vec<ExplanationPath> = chosen
            .iter()
            .map(|&c| self.path(r.user, &candidates[c], target))
            .collect();
        if paths.is_empty() {
            return self.without_paths(r, Some(target));
        }
        let sentence = self.sentence(&paths);
        Explanation {
            paths,
            basis: ExplanationBasis::KgPath,
            sentence,
        }
    }

    /// The explanation when no specific KG path leads to the item: the strongest link the
    /// model weighted from a recent history item, else the customers like the user.
    fn without_paths(&self, r: &ExplainRequest<'_>, target: Option<NodeId>) -> Explanation {
        let item_name = target
            .map(|t| self.entity(t))
            .map(|e| e.label.clone().unwrap_or_else(|| short(&e.iri)))
            .unwrap_or_else(|| "This product".to_owned());
        let mut best: Option<(f32, ItemId, String)> = None;
        for (back, h) in recent_history(r) {
            for (kind, w) in (r.link_weights)(back, h) {
                if w > 0.0 && best.as_ref().is_none_or(|b| w > b.0) {
                    best = Some((w, h, kind.to_owned()));
                }
            }
        }
        // A new product was scored by its text against the user's recent items.
        if let Some(h) = r.new_product_like {
            best = Some((0.0, h, LinkKind::SimilarText.name()));
        }
        let history_item = best.as_ref().and_then(|(_, h, link)| {
            let node = self.item_nodes.get(*h as usize).copied().flatten()?;
            Some((self.entity(node), link.clone()))
        });
        match history_item {
            Some((entity, link)) => {
                let name = entity.label.clone().unwrap_or_else(|| short(&entity.iri));
                let how = if r.new_product_like.is_some() {
                    "is new, and described much like it".to_owned()
                } else if link == LinkKind::SimilarText.name() {
                    "is described much like it".to_owned()
                } else {
                    format!("is linked to it ({})", link.replace('_', " "))
                };
                Explanation {
                    paths: Vec::new(),
                    sentence: Some(format!("You bought {name}; {item_name} {how}.")),
                    basis: ExplanationBasis::ModelLink {
                        history_item: entity,
                        link,
                    },
                }
            }
            None => Explanation {
                paths: Vec::new(),
                sentence: Some(if r.history.is_empty() {
                    format!("{item_name} is popular with our customers.")
                } else {
                    format!("{item_name} is popular with customers whose history is like yours.")
                }),
                basis: ExplanationBasis::SimilarCustomers,
            },
        }
    }

    fn entity(&self, node: NodeId) -> EntityRef {
        let iri = self.projection.iri(node);
        EntityRef {
            iri: iri.to_owned(),
            kind: self.projection.kind(node).as_str(),
            label: self.labels.get(iri).cloned(),
        }
    }

    fn relation(&self, rel: crate::graph::DirectedRelation) -> RelationRef {
        let r = &self.projection.relations()[rel.relation() as usize];
        RelationRef {
            iri: r.iri.clone(),
            label: r.name.replace('_', " "),
            inverse: rel.is_inverse(),
        }
    }

    fn path(&self, user: &str, c: &Candidate, target: NodeId) -> ExplanationPath {
        let h_node = self.item_nodes[c.history_item as usize].unwrap_or(target);
        let mut steps = vec![
            PathStep {
                entity: EntityRef {
                    iri: user.to_owned(),
                    kind: NodeKind::User.as_str(),
                    label: Some("you".into()),
                },
                relation: Some(RelationRef {
                    iri: INTERACTED_WITH.into(),
                    label: "interacted with".into(),
                    inverse: false,
                }),
            },
            PathStep {
                entity: self.entity(h_node),
                relation: Some(self.relation(c.relations[0])),
            },
        ];
        if let (Some(e), Some(&second)) = (c.middle, c.relations.get(1)) {
            steps.push(PathStep {
                entity: self.entity(e),
                relation: Some(self.relation(second)),
            });
        }
        steps.push(PathStep {
            entity: self.entity(target),
            relation: None,
        });
        ExplanationPath {
            score: c.score,
            hops: steps.len() - 1,
            steps,
        }
    }

    /// "You bought A; B is also by OPI and is often bought with it." from the paths through
    /// the best path's history item.
    fn sentence(&self, paths: &[ExplanationPath]) -> Option<String> {
        let first = paths.first()?;
        let history = &first.steps[1].entity;
        let target = &first.steps.last()?.entity;
        let name = |e: &EntityRef| e.label.clone().unwrap_or_else(|| short(&e.iri));
        let reasons: Vec<String> = paths
            .iter()
            .filter(|p| p.steps[1].entity.iri == history.iri)
            .filter_map(|p| reason(p, &name))
            .collect();
        // At most two reasons, so that the sentence stays one a person reads.
        let mut unique: Vec<String> = Vec::new();
        for r in reasons {
            if !unique.contains(&r) && unique.len() < 2 {
                unique.push(r);
            }
        }
        Some(format!(
            "You bought {}; {} {}.",
            name(history),
            name(target),
            unique.join(" and ")
        ))
    }
}

/// The distinct items of the history but the recommended one, most recent first, each with
/// how many positions before the end it is (0: the last), at most [`MAX_HISTORY`].
fn recent_history<'a>(r: &ExplainRequest<'a>) -> impl Iterator<Item = (usize, ItemId)> + 'a {
    let (history, item) = (r.history, r.item);
    let mut seen = std::collections::HashSet::new();
    history
        .iter()
        .rev()
        .enumerate()
        .filter(move |(_, &h)| h != item && seen.insert(h))
        .map(|(back, &h)| (back, h))
        .take(MAX_HISTORY)
}

/// Why one path holds, as a verb phrase about the recommended item.
fn reason(path: &ExplanationPath, name: &dyn Fn(&EntityRef) -> String) -> Option<String> {
    let rel = path
        .steps
        .get(path.steps.len().checked_sub(2)?)?
        .relation
        .as_ref()?;
    let local = rel.iri.strip_prefix(KGR).unwrap_or(rel.iri.as_str());
    if path.hops == 2 {
        return Some(match local {
            "alsoBought" => "is often bought with it".to_owned(),
            "alsoViewed" => "is often viewed with it".to_owned(),
            "boughtTogether" => "is often bought together with it".to_owned(),
            _ => format!("is linked to it ({})", rel.label),
        });
    }
    let middle = &path.steps.get(2)?.entity;
    if middle.label.is_none() {
        // An entity known only by its id: say what it shares, not its id.
        return Some(match local {
            "alsoBought" => "is often bought with the same products".to_owned(),
            "alsoViewed" => "is often viewed with the same products".to_owned(),
            "boughtTogether" => "is often bought together with the same products".to_owned(),
            _ => format!("shares a {} with it", rel.label),
        });
    }
    Some(match (middle.kind, local) {
        ("brand", _) => format!("is also by {}", name(middle)),
        ("category", _) => format!("is also in {}", name(middle)),
        (_, "alsoBought") => format!("is also often bought with {}", name(middle)),
        (_, "alsoViewed") => format!("is also often viewed with {}", name(middle)),
        (_, "boughtTogether") => format!("is also bought together with {}", name(middle)),
        _ => format!("is also linked to {}", name(middle)),
    })
}

/// The last segment of an IRI, for entities without a label.
fn short(iri: &str) -> String {
    iri.rsplit(['/', '#']).next().unwrap_or(iri).to_owned()
}

/// Nodes adjacent to both, from two sorted neighbour lists.
fn common_neighbors(a: &[NodeId], b: &[NodeId]) -> Vec<NodeId> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "https://w3id.org/kgrec/id/t/product/";

    /// No link weighed by the model.
    fn no_links<'a>(_: usize, _: ItemId) -> Vec<(&'a str, f32)> {
        Vec::new()
    }

    /// Explains `item` for a user with `history`, two items at the model's cosine
    /// `similarity`, the model weighing `links`.
    fn explain<'a>(
        g: &ExplanationGraph,
        history: &'a [ItemId],
        item: ItemId,
        similarity: &'a dyn Fn(ItemId, ItemId) -> f32,
        links: &'a dyn Fn(usize, ItemId) -> Vec<(&'a str, f32)>,
    ) -> Explanation {
        g.explain(&request(history, item, similarity, links))
    }

    fn request<'a>(
        history: &'a [ItemId],
        item: ItemId,
        similarity: &'a dyn Fn(ItemId, ItemId) -> f32,
        links: &'a dyn Fn(usize, ItemId) -> Vec<(&'a str, f32)>,
    ) -> ExplainRequest<'a> {
        ExplainRequest {
            user: "urn:u",
            history,
            item,
            similarity,
            link_weights: links,
            new_product_like: None,
            max_paths: 3,
        }
    }

    /// P1 and P2 by brand B, both in category C (with P3); P1 also bought with P2.
    fn graph() -> ExplanationGraph {
        let store = KgStore::in_memory().unwrap();
        store
            .update(&format!(
                "PREFIX schema: <http://schema.org/> PREFIX kgr: <{KGR}> \
                 PREFIX skos: <http://www.w3.org/2004/02/skos/core#> \
                 INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/t/catalogue> {{ \
                 <{P}P1> a schema:Product ; schema:name \"Red Polish\" ; schema:brand <urn:b> ; schema:category <urn:c> ; kgr:alsoBought <{P}P2> . \
                 <{P}P2> a schema:Product ; schema:name \"Top Coat\" ; schema:brand <urn:b> ; schema:category <urn:c> . \
                 <{P}P3> a schema:Product ; schema:name \"Lipstick\" ; schema:category <urn:c> . \
                 <urn:b> a schema:Brand ; schema:name \"OPI\" . \
                 <urn:c> a kgr:Category ; skos:prefLabel \"Nails\" . }} }}"
            ))
            .unwrap();
        let items: Vec<String> = (1..=3).map(|i| format!("{P}P{i}")).collect();
        ExplanationGraph::build(&store, &items).unwrap()
    }

    #[test]
    fn paths_are_diverse_ranked_and_told_in_a_sentence() {
        let g = graph();
        let e = explain(&g, &[0], 1, &|_, _| 0.5, &no_links);
        assert_eq!(e.paths.len(), 3);
        // The direct co-purchase edge first, then the brand (links 2 items), then the
        // category (links 3).
        assert_eq!(e.paths[0].hops, 2);
        assert_eq!(e.paths[1].steps[2].entity.label.as_deref(), Some("OPI"));
        assert_eq!(e.paths[2].steps[2].entity.label.as_deref(), Some("Nails"));
        assert!(e.paths[0].score > e.paths[1].score && e.paths[1].score > e.paths[2].score);
        for p in &e.paths {
            assert_eq!(p.steps[0].entity.iri, "urn:u");
            assert_eq!(p.steps[1].entity.iri, format!("{P}P1"));
            assert_eq!(p.steps.last().unwrap().entity.iri, format!("{P}P2"));
            assert!(p.steps.last().unwrap().relation.is_none());
        }
        // P1 → brand is forward; brand → P2 is the inverse of (P2, brand, B).
        let brand = &e.paths[1];
        assert!(!brand.steps[1].relation.as_ref().unwrap().inverse);
        assert!(brand.steps[2].relation.as_ref().unwrap().inverse);
        assert_eq!(
            e.sentence.as_deref(),
            Some("You bought Red Polish; Top Coat is often bought with it and is also by OPI.")
        );
    }

    #[test]
    fn a_link_the_model_scored_comes_first() {
        let g = graph();
        // The model weighs "shared brand" from the last item (P1 → P2), not the co-purchase.
        let weights = |back: usize, from: ItemId| {
            if back == 0 && from == 0 {
                vec![("shared brand", 2.0), ("also_bought", -1.0)]
            } else {
                Vec::new()
            }
        };
        let e = explain(&g, &[0], 1, &|_, _| 0.5, &weights);
        assert_eq!(e.paths[0].steps[2].entity.label.as_deref(), Some("OPI"));
        // A negative weight takes nothing away: the co-purchase still comes before the category.
        assert_eq!(e.paths[1].hops, 2);
        assert_eq!(e.paths[2].steps[2].entity.label.as_deref(), Some("Nails"));
    }

    #[test]
    fn no_link_no_path_and_recent_items_weigh_more() {
        let g = graph();
        // P3 shares only the category with P1 and P2.
        let e = explain(&g, &[0, 1], 2, &|_, _| 0.0, &no_links);
        // One hub (the category): one path, through the most recent item (P2).
        assert_eq!(e.paths.len(), 1, "{:?}", e.paths);
        assert_eq!(e.paths[0].steps[1].entity.iri, format!("{P}P2"));
        let none = explain(&g, &[], 2, &|_, _| 0.0, &no_links);
        assert!(none.paths.is_empty());
        assert_eq!(none.basis, ExplanationBasis::SimilarCustomers);
        assert_eq!(
            none.sentence.as_deref(),
            Some("Lipstick is popular with our customers.")
        );
    }

    /// P1..P60 all in category C (a hub: 60 of 60 items), P1 also bought with P2.
    fn catalogue_with_a_hub() -> ExplanationGraph {
        let store = KgStore::in_memory().unwrap();
        let mut triples = String::new();
        for i in 1..=60 {
            triples.push_str(&format!(
                "<{P}P{i}> a schema:Product ; schema:name \"Item {i}\" ; schema:category <urn:c> . "
            ));
        }
        triples.push_str(&format!("<{P}P1> kgr:alsoBought <{P}P2> . "));
        store
            .update(&format!(
                "PREFIX schema: <http://schema.org/> PREFIX kgr: <{KGR}> \
                 PREFIX skos: <http://www.w3.org/2004/02/skos/core#> \
                 INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/t/catalogue> {{ {triples} \
                 <urn:c> a kgr:Category ; skos:prefLabel \"Beauty\" . }} }}"
            ))
            .unwrap();
        let items: Vec<String> = (1..=60).map(|i| format!("{P}P{i}")).collect();
        ExplanationGraph::build(&store, &items).unwrap()
    }

    #[test]
    fn a_hub_is_never_a_reason() {
        let g = catalogue_with_a_hub();
        let category = g.projection.node_id("urn:c").unwrap();
        assert!(g.is_hub(category));
        // P1 → P2: the co-purchase, not the category every item is in.
        let e = explain(&g, &[0], 1, &|_, _| 0.5, &no_links);
        assert_eq!(e.basis, ExplanationBasis::KgPath);
        assert_eq!(e.paths.len(), 1, "{:?}", e.paths);
        assert_eq!(e.paths[0].hops, 2);
        // P1 → P3: only the hub joins them. The model's text link says why, if it has one…
        let weights = |back: usize, from: ItemId| {
            if back == 0 && from == 0 {
                vec![("similar text", 0.7), ("also_bought", -1.0)]
            } else {
                Vec::new()
            }
        };
        let row = |i: usize| i as ItemId - 1;
        let linked = explain(&g, &[row(1)], row(3), &|_, _| 0.5, &weights);
        assert!(linked.paths.is_empty());
        match &linked.basis {
            ExplanationBasis::ModelLink { history_item, link } => {
                assert_eq!(history_item.iri, format!("{P}P1"));
                assert_eq!(link, "similar text");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            linked.sentence.as_deref(),
            Some("You bought Item 1; Item 3 is described much like it.")
        );
        // A new product the model scored by its text names the history item it is like.
        let new = g.explain(&ExplainRequest {
            new_product_like: Some(row(1)),
            ..request(&[row(1)], row(3), &|_, _| 0.5, &no_links)
        });
        assert_eq!(
            new.sentence.as_deref(),
            Some("You bought Item 1; Item 3 is new, and described much like it.")
        );
        // … else it says plainly that customers like the user chose it.
        let plain = explain(&g, &[row(1)], row(3), &|_, _| 0.5, &no_links);
        assert_eq!(plain.basis, ExplanationBasis::SimilarCustomers);
        assert_eq!(
            plain.sentence.as_deref(),
            Some("Item 3 is popular with customers whose history is like yours.")
        );
    }
}
