//! [`TextEncoder`]: sentence embeddings from the all-MiniLM-L6-v2 model, as
//! sentence-transformers computes them (BERT, mean pooling over the real tokens, L2
//! normalisation), in Rust.
//!
//! Loading is separate from inference. Texts are tokenised once, sorted by token count and
//! cut into batches of similar length, so little or no work goes into padding; results come
//! back in input order. On the CPU the encoder runs a hand-written packed forward pass
//! (`cpu_bert`) that does no padding at all; on any other device, or when asked, it runs
//! candle-transformers' BERT with per-batch padding and an attention mask.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::cpu_bert::CpuBert;
use super::error::EmbedError;
use super::model_files::ModelFiles;

/// Which forward pass runs the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The packed CPU forward pass on [`Device::Cpu`] (fastest there), candle-transformers'
    /// BERT on other devices or for models the packed pass does not handle.
    #[default]
    Auto,
    /// Always candle-transformers' BERT (padded batches with an attention mask); kept for
    /// GPUs and as the reference the packed pass is tested against.
    Candle,
    /// The packed CPU pass with the portable `gemm` crate for every matrix product, never
    /// the AVX-512 kernel: what a CPU without AVX-512 runs, kept to measure the kernel
    /// against (`benches/text.rs --portable`).
    PackedPortable,
}

/// Settings of a [`TextEncoder`].
#[derive(Clone, Debug)]
pub struct EncoderConfig {
    /// Texts per forward batch (sentence-transformers' default is 32).
    pub batch_size: usize,
    /// Longest input in tokens, special tokens included; longer texts are truncated. 256 is
    /// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
    pub max_len: usize,
    /// Worker threads for encoding; `None` uses rayon's default (`RAYON_NUM_THREADS`, else
    /// one per CPU).
    pub threads: Option<usize>,
    /// Which forward pass to run.
    pub backend: Backend,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            batch_size: 32,
            max_len: 256,
            threads: None,
            backend: Backend::Auto,
        }
    }
}

/// Row-major matrix of embeddings: one unit-length row of [`Embeddings::dim`] floats per
/// input text, in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    /// Wraps a row-major buffer; its length must be a multiple of `dim`.
    pub fn from_flat(dim: usize, data: Vec<f32>) -> Result<Self, EmbedError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(EmbedError::InvalidSetting(format!(
                "{} values do not make rows of {dim}",
                data.len()
            )));
        }
        Ok(Self { dim, data })
    }
    /// Number of rows (texts).
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Width of each row.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Row `i` (panics when out of range, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// The rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        self.data.chunks_exact(self.dim)
    }
    /// The whole matrix, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    /// The whole matrix, row-major, by value.
    pub fn into_flat(self) -> Vec<f32> {
        self.data
    }
    /// One `Vec` per row, for callers that want nested vectors.
    pub fn to_rows(&self) -> Vec<Vec<f32>> {
        self.rows().map(<[f32]>::to_vec).collect()
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

enum Model {
    Packed(CpuBert),
    Candle { bert: BertModel, device: Device },
}

/// A loaded sentence encoder. Cheap to share across threads (`encode` takes `&self`).
pub struct TextEncoder {
    tokenizer: Tokenizer,
    model: Model,
    config: EncoderConfig,
    pool: rayon::ThreadPool,
    dim: usize,
}

impl TextEncoder {
    /// Loads the tokenizer, config and weights of `files` onto `device`. The tokenizer's own
    /// padding and truncation settings are replaced by `config.max_len` truncation and no
    /// padding (batches are padded, if at all, to their own longest text).
    pub fn load(
        files: &ModelFiles,
        config: EncoderConfig,
        device: &Device,
    ) -> Result<Self, EmbedError> {
        if config.batch_size == 0 {
            return Err(EmbedError::InvalidSetting(
                "batch size must be at least 1".into(),
            ));
        }
        let bert_config = read_config(&files.config())?;
        if config.max_len < 3 || config.max_len > bert_config.max_position_embeddings {
            return Err(EmbedError::InvalidSetting(format!(
                "max_len {} must be between 3 and the model's {} positions",
                config.max_len, bert_config.max_position_embeddings
            )));
        }
        let tokenizer = load_tokenizer(&files.tokenizer(), config.max_len)?;
        let threads = config.threads.unwrap_or(0);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kgrec-encode-{i}"))
            .build()
            .map_err(|e| EmbedError::InvalidSetting(format!("thread pool: {e}")))?;
        let weights = files.weights();
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu).map_err(|e| {
            EmbedError::Model(candle_core::Error::Msg(format!(
                "{}: {e}",
                weights.display()
            )))
        })?;
        let packed = matches!(config.backend, Backend::Auto | Backend::PackedPortable)
            && device.is_cpu()
            && super::cpu_bert::unsupported(&bert_config).is_none();
        let model = if packed {
            let avx512 = config.backend == Backend::Auto;
            Model::Packed(CpuBert::new(&tensors, &bert_config, avx512)?)
        } else {
            let tensors = tensors
                .into_iter()
                .map(|(k, t)| Ok((k, t.to_device(device)?)))
                .collect::<candle_core::Result<_>>()?;
            let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
            Model::Candle {
                bert: BertModel::load(vb, &bert_config)?,
                device: device.clone(),
            }
        };
        Ok(Self {
            tokenizer,
            model,
            config,
            pool,
            dim: bert_config.hidden_size,
        })
    }

    /// Width of the embeddings (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The settings the encoder was loaded with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Whether the packed CPU forward pass runs (rather than candle-transformers' BERT).
    pub fn uses_packed_cpu(&self) -> bool {
        matches!(self.model, Model::Packed(_))
    }

    /// Token ids of each text as the model sees them (`[CLS] … [SEP]`, truncated to
    /// `max_len`).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        self.pool.install(|| {
            Ok(self
                .tokenizer
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| EmbedError::Tokenizer(e.to_string()))?
                .into_iter()
                .map(|e| e.get_ids().to_vec())
                .collect())
        })
    }

    /// Embeds `texts`: one L2-normalised row per text, in input order.
    pub fn encode(&self, texts: &[&str]) -> Result<Embeddings, EmbedError> {
        self.pool.install(|| {
            let encodings = self
                .tokenizer
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
            let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
            self.encode_ids(&ids)
        })
    }

    /// Embeds already tokenised sequences (as [`TextEncoder::tokenize`] gives them).
    pub fn encode_tokens(&self, ids: &[Vec<u32>]) -> Result<Embeddings, EmbedError> {
        let ids: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        self.pool.install(|| self.encode_ids(&ids))
    }

    fn encode_ids(&self, ids: &[&[u32]]) -> Result<Embeddings, EmbedError> {
        let dim = self.dim;
        let lengths: Vec<usize> = ids.iter().map(|s| s.len()).collect();
        if let Some(&longest) = lengths.iter().max() {
            if longest > self.config.max_len {
                return Err(EmbedError::InvalidSetting(format!(
                    "a sequence of {longest} tokens is longer than max_len {}",
                    self.config.max_len
                )));
            }
        }
        let batches = length_batches(&lengths, self.config.batch_size);
        let threads = rayon::current_num_threads();
        let run = |batch: &Vec<usize>, threads: usize| -> Result<Vec<f32>, EmbedError> {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i]).collect();
            match &self.model {
                Model::Packed(m) => m.embed(&seqs, threads),
                Model::Candle { bert, device } => candle_embed(bert, device, &seqs),
            }
        };
        // With enough batches, the packed pass runs whole batches side by side, one per
        // thread, which needs no synchronisation inside a batch; otherwise each batch is split
        // across the threads.
        let side_by_side =
            matches!(self.model, Model::Packed(_)) && threads > 1 && batches.len() >= 2 * threads;
        let results: Vec<Result<Vec<f32>, EmbedError>> = if side_by_side {
            use rayon::prelude::*;
            batches.par_iter().map(|b| run(b, 1)).collect()
        } else {
            batches.iter().map(|b| run(b, threads)).collect()
        };
        let mut out = vec![0.0f32; ids.len() * dim];
        for (batch, rows) in batches.iter().zip(results) {
            for (row, &i) in rows?.chunks_exact(dim).zip(batch) {
                out[i * dim..(i + 1) * dim].copy_from_slice(row);
            }
        }
        Embeddings::from_flat(dim, out)
    }
}

fn read_config(path: &Path) -> Result<Config, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|e| EmbedError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Config {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(path)
        .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", path.display())))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// Indices of the inputs grouped into batches of at most `batch_size`, longest first, so
/// that each batch holds texts of similar length. Ties keep input order.
pub(crate) fn length_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// One batch through candle-transformers' BERT: padded to the batch's longest sequence,
/// attention-masked, mean-pooled over the mask and L2-normalised. Returns the rows, flat.
fn candle_embed(
    bert: &BertModel,
    device: &Device,
    seqs: &[&[u32]],
) -> Result<Vec<f32>, EmbedError> {
    let b = seqs.len();
    let l = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    if b == 0 || l == 0 {
        return Ok(Vec::new());
    }
    let mut ids = vec![0u32; b * l];
    let mut mask = vec![0u32; b * l];
    for (r, s) in seqs.iter().enumerate() {
        ids[r * l..r * l + s.len()].copy_from_slice(s);
        mask[r * l..r * l + s.len()].fill(1);
    }
    let ids = Tensor::from_vec(ids, (b, l), device)?;
    let mask = Tensor::from_vec(mask, (b, l), device)?;
    let types = ids.zeros_like()?;
    let hidden = bert.forward(&ids, &types, Some(&mask))?;
    let pooled = masked_mean_pool(&hidden, &mask)?;
    Ok(l2_normalize_rows(&pooled)?
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1()?)
}

/// Mean of `hidden` (`[batch × len × dim]`) over the positions where `mask` (`[batch × len]`)
/// is 1, as sentence-transformers' mean pooling computes it (count clamped at 1e-9).
pub(crate) fn masked_mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9f64, f64::MAX)?;
    sum.broadcast_div(&count)
}

/// Each row of `x` (`[batch × dim]`) divided by `max(‖row‖, 1e-12)`.
pub(crate) fn l2_normalize_rows(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f64, f64::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_group_by_length_and_cover_every_input_once() {
        let lengths = [5, 40, 7, 40, 12, 3, 7];
        let batches = length_batches(&lengths, 3);
        assert_eq!(batches, vec![vec![1, 3, 4], vec![2, 6, 0], vec![5]]);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
        assert!(length_batches(&[], 4).is_empty());
    }

    #[test]
    fn masked_mean_pool_ignores_padding_and_normalises() {
        let dev = Device::Cpu;
        // Batch of 2, length 3, dim 2. Row 0 has 2 real tokens, row 1 has 3.
        let hidden = Tensor::from_vec(
            vec![
                1.0f32, 2.0, 3.0, 4.0, 100.0, 100.0, // row 0 (last is padding)
                1.0, 0.0, 2.0, 0.0, 3.0, 3.0, // row 1
            ],
            (2, 3, 2),
            &dev,
        )
        .unwrap();
        let mask = Tensor::from_vec(vec![1u32, 1, 0, 1, 1, 1], (2, 3), &dev).unwrap();
        let pooled = masked_mean_pool(&hidden, &mask).unwrap();
        assert_eq!(
            pooled.to_vec2::<f32>().unwrap(),
            vec![vec![2.0, 3.0], vec![2.0, 1.0]]
        );
        let unit = l2_normalize_rows(&pooled)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let n0 = 13f32.sqrt();
        let n1 = 5f32.sqrt();
        let want = [[2.0 / n0, 3.0 / n0], [2.0 / n1, 1.0 / n1]];
        for (r, w) in unit.iter().zip(want) {
            for (a, b) in r.iter().zip(w) {
                assert!((a - b).abs() < 1e-6, "{unit:?}");
            }
        }
    }

    /// A small random BERT (2 layers, width 16, 4 heads), as safetensors-style tensors.
    fn tiny_bert() -> (std::collections::HashMap<String, Tensor>, Config) {
        let config: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 24, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "max_position_embeddings": 20, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0
        }))
        .unwrap();
        let mut seed = 12345u64;
        let mut random = |shape: &[usize], centre: f32| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    centre + ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8
                })
                .collect();
            Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
        };
        let (h, i) = (16, 24);
        let mut specs: Vec<(String, Vec<usize>, f32)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![40, h], 0.0),
            (
                "embeddings.position_embeddings.weight".into(),
                vec![20, h],
                0.0,
            ),
            (
                "embeddings.token_type_embeddings.weight".into(),
                vec![2, h],
                0.0,
            ),
        ];
        let mut norms = vec!["embeddings.LayerNorm".to_owned()];
        for l in 0..2 {
            let p = format!("encoder.layer.{l}.");
            norms.push(format!("{p}attention.output.LayerNorm"));
            norms.push(format!("{p}output.LayerNorm"));
            for (name, out, inp) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", i, h),
                ("output.dense", h, i),
            ] {
                specs.push((format!("{p}{name}.weight"), vec![out, inp], 0.0));
                specs.push((format!("{p}{name}.bias"), vec![out], 0.0));
            }
        }
        for n in norms {
            specs.push((format!("{n}.weight"), vec![h], 1.0));
            specs.push((format!("{n}.bias"), vec![h], 0.0));
        }
        let t = specs
            .into_iter()
            .map(|(name, shape, centre)| (name, random(&shape, centre)))
            .collect();
        (t, config)
    }

    #[test]
    fn packed_forward_matches_candle_bert_with_padding() {
        let (tensors, config) = tiny_bert();
        let packed = CpuBert::new(&tensors, &config, true).unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let bert = BertModel::load(vb, &config).unwrap();
        // Lengths differ, so candle pads and masks while the packed pass does neither.
        let seqs: Vec<Vec<u32>> = vec![
            vec![1, 5, 9, 2],
            vec![1, 7, 3, 3, 8, 12, 30, 39, 2],
            vec![1, 2],
            vec![1, 11, 17, 19, 23, 29, 31, 37, 4, 6, 2],
        ];
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let want = candle_embed(&bert, &Device::Cpu, &refs).unwrap();
        for threads in [1, 2] {
            let got = packed.embed(&refs, threads).unwrap();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 2e-5, "packed {a} vs candle {b}");
            }
        }
        assert!(
            packed.embed(&[&[1, 99]], 1).is_err(),
            "token id outside the vocabulary"
        );
        assert!(
            packed.embed(&[&[1; 21]], 1).is_err(),
            "longer than the positions"
        );
    }

    #[test]
    fn encoder_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<TextEncoder>();
        shared::<Embeddings>();
    }

    #[test]
    fn embeddings_matrix_accessors() {
        let e = Embeddings::from_flat(2, vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8]).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e.row(2), &[0.6, 0.8]);
        assert_eq!(e.to_rows()[1], vec![0.0, 1.0]);
        assert!(Embeddings::from_flat(4, vec![0.0; 6]).is_err());
        assert!((cosine(e.row(0), e.row(2)) - 0.6).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], e.row(0)), 0.0);
    }
}
