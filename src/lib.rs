//! kgrec: a knowledge-graph-augmented recommender with its own RDF graph store.
//!
//! Data flows `ingest → kg → graph → embed → eval → model → features → quality → registry →
//! serve → api`: importers ([`ingest`]) turn datasets into quads of the kgrec ontology
//! (`ontology/kgrec.ttl`); the store ([`kg::KgStore`]) holds them in named graphs and answers
//! SPARQL; [`graph`] projects the store into a compact typed graph and walks it; [`embed`]
//! turns walks and entity text into vectors; [`eval`] (interaction data, splits, metrics,
//! the `Scorer` interface, experiments) and [`model`] (the sequence model, baselines) are pure
//! and never touch the store; [`features`] reads the store into the models' plain inputs;
//! [`quality`] checks the data (`kgrec check`) and records what is wrong in the store;
//! [`registry`] trains a model into a registered version; [`serve`] answers from the
//! registered model with live histories and explanations; [`api`] serves SPARQL and
//! recommendations over HTTP. A module only uses the ones before it in that chain
//! (`docs/architecture.md` has the layout and where each fact lives).

pub mod api;
pub mod default_kg;
pub mod embed;
pub mod error;
pub mod eval;
pub mod features;
pub mod graph;
pub mod ingest;
pub mod kg;
pub mod model;
pub mod quality;
pub mod registry;
pub mod serve;
pub mod util;

pub use error::RecError;
