//! Errors of the store layer.

use std::path::PathBuf;

/// Everything that can go wrong when opening, loading, querying or exporting the store.
#[derive(Debug, thiserror::Error)]
pub enum KgError {
    /// Another process holds the store's lock.
    #[error("the store at {path} is in use by another process (RocksDB lock held); stop that process or use another --store")]
    StoreLocked {
        /// Store directory.
        path: PathBuf,
    },
    /// The store directory cannot be created or written.
    #[error("cannot use {path} as a store: {reason}")]
    StoreUnusable {
        /// Store directory.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// The store exists but could not be opened for another reason.
    #[error("cannot open the store at {path}: {source}")]
    StoreOpen {
        /// Store directory.
        path: PathBuf,
        /// Underlying storage error.
        #[source]
        source: oxigraph::store::StorageError,
    },
    /// A storage operation failed.
    #[error("storage error: {0}")]
    Storage(#[from] oxigraph::store::StorageError),
    /// The data to load was malformed; nothing was written.
    #[error("{0}\nnothing was loaded: the store is unchanged")]
    InvalidInput(String),
    /// SPARQL syntax error.
    #[error("SPARQL syntax error: {0}")]
    Syntax(#[from] oxigraph::sparql::SparqlSyntaxError),
    /// SPARQL query evaluation failed.
    #[error("query evaluation failed: {0}")]
    Evaluation(#[from] oxigraph::sparql::QueryEvaluationError),
    /// A row-by-row read was given a query that is not a SELECT.
    #[error("expected a SELECT query")]
    NotSelect,
    /// SPARQL update evaluation failed.
    #[error("update failed: {0}")]
    Update(#[from] oxigraph::sparql::UpdateEvaluationError),
    /// A parameter could not be bound.
    #[error("parameter error: {0}")]
    Parameter(String),
    /// A saved query is missing or malformed.
    #[error("saved query error: {0}")]
    SavedQuery(String),
    /// Serialising an export failed.
    #[error("export failed: {0}")]
    Serializer(#[from] oxigraph::store::SerializerError),
    /// Writing results or an export failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The query ran past its time limit and was cancelled.
    #[error("the query did not finish within {0:?} and was cancelled")]
    Timeout(std::time::Duration),
    /// The query produced more results than allowed.
    #[error("the query returns more than {0} results; add a LIMIT, or raise the limit")]
    TooManyResults(usize),
    /// `--store` names a remote store in a form kgrec cannot read, or its credentials are
    /// set inconsistently.
    #[error("remote store: {0}")]
    RemoteSpec(String),
    /// The remote SPARQL service refused a request (HTTP 4xx): a query it cannot run,
    /// credentials it does not accept.
    #[error("the SPARQL service at {endpoint} refused the request (HTTP {status}): {message}")]
    RemoteRefused {
        /// The endpoint's URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The remote SPARQL service could not be reached, failed (HTTP 5xx, after retries), or
    /// answered something unreadable.
    #[error("the SPARQL service at {endpoint} failed: {message}")]
    RemoteFailed {
        /// The endpoint's URL.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// What was asked needs something this store does not have.
    #[error("{0}")]
    Unsupported(String),
    /// The requested format does not fit the query or data.
    #[error("unsupported format: {0}")]
    Format(String),
}
