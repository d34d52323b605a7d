//! Random walks over a [`KgProjection`]: uniform, node2vec-biased (p, q) and
//! relation-constrained (metapath). Walks run on all cores and are reproducible: walk `w`
//! from node `n` draws from its own random stream, so the corpus does not depend on the
//! thread count or scheduling.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::projection::{DirectedRelation, KgProjection, NodeId, NodeKind};
use super::GraphError;
use crate::util::SeededRng;

/// How each step chooses the next node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WalkKind {
    /// Uniformly among the neighbours (DeepWalk).
    Uniform,
    /// node2vec's second-order bias: return parameter `p`, in-out parameter `q`.
    Node2Vec {
        /// Return parameter: a high `p` makes stepping back to the previous node rarer.
        p: f32,
        /// In-out parameter: `q < 1` explores outward (DFS-like), `q > 1` stays local.
        q: f32,
    },
    /// Follow these directed relations in turn, cycling (e.g. product →brand→ brand
    /// ←brand← product). A walk stops early where no neighbour fits the next step.
    Metapath(Vec<MetapathStep>),
}

/// One step of a metapath: a relation, followed forward or inverse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetapathStep {
    /// Relation name or IRI (see [`super::projection::relation_iri`]).
    pub relation: String,
    /// Follow from object to subject.
    pub inverse: bool,
}

/// Walk generation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WalkConfig {
    /// Step rule.
    pub kind: WalkKind,
    /// Nodes per walk, the start included.
    pub length: usize,
    /// Walks started from each start node.
    pub walks_per_node: usize,
    /// Node kinds walks start from; all kinds when empty.
    pub start_kinds: Vec<NodeKind>,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            kind: WalkKind::Uniform,
            length: 20,
            walks_per_node: 10,
            start_kinds: Vec::new(),
            seed: 42,
        }
    }
}

/// Walks stored flat: `tokens[offsets[i]..offsets[i+1]]` is walk `i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkCorpus {
    /// Node ids of every walk, concatenated.
    pub tokens: Vec<NodeId>,
    /// Start offset of each walk, plus a final end offset.
    pub offsets: Vec<usize>,
}

impl WalkCorpus {
    /// Number of walks.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    /// Whether there are no walks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Walk `i`.
    pub fn walk(&self, i: usize) -> &[NodeId] {
        &self.tokens[self.offsets[i]..self.offsets[i + 1]]
    }
    /// All walks in order.
    pub fn walks(&self) -> impl Iterator<Item = &[NodeId]> {
        (0..self.len()).map(move |i| self.walk(i))
    }
}

enum Step {
    Uniform,
    Node2Vec { inv_p: f32, inv_q: f32, max: f32 },
    Metapath(Vec<DirectedRelation>),
}

/// Generates walks from every node of `config.start_kinds`; `progress` is called with the
/// number of walks finished so far.
pub fn generate_walks(
    graph: &KgProjection,
    config: &WalkConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<WalkCorpus, GraphError> {
    let starts: Vec<NodeId> = (0..graph.node_count() as NodeId)
        .filter(|&n| config.start_kinds.is_empty() || config.start_kinds.contains(&graph.kind(n)))
        .collect();
    generate_walks_from(graph, &starts, config, progress)
}

/// Generates walks from the given start nodes only (e.g. the catalogue's items and the
/// users, when the graph also holds many products nobody interacted with).
pub fn generate_walks_from(
    graph: &KgProjection,
    starts: &[NodeId],
    config: &WalkConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<WalkCorpus, GraphError> {
    if config.length < 2 {
        return Err(GraphError::InvalidConfig(
            "walk length must be at least 2".into(),
        ));
    }
    let step = match &config.kind {
        WalkKind::Uniform => Step::Uniform,
        WalkKind::Node2Vec { p, q } => {
            if !(*p > 0.0 && *q > 0.0) {
                return Err(GraphError::InvalidConfig(
                    "node2vec p and q must be positive".into(),
                ));
            }
            let (inv_p, inv_q) = (1.0 / p, 1.0 / q);
            Step::Node2Vec {
                inv_p,
                inv_q,
                max: inv_p.max(inv_q).max(1.0),
            }
        }
        WalkKind::Metapath(steps) => {
            if steps.is_empty() {
                return Err(GraphError::InvalidConfig("empty metapath".into()));
            }
            let mut path = Vec::new();
            for s in steps {
                let iri = super::projection::relation_iri(&s.relation)?;
                let id = graph
                    .relation_id(&iri)
                    .ok_or_else(|| GraphError::RelationAbsent(iri.clone()))?;
                path.push(if s.inverse {
                    DirectedRelation::inverse(id)
                } else {
                    DirectedRelation::forward(id)
                });
            }
            Step::Metapath(path)
        }
    };
    let starts: Vec<NodeId> = starts
        .iter()
        .copied()
        .filter(|&n| (n as usize) < graph.node_count() && graph.degree(n) > 0)
        .collect();
    let done = std::sync::atomic::AtomicU64::new(0);
    let jobs: Vec<(usize, NodeId)> = (0..config.walks_per_node)
        .flat_map(|round| starts.iter().map(move |&n| (round, n)))
        .collect();
    let walks: Vec<Vec<NodeId>> = jobs
        .par_chunks(4096)
        .flat_map_iter(|chunk| {
            let out: Vec<Vec<NodeId>> = chunk
                .iter()
                .map(|&(round, start)| {
                    let stream = (round as u64) << 32 | start as u64;
                    let mut rng = SeededRng::for_stream(config.seed, stream);
                    walk_from(graph, start, config.length, &step, &mut rng)
                })
                .collect();
            let n = done.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            progress(n + chunk.len() as u64);
            out
        })
        .collect();
    let mut corpus = WalkCorpus {
        tokens: Vec::with_capacity(walks.iter().map(Vec::len).sum()),
        offsets: Vec::with_capacity(walks.len() + 1),
    };
    corpus.offsets.push(0);
    for w in walks.into_iter().filter(|w| w.len() > 1) {
        corpus.tokens.extend_from_slice(&w);
        corpus.offsets.push(corpus.tokens.len());
    }
    Ok(corpus)
}

fn walk_from(
    graph: &KgProjection,
    start: NodeId,
    length: usize,
    step: &Step,
    rng: &mut SeededRng,
) -> Vec<NodeId> {
    let mut walk = Vec::with_capacity(length);
    walk.push(start);
    while walk.len() < length {
        let current = walk[walk.len() - 1];
        let neighbors = graph.neighbors(current);
        if neighbors.is_empty() {
            break;
        }
        let next = match step {
            Step::Uniform => neighbors[rng.below(neighbors.len())],
            Step::Node2Vec { inv_p, inv_q, max } => {
                if walk.len() < 2 {
                    neighbors[rng.below(neighbors.len())]
                } else {
                    let previous = walk[walk.len() - 2];
                    node2vec_step(graph, previous, neighbors, *inv_p, *inv_q, *max, rng)
                }
            }
            Step::Metapath(path) => {
                let wanted = path[(walk.len() - 1) % path.len()];
                match metapath_step(graph, current, wanted, rng) {
                    Some(n) => n,
                    None => break,
                }
            }
        };
        walk.push(next);
    }
    walk
}

/// node2vec by rejection sampling (KnightKing): draw a neighbour uniformly and accept it
/// with its unnormalised weight over the largest weight, so no per-edge alias tables are
/// needed even on hubs.
fn node2vec_step(
    graph: &KgProjection,
    previous: NodeId,
    neighbors: &[NodeId],
    inv_p: f32,
    inv_q: f32,
    max: f32,
    rng: &mut SeededRng,
) -> NodeId {
    loop {
        let candidate = neighbors[rng.below(neighbors.len())];
        let weight = if candidate == previous {
            inv_p
        } else if graph.has_edge(previous, candidate) {
            1.0
        } else {
            inv_q
        };
        if rng.unit_f32() * max < weight {
            return candidate;
        }
    }
}

fn metapath_step(
    graph: &KgProjection,
    current: NodeId,
    wanted: DirectedRelation,
    rng: &mut SeededRng,
) -> Option<NodeId> {
    let neighbors = graph.neighbors(current);
    let labels = graph.edge_labels(current);
    // Reservoir-sample one fitting neighbour in a single pass.
    let mut chosen = None;
    let mut seen = 0;
    for (n, &label) in neighbors.iter().zip(labels) {
        if graph.label_relations(label).contains(&wanted) {
            seen += 1;
            if rng.below(seen) == 0 {
                chosen = Some(*n);
            }
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::projection::ProjectionBuilder;

    /// Two products by one brand, one also bought with a third; a chain hanging off p3.
    fn graph() -> KgProjection {
        let mut b = ProjectionBuilder::new();
        let p: Vec<_> = (0..4)
            .map(|i| b.node(&format!("ex:p{i}"), NodeKind::Product))
            .collect();
        let brand = b.node("ex:brand", NodeKind::Brand);
        let rb = b.relation("http://schema.org/brand");
        let ra = b.relation("https://w3id.org/kgrec/ns#alsoBought");
        b.add_edge(p[0], rb, brand);
        b.add_edge(p[1], rb, brand);
        b.add_edge(p[1], ra, p[2]);
        b.add_edge(p[2], ra, p[3]);
        b.build()
    }

    fn config(kind: WalkKind) -> WalkConfig {
        WalkConfig {
            kind,
            length: 8,
            walks_per_node: 5,
            start_kinds: vec![],
            seed: 3,
        }
    }

    #[test]
    fn walks_follow_edges_and_repeat_for_a_seed() {
        let g = graph();
        for kind in [WalkKind::Uniform, WalkKind::Node2Vec { p: 0.5, q: 2.0 }] {
            let a = generate_walks(&g, &config(kind.clone()), &|_| {}).unwrap();
            let b = generate_walks(&g, &config(kind.clone()), &|_| {}).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.len(), 5 * 5);
            for w in a.walks() {
                assert_eq!(w.len(), 8);
                assert!(w.windows(2).all(|e| g.has_edge(e[0], e[1])));
            }
            let mut other = config(kind);
            other.seed = 4;
            assert_ne!(a, generate_walks(&g, &other, &|_| {}).unwrap());
        }
    }

    #[test]
    fn same_corpus_on_one_thread_or_many() {
        let g = graph();
        let cfg = config(WalkKind::Node2Vec { p: 1.0, q: 0.5 });
        let many = generate_walks(&g, &cfg, &|_| {}).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let one = pool.install(|| generate_walks(&g, &cfg, &|_| {}).unwrap());
        assert_eq!(one, many);
    }

    #[test]
    fn node2vec_high_p_rarely_returns() {
        let g = graph();
        let mut cfg = config(WalkKind::Node2Vec { p: 100.0, q: 1.0 });
        cfg.walks_per_node = 200;
        cfg.start_kinds = vec![NodeKind::Brand];
        let corpus = generate_walks(&g, &cfg, &|_| {}).unwrap();
        // From the brand to p1, then back to the brand (weight 1/p) or on to p2 (1/q).
        let (mut back, mut on) = (0, 0);
        for w in corpus.walks() {
            if w[1] == 1 {
                if w[2] == 4 {
                    back += 1
                } else {
                    on += 1
                }
            }
        }
        assert!(on > 20 * back.max(1) / 2, "back {back}, on {on}");
    }

    #[test]
    fn metapath_alternates_relations() {
        let g = graph();
        let cfg = config(WalkKind::Metapath(vec![
            MetapathStep {
                relation: "brand".into(),
                inverse: false,
            },
            MetapathStep {
                relation: "brand".into(),
                inverse: true,
            },
        ]));
        let corpus = generate_walks(&g, &cfg, &|_| {}).unwrap();
        for w in corpus.walks() {
            for (i, e) in w.windows(2).enumerate() {
                let want = if i % 2 == 0 {
                    DirectedRelation::forward(0)
                } else {
                    DirectedRelation::inverse(0)
                };
                assert!(g.relations_between(e[0], e[1]).contains(&want));
            }
        }
        // Products 2 and 3 have no brand: their walks stop at once and are dropped.
        assert!(corpus.walks().all(|w| w[0] != 2 && w[0] != 3));
        let bad = config(WalkKind::Metapath(vec![MetapathStep {
            relation: "category".into(),
            inverse: false,
        }]));
        assert!(generate_walks(&g, &bad, &|_| {}).is_err());
    }
}
