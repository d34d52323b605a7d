//! Recommendation: interaction data, splits, models, scoring and evaluation.
