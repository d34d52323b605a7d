//! [`ExperimentConfig`]: the settings of a training or evaluation run, read from
//! `kgrec.toml` and recorded with every registered version.

use serde::{Deserialize, Serialize};

use crate::error::RecError;
use crate::eval::Protocol;
use crate::features::FeatureConfig;
use crate::model::ModelConfig;

/// Everything a run needs besides the data. The model and feature settings sit at the top
/// level of the file (`[sequential]`, `[structure]`, `[text]`, …), beside `protocol` and
/// `seeds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    /// Evaluation protocol.
    pub protocol: Protocol,
    /// One run per seed; the seed drives the split (random protocols) and the models.
    pub seeds: Vec<u64>,
    /// The models' settings.
    #[serde(flatten)]
    pub model: ModelConfig,
    /// How item inputs are built.
    #[serde(flatten)]
    pub features: FeatureConfig,
}

impl ExperimentConfig {
    /// Reads a settings file's text. A key that is no setting (a typo, a table in the wrong
    /// place such as `[model.ease]` for `[ease]`) is an error that names it: flattened
    /// tables would otherwise drop it without a word and the run would use the default.
    pub fn from_toml(text: &str) -> Result<Self, RecError> {
        let config: ExperimentConfig =
            toml::from_str(text).map_err(|e| RecError::InvalidConfig(e.to_string()))?;
        let given: toml::Table =
            toml::from_str(text).map_err(|e| RecError::InvalidConfig(e.to_string()))?;
        let known =
            serde_json::to_value(&config).map_err(|e| RecError::InvalidConfig(e.to_string()))?;
        let mut unknown = Vec::new();
        unknown_keys(&given, &known, "", &mut unknown);
        if unknown.is_empty() {
            Ok(config)
        } else {
            Err(RecError::InvalidConfig(format!(
                "not a setting: {} (docs/learning.md, Settings, lists them)",
                unknown.join(", ")
            )))
        }
    }
}

/// The dotted paths of `given`'s keys that `known` (the settings as read, every field
/// present) has no place for. Below a setting that is not a table in `known` (an enum
/// written as a table), nothing is checked.
fn unknown_keys(
    given: &toml::Table,
    known: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    for (key, value) in given {
        let path = format!("{prefix}{key}");
        match known.get(key) {
            None => out.push(path),
            Some(inner @ serde_json::Value::Object(_)) => {
                if let toml::Value::Table(table) = value {
                    unknown_keys(table, inner, &format!("{path}."), out);
                }
            }
            Some(_) => {}
        }
    }
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            protocol: crate::eval::Protocol::Loo,
            seeds: vec![1],
            model: ModelConfig::default(),
            features: FeatureConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_from_the_top_level() {
        let c: ExperimentConfig = toml::from_str(
            "seeds = [1, 2]\nrecency_decay = 0.5\n[sequential]\ndim = 32\n[text]\nthreads = 1\n",
        )
        .unwrap();
        assert_eq!(c.seeds, [1, 2]);
        assert_eq!(c.model.recency_decay, 0.5);
        assert_eq!(c.model.sequential.dim, 32);
        assert_eq!(c.features.text.threads, Some(1));
        assert_eq!(c.features.neighbourhood_dim, 128);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["sequential"]["dim"], 32);
        assert_eq!(json["protocol"], "loo");
    }

    #[test]
    fn a_key_that_is_no_setting_is_named() {
        let c = ExperimentConfig::from_toml("seeds = [3]\n[ease]\nrefit = false\n").unwrap();
        assert!(!c.model.ease.refit);
        assert_eq!(c.seeds, [3]);
        let err = ExperimentConfig::from_toml("[model.ease]\nrefit = false\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model"), "{err}");
        let err = ExperimentConfig::from_toml("[sequential]\ndimm = 32\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sequential.dimm"), "{err}");
        // Every setting as written back reads again.
        let all = toml::to_string(&ExperimentConfig::default()).unwrap();
        ExperimentConfig::from_toml(&all).unwrap();
    }
}
