//! `kgrec eval` on real data: the bundled default KG (1,500 Beauty users) and the shared
//! datasets, through the real binary and store.

use crate::common::{fixture, repo, TempStore, QUICK_TRAINING};

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
fn cold_items_are_found_through_the_kg_and_never_by_popularity() {
    let store = default_kg_store();
    let models = eval_json(
        &store,
        &[
            "--protocol",
            "cold-items",
            "--models",
            "popularity,walk-knn",
            "--walks-per-node",
            "4",
            "--sg-epochs",
            "2",
        ],
    );
    // A user is asked for a cold product only after some warm history: about as many users
    // as hold one of the 10% of products left out.
    let cases = models[0]["runs"][0]["test"]["cases"].as_u64().unwrap();
    assert!((300..1500).contains(&cases), "{cases}");
    // Nothing in training counts a cold product: popularity ranks them below every product
    // bought at least once, so never in a top 20.
    assert_eq!(metric(&models[0], "HR@20"), 0.0, "{}", models[0]);
    // Their brand and categories (the KG edges a new product has) place some of them.
    assert!(metric(&models[1], "HR@20") > 0.0, "{}", models[1]);
}

#[test]
fn eval_ctr_on_lastfm() {
    let store = TempStore::new();
    let Some(dir) = crate::common::shared_dataset("lastfm-kgcn") else {
        return;
    };
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
    let Some(dir) = crate::common::shared_dataset("amazon-luxury-beauty") else {
        return;
    };
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

/// Reads a safetensors file's tensor shapes, as numpy or PyTorch would see them.
fn tensor_shapes(path: &std::path::Path) -> std::collections::HashMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect()
}

fn line_count(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .count()
}

/// The shop fixture in a new store, and the sentence model's folder (found or fetched once
/// for the whole test binary); `None` (skipped) without the sentence model.
fn shop_with_sentence_model() -> Option<(TempStore, String)> {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    if !crate::text::model_available() {
        return None;
    }
    let model_dir = crate::text::model().dir().to_str().unwrap().to_owned();
    Some((store, model_dir))
}

#[test]
fn train_registers_a_model_other_tools_can_read() {
    let Some((store, model_dir)) = shop_with_sentence_model() else {
        return;
    };
    let mut quick = vec!["--model-dir", model_dir.as_str()];
    quick.extend_from_slice(QUICK_TRAINING);
    let mut args = vec!["train", "--model", "kgrec", "--holdout", "loo"];
    args.extend_from_slice(&quick);
    let out = store.ok(&args);
    assert!(out.contains("registered kgrec version 1"), "{out}");
    let root = store.dir.path().join("models");
    let v1 = root.join("v1");
    let (items, users) = (
        line_count(&v1.join("items.txt")),
        line_count(&v1.join("users.txt")),
    );
    assert!(items >= 10 && users >= 3, "{items} items, {users} users");
    let model = tensor_shapes(&v1.join("model.safetensors"));
    assert_eq!(model["item_vectors"], [items, 16]);
    assert_eq!(model["input.text"], [items, 384]);
    assert_eq!(model["input.structure"], [items, 64]);
    // The link table: a CSR over the items, as u32 (offsets, targets, kinds).
    assert_eq!(model["input.links.offsets"], [items + 1]);
    assert_eq!(
        model["input.links.targets"], model["input.links.kinds"],
        "one kind per link"
    );
    let user = tensor_shapes(&v1.join("user_vectors.safetensors"));
    assert_eq!(user["user_vectors"], [users, 16]);

    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v1.join("entry.json")).unwrap()).unwrap();
    assert_eq!(entry["version"], 1);
    assert_eq!(entry["holdout"], "loo");
    assert_eq!(entry["data_hash"].as_str().unwrap().len(), 64);
    // P11 has no name, brand or category: said once, not once per use of the text.
    let notes = entry_notes(&entry);
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.contains("items have text"))
            .count(),
        1,
        "{notes:?}"
    );
    // The epoch kept by validation is recorded too.
    assert!(notes.iter().any(|n| n.contains("kept epoch")), "{notes:?}");
    // So are the KG links the model scores and the weights it learned for them.
    assert!(
        notes.iter().any(|n| n.contains("KG links between items")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("link weights")),
        "{notes:?}"
    );
    // And what the samples were, chosen by the histories' length.
    assert!(
        notes.iter().any(|n| n.starts_with("trained on prefixes")),
        "{notes:?}"
    );
    // And whether validation kept the moving average of the parameters or the trained ones.
    assert!(
        notes
            .iter()
            .any(|n| n.contains("the better of the two on validation")),
        "{notes:?}"
    );
    assert_eq!(notes.len(), 6, "{notes:?}");
    let metrics = entry["metrics"].as_object().unwrap();
    for key in ["train.loss", "valid.NDCG@10", "test.HR@10", "test.MRR@10"] {
        assert!(metrics.contains_key(key), "no {key} in {metrics:?}");
    }
    let stages: Vec<&str> = entry["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "structure",
            "text",
            "links",
            "training kgrec",
            "evaluation",
            "saving"
        ]
    );

    // A second model, on every interaction, gets the next version and the same data hash.
    let mut args = vec!["train", "--model", "sasrec"];
    args.extend_from_slice(&quick);
    let out = store.ok(&args);
    assert!(out.contains("registered sasrec version 2"), "{out}");
    // With nothing held out, the epoch count is chosen on a leave-one-out split first, and
    // the model is then trained that long on every interaction, not all `--epochs` blind.
    let v2 = read_entry(&store, 2);
    let notes = entry_notes(&v2);
    let kept = notes
        .iter()
        .find_map(|n| n.strip_prefix("on the loo validation split: seed 1: kept epoch "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no epoch chosen on validation: {notes:?}"));
    let refit = notes
        .iter()
        .find_map(|n| n.strip_prefix("fitted again on every interaction for the "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no refit: {notes:?}"));
    // As many epochs as kept, less any a learning-rate drop's restore threw away.
    assert!(
        refit.parse::<usize>().unwrap() <= kept.parse::<usize>().unwrap(),
        "{notes:?}"
    );
    assert_eq!(
        v2["metrics"]["train.epochs"]
            .as_f64()
            .map(|e| e.to_string())
            .as_deref(),
        Some(refit),
        "{notes:?}"
    );
    let listed = store.ok(&["models"]);
    assert!(listed.contains("v1") && listed.contains("v2"), "{listed}");
    assert!(listed.contains("holdout none"), "{listed}");
    let hash = entry["data_hash"].as_str().unwrap();
    assert_eq!(listed.matches(&hash[..12]).count(), 2, "{listed}");
    let sasrec = tensor_shapes(&root.join("v2").join("model.safetensors"));
    assert!(!sasrec.contains_key("input.text"), "sasrec is ID-only");
    assert!(
        !sasrec.contains_key("input.links.offsets"),
        "sasrec is ID-only"
    );

    let err = store.err(&["train", "--model", "popularity"]);
    assert!(err.contains("registers the sequence models"), "{err}");
    let err = store.err(&[
        "train",
        "--model",
        "kgrec-no-kg",
        "--model-dir",
        "/nonexistent",
    ]);
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn train_without_a_model_keeps_the_best_candidate_on_validation() {
    let Some((store, model_dir)) = shop_with_sentence_model() else {
        return;
    };
    let mut args = vec![
        "train",
        "--holdout",
        "loo",
        "--model-dir",
        model_dir.as_str(),
    ];
    args.extend_from_slice(QUICK_TRAINING);
    let out = store.ok(&args);
    assert!(out.contains("registered"), "{out}");
    let entry = read_entry(&store, 1);
    let choice = &entry["choice"];
    let candidates = choice["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kgrec", "ease-kg", "ease"], "{choice}");
    // The chosen candidate has the best validation NDCG@10 (a tie keeps the first).
    let ndcg = |c: &serde_json::Value| c["valid_ndcg"].as_f64().unwrap();
    let best = candidates.iter().map(ndcg).fold(f64::MIN, f64::max);
    let first_best = candidates.iter().find(|c| ndcg(c) == best).unwrap();
    assert_eq!(choice["chosen"], first_best["model"], "{choice}");
    assert_eq!(entry["model"], choice["chosen"]);
    assert!(
        choice["reason"]
            .as_str()
            .unwrap()
            .contains("validation NDCG@10"),
        "{choice}"
    );
}

#[test]
fn a_catalogue_of_ids_and_codes_gets_no_text_input() {
    let Some((store, model_dir)) = shop_with_sentence_model() else {
        return;
    };
    // Every name and label becomes a number, as in a catalogue that carries only attribute
    // ids.
    for p in [
        "http://schema.org/name",
        "http://www.w3.org/2004/02/skos/core#prefLabel",
        "http://www.w3.org/2000/01/rdf-schema#label",
    ] {
        store.ok(&[
            "update",
            &format!(
                "DELETE {{ GRAPH ?g {{ ?s <{p}> ?n }} }} INSERT {{ GRAPH ?g {{ ?s <{p}> ?id }} }} \
                 WHERE {{ GRAPH ?g {{ ?s <{p}> ?n }} BIND(STR(STRLEN(STR(?n)) * 7919) AS ?id) }}"
            ),
        ]);
    }
    let mut args = vec![
        "train",
        "--model",
        "kgrec",
        "--holdout",
        "loo",
        "--model-dir",
        model_dir.as_str(),
    ];
    args.extend_from_slice(QUICK_TRAINING);
    store.ok(&args);
    let entry = read_entry(&store, 1);
    let notes = entry["notes"].to_string();
    assert!(notes.contains("only ids or codes"), "{notes}");
    assert!(!notes.contains("similar text"), "{notes}");
    let v1 = store.dir.path().join("models").join("v1");
    assert!(!tensor_shapes(&v1.join("model.safetensors")).contains_key("input.text"));
}

/// A registry entry's notes.
fn entry_notes(entry: &serde_json::Value) -> Vec<&str> {
    entry["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().expect("a note"))
        .collect()
}

/// The entry of version `v` in the store's registry.
fn read_entry(store: &TempStore, v: u64) -> serde_json::Value {
    let path = store
        .dir
        .path()
        .join("models")
        .join(format!("v{v}"))
        .join("entry.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn ease_registers_its_weights_and_scores_validation_before_its_refit() {
    let store = TempStore::new();
    let Some(dir) = crate::common::shared_dataset("amazon-luxury-beauty") else {
        return;
    };
    store.ok(&["import", "recbole", dir.to_str().unwrap()]);
    let out = store.ok(&["train", "--model", "ease-kg", "--holdout", "ratio"]);
    assert!(out.contains("registered ease-kg version 1"), "{out}");
    let v1 = store.dir.path().join("models").join("v1");
    let items = line_count(&v1.join("items.txt"));
    assert_eq!(
        tensor_shapes(&v1.join("model.safetensors"))["ease_weights"],
        [items, items]
    );
    assert!(
        !v1.join("user_vectors.safetensors").exists(),
        "EASE has no user vectors"
    );
    let entry = read_entry(&store, 1);
    let ease = &entry["ease"];
    assert_eq!(ease["refit"], true, "{ease}");
    // Validation is scored by the model as it was when it chose its setting there, not
    // after it learned from the validation interactions.
    let valid = entry["metrics"]["valid.NDCG@10"].as_f64().unwrap();
    assert!(
        (valid - ease["valid_ndcg"].as_f64().unwrap()).abs() < 1e-9,
        "{entry}"
    );
    // Luxury Beauty's own split: EASE with the KG is ahead of item-kNN (.3433).
    let test = entry["metrics"]["test.NDCG@10"].as_f64().unwrap();
    assert!(test > 0.3433, "{test}");
}

#[test]
fn start_trains_once_then_reuses_the_model() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    // `start` finds the sentence model under models/ (fetched once for the test binary).
    if !crate::text::model_available() {
        return;
    }
    crate::text::model();
    let first = store.ok(&["start"]);
    assert!(first.contains("registered"), "{first}");
    assert!(first.contains("version 1"), "{first}");
    assert!(first.contains("Recommended next:\n  1. "), "{first}");
    let again = store.ok(&["start"]);
    assert!(again.contains("version 1"), "{again}");
    assert!(again.contains("trained on this data"), "{again}");
    // New data makes the registered model stale: the next start trains version 2.
    let insert = format!(
        "{}INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/fixture/interactions> {{ \
         <https://w3id.org/kgrec/id/fixture/interaction/new> a kgr:Interaction ; \
         kgr:user <https://w3id.org/kgrec/id/fixture/user/U1> ; \
         kgr:item <https://w3id.org/kgrec/id/fixture/product/P7> }} }}",
        crate::common::PREFIXES
    );
    store.ok(&["update", &insert]);
    let third = store.ok(&["start"]);
    assert!(third.contains("version 2"), "{third}");
}
