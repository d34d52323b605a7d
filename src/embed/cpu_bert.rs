//! A hand-written BERT encoder forward pass for the CPU, without padding.
//!
//! The sequences of a batch are packed one after another into a `[tokens × hidden]` matrix,
//! so every dense layer (the bulk of the work) multiplies only real tokens, in one large
//! matrix product (the `gemm` crate, which candle's CPU matmul also uses). Attention runs per
//! sequence on its own tokens, so no attention mask is needed. Element-wise kernels (GELU,
//! softmax, layer norm) are plain Rust that the compiler vectorises, built for AVX2/AVX-512
//! when the CPU has them.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::{DType, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

use super::error::EmbedError;

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
    w_qkv: Vec<f32>,
    b_qkv: Vec<f32>,
    w_attn_out: Vec<f32>,
    b_attn_out: Vec<f32>,
    ln_attn: (Vec<f32>, Vec<f32>),
    w_up: Vec<f32>,
    b_up: Vec<f32>,
    w_down: Vec<f32>,
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
    /// without a `bert.` prefix) for the packed forward pass.
    pub(crate) fn new(
        tensors: &HashMap<String, Tensor>,
        config: &Config,
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
            let b_qkv = [bq, bk, bv].concat();
            let (w_attn_out, b_attn_out) = w.linear(&format!("{p}attention.output.dense"), h, h)?;
            let ln_attn = w.layer_norm(&format!("{p}attention.output.LayerNorm"), h)?;
            let (w_up, b_up) = w.linear(
                &format!("{p}intermediate.dense"),
                h,
                config.intermediate_size,
            )?;
            let (w_down, b_down) =
                w.linear(&format!("{p}output.dense"), config.intermediate_size, h)?;
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

    /// Runs the encoder on `seqs` (token ids, each at most [`Self::max_positions`] long) and
    /// returns each sequence's mean-pooled last hidden state, L2-normalised, one row per
    /// sequence. `threads` is the size of the current rayon pool.
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
        for (s, span) in seqs.iter().zip(&spans) {
            for (pos, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(EmbedError::Tokenizer(format!(
                        "token id {id} is outside the model's vocabulary of {}",
                        self.vocab
                    )));
                }
                let row = &mut x[(span.start + pos) * h..(span.start + pos + 1) * h];
                let word = &self.word[id * h..(id + 1) * h];
                let pt = &self.position_type0[pos * h..(pos + 1) * h];
                for ((o, w), p) in row.iter_mut().zip(word).zip(pt) {
                    *o = w + p;
                }
            }
        }
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        let (ln_g, ln_b) = &self.ln_embed;
        par_rows(&mut x, h, |row| layer_norm(row, ln_g, ln_b, self.eps));

        let mut qkv = vec![0.0f32; total * 3 * h];
        let mut ctx = vec![0.0f32; total * h];
        let mut up = vec![0.0f32; total * self.intermediate];
        for layer in &self.layers {
            // Self-attention.
            fill_rows(&mut qkv, &layer.b_qkv);
            matmul_acc(&mut qkv, &x, &layer.w_qkv, total, h, 3 * h, par);
            self.attention(&qkv, &spans, &mut ctx);
            // Output projection with the residual: x ← LN(x + ctx·W + b).
            par_rows(&mut x, h, |row| add(row, &layer.b_attn_out));
            matmul_acc(&mut x, &ctx, &layer.w_attn_out, total, h, h, par);
            let (g, b) = &layer.ln_attn;
            par_rows(&mut x, h, |row| layer_norm(row, g, b, self.eps));
            // Feed-forward with the residual: x ← LN(x + GELU(x·W1 + b1)·W2 + b2).
            fill_rows(&mut up, &layer.b_up);
            matmul_acc(&mut up, &x, &layer.w_up, total, h, self.intermediate, par);
            par_rows(&mut up, self.intermediate, gelu);
            par_rows(&mut x, h, |row| add(row, &layer.b_down));
            matmul_acc(&mut x, &up, &layer.w_down, total, self.intermediate, h, par);
            let (g, b) = &layer.ln_out;
            par_rows(&mut x, h, |row| layer_norm(row, g, b, self.eps));
        }
        Ok(mean_pool_normalize(&x, &spans, h))
    }

    /// Scaled dot-product attention of every sequence over its own tokens; writes the
    /// concatenated heads into `ctx` (`[tokens × hidden]`).
    fn attention(&self, qkv: &[f32], spans: &[Range<usize>], ctx: &mut [f32]) {
        let h = self.hidden;
        let heads = self.heads;
        // One disjoint slice of `ctx` per sequence, so sequences run in parallel.
        let mut parts: Vec<(&Range<usize>, &mut [f32])> = Vec::with_capacity(spans.len());
        let mut rest = ctx;
        for span in spans {
            let (mine, tail) = rest.split_at_mut(span.len() * h);
            parts.push((span, mine));
            rest = tail;
        }
        parts
            .into_par_iter()
            .for_each_init(Vec::new, |scores, (span, out)| {
                let rows = &qkv[span.start * 3 * h..span.end * 3 * h];
                attend(rows, out, span.len(), h, heads, scores);
            });
    }
}

simd_fn! {
    /// Attention of one sequence of `n` tokens: `rows` holds its `[n × 3·hidden]` query, key
    /// and value projections, `out` receives `[n × hidden]`.
    fn attend(rows: &[f32], out: &mut [f32], n: usize, h: usize, heads: usize, scores: &mut Vec<f32>) {
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * h;
        scores.clear();
        scores.resize(n, 0.0);
        for head in 0..heads {
            let (qo, ko, vo) = (head * d, h + head * d, 2 * h + head * d);
            for i in 0..n {
                let q = &rows[i * stride + qo..i * stride + qo + d];
                for (j, s) in scores.iter_mut().enumerate() {
                    let k = &rows[j * stride + ko..j * stride + ko + d];
                    *s = dot(q, k) * scale;
                }
                softmax_in_place(scores);
                let o = &mut out[i * h + head * d..i * h + head * d + d];
                o.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    let v = &rows[j * stride + vo..j * stride + vo + d];
                    for (oc, vc) in o.iter_mut().zip(v) {
                        *oc += p * vc;
                    }
                }
            }
        }
    }
}

/// Dot product with eight independent partial sums, so that it vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `dst ← dst + a·b` for row-major `a: [m × k]`, `b: [k × n]`, `dst: [m × n]`.
fn matmul_acc(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    par: gemm::Parallelism,
) {
    assert!(dst.len() == m * n && a.len() == m * k && b.len() == k * n);
    if m == 0 {
        return;
    }
    // SAFETY: the assertion above makes every pointer valid for the strides and sizes given
    // (row-major, unit column stride), and `dst` cannot alias `a` or `b` (it is borrowed
    // mutably while they are borrowed shared).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// Applies `f` to every `width`-long row of `m`, rows split across the rayon pool.
fn par_rows(m: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
    // About 16k floats per task: enough work to pay for the hand-off.
    let rows_per_task = (16384 / width).max(1);
    m.par_chunks_mut(rows_per_task * width)
        .for_each(|chunk| chunk.chunks_exact_mut(width).for_each(&f));
}

/// Sets every row of `m` to `row`.
fn fill_rows(m: &mut [f32], row: &[f32]) {
    let w = row.len();
    m.par_chunks_mut((16384 / w).max(1) * w).for_each(|chunk| {
        for r in chunk.chunks_exact_mut(w) {
            r.copy_from_slice(row);
        }
    });
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
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
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
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0;
    for x in row.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
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
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
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
    fn matmul_accumulates() {
        let a = [1.0, 2.0, 3.0, 4.0]; // 2×2
        let b = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]; // 2×3
        let mut c = vec![10.0; 6];
        matmul_acc(&mut c, &a, &b, 2, 2, 3, gemm::Parallelism::None);
        assert_eq!(c, vec![11.0, 12.0, 13.0, 13.0, 14.0, 17.0]);
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
