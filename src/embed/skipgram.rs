//! Skip-gram with negative sampling (word2vec's SGNS) over a walk corpus, in parallel.
//!
//! A centre's negatives are drawn once and shared by all the contexts of its window (Ji et
//! al., "Parallelizing Word2Vec in Shared and Distributed Memory", 2016): the same update
//! rule, with each table row touched once per centre rather than once per pair.
//!
//! The corpus is cut into a fixed number of shards, each trained by its own worker on its
//! own copy of the weights; at least [`MIN_MERGES`] times per run (at most every
//! `sync_tokens` tokens) the shards' changes are summed into the shared weights and the
//! copies refreshed. For sparse updates this behaves like word2vec's
//! lock-free (Hogwild) training, but the result depends only on the seed and the shard
//! count, never on thread scheduling or the number of cores.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::EmbedError;
use crate::graph::WalkCorpus;
use crate::util::{dot, SeededRng};

/// Skip-gram settings; the defaults follow gensim's `Word2Vec(sg=1)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkipGramConfig {
    /// Vector size.
    pub dim: usize,
    /// Largest distance between centre and context (the effective window is drawn in
    /// `1..=window` per centre, as in word2vec).
    pub window: usize,
    /// Negative samples per centre (shared by its contexts), drawn from the unigram
    /// distribution to the 3/4.
    pub negatives: usize,
    /// Passes over the corpus.
    pub epochs: usize,
    /// Starting learning rate, decayed linearly to `min_learning_rate`.
    pub learning_rate: f32,
    /// Final learning rate.
    pub min_learning_rate: f32,
    /// Down-sampling threshold for frequent nodes (0 turns it off).
    pub sample: f64,
    /// Independent shards trained in parallel; part of what determines the result.
    pub shards: usize,
    /// Most tokens each shard trains between two merges. A run merges at least
    /// [`MIN_MERGES`] times, so a small corpus merges more often: the shards' changes to the
    /// same rows are summed, which goes wrong when they drift too far apart.
    pub sync_tokens: usize,
    /// Seed of initialisation and sampling.
    pub seed: u64,
}

impl Default for SkipGramConfig {
    fn default() -> Self {
        SkipGramConfig {
            dim: 64,
            window: 5,
            negatives: 5,
            epochs: 5,
            learning_rate: 0.025,
            min_learning_rate: 0.0001,
            sample: 1e-3,
            shards: 2,
            sync_tokens: 2_000_000,
            seed: 42,
        }
    }
}

/// One vector per node id, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeVectors {
    /// Vector size.
    pub dim: usize,
    /// `rows × dim` values.
    pub data: Vec<f32>,
}

impl NodeVectors {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
    /// The vector of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// What a training run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SkipGramStats {
    /// Corpus tokens over all epochs, before down-sampling (gensim's "raw words").
    pub raw_tokens: u64,
    /// Tokens trained as centres, after down-sampling (gensim's "effective words").
    pub effective_tokens: u64,
}

/// Fewest merges of the shards' weights in one run (see [`SkipGramConfig::sync_tokens`]).
pub const MIN_MERGES: u64 = 64;

const SIGMOID_TABLE: usize = 1024;
const MAX_EXP: f32 = 6.0;

struct Shared {
    keep: Vec<f32>,
    negatives: Vec<u32>,
    sigmoid: Vec<f32>,
}

struct Shard {
    walks: Vec<usize>,
    input: Vec<f32>,
    output: Vec<f32>,
    rng: SeededRng,
    cursor: usize,
    raw: u64,
    effective: u64,
}

/// Trains node vectors for ids `0..vocab_size` on `corpus`; `progress` receives the raw
/// tokens done so far. Nodes that never occur keep their small random start vector.
pub fn train_skipgram(
    corpus: &WalkCorpus,
    vocab_size: usize,
    config: &SkipGramConfig,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(NodeVectors, SkipGramStats), EmbedError> {
    let c = config;
    if c.dim == 0 || c.window == 0 || c.epochs == 0 || c.shards == 0 || c.sync_tokens == 0 {
        return Err(EmbedError::InvalidSetting(
            "skip-gram dim, window, epochs, shards and sync_tokens must be positive".into(),
        ));
    }
    if let Some(&bad) = corpus.tokens.iter().find(|&&t| t as usize >= vocab_size) {
        return Err(EmbedError::InvalidSetting(format!(
            "walk token {bad} outside the vocabulary of {vocab_size}"
        )));
    }
    let shared = prepare(corpus, vocab_size, c);
    let dim = c.dim;
    let mut init = SeededRng::new(c.seed);
    let mut input: Vec<f32> = (0..vocab_size * dim)
        .map(|_| (init.unit_f32() - 0.5) / dim as f32)
        .collect();
    let mut output = vec![0.0f32; vocab_size * dim];

    let mut shards: Vec<Shard> = (0..c.shards)
        .map(|s| Shard {
            walks: (s..corpus.len()).step_by(c.shards).collect(),
            input: input.clone(),
            output: output.clone(),
            rng: SeededRng::for_stream(c.seed, s as u64 + 1),
            cursor: 0,
            raw: 0,
            effective: 0,
        })
        .collect();
    let per_epoch: u64 = corpus.tokens.len() as u64;
    let total = per_epoch * c.epochs as u64;
    let span_tokens = (total / (c.shards as u64 * MIN_MERGES)).clamp(1, c.sync_tokens as u64);
    loop {
        let done_before: u64 = shards.iter().map(|s| s.raw).sum();
        if done_before >= total || shards.iter().all(|s| s.cursor >= s.walks.len() * c.epochs) {
            break;
        }
        shards.par_iter_mut().for_each(|shard| {
            shard.train_span(&Span {
                corpus,
                shared: &shared,
                c,
                total,
                done_before,
                span_tokens,
            });
        });
        merge(&mut input, &mut output, &mut shards);
        progress(shards.iter().map(|s| s.raw).sum());
    }
    let stats = SkipGramStats {
        raw_tokens: shards.iter().map(|s| s.raw).sum(),
        effective_tokens: shards.iter().map(|s| s.effective).sum(),
    };
    Ok((NodeVectors { dim, data: input }, stats))
}

fn prepare(corpus: &WalkCorpus, vocab_size: usize, c: &SkipGramConfig) -> Shared {
    let mut counts = vec![0u64; vocab_size];
    for &t in &corpus.tokens {
        counts[t as usize] += 1;
    }
    let total: u64 = counts.iter().sum();
    // word2vec's keep probability: (sqrt(f / (s·N)) + 1) · (s·N) / f.
    let threshold = c.sample * total as f64;
    let keep = counts
        .iter()
        .map(|&f| {
            if c.sample <= 0.0 || f == 0 {
                1.0
            } else {
                let f = f as f64;
                (((f / threshold).sqrt() + 1.0) * threshold / f).min(1.0) as f32
            }
        })
        .collect();
    // Unigram^0.75 table, sized to the corpus so rare nodes still get slots.
    let table_size = (total as usize).clamp(1 << 16, 1 << 25);
    let weights: Vec<f64> = counts.iter().map(|&f| (f as f64).powf(0.75)).collect();
    let norm: f64 = weights.iter().sum();
    let mut negatives = Vec::with_capacity(table_size);
    if norm > 0.0 {
        let mut cumulative = 0.0;
        let mut node = 0usize;
        for slot in 0..table_size {
            let position = (slot as f64 + 0.5) / table_size as f64;
            while node + 1 < vocab_size && cumulative + weights[node] / norm < position {
                cumulative += weights[node] / norm;
                node += 1;
            }
            negatives.push(node as u32);
        }
    }
    let sigmoid = (0..SIGMOID_TABLE)
        .map(|i| {
            let x = (i as f32 / SIGMOID_TABLE as f32 * 2.0 - 1.0) * MAX_EXP;
            1.0 / (1.0 + (-x).exp())
        })
        .collect();
    Shared {
        keep,
        negatives,
        sigmoid,
    }
}

/// What one span of training reads: the corpus, the shared tables, the settings, and the
/// progress of all shards (for the learning-rate schedule).
#[derive(Clone, Copy)]
struct Span<'a> {
    corpus: &'a WalkCorpus,
    shared: &'a Shared,
    c: &'a SkipGramConfig,
    total: u64,
    done_before: u64,
    span_tokens: u64,
}

impl Shard {
    /// Trains about `span_tokens` raw tokens of this shard's walks, with AVX2 and FMA where
    /// the CPU has them (the dot products and updates then run 8 lanes wide; the default
    /// x86-64 target only has 4), else with the portable code.
    fn train_span(&mut self, span: &Span<'_>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this function is compiled for.
            unsafe { self.train_span_avx2(span) };
            return;
        }
        self.train_span_portable(span);
    }

    /// [`Shard::train_span_portable`] compiled for AVX2 and FMA (everything it calls is
    /// inlined into it, so the whole hot loop gets the wider instructions).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn train_span_avx2(&mut self, span: &Span<'_>) {
        self.train_span_portable(span);
    }

    #[inline(always)]
    fn train_span_portable(&mut self, span: &Span<'_>) {
        let Span {
            corpus,
            shared,
            c,
            total,
            done_before,
            span_tokens,
        } = *span;
        let dim = c.dim;
        let mut window = Window::default();
        let mut sentence: Vec<u32> = Vec::new();
        let start_raw = self.raw;
        let end = self.walks.len() * c.epochs;
        while self.cursor < end && self.raw - start_raw < span_tokens {
            let walk = corpus.walk(self.walks[self.cursor % self.walks.len()]);
            self.cursor += 1;
            self.raw += walk.len() as u64;
            // The learning rate follows the progress of all shards, estimated from this one.
            let done = done_before + (self.raw - start_raw) * c.shards as u64;
            let fraction = (done as f32 / total.max(1) as f32).min(1.0);
            let lr = (c.learning_rate - (c.learning_rate - c.min_learning_rate) * fraction)
                .max(c.min_learning_rate);
            sentence.clear();
            for &t in walk {
                let keep = shared.keep[t as usize];
                if keep >= 1.0 || self.rng.unit_f32() < keep {
                    sentence.push(t);
                }
            }
            self.effective += sentence.len() as u64;
            for (pos, &centre) in sentence.iter().enumerate() {
                let reduced = 1 + self.rng.below(c.window);
                let lo = pos.saturating_sub(reduced);
                let hi = (pos + reduced + 1).min(sentence.len());
                window.contexts.clear();
                window.contexts.extend(
                    (lo..hi)
                        .filter(|&p| p != pos)
                        .map(|p| sentence[p] as usize * dim),
                );
                window.targets.clear();
                window.targets.push((centre as usize * dim, 1.0));
                for _ in 0..c.negatives {
                    let t = shared.negatives[self.rng.below(shared.negatives.len())];
                    if t != centre {
                        window.targets.push((t as usize * dim, 0.0));
                    }
                }
                self.train_window(shared, dim, lr, &mut window);
            }
        }
    }

    /// One centre and its window: every context's input vector learns to predict the
    /// centre's output vector against the same negatives (word2vec's skip-gram update, with
    /// negatives drawn once per centre and shared by its contexts, as in Ji et al.'s
    /// HogBatch). Each row is then read and written once per centre instead of once per
    /// pair, which is what bounds this loop: the tables are far larger than the caches.
    #[inline(always)]
    fn train_window(&mut self, shared: &Shared, dim: usize, lr: f32, w: &mut Window) {
        let n_ctx = w.contexts.len();
        let n_tgt = w.targets.len();
        w.gradients.clear();
        w.gradients.resize(n_ctx * n_tgt, 0.0);
        for (i, &ctx) in w.contexts.iter().enumerate() {
            let input = &self.input[ctx..ctx + dim];
            for (j, &(target, label)) in w.targets.iter().enumerate() {
                let f = dot(input, &self.output[target..target + dim]);
                w.gradients[i * n_tgt + j] = if f > MAX_EXP {
                    label - 1.0
                } else if f < -MAX_EXP {
                    label
                } else {
                    let k = ((f + MAX_EXP) * (SIGMOID_TABLE as f32 / MAX_EXP / 2.0)) as usize;
                    label - shared.sigmoid[k.min(SIGMOID_TABLE - 1)]
                } * lr;
            }
        }
        // Input changes from the outputs before their update, as in the per-pair rule.
        w.input_change.clear();
        w.input_change.resize(n_ctx * dim, 0.0);
        for (i, change) in w.input_change.chunks_exact_mut(dim).enumerate() {
            for (j, &(target, _)) in w.targets.iter().enumerate() {
                axpy(
                    w.gradients[i * n_tgt + j],
                    &self.output[target..target + dim],
                    change,
                );
            }
        }
        for (j, &(target, _)) in w.targets.iter().enumerate() {
            let output = &mut self.output[target..target + dim];
            for (i, &ctx) in w.contexts.iter().enumerate() {
                axpy(
                    w.gradients[i * n_tgt + j],
                    &self.input[ctx..ctx + dim],
                    output,
                );
            }
        }
        for (&ctx, change) in w.contexts.iter().zip(w.input_change.chunks_exact(dim)) {
            for (x, g) in self.input[ctx..ctx + dim].iter_mut().zip(change) {
                *x += g;
            }
        }
    }
}

/// Scratch space of one centre's update: row offsets of its contexts (input table) and of
/// its targets with their labels (output table), and the gradients between them.
#[derive(Default)]
struct Window {
    contexts: Vec<usize>,
    targets: Vec<(usize, f32)>,
    gradients: Vec<f32>,
    input_change: Vec<f32>,
}

/// `y += a·x`.
#[inline(always)]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Adds every shard's change since the last merge to the shared weights, then gives every
/// shard a fresh copy.
fn merge(input: &mut [f32], output: &mut [f32], shards: &mut [Shard]) {
    let k = shards.len() as f32;
    if shards.len() == 1 {
        input.copy_from_slice(&shards[0].input);
        output.copy_from_slice(&shards[0].output);
        return;
    }
    for (master, pick) in [(input, 0usize), (output, 1usize)] {
        const CHUNK: usize = 1 << 14;
        master
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(ci, chunk)| {
                let base = ci * CHUNK;
                for (i, m) in chunk.iter_mut().enumerate() {
                    let mut sum = 0.0f32;
                    for s in shards.iter() {
                        sum += if pick == 0 {
                            s.input[base + i]
                        } else {
                            s.output[base + i]
                        };
                    }
                    *m = sum - (k - 1.0) * *m;
                }
            });
        shards.par_iter_mut().for_each(|s| {
            if pick == 0 {
                s.input.copy_from_slice(master)
            } else {
                s.output.copy_from_slice(master)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
    }

    /// Two disjoint communities (0..10 and 10..20): walks never cross between them.
    fn two_communities() -> WalkCorpus {
        let mut rng = SeededRng::new(1);
        let mut corpus = WalkCorpus {
            tokens: vec![],
            offsets: vec![0],
        };
        for w in 0..2000 {
            let base = if w % 2 == 0 { 0 } else { 10 };
            for _ in 0..20 {
                corpus.tokens.push(base + rng.below(10) as u32);
            }
            corpus.offsets.push(corpus.tokens.len());
        }
        corpus
    }

    #[test]
    fn communities_separate_and_runs_repeat() {
        let corpus = two_communities();
        let config = SkipGramConfig {
            dim: 16,
            epochs: 3,
            sample: 0.0,
            sync_tokens: 5_000,
            ..Default::default()
        };
        let (v, stats) = train_skipgram(&corpus, 21, &config, &|_| {}).unwrap();
        assert_eq!(stats.raw_tokens, 3 * 40_000);
        let same: f32 = (1..10).map(|j| cosine(v.row(0), v.row(j))).sum::<f32>() / 9.0;
        let other: f32 = (10..20).map(|j| cosine(v.row(0), v.row(j))).sum::<f32>() / 10.0;
        assert!(same > other + 0.5, "same {same}, other {other}");
        let (again, _) = train_skipgram(&corpus, 21, &config, &|_| {}).unwrap();
        assert_eq!(v, again);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (one_thread, _) =
            pool.install(|| train_skipgram(&corpus, 21, &config, &|_| {}).unwrap());
        assert_eq!(v, one_thread);
        // Node 20 never occurs: it keeps a small start vector.
        assert!(v.row(20).iter().all(|x| x.abs() < 0.05));
    }

    #[test]
    fn frequent_nodes_are_down_sampled_and_negatives_follow_counts() {
        let corpus = WalkCorpus {
            tokens: (0..10_000)
                .map(|i| if i % 2 == 0 { 0 } else { 1 + (i % 7) as u32 })
                .collect(),
            offsets: vec![0, 10_000],
        };
        let config = SkipGramConfig::default();
        let shared = prepare(&corpus, 8, &config);
        assert!(shared.keep[0] < shared.keep[1]);
        let zeros = shared.negatives.iter().filter(|&&n| n == 0).count() as f64;
        let share = zeros / shared.negatives.len() as f64;
        // Node 0 occurs 5000 times, nodes 1..=7 about 714 times each:
        // 5000^.75 / (5000^.75 + 7 · 714^.75) ≈ 0.380.
        assert!((share - 0.380).abs() < 0.01, "{share}");
    }

    #[test]
    fn bad_settings_and_tokens_are_refused() {
        let corpus = two_communities();
        let zero_dim = SkipGramConfig {
            dim: 0,
            ..Default::default()
        };
        assert!(train_skipgram(&corpus, 20, &zero_dim, &|_| {}).is_err());
        assert!(train_skipgram(&corpus, 5, &SkipGramConfig::default(), &|_| {}).is_err());
    }
}
