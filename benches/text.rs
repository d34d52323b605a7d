//! Text-encoder benchmark: kgrec's TextEncoder against sentence-transformers on the same
//! 2,000 Amazon Beauty product texts, in the same run.
//!
//! The texts are what kgrec embeds: `embed::entity_text::product_texts` on the bundled default
//! KG (a Beauty sample), 2,000 spread evenly over the products sorted by IRI. With `--python`
//! (a Python that has sentence-transformers; `scripts/bench-text.sh` sets one up), that Python
//! runs `scripts/bench-text.py` on them first. Then kgrec encodes them. Both use the same
//! thread count and batch size, take the best of `--rounds` timed passes after a warm-up, and
//! count tokenisation. The ratio kgrec / sentence-transformers is printed, as is the lowest
//! cosine between the two sides' vectors.
//!
//! Run: `bash scripts/bench-text.sh`, or
//! `cargo bench --profile dev --bench text -- [--python PY] [--texts 2000] [--threads 2]
//! [--batch 32] [--rounds 3] [--candle]` (`--candle` also times candle-transformers' BERT).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use kgrec::embed::{
    cosine, default_models_root, product_texts, Backend, EncoderConfig, FetchPolicy, ModelFiles,
    TextEncoder,
};
use kgrec::kg::KgStore;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = arg(&args, "--texts", 2000);
    let threads: usize = arg(&args, "--threads", 2);
    let batch: usize = arg(&args, "--batch", 32);
    let rounds: usize = arg(&args, "--rounds", 3).max(1);
    let python: Option<String> = args
        .iter()
        .position(|a| a == "--python")
        .and_then(|i| args.get(i + 1).cloned());
    let with_candle = args.iter().any(|a| a == "--candle");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    // The texts.
    let store = KgStore::in_memory().expect("store");
    kgrec::default_kg::load(&store).expect("the bundled default KG");
    let all = product_texts(&store).expect("product texts");
    let step = (all.len() / count.max(1)).max(1);
    let texts: Vec<String> = all
        .iter()
        .step_by(step)
        .take(count)
        .map(|(_, t)| t.clone())
        .collect();
    println!(
        "{} product texts from the default KG ({} with text), {threads} threads, batch {batch}, best of {rounds}",
        texts.len(),
        all.len()
    );
    let work = std::env::temp_dir().join(format!("kgrec-bench-text-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let texts_file = work.join("texts.json");
    std::fs::write(&texts_file, serde_json::to_string(&texts).expect("json")).expect("write");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    // sentence-transformers.
    let mut st: Option<(f64, Vec<f32>)> = None;
    if let Some(py) = &python {
        let vectors = work.join("st.f32");
        let out = Command::new(py)
            .arg(root.join("scripts/bench-text.py"))
            .arg(&texts_file)
            .args(["--threads", &threads.to_string()])
            .args(["--batch", &batch.to_string()])
            .args(["--rounds", &rounds.to_string()])
            .arg("--vectors")
            .arg(&vectors)
            .output()
            .expect("run scripts/bench-text.py");
        if !out.status.success() {
            panic!(
                "bench-text.py failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let json: serde_json::Value =
            serde_json::from_str(line.trim().lines().last().unwrap_or(""))
                .expect("bench-text.py prints one JSON line");
        let bytes = std::fs::read(&vectors).expect("ST vectors");
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let sps = json["sentences_per_s"].as_f64().unwrap_or(0.0);
        println!(
            "sentence-transformers {} (torch {}, {} threads): {:.2} s, {sps:.1} sentences/s",
            json["sentence_transformers"].as_str().unwrap_or("?"),
            json["torch"].as_str().unwrap_or("?"),
            json["threads"],
            json["seconds"].as_f64().unwrap_or(0.0),
        );
        st = Some((sps, v));
    }

    // kgrec.
    let mut models = default_models_root();
    if models.is_relative() {
        models = root.join(models);
    }
    let files = ModelFiles::resolve(None, &models, FetchPolicy::IfMissing).expect("the model");
    let mut backends = vec![("kgrec packed CPU forward", Backend::Auto)];
    if with_candle {
        backends.push(("kgrec candle-transformers BERT", Backend::Candle));
    }
    let mut packed_sps = 0.0;
    for (name, backend) in backends {
        let enc = TextEncoder::load(
            &files,
            EncoderConfig {
                batch_size: batch,
                threads: Some(threads),
                backend,
                ..EncoderConfig::default()
            },
            &Device::Cpu,
        )
        .expect("load the encoder");
        enc.encode(&refs[..refs.len().min(64)]).expect("warm-up");
        let mut best = f64::MAX;
        let mut out = None;
        for _ in 0..rounds {
            let start = Instant::now();
            let e = enc.encode(&refs).expect("encode");
            best = best.min(start.elapsed().as_secs_f64());
            out = Some(e);
        }
        let sps = refs.len() as f64 / best;
        if backend == Backend::Auto {
            packed_sps = sps;
        }
        let mut line = format!("{name}: {best:.2} s, {sps:.1} sentences/s");
        if let (Some((st_sps, v)), Some(e)) = (&st, &out) {
            let worst = e
                .rows()
                .zip(v.chunks_exact(e.dim()))
                .map(|(a, b)| cosine(a, b))
                .fold(1.0f32, f32::min);
            line.push_str(&format!(
                ", {:.2}× sentence-transformers, lowest cosine to it {worst:.6}",
                sps / st_sps
            ));
        }
        println!("{line}");
    }
    if let Some((st_sps, _)) = &st {
        println!(
            "ratio kgrec / sentence-transformers: {:.2}",
            packed_sps / st_sps
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
