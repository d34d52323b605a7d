//! An A/B test run against a simulated population whose buying rule is known, so that the
//! true difference between the arms can be computed and the report checked against it.

use std::collections::{HashMap, HashSet};

use crate::replicas::register_copy;
use crate::serve::{bundled_with_model, encode, item_iris, Service};

/// Users simulated.
const USERS: usize = 1200;
/// Items shown per answer.
const SHOWN: usize = 10;

/// Registers version `from` again as the next version with its item rows shuffled: the same
/// tensors ranking the wrong products, a model of known poor quality.
fn register_shuffled(registry: &std::path::Path, from: u64) -> u64 {
    register_copy(registry, from, |copy| {
        let items = std::fs::read_to_string(copy.join("items.txt")).expect("items");
        let mut lines: Vec<&str> = items.lines().collect();
        let mut rng = SplitMix(7);
        for i in (1..lines.len()).rev() {
            lines.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        std::fs::write(copy.join("items.txt"), lines.join("\n") + "\n").expect("write items");
    })
}

/// A small seeded generator (SplitMix64), so that the simulation is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// The population's known rule: a user shown one of the products they like (those of their
/// history) clicks with probability 0.6 and buys with 0.4; otherwise 0.1 and 0.02.
fn rule(shown: &[String], likes: &HashSet<String>) -> (f64, f64) {
    if shown.iter().any(|i| likes.contains(i)) {
        (0.6, 0.4)
    } else {
        (0.1, 0.02)
    }
}

fn recommendations(s: &Service, user: &str) -> serde_json::Value {
    let r = s.get(
        &format!(
            "/v1/users/{}/recommendations?k={SHOWN}&exclude_seen=false",
            encode(user)
        ),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn an_ab_test_finds_the_better_arm_and_covers_the_true_difference() {
    let (store, _) = bundled_with_model();
    let registry = store.dir.path().join("models");
    let worse = register_shuffled(&registry, 1);
    let users: Vec<String> = store
        .select(&format!(
            "SELECT DISTINCT ?u WHERE {{ ?u a <https://w3id.org/kgrec/ns#User> }} ORDER BY ?u LIMIT {USERS}"
        ))
        .into_iter()
        .map(|r| r["u"].clone())
        .collect();
    assert_eq!(users.len(), USERS);
    let mut likes: HashMap<String, HashSet<String>> = HashMap::new();
    for row in
        store.select("SELECT ?u ?p WHERE { ?u <https://w3id.org/kgrec/ns#interactedWith> ?p }")
    {
        likes
            .entry(row["u"].clone())
            .or_default()
            .insert(row["p"].clone());
    }

    // What each arm would show every user, from a service pinned to each version in turn
    // (a local store is opened by one process at a time); the true rates follow from the rule.
    let mut would_show: Vec<HashMap<String, Vec<String>>> = Vec::new();
    let mut truth: Vec<(f64, f64)> = Vec::new();
    for version in [1, worse] {
        let s = Service::start(&store, &["--model-version", &version.to_string()]);
        let lists: HashMap<String, Vec<String>> = users
            .iter()
            .map(|u| (u.clone(), item_iris(&recommendations(&s, u))))
            .collect();
        let (clicks, buys) = users.iter().fold((0.0, 0.0), |(c, b), u| {
            let (pc, pb) = rule(&lists[u], &likes[u]);
            (c + pc, b + pb)
        });
        truth.push((clicks / USERS as f64, buys / USERS as f64));
        would_show.push(lists);
        assert!(s.terminate().0);
    }
    let true_click_difference = truth[1].0 - truth[0].0;
    let true_purchase_difference = truth[1].1 - truth[0].1;
    eprintln!(
        "true rates (click, purchase): v1 {:?}, v{worse} {:?}",
        truth[0], truth[1]
    );

    // The experiment: every user asks once, is told the arm, and acts by the rule.
    let s = Service::start(
        &store,
        &["--experiment", &format!("sim: v1 50%, v{worse} 50%")],
    );
    let mut rng = SplitMix(2026);
    for u in &users {
        let answer = recommendations(&s, u);
        let arm = answer["arm"]["arm"].as_str().expect("the arm is named");
        assert_eq!(answer["arm"]["experiment"], "sim");
        let index = if arm == "v1" { 0 } else { 1 };
        let shown = item_iris(&answer);
        assert_eq!(shown, would_show[index][u], "{u} in {arm}");
        let (pc, pb) = rule(&shown, &likes[u]);
        let target = shown
            .iter()
            .find(|i| likes[u].contains(*i))
            .unwrap_or(&shown[0])
            .clone();
        for (kind, p) in [("click", pc), ("purchase", pb)] {
            if rng.chance(p) {
                let body = serde_json::json!({"user": u, "item": target, "kind": kind});
                let r = s.post("/v1/events", "application/json", &body.to_string(), &[]);
                assert_eq!(r.status, 201, "{}", r.body);
            }
        }
    }

    let r = s.get("/v1/experiments/sim?window=3600", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    eprintln!("{report:#}");
    let arms = report["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 2);
    assert_eq!(arms[0]["name"], "v1");
    let n = |a: &serde_json::Value, k: &str| a[k].as_u64().expect(k);
    assert_eq!(n(&arms[0], "users") + n(&arms[1], "users"), USERS as u64);
    assert_eq!(
        n(&arms[0], "exposures") + n(&arms[1], "exposures"),
        USERS as u64
    );
    for (field, truth) in [
        ("click_rate_difference", true_click_difference),
        ("purchase_rate_difference", true_purchase_difference),
    ] {
        let d = &arms[1][field];
        let (low, high) = (
            d["low"].as_f64().expect("low"),
            d["high"].as_f64().expect("high"),
        );
        assert!(high < 0.0, "{field}: the worse arm is not found worse: {d}");
        assert!(
            low <= truth && truth <= high,
            "{field}: [{low}, {high}] does not cover the true {truth}"
        );
    }
    assert_eq!(
        s.get("/v1/experiments/other", None).status,
        404,
        "an experiment that is not running"
    );
}
