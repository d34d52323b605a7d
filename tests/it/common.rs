//! Helpers shared by the integration tests: run the real binary against a temporary store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Root of the repository (where `queries/`, `kg-data/` and `tests/fixtures/` live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests").join("fixtures").join(name)
}

/// Whether a test whose prerequisite is missing (`../shared`, the sentence model, the test
/// venv's Python) fails rather than skips: `scripts/test.sh` sets `KGREC_TEST_ALL`, so CI
/// runs every test, while a bare `cargo test` on a fresh clone skips what it cannot run.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os("KGREC_TEST_ALL").is_some() {
        panic!("{why} (KGREC_TEST_ALL is set, so nothing is skipped)");
    }
    eprintln!("skipped: {why}");
    None
}

/// A dataset folder under `../shared/datasets/`, or `None` (skipped) when it is not there.
pub fn shared_dataset(name: &str) -> Option<PathBuf> {
    let dir = repo().join("..").join("shared").join("datasets").join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!(
            "needs ../shared/datasets/{name} beside the checkout"
        ))
    }
}

/// The Python of the test venv (`KGREC_PYTHON`, with SPARQLWrapper, rdflib and
/// schemathesis), or `None` (skipped) outside `scripts/test.sh`.
pub fn test_python() -> Option<String> {
    match std::env::var("KGREC_PYTHON") {
        Ok(python) => Some(python),
        Err(_) => skip("needs KGREC_PYTHON, the venv scripts/test.sh makes"),
    }
}

/// A temporary store directory that is removed when dropped.
pub struct TempStore {
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The store directory passed as `--store`.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Runs `kgrec --store <tmp> ARGS…` and returns its output, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(&self.path(), args)
    }

    /// Runs `kgrec` and panics with its stderr when it fails; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kgrec {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `kgrec`, expects it to fail, and returns its stderr.
    pub fn err(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kgrec {args:?} succeeded but should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs a SELECT query and returns its rows as `variable -> lexical value` maps.
    pub fn select(&self, query: &str) -> Vec<std::collections::HashMap<String, String>> {
        parse_sparql_json(&self.ok(&["query", query, "--format", "json"]))
    }

    /// Runs a saved query with `--param name=value` pairs and returns its rows.
    pub fn saved(
        &self,
        name: &str,
        params: &[(&str, &str)],
    ) -> Vec<std::collections::HashMap<String, String>> {
        let mut args = vec!["query", "--saved", name, "--format", "json"];
        let bound: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for b in &bound {
            args.push("--param");
            args.push(b);
        }
        parse_sparql_json(&self.ok(&args))
    }

    /// `SELECT (COUNT(*) AS ?n) WHERE { pattern }` as a number.
    pub fn count(&self, pattern: &str) -> u64 {
        let q = format!("{}SELECT (COUNT(*) AS ?n) WHERE {{ {pattern} }}", PREFIXES);
        let rows = self.select(&q);
        rows[0]["n"].parse().expect("count")
    }
}

/// `kgrec train` settings for a small model in about a second: the tests check behaviour,
/// not quality.
pub const QUICK_TRAINING: &[&str] = &[
    "--epochs",
    "3",
    "--hidden",
    "16",
    "--negatives",
    "0",
    "--walks-per-node",
    "2",
    "--sg-epochs",
    "1",
];

/// The prefixes the tests use in ad-hoc queries: the library's own.
pub use kgrec::kg::vocab::SPARQL_PREFIXES as PREFIXES;

/// Runs the binary with `--store DIR` and the default KG switched off, so that each test
/// sees exactly the data it loads.
pub fn run_in(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrec"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("KGREC_NO_DEFAULT_KG", "1")
        .env_remove("KGREC_STORE")
        .current_dir(repo())
        .output()
        .expect("run kgrec")
}

/// Parses SPARQL 1.1 JSON results into rows of `variable -> lexical value`.
pub fn parse_sparql_json(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!("not SPARQL JSON ({e}): {text}");
    });
    v["results"]["bindings"]
        .as_array()
        .expect("bindings")
        .iter()
        .map(|b| {
            b.as_object()
                .expect("binding")
                .iter()
                .map(|(k, t)| (k.clone(), t["value"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .collect()
}
