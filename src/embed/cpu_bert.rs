//! A hand-written BERT encoder forward pass for the CPU, without padding.
//!
//! The sequences of a batch are packed one after another into a `[tokens × hidden]` matrix,
//! so every dense layer (the bulk of the work) multiplies only real tokens, in one large
//! matrix product ([`super::sgemm`]). Attention runs per
//! sequence on its own tokens, so no attention mask is needed. Element-wise kernels (GELU,
//! softmax, layer norm) are plain Rust that the compiler vectorises, built for AVX2/AVX-512
//! when the CPU has them.
//!
//! Over 600 lines because it is one idea: one forward pass, layer by layer, with its kernels
//! and the tests that hold it to candle's reference encoder.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::{DType, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

use super::error::EmbedError;
use super::sgemm::Weight;

/// Defines `$name` that runs the same body compiled for AVX-512, AVX2+FMA or baseline x86-64,
/// whichever the CPU has (checked at run time, cached by the standard library).
macro_rules! simd_fn {
    ($(#[$m:meta])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn portable($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has every feature the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

/// One transformer layer's weights; matrices are `[in × out]`, row-major.
struct Layer {
    /// Query, key and value projections side by side: `[hidden × 3·hidden]`.
    w_qkv: Weight,
    b_qkv: Vec<f32>,
    w_attn_out: Weight,
    b_attn_out: Vec<f32>,
    ln_attn: (Vec<f32>, Vec<f32>),
    w_up: Weight,
    b_up: Vec<f32>,
    w_down: Weight,
    b_down: Vec<f32>,
    ln_out: (Vec<f32>, Vec<f32>),
}

/// BERT weights laid out for the packed CPU forward pass.
pub(crate) struct CpuBert {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    vocab: usize,
    max_positions: usize,
    word: Vec<f32>,
    /// Position embedding plus the token-type-0 embedding, `[max_positions × hidden]`.
    position_type0: Vec<f32>,
    ln_embed: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// Why the packed CPU path cannot run a model (the candle path is used instead).
pub(crate) fn unsupported(config: &Config) -> Option<String> {
    if config.hidden_act != HiddenAct::Gelu {
        return Some(format!("activation {:?}", config.hidden_act));
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Some("hidden size not divisible by the head count".into());
    }
    None
}

struct Weights<'a> {
    tensors: &'a HashMap<String, Tensor>,
    prefix: &'a str,
}

impl Weights<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let full = format!("{}{name}", self.prefix);
        let t = self.tensors.get(&full).ok_or_else(|| {
            EmbedError::Model(candle_core::Error::Msg(format!(
                "the weights lack tensor {full}"
            )))
        })?;
        if t.dims() != shape {
            return Err(EmbedError::Model(candle_core::Error::Msg(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                t.dims()
            ))));
        }
        Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// A linear layer's weight (stored `[out × in]`) transposed to `[in × out]`, and its bias.
    fn linear(
        &self,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let w = self.get(&format!("{name}.weight"), &[outputs, inputs])?;
        let b = self.get(&format!("{name}.bias"), &[outputs])?;
        Ok((transpose(&w, outputs, inputs), b))
    }

    fn layer_norm(&self, name: &str, n: usize) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        Ok((
            self.get(&format!("{name}.weight"), &[n])?,
            self.get(&format!("{name}.bias"), &[n])?,
        ))
    }
}

/// `[rows × cols]` → `[cols × rows]`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = m[r * cols + c];
        }
    }
    out
}

impl CpuBert {
    /// Lays out the weights of a BERT model (`embeddings.*`, `encoder.layer.N.*`, with or
    /// without a `bert.` prefix) for the packed forward pass; with `avx512`, for the AVX-512
    /// kernel where the CPU has it.
    pub(crate) fn new(
        tensors: &HashMap<String, Tensor>,
        config: &Config,
        avx512: bool,
    ) -> Result<Self, EmbedError> {
        let prefix = if tensors.keys().any(|k| k.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let w = Weights { tensors, prefix };
        let h = config.hidden_size;
        let word = w.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let mut position_type0 = w.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let types = w.get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        for row in position_type0.chunks_exact_mut(h) {
            for (p, t) in row.iter_mut().zip(&types[..h]) {
                *p += t;
            }
        }
        let ln_embed = w.layer_norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}.");
            let (wq, bq) = w.linear(&format!("{p}attention.self.query"), h, h)?;
            let (wk, bk) = w.linear(&format!("{p}attention.self.key"), h, h)?;
            let (wv, bv) = w.linear(&format!("{p}attention.self.value"), h, h)?;
            let mut w_qkv = Vec::with_capacity(3 * h * h);
            for r in 0..h {
                for m in [&wq, &wk, &wv] {
                    w_qkv.extend_from_slice(&m[r * h..(r + 1) * h]);
                }
            }
            let w_qkv = Weight::with_layout(w_qkv, h, 3 * h, avx512);
            let b_qkv = [bq, bk, bv].concat();
            let (w_attn_out, b_attn_out) = w.linear(&format!("{p}attention.output.dense"), h, h)?;
            let w_attn_out = Weight::with_layout(w_attn_out, h, h, avx512);
            let ln_attn = w.layer_norm(&format!("{p}attention.output.LayerNorm"), h)?;
            let (w_up, b_up) = w.linear(
                &format!("{p}intermediate.dense"),
                h,
                config.intermediate_size,
            )?;
            let w_up = Weight::with_layout(w_up, h, config.intermediate_size, avx512);
            let (w_down, b_down) =
                w.linear(&format!("{p}output.dense"), config.intermediate_size, h)?;
            let w_down = Weight::with_layout(w_down, config.intermediate_size, h, avx512);
            let ln_out = w.layer_norm(&format!("{p}output.LayerNorm"), h)?;
            layers.push(Layer {
                w_qkv,
                b_qkv,
                w_attn_out,
                b_attn_out,
                ln_attn,
                w_up,
                b_up,
                w_down,
                b_down,
                ln_out,
            });
        }
        Ok(Self {
            hidden: h,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
            eps: config.layer_norm_eps as f32,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word,
            position_type0,
            ln_embed,
            layers,
        })
    }

    /// Runs the encoder on `seqs` (token ids, each at most `max_position_embeddings` long) and
    /// returns each sequence's mean-pooled last hidden state, L2-normalised, one row per
    /// sequence. With `threads > 1` every step is split across the current rayon pool; with
    /// 1 it all runs on the calling thread (for callers that run batches side by side).
    pub(crate) fn embed(&self, seqs: &[&[u32]], threads: usize) -> Result<Vec<f32>, EmbedError> {
        let h = self.hidden;
        let mut spans = Vec::with_capacity(seqs.len());
        let mut total = 0usize;
        for s in seqs {
            if s.len() > self.max_positions {
                return Err(EmbedError::InvalidSetting(format!(
                    "a sequence of {} tokens exceeds the model's {} positions",
                    s.len(),
                    self.max_positions
                )));
            }
            spans.push(total..total + s.len());
            total += s.len();
        }
        let mut x = vec![0.0f32; total * h];
        let mut rows = x.chunks_exact_mut(h);
        for s in seqs {
            for (&id, pt) in s.iter().zip(self.position_type0.chunks_exact(h)) {
                let id = id as usize;
                let word = self.word.get(id * h..(id + 1) * h).ok_or_else(|| {
                    EmbedError::Tokenizer(format!(
                        "token id {id} is outside the model's vocabulary of {}",
                        self.vocab
                    ))
                })?;
                if let Some(row) = rows.next() {
                    for ((o, w), p) in row.iter_mut().zip(word).zip(pt) {
                        *o = w + p;
                    }
                }
            }
        }
        let parallel = threads > 1;
        let (ln_g, ln_b) = &self.ln_embed;
        par_rows(&mut x, h, parallel, &|row| {
            layer_norm(row, ln_g, ln_b, self.eps)
        });

        let mut qkv = vec![0.0f32; total * 3 * h];
        let mut ctx = vec![0.0f32; total * h];
        let mut up = vec![0.0f32; total * self.intermediate];
        for layer in &self.layers {
            // Self-attention.
            par_rows(&mut qkv, 3 * h, parallel, &|row| {
                row.copy_from_slice(&layer.b_qkv);
            });
            layer.w_qkv.matmul_acc(&mut qkv, &x, total, threads);
            self.attention(&qkv, &spans, &mut ctx, parallel);
            // Output projection with the residual: x ← LN(x + ctx·W + b).
            par_rows(&mut x, h, parallel, &|row| add(row, &layer.b_attn_out));
            layer.w_attn_out.matmul_acc(&mut x, &ctx, total, threads);
            let (g, b) = &layer.ln_attn;
            par_rows(&mut x, h, parallel, &|row| layer_norm(row, g, b, self.eps));
            // Feed-forward with the residual: x ← LN(x + GELU(x·W1 + b1)·W2 + b2).
            par_rows(&mut up, self.intermediate, parallel, &|row| {
                row.copy_from_slice(&layer.b_up);
            });
            layer.w_up.matmul_acc(&mut up, &x, total, threads);
            par_rows(&mut up, self.intermediate, parallel, &gelu);
            par_rows(&mut x, h, parallel, &|row| add(row, &layer.b_down));
            layer.w_down.matmul_acc(&mut x, &up, total, threads);
            let (g, b) = &layer.ln_out;
            par_rows(&mut x, h, parallel, &|row| layer_norm(row, g, b, self.eps));
        }
        Ok(mean_pool_normalize(&x, &spans, h))
    }

    /// Scaled dot-product attention of every sequence over its own tokens; writes the
    /// concatenated heads into `ctx` (`[tokens × hidden]`).
    fn attention(&self, qkv: &[f32], spans: &[Range<usize>], ctx: &mut [f32], parallel: bool) {
        let h = self.hidden;
        let heads = self.heads;
        // One disjoint slice of `ctx` per sequence, so sequences can run in parallel.
        let mut parts: Vec<(&[f32], &mut [f32])> = Vec::with_capacity(spans.len());
        let mut rest = ctx;
        for span in spans {
            let (mine, tail) = rest.split_at_mut(span.len() * h);
            parts.push((&qkv[span.start * 3 * h..span.end * 3 * h], mine));
            rest = tail;
        }
        let run = |scratch: &mut Vec<f32>, (rows, out): (&[f32], &mut [f32])| {
            #[cfg(target_arch = "x86_64")]
            if (h / heads).is_multiple_of(16) && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F and the head width is a multiple of 16.
                unsafe { attend_avx512::attend(rows, out, h, heads, scratch) };
                return;
            }
            attend(rows, out, h, heads, scratch);
        };
        if parallel {
            parts.into_par_iter().for_each_init(Vec::new, run);
        } else {
            let mut scores = Vec::new();
            for p in parts {
                run(&mut scores, p);
            }
        }
    }
}

simd_fn! {
    /// Attention of one sequence: `rows` holds its `[n × 3·hidden]` query, key and value
    /// projections, `out` receives `[n × hidden]`.
    ///
    /// Each head's keys are transposed (and padded to a multiple of 16), so that the scores
    /// of a query are built sixteen keys at a time in a register, and its output sixteen
    /// components at a time; loops go over fixed-size chunks rather than indices, so that
    /// they vectorise even with overflow checks on.
    fn attend(rows: &[f32], out: &mut [f32], h: usize, heads: usize, scratch: &mut Vec<f32>) {
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * h;
        let n = rows.len() / stride;
        let n16 = n.div_ceil(16) * 16;
        scratch.clear();
        scratch.resize(d * n16 + n16, 0.0);
        let (keys_t, scores) = scratch.split_at_mut(d * n16);
        for head in 0..heads {
            let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
            // keys_t[c][j] = component c of key j (columns n.. stay zero).
            for (j, krow) in rows.chunks_exact(stride).enumerate() {
                for (kt, &v) in keys_t.chunks_exact_mut(n16).zip(&krow[ko..ko + d]) {
                    kt[j] = v;
                }
            }
            for (qrow, orow) in rows.chunks_exact(stride).zip(out.chunks_exact_mut(h)) {
                let q = &qrow[qo..qo + d];
                for (j0, block) in (0..n16).step_by(16).zip(scores.chunks_exact_mut(16)) {
                    let mut acc = [0.0f32; 16];
                    for (&qc, kt) in q.iter().zip(keys_t.chunks_exact(n16)) {
                        if let Ok(k) = <&[f32; 16]>::try_from(&kt[j0..j0 + 16]) {
                            for (a, &kv) in acc.iter_mut().zip(k) {
                                *a += qc * kv;
                            }
                        }
                    }
                    for (s, a) in block.iter_mut().zip(acc) {
                        *s = a * scale;
                    }
                }
                let scores = &mut scores[..n];
                softmax_in_place(scores);
                // out = Σ_j p_j·v_j, sixteen components at a time.
                let o = &mut orow[qo..qo + d];
                let mut blocks = o.chunks_exact_mut(16);
                let mut c0 = vo;
                for block in &mut blocks {
                    let mut acc = [0.0f32; 16];
                    for (&p, vrow) in scores.iter().zip(rows.chunks_exact(stride)) {
                        if let Ok(v) = <&[f32; 16]>::try_from(&vrow[c0..c0 + 16]) {
                            for (a, &vv) in acc.iter_mut().zip(v) {
                                *a += p * vv;
                            }
                        }
                    }
                    block.copy_from_slice(&acc);
                    c0 += 16;
                }
                let rest = blocks.into_remainder();
                rest.fill(0.0);
                for (&p, vrow) in scores.iter().zip(rows.chunks_exact(stride)) {
                    for (oc, &vv) in rest.iter_mut().zip(&vrow[c0..]) {
                        *oc += p * vv;
                    }
                }
            }
        }
    }
}

/// Attention with AVX-512 vectors, for head widths that are a multiple of 16 (32 in
/// all-MiniLM-L6-v2); the same computation as [`attend`], whose loops the compiler does not
/// keep in registers.
#[cfg(target_arch = "x86_64")]
mod attend_avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
        _mm512_set1_ps, _mm512_setzero_ps,
    };

    /// Masked loads and stores with a full mask: plain vector moves, without the checked
    /// copy that unaligned loads go through when debug assertions are on.
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller passes 16 readable floats; AVX-512F is enabled by the caller.
        unsafe { _mm512_maskz_loadu_ps(0xffff, p) }
    }

    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: the caller passes 16 writable floats; AVX-512F is enabled by the caller.
        unsafe { _mm512_mask_storeu_ps(p, 0xffff, v) }
    }

    /// See [`super::attend`].
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and `h / heads` must be a multiple of 16.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    pub(super) unsafe fn attend(
        rows: &[f32],
        out: &mut [f32],
        h: usize,
        heads: usize,
        scratch: &mut Vec<f32>,
    ) {
        let d = h / heads;
        assert!(d.is_multiple_of(16) && rows.len().is_multiple_of(3 * h));
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * h;
        let n = rows.len() / stride;
        assert!(out.len() == n * h);
        let n16 = n.div_ceil(16) * 16;
        scratch.clear();
        scratch.resize(d * n16 + n16, 0.0);
        let (keys_t, scores) = scratch.split_at_mut(d * n16);
        let rp = rows.as_ptr();
        for head in 0..heads {
            let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
            for (j, krow) in rows.chunks_exact(stride).enumerate() {
                for (kt, &v) in keys_t.chunks_exact_mut(n16).zip(&krow[ko..ko + d]) {
                    kt[j] = v;
                }
            }
            let kp = keys_t.as_ptr();
            for (i, orow) in out.chunks_exact_mut(h).enumerate() {
                let q = &rows[i * stride + qo..i * stride + qo + d];
                // SAFETY (whole block): every offset below stays inside `keys_t` (d × n16),
                // `scores` (n16), `rows` (n × stride) or `orow` (h), by the loop bounds.
                unsafe {
                    for jb in (0..n16).step_by(16) {
                        let mut acc = _mm512_setzero_ps();
                        for (c, &qc) in q.iter().enumerate() {
                            acc = _mm512_fmadd_ps(
                                _mm512_set1_ps(qc),
                                load(kp.add(c * n16 + jb)),
                                acc,
                            );
                        }
                        store(
                            scores.as_mut_ptr().add(jb),
                            _mm512_mul_ps(acc, _mm512_set1_ps(scale)),
                        );
                    }
                    super::softmax_in_place(&mut scores[..n]);
                    for cb in (0..d).step_by(16) {
                        let mut acc = _mm512_setzero_ps();
                        for (j, &p) in scores[..n].iter().enumerate() {
                            acc = _mm512_fmadd_ps(
                                _mm512_set1_ps(p),
                                load(rp.add(j * stride + vo + cb)),
                                acc,
                            );
                        }
                        store(orow.as_mut_ptr().add(qo + cb), acc);
                    }
                }
            }
        }
    }
}

/// Sum of `f(x)` over a slice, with eight partial sums, so that it vectorises (one running
/// sum would fix the order of the additions and keep it scalar).
#[inline(always)]
fn sum_map(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for (s, &x) in acc.iter_mut().zip(c) {
            *s += f(x);
        }
    }
    hsum(acc) + tail
}

#[inline(always)]
fn hsum(a: [f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// Applies `f` to every `width`-long row of `m`; with `parallel`, rows are split across the
/// rayon pool.
fn par_rows(m: &mut [f32], width: usize, parallel: bool, f: &(dyn Fn(&mut [f32]) + Sync)) {
    if parallel {
        // About 16k floats per task: enough work to pay for the hand-off.
        let rows_per_task = (16384 / width).max(1);
        m.par_chunks_mut(rows_per_task * width)
            .for_each(|chunk| chunk.chunks_exact_mut(width).for_each(f));
    } else {
        m.chunks_exact_mut(width).for_each(f);
    }
}

fn add(row: &mut [f32], bias: &[f32]) {
    for (x, b) in row.iter_mut().zip(bias) {
        *x += b;
    }
}

simd_fn! {
    /// Layer normalisation of one row in place.
    fn layer_norm(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = row.len() as f32;
        let mean = sum_map(row, |x| x) / n;
        let var = sum_map(row, |x| (x - mean) * (x - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * inv * g + b;
        }
    }
}

simd_fn! {
    /// GELU (the exact, erf-based form BERT uses) in place.
    fn gelu(row: &mut [f32]) {
        for x in row.iter_mut() {
            *x = gelu_one(*x);
        }
    }
}

simd_fn! {
    /// Softmax of one row in place.
    #[cfg(test)]
    fn softmax(row: &mut [f32]) {
        softmax_in_place(row)
    }
}

#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let mut m8 = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for c in chunks {
        for (m, &x) in m8.iter_mut().zip(c) {
            *m = if x > *m { x } else { *m };
        }
    }
    for m in m8 {
        max = max.max(m);
    }
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / sum_map(row, |x| x);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// `exp` for `f32` without branches or library calls, so loops over it vectorise: `2^n·e^r`
/// with `|r| ≤ ln2/2` and a degree-7 polynomial (relative error below 1e-7).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2^23 rounds to the nearest integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let ni = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    p * scale
}

/// `GELU(x) = x·Φ(x) = x·(1 + erf(x/√2))/2`, with `erfc` from the Chebyshev fit in
/// Numerical Recipes (`erfcc`, fractional error below 1.2e-7).
#[inline(always)]
pub(crate) fn gelu_one(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * exp(-z * z + poly);
    // For x ≥ 0, Φ(x) = 1 − erfc(z)/2; for x < 0, Φ(x) = erfc(z)/2.
    if x >= 0.0 {
        x * (1.0 - 0.5 * erfc)
    } else {
        0.5 * x * erfc
    }
}

/// Mean of each span's rows of `x` (`[tokens × width]`), L2-normalised: one row per span.
pub(crate) fn mean_pool_normalize(x: &[f32], spans: &[Range<usize>], width: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; spans.len() * width];
    for (span, o) in spans.iter().zip(out.chunks_exact_mut(width)) {
        for t in span.clone() {
            add(o, &x[t * width..(t + 1) * width]);
        }
        let n = span.len().max(1) as f32;
        for v in o.iter_mut() {
            *v /= n;
        }
        l2_normalize(o);
    }
    out
}

/// Scales `v` to unit length (a zero vector stays zero), as sentence-transformers'
/// `Normalize` does (it divides by `max(‖v‖, 1e-12)`).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf64(x: f64) -> f64 {
        // Reference by numerical integration of 2/√π·e^(−t²) (Simpson, fine grid).
        let n = 20_000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_is_accurate() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.37;
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    #[test]
    fn gelu_matches_the_erf_form() {
        let mut x = -8.0f32;
        while x < 8.0 {
            let want = 0.5 * x as f64 * (1.0 + erf64(x as f64 / 2f64.sqrt()));
            let got = gelu_one(x) as f64;
            assert!((got - want).abs() < 2e-6, "gelu({x}) = {got}, want {want}");
            x += 0.05;
        }
        let mut v = vec![-1.0, 0.0, 1.0, 2.0];
        gelu(&mut v);
        assert!((v[2] - 0.841_344_7).abs() < 1e-6 && v[1] == 0.0);
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut r = vec![1.0, 2.0, 3.0];
        softmax(&mut r);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        for (a, b) in r.iter().zip(&e) {
            assert!((*a as f64 - b / s).abs() < 1e-6);
        }
        let mut r = vec![1.0, 2.0, 3.0, 6.0];
        layer_norm(&mut r, &[1.0, 1.0, 2.0, 1.0], &[0.0, 0.0, 0.0, 1.0], 0.0);
        // mean 3, variance 3.5
        let sd = 3.5f32.sqrt();
        let want = [-2.0 / sd, -1.0 / sd, 0.0, 3.0 / sd + 1.0];
        for (a, b) in r.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{r:?}");
        }
    }

    #[test]
    fn pooling_averages_each_span_then_normalises() {
        // Two sequences of width 2: rows (3,0),(1,4) and (0,2).
        let x = [3.0, 0.0, 1.0, 4.0, 0.0, 2.0];
        let out = mean_pool_normalize(&x, &[0..2, 2..3], 2);
        // Mean (2,2) → (1/√2, 1/√2); mean (0,2) → (0,1).
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((out[0] - r).abs() < 1e-6 && (out[1] - r).abs() < 1e-6);
        assert_eq!(&out[2..], &[0.0, 1.0]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }

    #[test]
    fn avx512_attention_matches_the_portable_one() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // 37 tokens (not a multiple of 16), 3 heads of 32.
            let (n, heads, h) = (37, 3, 96);
            let rows: Vec<f32> = (0..n * 3 * h)
                .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 3.0)
                .collect();
            let mut want = vec![0.0f32; n * h];
            let mut got = vec![0.0f32; n * h];
            attend(&rows, &mut want, h, heads, &mut Vec::new());
            // SAFETY: AVX-512F detected; 96 / 3 = 32 is a multiple of 16.
            unsafe { attend_avx512::attend(&rows, &mut got, h, heads, &mut Vec::new()) };
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
