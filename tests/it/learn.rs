//! `kgrec eval` on real data: the bundled default KG (1,500 Beauty users) and the shared
//! datasets, through the real binary and store.

use crate::common::{fixture, repo, TempStore};

/// A store holding the bundled default KG.
fn default_kg_store() -> TempStore {
    let store = TempStore::new();
    let file = repo().join("kg-data/amazon-beauty-sample.nq.gz");
    store.ok(&["load", file.to_str().expect("utf-8 path")]);
    store
}

fn metric(model: &serde_json::Value, name: &str) -> f64 {
    model["test"]
        .as_array()
        .expect("test summary")
        .iter()
        .find(|s| s["metric"] == name)
        .and_then(|s| s["mean"].as_f64())
        .unwrap_or_else(|| panic!("no {name} in {model}"))
}

#[test]
fn eval_leave_one_out_on_the_default_kg() {
    let store = default_kg_store();
    let out = store.ok(&[
        "eval",
        "--protocol",
        "loo",
        "--models",
        "popularity,item-knn,bpr-mf,walk-knn",
        "--walks-per-node",
        "4",
        "--sg-epochs",
        "2",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json report");
    let models = doc["models"].as_array().expect("models");
    assert_eq!(models.len(), 4);
    for m in models {
        let run = &m["runs"][0];
        // Every one of the 1,500 users (all have ≥ 5 interactions) is one test case.
        assert_eq!(run["test"]["cases"], 1500, "{}", m["model"]);
        let (h5, h10, h20) = (metric(m, "HR@5"), metric(m, "HR@10"), metric(m, "HR@20"));
        assert!(0.0 <= h5 && h5 <= h10 && h10 <= h20 && h20 <= 1.0, "{m}");
        // Leave-one-out has one relevant item: HR equals recall, NDCG ≤ HR.
        assert_eq!(metric(m, "HR@10"), metric(m, "Recall@10"));
        assert!(metric(m, "NDCG@10") <= h10);
    }
    let ndcg = |i: usize| metric(&models[i], "NDCG@10");
    // Personalised models beat popularity on this sample.
    assert!(
        ndcg(1) > ndcg(0),
        "item-knn {} vs popularity {}",
        ndcg(1),
        ndcg(0)
    );
    assert!(
        ndcg(3) > ndcg(0),
        "walk-knn {} vs popularity {}",
        ndcg(3),
        ndcg(0)
    );
    // The bundled sample carries no labelled negatives: the click-through protocol says so.
    let err = store.err(&["eval", "--protocol", "ctr", "--models", "popularity"]);
    assert!(err.contains("labelled negatives"), "{err}");
    // Popularity recommends the same list to everyone: tiny coverage.
    assert!(metric(&models[0], "Coverage@10") < metric(&models[1], "Coverage@10"));
}

#[test]
fn eval_table_and_bad_arguments() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let table = store.ok(&["eval", "--models", "popularity", "--seeds", "1,2"]);
    assert!(table.contains("popularity"), "{table}");
    assert!(table.contains("±"), "{table}");
    let err = store.err(&["eval", "--models", "nope"]);
    assert!(err.contains("unknown model"), "{err}");
    let empty = TempStore::new();
    let err = empty.err(&["eval", "--models", "popularity"]);
    assert!(err.contains("no interactions"), "{err}");
    let err = store.err(&["eval", "--models", "walk-knn", "--relations", "brnad"]);
    assert!(err.contains("unknown relation"), "{err}");
}

fn eval_json(store: &TempStore, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["eval", "--format", "json"];
    all.extend_from_slice(args);
    let doc: serde_json::Value = serde_json::from_str(&store.ok(&all)).expect("json report");
    doc["models"].as_array().expect("models").clone()
}

#[test]
fn eval_ctr_on_lastfm() {
    let store = TempStore::new();
    let dir = crate::common::shared_dataset("lastfm-kgcn");
    store.ok(&["import", "kgcn", dir.to_str().unwrap()]);
    let models = eval_json(
        &store,
        &["--protocol", "ctr", "--models", "popularity,bpr-mf"],
    );
    for m in &models {
        let (auc, f1) = (metric(m, "AUC"), metric(m, "F1"));
        assert!(0.5 < auc && auc < 1.0 && 0.0 < f1 && f1 < 1.0, "{m}");
        // 20% of the labelled pairs are test pairs.
        let pairs = m["runs"][0]["test"]["pairs"].as_u64().unwrap();
        assert!((8_000..9_000).contains(&pairs), "{pairs}");
    }
    assert!(metric(&models[1], "AUC") > 0.75, "{}", models[1]);
}

#[test]
fn eval_ratio_uses_the_split_luxury_beauty_carries() {
    let store = TempStore::new();
    let dir = crate::common::shared_dataset("amazon-luxury-beauty");
    store.ok(&["import", "recbole", dir.to_str().unwrap()]);
    let models = eval_json(
        &store,
        &["--protocol", "ratio", "--models", "popularity,item-knn"],
    );
    // Every user with a test interaction in Amazon-luxury-beauty.test.inter is one case.
    let test_users: std::collections::HashSet<String> =
        std::fs::read_to_string(dir.join("Amazon-luxury-beauty.test.inter"))
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next().map(str::to_owned))
            .collect();
    assert_eq!(models[0]["runs"][0]["test"]["cases"], test_users.len());
    assert!(metric(&models[1], "NDCG@10") > metric(&models[0], "NDCG@10"));
}
