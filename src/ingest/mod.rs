//! Ingest: reading what researchers and shops download (RDF dumps, Amazon review data, the
//! Beauty benchmark, RecBole atomic files, KGCN and KGAT files) into quads of the kgrec
//! ontology. Importers only produce quads; loading them is the store's job.
//!
//! May import: `kg` (the ontology's vocabulary and the store's quad types).

pub mod amazon;
pub mod beauty;
pub mod builder;
pub mod clean;
pub mod error;
pub mod kgat;
pub mod kgcn;
pub mod rdf;
pub mod recbole;
pub mod source;
pub mod stream;

pub use builder::{
    ImportCounts, ImportEvent, ImportOutput, ImportSender, InteractionRecord, KgBuilder,
};
pub use error::IngestError;
pub use rdf::{RdfFile, RdfFileFormat};
pub use stream::ImportStream;
