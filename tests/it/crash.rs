//! kill -9 in the middle of writing: a load and a training killed midway leave the store
//! and the model registry as they were, and the next run succeeds. (The service killed with
//! events in flight is in `serve`.)

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{fixture, repo, TempStore, QUICK_TRAINING};

/// `kgrec ARGS` on `store`, running in the background.
fn spawn(store: &TempStore, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kgrec"))
        .arg("--store")
        .arg(store.path())
        .args(args)
        .env("KGREC_NO_DEFAULT_KG", "1")
        .env_remove("KGREC_STORE")
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kgrec")
}

/// Every quad of the store, sorted: what "exactly as before" compares.
fn dump(store: &TempStore) -> Vec<String> {
    let out = store.ok(&["export", "--format", "nquads"]);
    let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// A file of `n` N-Triples, large enough that loading it takes a while.
fn big_ntriples(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("big.nt");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            out,
            "<https://example.org/s/{i}> <https://example.org/p/{}> \"value {i}\" .",
            i % 7
        )
        .unwrap();
    }
    out.flush().unwrap();
    path
}

#[test]
fn load_killed_midway_leaves_the_store_as_it_was() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let graph = "https://example.org/graph/big";
    store.ok(&[
        "update",
        &format!("INSERT DATA {{ GRAPH <{graph}> {{ <urn:old> <urn:p> \"kept\" }} }}"),
    ]);
    let before = dump(&store);
    let file = big_ntriples(store.dir.path(), 1_500_000);
    let file = file.to_str().unwrap();
    // A plain load, then a replacement of the graph: both killed before they commit.
    for replace in [false, true] {
        let mut args = vec!["load", file, "--graph", graph, "--force"];
        if replace {
            args.push("--replace");
        }
        let mut child = spawn(&store, &args);
        std::thread::sleep(Duration::from_millis(1500));
        let finished = child.try_wait().expect("try_wait");
        assert!(
            finished.is_none(),
            "the load finished before it could be killed: make the file larger"
        );
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        assert_eq!(dump(&store), before, "replace = {replace}");
    }
}

#[test]
fn train_killed_while_saving_leaves_a_registry_the_next_train_uses() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let models = store.path().parent().unwrap().join("models");
    let mut train = vec!["train", "--model", "kgrec-no-text"];
    train.extend_from_slice(QUICK_TRAINING);
    // Kill the moment a version folder is being written (`.vN.partial`); training is quick, so
    // try a few times until a kill lands there.
    let mut killed_while_saving = 0;
    for _ in 0..10 {
        let registered = kgrec::registry::ModelRegistry::open(&models)
            .unwrap()
            .entries()
            .unwrap()
            .len();
        let partial = models.join(format!(".v{}.partial", registered + 1));
        let mut child = spawn(&store, &train);
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(120) {
            if partial.exists() {
                child.kill().expect("SIGKILL");
                killed_while_saving += 1;
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        child.wait().expect("wait");
        // The registry opens, lists only complete versions, and keeps nothing half-written.
        let registry = kgrec::registry::ModelRegistry::open(&models).unwrap();
        for entry in registry.entries().unwrap() {
            let folder = registry.folder(&entry);
            for file in [
                "model.safetensors",
                "user_vectors.safetensors",
                "items.txt",
                "users.txt",
                "entry.json",
            ] {
                assert!(
                    folder.join(file).is_file(),
                    "{} lacks {file}",
                    folder.display()
                );
            }
        }
        assert!(!partial.exists());
        if killed_while_saving >= 3 {
            break;
        }
    }
    assert!(
        killed_while_saving > 0,
        "no kill landed while a version was saved"
    );
    // The next training registers the next version.
    let before = kgrec::registry::ModelRegistry::open(&models)
        .unwrap()
        .entries()
        .unwrap()
        .len() as u64;
    let out = store.ok(&train);
    assert!(out.contains(&format!("version {}", before + 1)), "{out}");
}
