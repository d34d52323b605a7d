//! `kgrec check`: what it finds on a shop with known problems, recorded in the quality graph
//! (and only there), read back by SPARQL and saved queries; bad input refused; training that
//! leaves flagged data out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::*;

const QUALITY: &str = "https://w3id.org/kgrec/graph/quality";
const P: &str = "https://w3id.org/kgrec/id/fixture/product/";

/// The shop fixture, plus seven nail polishes priced like P1-P3, one of them (P20) a hundred
/// times too dear and with an HTML entity left in its name, and one (P21) with mojibake.
fn shop_with_problems() -> TempStore {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let mut data = String::new();
    for k in 0..7 {
        let price = if k == 0 { 1050.0 } else { 9.0 + k as f64 * 0.5 };
        let name = match k {
            0 => "OPI Nail Envy &amp; Strengthener".to_owned(),
            1 => "CrÃ¨me BrÃ»lÃ©e Nail Polish".to_owned(),
            _ => format!("Essie Nail Polish shade {k}"),
        };
        data.push_str(&format!(
            "<{P}P2{k}> a schema:Product ; kgr:sourceId \"P2{k}\" ; schema:name \"{name}\" ; \
             schema:brand <https://w3id.org/kgrec/id/fixture/brand/Essie> ; \
             schema:category <https://w3id.org/kgrec/id/fixture/category/Nails>, \
             <https://w3id.org/kgrec/id/fixture/category/Makeup>, <https://w3id.org/kgrec/id/fixture/category/Beauty> ; \
             schema:offers <{P}offer/P2{k}> . \
             <{P}offer/P2{k}> a schema:Offer ; schema:price {price:.2} ; schema:priceCurrency \"USD\" . "
        ));
    }
    s.ok(&[
        "update",
        &format!(
            "{PREFIXES}INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/fixture/catalogue> {{ {data} }} }}"
        ),
    ]);
    s
}

/// Trains a small kgrec-no-text with `--exclude-flagged KINDS`; its registry entry.
fn train_without_flagged(s: &TempStore, kinds: &str) -> Value {
    let mut args = vec![
        "train",
        "--model",
        "kgrec-no-text",
        "--exclude-flagged",
        kinds,
    ];
    args.extend_from_slice(QUICK_TRAINING);
    let out = s.ok(&args);
    assert!(out.contains("registered"), "{out}");
    let entry = std::fs::read_to_string(s.dir.path().join("models/v1/entry.json")).unwrap();
    serde_json::from_str(&entry).unwrap()
}

fn check_json(s: &TempStore, args: &[&str]) -> Value {
    let mut all = vec!["check", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&s.ok(&all)).expect("check --format json")
}

/// (kind, severity, focus without the product prefix) of every finding.
fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["focus"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(P)
                    .to_owned(),
            )
        })
        .collect()
}

fn graph_sizes(s: &TempStore) -> BTreeMap<String, String> {
    s.select("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        .into_iter()
        .filter(|r| r["g"] != QUALITY)
        .map(|r| (r["g"].clone(), r["n"].clone()))
        .collect()
}

#[test]
fn check_records_what_it_finds_in_the_quality_graph_only() {
    let s = shop_with_problems();
    let before = graph_sizes(&s);
    let report = check_json(&s, &["--only", "shapes,text,outliers,behaviour"]);
    let found = findings(&report);
    let has = |kind: &str, severity: &str, focus: &str| {
        found
            .iter()
            .any(|f| f.0 == kind && f.1 == severity && f.2 == focus)
    };
    assert!(has("price-outlier", "warning", "P20"), "{found:#?}");
    assert!(
        !found.iter().any(|f| f.0 == "price-outlier" && f.2 != "P20"),
        "{found:#?}"
    );
    assert!(has("html-entity", "warning", "P20"), "{found:#?}");
    assert!(has("mojibake", "warning", "P21"), "{found:#?}");
    // P11 is interacted with but has no name: a violation of the listed-product shape.
    assert!(has("shape-violation", "error", "P11"), "{found:#?}");
    assert!(
        has("shape-violation", "warning", "P8"),
        "P8 has no brand: {found:#?}"
    );
    assert!(
        has("shape-violation", "warning", "P9"),
        "P9 has no category: {found:#?}"
    );
    assert!(
        !found.iter().any(|f| f.2 == "P10"),
        "P10 is only a co-purchase target, not a listed product: {found:#?}"
    );
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["focus"] == format!("{P}P20") && f["kind"] == "price-outlier")
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("1050.00"), "{reasons:?}");

    // Recorded: one kgr:QualityIssue per finding, the SHACL report, the data graphs unchanged.
    let issues = s.count(&format!("GRAPH <{QUALITY}> {{ ?i a kgr:QualityIssue }}"));
    assert_eq!(issues as usize, found.len());
    let report_rows = s.select(&format!(
        "PREFIX sh: <http://www.w3.org/ns/shacl#> SELECT ?c (COUNT(?r) AS ?n) WHERE {{ GRAPH <{QUALITY}> {{ ?rep a sh:ValidationReport ; sh:conforms ?c ; sh:result ?r }} }} GROUP BY ?c"
    ));
    assert_eq!(report_rows.len(), 1, "{report_rows:?}");
    assert_eq!(report_rows[0]["c"], "false");
    let shape_findings = found.iter().filter(|f| f.0 == "shape-violation").count();
    assert_eq!(report_rows[0]["n"], shape_findings.to_string());
    assert_eq!(graph_sizes(&s), before, "check changed a data graph");

    // The saved query lists them, one kind at a time.
    let rows = s.saved(
        "quality-issues",
        &[("kind", "<https://w3id.org/kgrec/ns#PriceOutlier>")],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["focus"], format!("{P}P20"));
    // The summary counts by check from the quality graph alone: no ontology is loaded here.
    let summary = s.saved("quality-summary", &[]);
    let price = summary
        .iter()
        .find(|r| r["kind"].ends_with("#PriceOutlier"))
        .unwrap_or_else(|| panic!("{summary:?}"));
    assert_eq!(
        (price["check"].as_str(), price["issues"].as_str()),
        ("outliers", "1")
    );

    // A later run of one check replaces that check's findings and keeps the others'.
    let shapes_before = s.count(&format!(
        "GRAPH <{QUALITY}> {{ ?i kgr:issueKind kgr:ShapeViolation }}"
    ));
    let text = check_json(&s, &["--only", "text"]);
    let text_findings = findings(&text).len() as u64;
    assert_eq!(
        s.count(&format!(
            "GRAPH <{QUALITY}> {{ ?i kgr:issueKind kgr:ShapeViolation }}"
        )),
        shapes_before
    );
    assert_eq!(
        s.count(&format!(
            "GRAPH <{QUALITY}> {{ ?i kgr:issueKind ?k . VALUES ?k {{ kgr:HtmlEntity kgr:Mojibake kgr:AllCaps }} }}"
        )),
        text_findings
    );

    // Pipelines: --fail-on error exits 1 (P11 has no name); the table names the kinds.
    let err = s.err(&["check", "--only", "shapes", "--fail-on", "error"]);
    assert!(err.contains("at error or worse"), "{err}");
    let table = s.ok(&["check", "--only", "outliers"]);
    assert!(table.contains("price-outlier"), "{table}");
    let turtle = s.ok(&["check", "--only", "outliers", "--format", "turtle"]);
    assert!(
        turtle.contains("QualityIssue") && turtle.contains("ValidationReport"),
        "{turtle}"
    );
}

#[test]
fn check_refuses_bad_input_and_changes_nothing() {
    let s = shop_with_problems();
    let err = s.err(&["check", "--only", "bots"]);
    assert!(err.contains("unknown check 'bots'"), "{err}");
    let bad = s.dir.path().join("bad.ttl");
    std::fs::write(&bad, "this is not turtle").unwrap();
    let err = s.err(&["check", "--shapes", bad.to_str().unwrap()]);
    assert!(err.contains("shapes") && err.contains("bad.ttl"), "{err}");
    assert_eq!(s.count(&format!("GRAPH <{QUALITY}> {{ ?s ?p ?o }}")), 0);
    for command in ["train", "eval"] {
        let err = s.err(&[command, "--exclude-flagged"]);
        assert!(err.contains("run `kgrec check` first"), "{command}: {err}");
    }
    let err = s.err(&["train", "--exclude-flagged", "price-outlier"]);
    assert!(err.contains("not price-outlier"), "{err}");
    let empty = TempStore::new();
    let err = empty.err(&["check"]);
    assert!(err.contains("the store is empty"), "{err}");
}

#[test]
fn training_merges_duplicates_that_check_found() {
    if !crate::text::model_available() {
        return;
    }
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let report = check_json(&s, &["--only", "duplicates"]);
    // P1 and P2 have the same brand and the same words: an exact duplicate; P2, with one
    // buyer, is merged into P1, with four.
    let dup = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "exact-duplicate")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(dup["focus"], format!("{P}P2"));
    assert_eq!(dup["related"][0], format!("{P}P1"));
    let entry = train_without_flagged(&s, "duplicates");
    assert_eq!(
        entry["exclusions"]["item_aliases"][format!("{P}P2")],
        format!("{P}P1")
    );
    let listed = s.ok(&["models"]);
    assert!(listed.contains("1 duplicate products merged"), "{listed}");
    let items = std::fs::read_to_string(s.dir.path().join("models/v1/items.txt")).unwrap();
    assert!(!items.lines().any(|l| l == format!("{P}P2")), "{items}");
    // `kgrec eval` leaves the same out, so baselines are measured on the same data.
    let out = s.run(&[
        "eval",
        "--models",
        "popularity",
        "--exclude-flagged",
        "duplicates",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("merging 1 duplicate products"), "{stderr}");
}

#[test]
fn training_reads_repaired_titles_and_linked_brands() {
    let s = shop_with_problems();
    s.ok(&[
        "update",
        &format!(
            "{PREFIXES}INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/fixture/catalogue> {{ \
             <{P}P30> a schema:Product ; kgr:sourceId \"P30\" ; schema:name \"Essie  Top Coat\" ; \
             schema:category <https://w3id.org/kgrec/id/fixture/category/Nails> . }} }}"
        ),
    ]);
    let report = check_json(&s, &["--only", "text,outliers"]);
    let linked = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "unlinked-brand")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(linked["focus"], format!("{P}P30"));
    assert_eq!(
        linked["related"][0],
        "https://w3id.org/kgrec/id/fixture/brand/Essie"
    );
    // The store keeps what it holds: repairs are read by training, never written back.
    let before = s.count("?p <http://schema.org/brand> ?b");
    let entry = train_without_flagged(&s, "text,outliers");
    let x = &entry["exclusions"];
    // P20's entity and P21's mojibake.
    assert_eq!(x["titles_repaired"], 2, "{x:#}");
    assert_eq!(x["brands_linked"], 1, "{x:#}");
    assert_eq!(x["users_left_out"], 0, "{x:#}");
    assert_eq!(s.count("?p <http://schema.org/brand> ?b"), before);
    let listed = s.ok(&["models"]);
    assert!(
        listed.contains("2 titles repaired, 1 brands linked"),
        "{listed}"
    );
}
