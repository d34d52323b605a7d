//! [`ExperimentConfig`]: the settings of a training or evaluation run, read from
//! `kgrec.toml` and recorded with every registered version.

use serde::{Deserialize, Serialize};

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
}
