//! Text-encoder benchmark: kgrec's TextEncoder against sentence-transformers on the same
//! 2,000 Amazon Beauty product texts, in the same run.
//!
//! The texts are what kgrec embeds: `embed::entity_text::product_texts` on the bundled default
//! KG (a Beauty sample), 2,000 spread evenly over the products sorted by IRI. With `--python`
//! (a Python that has sentence-transformers; `scripts/bench-text.sh` sets one up), that Python
//! runs `scripts/bench-text.py`, which loads the model, warms up and waits; then timed passes
//! alternate, one sentence-transformers pass, one kgrec pass, `--rounds` times, so that both
//! see the same machine load. Both use the same thread count and batch size and count
//! tokenisation. Reported: best and median seconds, sentences per second (from the best), the
//! ratio kgrec / sentence-transformers, and the lowest cosine between the two sides' vectors.
//!
//! Run: `bash scripts/bench-text.sh`, or
//! `cargo bench --profile dev --bench text -- [--python PY] [--texts 2000] [--threads 2]
//! [--batch 32] [--rounds 5] [--candle] [--portable]` (`--candle` also times
//! candle-transformers' BERT; `--portable` times, in the same alternating rounds, the packed
//! pass with the `gemm` crate alone, without the AVX-512 kernel).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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

/// The sentence-transformers process, answering one command per line.
struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start(py: &str, script: PathBuf, texts: &PathBuf, threads: usize, batch: usize) -> Self {
        let mut child = Command::new(py)
            .arg(script)
            .arg(texts)
            .args(["--threads", &threads.to_string()])
            .args(["--batch", &batch.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/bench-text.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Self {
            child,
            stdin,
            stdout,
        };
        let line = p.line();
        assert_eq!(line.trim(), "ready", "bench-text.py did not start");
        p
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read from bench-text.py");
        line
    }

    fn ask(&mut self, command: &str) -> serde_json::Value {
        writeln!(self.stdin, "{command}").expect("write to bench-text.py");
        self.stdin.flush().expect("flush");
        serde_json::from_str(&self.line()).expect("bench-text.py answers JSON")
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MAX, f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = arg(&args, "--texts", 2000);
    let threads: usize = arg(&args, "--threads", 2);
    let batch: usize = arg(&args, "--batch", 32);
    let rounds: usize = arg(&args, "--rounds", 5).max(1);
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
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let work = std::env::temp_dir().join(format!("kgrec-bench-text-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let texts_file = work.join("texts.json");
    std::fs::write(&texts_file, serde_json::to_string(&texts).expect("json")).expect("write");

    let mut models = default_models_root();
    if models.is_relative() {
        models = root.join(models);
    }
    let files = ModelFiles::resolve(None, &models, FetchPolicy::IfMissing).expect("the model");
    let config = |backend| EncoderConfig {
        batch_size: batch,
        threads: Some(threads),
        backend,
        ..EncoderConfig::default()
    };
    let enc = TextEncoder::load(&files, config(Backend::Auto), &Device::Cpu).expect("encoder");
    let tokens: usize = enc
        .tokenize(&refs)
        .expect("tokenize")
        .iter()
        .map(Vec::len)
        .sum();
    println!(
        "{} product texts from the default KG ({} with text), {tokens} tokens ({:.1} per text); \
         {threads} threads, batch {batch}, {rounds} alternating rounds",
        texts.len(),
        all.len(),
        tokens as f64 / texts.len() as f64
    );

    let mut st = python.as_deref().map(|py| {
        Python::start(
            py,
            root.join("scripts/bench-text.py"),
            &texts_file,
            threads,
            batch,
        )
    });
    enc.encode(&refs).expect("warm-up");
    let portable = args.iter().any(|a| a == "--portable").then(|| {
        let enc = TextEncoder::load(&files, config(Backend::PackedPortable), &Device::Cpu)
            .expect("encoder");
        enc.encode(&refs).expect("warm-up");
        enc
    });
    let mut portable_times = Vec::new();
    let (mut st_times, mut kg_times) = (Vec::new(), Vec::new());
    let mut ours = None;
    for _ in 0..rounds {
        if let Some(p) = st.as_mut() {
            let answer = p.ask("encode");
            st_times.push(answer["seconds"].as_f64().expect("seconds"));
        }
        let start = Instant::now();
        ours = Some(enc.encode(&refs).expect("encode"));
        kg_times.push(start.elapsed().as_secs_f64());
        if let Some(p) = &portable {
            let start = Instant::now();
            p.encode(&refs).expect("encode");
            portable_times.push(start.elapsed().as_secs_f64());
        }
    }
    let n = refs.len() as f64;
    let report = |name: &str, times: &[f64]| {
        println!(
            "{name}: best {:.2} s, median {:.2} s, {:.1} sentences/s",
            best(times),
            median(times),
            n / best(times)
        );
    };
    if let Some(p) = st.as_mut() {
        let info = p.ask("info");
        report(
            &format!(
                "sentence-transformers {} (torch {}, {} threads)",
                info["sentence_transformers"].as_str().unwrap_or("?"),
                info["torch"].as_str().unwrap_or("?"),
                info["threads"]
            ),
            &st_times,
        );
    }
    report("kgrec TextEncoder (packed CPU forward)", &kg_times);
    if portable.is_some() {
        report(
            "kgrec packed forward, gemm crate only (no AVX-512 kernel)",
            &portable_times,
        );
        println!(
            "AVX-512 kernel: encoding takes {:.0}% of the gemm-crate-only time (best)",
            100.0 * best(&kg_times) / best(&portable_times)
        );
    }
    if let (Some(p), Some(ours)) = (st.as_mut(), &ours) {
        let path = work.join("st.f32");
        p.ask(&format!("vectors {}", path.display()));
        let bytes = std::fs::read(&path).expect("ST vectors");
        let theirs: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let worst = ours
            .rows()
            .zip(theirs.chunks_exact(ours.dim()))
            .map(|(a, b)| cosine(a, b))
            .fold(1.0f32, f32::min);
        println!(
            "ratio kgrec / sentence-transformers: {:.2} (best), {:.2} (median); lowest cosine between their vectors {worst:.6}",
            best(&st_times) / best(&kg_times),
            median(&st_times) / median(&kg_times)
        );
    }
    drop(st);

    if with_candle {
        let enc = TextEncoder::load(&files, config(Backend::Candle), &Device::Cpu).expect("load");
        enc.encode(&refs[..refs.len().min(64)]).expect("warm-up");
        let times: Vec<f64> = (0..rounds.min(2))
            .map(|_| {
                let start = Instant::now();
                enc.encode(&refs).expect("encode");
                start.elapsed().as_secs_f64()
            })
            .collect();
        report(
            "kgrec with candle-transformers' BERT (padded batches)",
            &times,
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
