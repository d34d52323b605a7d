//! The KG side of training: project the store with only the training interactions added,
//! walk it, and learn structural vectors for the catalogue's items.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::embed::{train_skipgram, CatalogueRepairs, NodeVectors, SkipGramConfig, SkipGramStats};
use crate::error::RecError;
use crate::eval::EvalSplit;
use crate::eval::{InteractionData, ItemId};
use crate::graph::{
    generate_walks_from, DirectedRelation, KgProjection, NodeId, NodeKind, ProjectionBuilder,
    ProjectionConfig, WalkConfig,
};
use crate::kg::vocab::{KGR, SCHEMA};
use crate::kg::KgStore;
use crate::model::ease::ItemAttributes;
use crate::model::links::LinkKind;
use crate::model::ItemLinks;
use crate::util::SeededRng;

/// How structural vectors are learned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StructureConfig {
    /// What the projection reads.
    pub projection: ProjectionConfig,
    /// Add the training user→item edges to the graph.
    pub interactions: bool,
    /// Walks.
    pub walks: WalkConfig,
    /// Skip-gram over the walks.
    pub skipgram: SkipGramConfig,
}

/// The store's KG plus the split's training interactions as `kgr:interactedWith` edges.
/// Held-out interactions never enter, whatever the store holds, nor do a cold item's links to
/// other products (see [`EvalSplit::cold_items`]); a duplicate merged into
/// another item (`data.item_aliases`) is that item's node, and a brand `repairs` links a
/// product to is an edge (when the relation selection admits `schema:brand`).
pub fn project_for_training(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    config: &ProjectionConfig,
    with_interactions: bool,
) -> Result<KgProjection, RecError> {
    let mut builder = ProjectionBuilder::new();
    // A merged duplicate's KG edges are its representative's.
    for (alias, target) in &data.item_aliases {
        builder.alias(alias, target);
    }
    builder.read_store(store, config).map_err(graph_error)?;
    let brand_relation = format!("{SCHEMA}brand");
    if !repairs.brands.is_empty() && config.relations.admits(&brand_relation) {
        let relation = builder.relation(&brand_relation);
        for (product, brand) in &repairs.brands {
            let product = builder.node(product, NodeKind::Product);
            let brand = builder.node(&brand.iri, NodeKind::Brand);
            builder.add_edge(product, relation, brand);
        }
    }
    // Every catalogue item is a node, even with no KG edge, so ids line up.
    let nodes: Vec<NodeId> = data
        .items
        .iter()
        .map(|iri| builder.node(iri, NodeKind::Product))
        .collect();
    let cold: Vec<NodeId> = split
        .cold_items
        .iter()
        .map(|&i| nodes[i as usize])
        .collect();
    builder.drop_product_links_of(&cold);
    if with_interactions {
        let relation = builder.relation(&format!("{KGR}interactedWith"));
        for (u, i) in split.train_pairs() {
            let user = builder.node(&data.users[u as usize], NodeKind::User);
            let item = builder.node(&data.items[i as usize], NodeKind::Product);
            builder.add_edge(user, relation, item);
        }
    }
    Ok(builder.build())
}

/// The nodes walks start from: the catalogue's items and its users. The graph may hold far
/// more products (co-purchase targets nobody here interacted with), which walks still pass.
pub fn walk_starts(graph: &KgProjection, data: &InteractionData) -> Vec<NodeId> {
    data.items
        .iter()
        .chain(&data.users)
        .filter_map(|iri| graph.node_id(iri))
        .collect()
}

fn graph_error(e: crate::graph::GraphError) -> RecError {
    RecError::InvalidConfig(e.to_string())
}

/// Structural vectors of the catalogue's items, row `i` for item `i`.
pub struct ItemStructure {
    /// Item vectors.
    pub vectors: NodeVectors,
    /// Walk corpus size and skip-gram counters.
    pub stats: SkipGramStats,
    /// Nodes and edges of the projection.
    pub graph_size: (usize, usize),
}

/// Projects, walks and trains skip-gram; returns the items' rows.
pub fn item_structure(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    config: &StructureConfig,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<ItemStructure, RecError> {
    // Its own stage, so that reading the KG (from a remote store, most of all) is timed.
    progress("reading the KG", 0, 1);
    let graph = project_for_training(
        store,
        data,
        repairs,
        split,
        &config.projection,
        config.interactions,
    )?;
    let starts = walk_starts(&graph, data);
    let total = starts.len() as u64 * config.walks.walks_per_node as u64;
    let corpus = generate_walks_from(&graph, &starts, &config.walks, &|n| {
        progress("walks", n, total)
    })
    .map_err(graph_error)?;
    let total = corpus.tokens.len() as u64 * config.skipgram.epochs as u64;
    let (vectors, stats) = train_skipgram(&corpus, graph.node_count(), &config.skipgram, &|n| {
        progress("skip-gram", n, total)
    })
    .map_err(|e| RecError::InvalidConfig(e.to_string()))?;
    let dim = vectors.dim;
    let mut items = NodeVectors {
        dim,
        data: Vec::with_capacity(data.item_count() * dim),
    };
    for iri in &data.items {
        match graph.node_id(iri) {
            Some(n) => items.data.extend_from_slice(vectors.row(n as usize)),
            None => items.data.extend(std::iter::repeat_n(0.0, dim)),
        }
    }
    Ok(ItemStructure {
        vectors: items,
        stats,
        graph_size: (graph.node_count(), graph.edge_count()),
    })
}

/// The KG without walks: each item's vector is the sum of fixed random ±1 codes of its
/// direct KG neighbours (brand, categories, related products), scaled by 1/√degree. It is a
/// random projection of the item's one-hop attribute bag, so items that share neighbours
/// share direction; the sequence model learns a projection on top. Only catalogue edges
/// enter (no interactions), so nothing held out can leak. Deterministic for `seed`.
pub fn item_neighbourhood(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    projection: &ProjectionConfig,
    dim: usize,
    seed: u64,
) -> Result<NodeVectors, RecError> {
    if dim == 0 {
        return Err(RecError::InvalidConfig(
            "neighbourhood vectors need a positive dimension".into(),
        ));
    }
    let graph = project_for_training(store, data, repairs, split, projection, false)?;
    let code = |node: NodeId, out: &mut [f32], scale: f32| {
        let mut rng = SeededRng::for_stream(seed, u64::from(node) + 1);
        for x in out.iter_mut() {
            *x += if rng.unit_f32() < 0.5 { -scale } else { scale };
        }
    };
    let mut vectors = NodeVectors {
        dim,
        data: vec![0.0; data.item_count() * dim],
    };
    for (i, iri) in data.items.iter().enumerate() {
        let Some(node) = graph.node_id(iri) else {
            continue;
        };
        let neighbours = graph.neighbors(node);
        if neighbours.is_empty() {
            continue;
        }
        let scale = 1.0 / (neighbours.len() as f32).sqrt();
        let row = &mut vectors.data[i * dim..(i + 1) * dim];
        for &n in neighbours {
            code(n, row, scale);
        }
    }
    Ok(vectors)
}

/// The KG nodes each catalogue item is joined to, as EASE's KG rows: every node one hop
/// from two or more items (a brand, a category, a director, a co-purchased product, an
/// item itself for the items it is related to), with its items. Only catalogue edges enter
/// (no interactions), and the relation selection applies.
pub fn item_attributes(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    projection: &ProjectionConfig,
) -> Result<ItemAttributes, RecError> {
    let graph = project_for_training(store, data, repairs, split, projection, false)?;
    let mut items_of: HashMap<NodeId, Vec<ItemId>> = HashMap::new();
    for (i, iri) in data.items.iter().enumerate() {
        let Some(node) = graph.node_id(iri) else {
            continue;
        };
        for &m in graph.neighbors(node) {
            items_of.entry(m).or_default().push(i as ItemId);
        }
    }
    let mut groups: Vec<(NodeId, Vec<ItemId>)> = items_of
        .into_iter()
        .map(|(node, mut items)| {
            items.sort_unstable();
            items.dedup();
            (node, items)
        })
        .filter(|(_, items)| items.len() >= 2)
        .collect();
    groups.sort_unstable_by_key(|(node, _)| *node);
    Ok(ItemAttributes {
        groups: groups.into_iter().map(|(_, items)| items).collect(),
    })
}

/// Most catalogue items a shared neighbour (a brand, a co-purchased product outside the
/// catalogue) may have for the items it joins to count as linked: a hub that joins hundreds
/// of items says little about any two of them.
pub const SHARED_NEIGHBOUR_LIMIT: usize = 50;

/// The KG's links between the catalogue's items (see [`ItemLinks`]): one hop from item to
/// item, by each directed relation (`also_bought`, `^also_bought`), and two hops through a
/// neighbour outside the catalogue that joins at most [`SHARED_NEIGHBOUR_LIMIT`] items
/// (`shared produced_by`). Only catalogue edges enter (no interactions), so nothing held
/// out can leak; the relation selection applies.
pub fn item_links(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    split: &EvalSplit,
    projection: &ProjectionConfig,
) -> Result<ItemLinks, RecError> {
    let graph = project_for_training(store, data, repairs, split, projection, false)?;
    let mut item_of = vec![ItemId::MAX; graph.node_count()];
    for (i, iri) in data.items.iter().enumerate() {
        if let Some(n) = graph.node_id(iri) {
            item_of[n as usize] = i as ItemId;
        }
    }
    let items_around = |m: NodeId| {
        graph
            .neighbors(m)
            .iter()
            .map(|&n| item_of[n as usize])
            .filter(|&i| i != ItemId::MAX)
    };
    let mut kinds = Vec::new();
    let mut kind_index = std::collections::HashMap::new();
    let mut kind = |shared: bool, relation: DirectedRelation| {
        *kind_index.entry((shared, relation)).or_insert_with(|| {
            let relation_name = graph.relations()[relation.relation() as usize].name.clone();
            let inverse = relation.is_inverse();
            let kind = if shared {
                LinkKind::Shared {
                    relation: relation_name,
                    inverse,
                }
            } else {
                LinkKind::Hop {
                    relation: relation_name,
                    inverse,
                }
            };
            kinds.push(kind.name());
            kinds.len() as u32 - 1
        })
    };
    let mut lists: Vec<Vec<(ItemId, u32)>> = vec![Vec::new(); data.item_count()];
    for (i, list) in lists.iter_mut().enumerate() {
        let Some(node) = graph.node_id(&data.items[i]) else {
            continue;
        };
        for (&m, &label) in graph.neighbors(node).iter().zip(graph.edge_labels(node)) {
            let relations = graph.label_relations(label);
            let to = item_of[m as usize];
            if to != ItemId::MAX {
                for &r in relations {
                    list.push((to, kind(false, r)));
                }
            } else if items_around(m).nth(SHARED_NEIGHBOUR_LIMIT).is_none() {
                for &r in relations {
                    let k = kind(true, r);
                    list.extend(items_around(m).map(|to| (to, k)));
                }
            }
        }
    }
    Ok(ItemLinks::from_lists(kinds, lists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Protocol;
    use crate::features::interactions::read_interactions;
    use crate::graph::DirectedRelation;
    use oxigraph::io::{RdfFormat, RdfParser};

    fn shop() -> KgStore {
        let store = KgStore::in_memory().unwrap();
        let text = include_str!("../../tests/fixtures/shop.trig");
        let quads = RdfParser::from_format(RdfFormat::TriG).for_reader(text.as_bytes());
        store.bulk_load(quads, None).unwrap();
        store
    }

    /// The projection with nothing repaired.
    fn plain_projection(
        store: &KgStore,
        data: &InteractionData,
        split: &EvalSplit,
        config: &ProjectionConfig,
        with_interactions: bool,
    ) -> KgProjection {
        let repairs = CatalogueRepairs::default();
        project_for_training(store, data, &repairs, split, config, with_interactions).unwrap()
    }

    #[test]
    fn held_out_interactions_never_enter_the_projection() {
        let store = shop();
        let data = read_interactions(&store, None).unwrap();
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let graph = plain_projection(&store, &data, &split, &ProjectionConfig::default(), true);
        let interacted = graph
            .relation_id(&format!("{KGR}interactedWith"))
            .map(DirectedRelation::forward)
            .unwrap();
        let mut held_out = 0;
        for u in 0..data.user_count() {
            let user = graph.node_id(&data.users[u]).unwrap();
            for &i in split.valid[u].iter().chain(&split.test[u]) {
                if split.train[u].contains(&i) {
                    continue;
                }
                held_out += 1;
                let item = graph.node_id(&data.items[i as usize]).unwrap();
                // The store holds the pair as kgr:interactedWith; the projection must not.
                let ask = format!(
                    "ASK {{ <{}> <{KGR}interactedWith> <{}> }}",
                    data.users[u], data.items[i as usize]
                );
                assert!(matches!(
                    store.query(&ask, &[], true).unwrap(),
                    crate::kg::QueryOutcome::Boolean(true)
                ));
                assert!(!graph.has_edge(user, item), "held-out edge {u}→{i} leaked");
            }
            for &i in &split.train[u] {
                let item = graph.node_id(&data.items[i as usize]).unwrap();
                assert!(graph.relations_between(user, item).contains(&interacted));
            }
        }
        assert!(
            held_out >= 6,
            "the fixture should hold out items ({held_out})"
        );
        // Catalogue relations are there: P1 is by OPI.
        let p1 = graph
            .node_id("https://w3id.org/kgrec/id/fixture/product/P1")
            .unwrap();
        let opi = graph
            .node_id("https://w3id.org/kgrec/id/fixture/brand/OPI")
            .unwrap();
        assert!(graph.has_edge(p1, opi));
    }

    #[test]
    fn item_links_follow_the_catalogue_edges_only() {
        let store = shop();
        let data = read_interactions(&store, None).unwrap();
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let config = ProjectionConfig::default();
        let links =
            item_links(&store, &data, &CatalogueRepairs::default(), &split, &config).unwrap();
        let graph = plain_projection(&store, &data, &split, &config, false);
        assert_eq!(links.item_count(), data.item_count());
        assert!(!links.is_empty());
        let node = |i: ItemId| graph.node_id(&data.items[i as usize]).unwrap();
        for a in 0..data.item_count() as ItemId {
            for (b, kind) in links.links(a) {
                let name = &links.kinds[kind];
                let (na, nb) = (node(a), node(b));
                if name.starts_with("shared ") {
                    // Two hops through one neighbour outside the catalogue.
                    let via = graph
                        .neighbors(na)
                        .iter()
                        .filter(|m| graph.neighbors(nb).contains(m))
                        .count();
                    assert!(via > 0, "{a}→{b} ({name}) has no shared neighbour");
                } else {
                    assert!(graph.has_edge(na, nb), "{a}→{b} ({name}) is not an edge");
                }
                // No link comes from interactions: the kinds are catalogue relations.
                assert!(!name.contains("interactedWith"), "{name}");
            }
        }
        // The fixture's two OPI polishes share their brand.
        let row =
            |local: &str| data.items.iter().position(|i| i.ends_with(local)).unwrap() as ItemId;
        let shared_brand: Vec<_> = links
            .links(row("/P1"))
            .filter(|(_, k)| links.kinds[*k] == "shared brand")
            .map(|(to, _)| to)
            .collect();
        assert!(!shared_brand.is_empty(), "kinds: {:?}", links.kinds);
    }

    #[test]
    fn a_linked_brand_is_an_edge_unless_brands_are_left_out() {
        let store = shop();
        let data = read_interactions(&store, None).unwrap();
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let p1 = data.items.iter().find(|i| i.ends_with("/P1")).unwrap();
        let brand = "https://w3id.org/kgrec/id/fixture/brand/Linked";
        let mut repairs = CatalogueRepairs::default();
        repairs.brands.insert(
            p1.clone(),
            crate::embed::LinkedBrand {
                iri: brand.into(),
                name: "Linked".into(),
            },
        );
        let all = ProjectionConfig::default();
        let graph = project_for_training(&store, &data, &repairs, &split, &all, false).unwrap();
        let (from, to) = (graph.node_id(p1).unwrap(), graph.node_id(brand).unwrap());
        let relations = graph.relations_between(from, to);
        assert_eq!(relations.len(), 1);
        assert!(graph.relations()[relations[0].relation() as usize]
            .iri
            .ends_with("brand"));
        let categories_only = ProjectionConfig {
            relations: crate::graph::RelationSelection::only(&["category"]).unwrap(),
            source: None,
        };
        let graph =
            project_for_training(&store, &data, &repairs, &split, &categories_only, false).unwrap();
        assert!(graph.node_id(brand).is_none());
    }

    #[test]
    fn relation_selection_keeps_only_chosen_relations() {
        let store = shop();
        let config = ProjectionConfig {
            relations: crate::graph::RelationSelection::only(&["brand"]).unwrap(),
            source: None,
        };
        let mut b = ProjectionBuilder::new();
        b.read_store(&store, &config).unwrap();
        let g = b.build();
        assert_eq!(g.relations().len(), 1);
        assert_eq!(g.relations()[0].name, "brand");
    }

    #[test]
    fn neighbourhood_vectors_follow_shared_neighbours() {
        let store = shop();
        let data = read_interactions(&store, None).unwrap();
        let split = EvalSplit::new(&data, Protocol::Loo, 1).unwrap();
        let config = ProjectionConfig::default();
        let dim = 512;
        let v = item_neighbourhood(
            &store,
            &data,
            &CatalogueRepairs::default(),
            &split,
            &config,
            dim,
            3,
        )
        .unwrap();
        assert_eq!(
            v,
            item_neighbourhood(
                &store,
                &data,
                &CatalogueRepairs::default(),
                &split,
                &config,
                dim,
                3
            )
            .unwrap()
        );
        let graph = plain_projection(&store, &data, &split, &config, false);
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let n = |x: &[f32]| x.iter().map(|y| y * y).sum::<f32>().sqrt();
            dot / (n(a) * n(b))
        };
        let mut compared = 0;
        for a in 0..data.item_count() {
            for b in a + 1..data.item_count() {
                let na = graph.neighbors(graph.node_id(&data.items[a]).unwrap());
                let nb = graph.neighbors(graph.node_id(&data.items[b]).unwrap());
                if na.is_empty() || nb.is_empty() {
                    continue;
                }
                let shared = na.iter().filter(|n| nb.contains(n)).count() as f32;
                let expected = shared / ((na.len() * nb.len()) as f32).sqrt();
                let got = cos(v.row(a), v.row(b));
                assert!(
                    (got - expected).abs() < 0.25,
                    "items {a},{b}: cosine {got}, shared-neighbour overlap {expected}"
                );
                compared += 1;
            }
        }
        assert!(compared > 10, "too few item pairs compared ({compared})");
    }
}
