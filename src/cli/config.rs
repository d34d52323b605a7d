//! Settings from `kgrec.toml`, below flags and environment variables in precedence.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The configuration file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store directory.
    pub store: Option<PathBuf>,
    /// Saved-queries folder.
    pub queries: Option<PathBuf>,
}

impl Config {
    /// Reads `explicit`, else `./kgrec.toml` when it exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(p) => p.to_owned(),
            None if Path::new("kgrec.toml").is_file() => PathBuf::from("kgrec.toml"),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
    }
}
