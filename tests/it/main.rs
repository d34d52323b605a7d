//! One integration-test binary (so linking stays cheap), a module per area. Every test
//! drives the real `kgrec` binary against a real on-disk store in a temporary directory.

mod common;
mod errors;
mod import;
mod learn;
mod load;
mod ontology;
mod queries;
