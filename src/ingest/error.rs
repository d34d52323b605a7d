//! Errors of the ingest layer. Every parse error names the file, line and (where known) column.

use std::path::PathBuf;

/// An input file could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The content is malformed at a known place.
    #[error("{}:{line}{}: {message}", file.display(), column.map(|c| format!(":{c}")).unwrap_or_default())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column, when known.
        column: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read (missing, unreadable, truncated or corrupt gzip).
    #[error("{}: {message}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The input as a whole is unusable (empty, missing files, unknown format).
    #[error("{0}")]
    Input(String),
}

impl IngestError {
    /// A parse error at `file:line`.
    pub fn at(file: &std::path::Path, line: u64, message: impl Into<String>) -> Self {
        IngestError::Parse {
            file: file.to_owned(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// A read error on `file`, with gzip truncation spelled out.
    pub fn read(file: &std::path::Path, err: &std::io::Error) -> Self {
        let message = match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the file ends unexpectedly (truncated or corrupt gzip stream)".to_owned()
            }
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                format!("corrupt data ({err})")
            }
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            _ => err.to_string(),
        };
        IngestError::Read {
            file: file.to_owned(),
            message,
        }
    }
}
