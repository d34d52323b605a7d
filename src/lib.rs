//! kgrec: a knowledge-graph-augmented recommender with its own RDF graph store.
//!
//! Data flows `ingest → kg`: importers turn datasets into quads of the kgrec ontology
//! (`ontology/kgrec.ttl`), and the store ([`kg::KgStore`]) holds them in named graphs and
//! answers SPARQL.

pub mod default_kg;
pub mod ingest;
pub mod kg;
