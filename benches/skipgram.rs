//! Skip-gram benchmark: kgrec's SGNS against gensim's `Word2Vec(sg=1)` on the same walk
//! corpus, same settings, same thread count, in the same run; then the same downstream task
//! (leave-one-out on Amazon Beauty, cosine to the recency-weighted history) for both vector
//! sets, so speed is compared at equal quality.
//!
//! Run: `bash scripts/bench-skipgram.sh` (installs gensim in a venv, then runs
//! `cargo bench --profile dev --bench skipgram -- --python VENV/bin/python`).
//! Options: `--users N` (sample Beauty), `--epochs E`, `--threads T` (default 2).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kgrec::embed::{train_skipgram, CatalogueRepairs, SkipGramConfig};
use kgrec::eval::{evaluate_ranking, EvalSplit, Protocol, Stage};
use kgrec::features::read_interactions;
use kgrec::features::structure::{project_for_training, walk_starts};
use kgrec::graph::{generate_walks_from, ProjectionConfig, WalkConfig};
use kgrec::ingest::beauty;
use kgrec::kg::KgStore;
use kgrec::model::embedding_knn::EmbeddingKnn;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let python: String = arg(&args, "--python").unwrap_or_else(|| "python3".into());
    let threads: usize = arg(&args, "--threads").unwrap_or(2);
    let epochs: usize = arg(&args, "--epochs").unwrap_or(5);
    let users: Option<usize> = arg(&args, "--users");
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("thread pool");

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = KgStore::open(&tmp.path().join("store")).expect("store");
    let options = beauty::BeautyOptions {
        sample_users: users,
        source: None,
    };
    let output = beauty::import(
        &root.join("../shared/datasets/amazon-beauty/derived"),
        &options,
        None,
    )
    .expect("import Beauty");
    store
        .bulk_load(output.quads.into_iter().map(Ok::<_, String>), None)
        .expect("load");

    let data = read_interactions(&store, None).expect("interactions");
    let split = EvalSplit::new(&data, Protocol::Loo, 1).expect("split");
    let graph = project_for_training(
        &store,
        &data,
        &CatalogueRepairs::default(),
        &split,
        &ProjectionConfig::default(),
        true,
    )
    .expect("projection");
    let walks = WalkConfig {
        length: 20,
        walks_per_node: 10,
        ..Default::default()
    };
    // From the catalogue's items and users, as kgrec's training does.
    let starts = walk_starts(&graph, &data);
    let corpus = generate_walks_from(&graph, &starts, &walks, &|_| {}).expect("walks");
    let corpus_path = tmp.path().join("walks.txt");
    {
        let mut w = BufWriter::new(std::fs::File::create(&corpus_path).expect("corpus file"));
        for walk in corpus.walks() {
            let line: Vec<String> = walk.iter().map(u32::to_string).collect();
            writeln!(w, "{}", line.join(" ")).expect("write corpus");
        }
    }
    println!(
        "corpus: {} walks, {} tokens, {} nodes; dim 64, window 5, negatives 5, sample 1e-3, {epochs} epochs, {threads} threads",
        corpus.len(),
        corpus.tokens.len(),
        graph.node_count()
    );

    let config = SkipGramConfig {
        epochs,
        shards: threads,
        ..Default::default()
    };
    let t = Instant::now();
    let (ours, stats) =
        train_skipgram(&corpus, graph.node_count(), &config, &|_| {}).expect("sgns");
    let ours_time = t.elapsed().as_secs_f64();

    let gensim_out = tmp.path().join("gensim.txt");
    let script = root.join("scripts/gensim_sgns.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&corpus_path)
        .arg(&gensim_out)
        .arg(epochs.to_string())
        .arg(threads.to_string())
        .output()
        .expect("run gensim (see scripts/bench-skipgram.sh)");
    if !out.status.success() {
        panic!("gensim failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let report = String::from_utf8_lossy(&out.stdout);
    let gensim_time: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("train_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("gensim timing");
    let gensim_vectors = read_vectors(&gensim_out, graph.node_count(), 64);

    let raw = stats.raw_tokens as f64;
    println!("| implementation | train s | raw tokens/s | ratio to gensim |");
    println!("|---|---|---|---|");
    println!(
        "| gensim {} | {gensim_time:.2} | {:.0} | 1.00 |",
        report.lines().next().unwrap_or(""),
        raw / gensim_time
    );
    println!(
        "| kgrec | {ours_time:.2} | {:.0} | {:.2} |",
        raw / ours_time,
        gensim_time / ours_time
    );

    let item_rows = |all: &[f32]| -> Vec<f32> {
        let mut v = Vec::with_capacity(data.item_count() * 64);
        for iri in &data.items {
            let n = graph.node_id(iri).expect("item node") as usize;
            v.extend_from_slice(&all[n * 64..(n + 1) * 64]);
        }
        v
    };
    for (name, vectors) in [("gensim", &gensim_vectors), ("kgrec", &ours.data)] {
        let scorer = EmbeddingKnn::new(64, item_rows(vectors), 0.7);
        for stage in [Stage::Valid, Stage::Test] {
            let r = evaluate_ranking(&scorer, &split.ranking_cases(stage), split.n_items)
                .expect("scoring");
            let m = r.at_k(10).expect("k=10");
            println!(
                "downstream {name} {stage:?}: HR@10 {:.4} NDCG@10 {:.4}",
                m.hr, m.ndcg
            );
        }
    }
}

/// Reads word2vec text format (`count dim` header, then `token v1 … vd`).
fn read_vectors(path: &Path, rows: usize, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; rows * dim];
    let file = std::fs::File::open(path).expect("gensim vectors");
    for line in BufReader::new(file).lines().skip(1) {
        let line = line.expect("line");
        let mut parts = line.split(' ');
        let id: usize = parts.next().and_then(|t| t.parse().ok()).expect("token id");
        for (d, x) in parts.take(dim).enumerate() {
            v[id * dim + d] = x.parse().expect("float");
        }
    }
    v
}
