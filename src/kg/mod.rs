//! The knowledge-graph store: vocabulary, the persistent oxigraph store behind a narrow
//! interface, SPARQL evaluation with safe parameter binding, result formats and saved queries.
//!
//! May import: nothing of kgrec's but `util`; everything else builds on it.

pub mod binding;
pub mod calls;
pub mod error;
pub mod remote;
pub mod results;
pub mod saved;
pub mod split;
pub mod store;
pub mod vocab;

pub use error::KgError;
pub use remote::{LoadCommit, RemoteAuth, RemoteEndpoints, RemoteStore};
pub use results::ResultFormat;
pub use saved::{ParamType, SavedQuery, SavedQueryParam};
pub use store::{
    ExtensionFunction, ImportRecord, KgStore, QueryOptions, QueryOutcome, StoreLocation,
};
