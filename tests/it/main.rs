//! One integration-test binary (so linking stays cheap), a module per area. The tests drive
//! the real `kgrec` binary against a real on-disk store in a temporary directory, except
//! `text`, which tests the text encoder and entity texts through the library.

mod browser;
mod common;
mod crash;
mod errors;
mod experiments;
mod import;
mod learn;
mod load;
mod ontology;
mod quality;
mod queries;
mod remote;
mod replicas;
mod serve;
mod text;
