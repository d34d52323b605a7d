//! The graph view of the KG: a compact typed projection of the store ([`KgProjection`]) and
//! random walks over it ([`generate_walks`]).
//!
//! May import: `kg`, `util`.

pub mod projection;
pub mod walks;

pub use projection::{
    DirectedRelation, KgProjection, NodeId, NodeKind, ProjectionBuilder, ProjectionConfig,
    Relation, RelationId, RelationSelection,
};
pub use walks::{
    generate_walks, generate_walks_from, MetapathStep, WalkConfig, WalkCorpus, WalkKind,
};

/// Errors of the graph layer.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] crate::kg::KgError),
    /// A relation name is neither a known short name nor an IRI.
    #[error("unknown relation {name:?}: use an IRI or one of {known:?}")]
    UnknownRelation {
        /// What was given.
        name: String,
        /// The short names kgrec knows.
        known: Vec<&'static str>,
    },
    /// A relation named in a walk config has no edge in the projection.
    #[error("relation <{0}> has no edges in this graph")]
    RelationAbsent(String),
    /// Settings that cannot work.
    #[error("invalid walk settings: {0}")]
    InvalidConfig(String),
}
