//! kgrec: a knowledge-graph-augmented recommender with its own RDF graph store.
//!
//! Data flows `ingest → kg → graph → embed → rec`: importers turn datasets into quads of the
//! kgrec ontology (`ontology/kgrec.ttl`); the store ([`kg::KgStore`]) holds them in named graphs
//! and answers SPARQL; [`graph`] projects the store into a compact typed graph and walks it;
//! [`embed`] turns walks and entity text into vectors; [`rec`] trains, scores and evaluates;
//! [`api`] serves SPARQL and recommendations over HTTP. A module only uses the ones before it
//! in that chain.

pub mod api;
pub mod default_kg;
pub mod embed;
pub mod graph;
pub mod ingest;
pub mod kg;
pub mod rec;
pub mod util;
