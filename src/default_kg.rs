//! The bundled default KG (`kg-data/amazon-beauty-sample.nq.gz`): a small real sample of the
//! Amazon Beauty benchmark, compiled into the binary so a new user has something real to
//! query at once. `scripts/make-kg-data.sh` regenerates it from `../shared`.

use std::io::Read;

use crate::ingest::IngestError;
use crate::kg::{KgError, KgStore};

/// The gzipped N-Quads of the default KG, if the build found it.
pub const BUNDLED: Option<&[u8]> = include!(concat!(env!("OUT_DIR"), "/default_kg.rs"));

/// Name of the bundled file, for messages.
pub const FILE_NAME: &str = "kg-data/amazon-beauty-sample.nq.gz";

/// Loads the bundled default KG into `store` atomically and returns the number of quads.
pub fn load(store: &KgStore) -> Result<u64, KgError> {
    let bytes = BUNDLED.ok_or_else(|| {
        KgError::InvalidInput(format!(
            "this kgrec was built without {FILE_NAME}; run scripts/make-kg-data.sh and rebuild"
        ))
    })?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut text)?;
    let parser = oxigraph::io::RdfParser::from_format(oxigraph::io::RdfFormat::NQuads);
    let quads = parser
        .for_slice(&text)
        .map(|q| q.map_err(|e| IngestError::Input(format!("{FILE_NAME}: {e}"))));
    store.bulk_load(quads, None)
}
