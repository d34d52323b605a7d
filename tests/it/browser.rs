//! The workbench page in a real browser: Debian's chromium, driven by playwright-core from
//! web/node_modules (`web/test/workbench.mjs`), against `kgrec serve` on the bundled KG with
//! a trained model. The script reports what the page showed and did; this test checks the
//! report against the JSON API and the store. Screenshots go to `$KGREC_SCREENSHOTS` (or a
//! temporary folder).

use std::path::PathBuf;
use std::process::Command;

use crate::common::{repo, skip};
use crate::serve::{
    assert_paths_exist, bundled_with_model, encode, item_iris, Service, HOSTILE_NAME,
};

const TOKEN: &str = "browser-token-0123456789";
/// What the test types into the SPARQL editor.
const SPARQL_QUERY: &str =
    "PREFIX schema: <http://schema.org/> SELECT ?p ?name WHERE { ?p a schema:Product ; schema:name ?name } ORDER BY ?p LIMIT 7";

/// Chromium and playwright-core, or why they are missing.
fn browser() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!(
            "no chromium at {} (apt-get install chromium; scripts/test.sh does)",
            chromium.display()
        ));
    }
    if !repo().join("web/node_modules/playwright-core").is_dir() {
        return Err(
            "web/node_modules has no playwright-core (cd web && npm ci; scripts/test.sh does)"
                .into(),
        );
    }
    Ok(chromium)
}

/// Asserts that each `[subject, predicate, object]` the page drew is a triple of the store.
fn assert_triples_in_store(s: &Service, triples: &[serde_json::Value]) {
    for t in triples {
        let ask = format!(
            "ASK {{ <{}> <{}> <{}> }}",
            t[0].as_str().unwrap(),
            t[1].as_str().unwrap(),
            t[2].as_str().unwrap()
        );
        assert_eq!(s.query(&ask, None).json()["boolean"], true, "{ask}");
    }
}

#[test]
fn the_workbench_pages_show_the_apis_answers_and_only_true_triples() {
    let chromium = match browser() {
        Ok(c) => c,
        Err(why) => return skip(&why).unwrap_or(()),
    };
    let (store, user_iri) = bundled_with_model();
    let customer = user_iri.rsplit('/').next().unwrap().to_owned();
    // What `kgrec query --saved` answers, before the service holds the store.
    let expected = store.saved("user-history", &[("user", &format!("<{user_iri}>"))]);
    assert!(!expected.is_empty());
    let s = Service::start(&store, &["--update-token", TOKEN]);
    let shots = std::env::var_os("KGREC_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| store.dir.path().join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let api = s
        .get(
            &format!("/v1/users/{customer}/recommendations?k=10&explain=true"),
            None,
        )
        .json();
    let out = Command::new("node")
        .arg(repo().join("web/test/workbench.mjs"))
        .arg(&s.base)
        .arg(&shots)
        .arg(&customer)
        .arg(TOKEN)
        .arg(&user_iri)
        .arg(SPARQL_QUERY)
        .env("CHROMIUM", &chromium)
        .current_dir(repo().join("web"))
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script's JSON report");
    let page = &report["customer"];

    // Loaded cleanly: no console error, failed request, error status or dialog.
    for view in [
        "queries", "sparql", "customer", "product", "phone", "search",
    ] {
        assert_eq!(
            report[view]["problems"],
            serde_json::json!([]),
            "{view}: {report}"
        );
    }
    assert_eq!(
        page["dialogs"], 0,
        "a dialog opened: script ran from shop data"
    );

    // The saved query's form shows the rows `kgrec query --saved` gives, in its order.
    let q = &report["queries"];
    let vars: Vec<&str> = q["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let shown: Vec<std::collections::HashMap<String, String>> = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            vars.iter()
                .zip(row.as_array().unwrap())
                .filter_map(|(v, cell)| cell.as_str().map(|c| ((*v).to_owned(), c.to_owned())))
                .collect()
        })
        .collect();
    assert_eq!(shown, expected);
    assert!(
        q["bars"].as_u64().unwrap() >= 1,
        "no chart for a count per group"
    );

    // The SPARQL page: the typed query's rows are the endpoint's; the update without the
    // token was refused (401, the only failed request) with the message shown, and not applied.
    let sq = &report["sparql"];
    let endpoint = s.query(SPARQL_QUERY, None).json();
    let expected: Vec<serde_json::Value> = endpoint["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| serde_json::json!([b["p"]["value"], b["name"]["value"]]))
        .collect();
    assert_eq!(sq["rows"].as_array().unwrap(), &expected);
    assert_eq!(expected.len(), 7);
    assert!(
        sq["refusal"].as_str().unwrap().contains("token"),
        "{}",
        sq["refusal"]
    );
    for p in sq["afterUpdate"].as_array().unwrap() {
        assert!(p.as_str().unwrap().contains("401"), "{p}");
    }
    let applied = s.query("ASK { <urn:kgrec:a> <urn:kgrec:b> <urn:kgrec:c> }", None);
    assert_eq!(applied.json()["boolean"], false);

    // The recommendations shown are the API's, in its order.
    let shown: Vec<String> = page["recommended"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, item_iris(&api));

    // Every edge drawn is a triple of the store, and the page drew those of the API's paths.
    let drawn = page["edges"].as_array().unwrap();
    assert!(!drawn.is_empty(), "no edge drawn");
    assert_triples_in_store(&s, drawn);
    let mut api_edges = 0;
    for item in api["items"].as_array().unwrap() {
        api_edges += assert_paths_exist(&s, &item["explanation"]["paths"]);
    }
    assert!(
        drawn.len() <= api_edges,
        "drew {} edges, the API gave {api_edges}",
        drawn.len()
    );

    // The product page: its facts, the model's similar items, and a neighbourhood whose every
    // edge is a triple of the store.
    let product = &report["product"];
    let first = product["product"].as_str().unwrap();
    assert_eq!(product["facts"], first);
    let similar = s
        .get(&format!("/v1/items/{}/similar?k=8", encode(first)), None)
        .json();
    assert_eq!(product["similar"], serde_json::json!(item_iris(&similar)));
    // Its saved queries: the first link, followed, ran that query for this product and showed
    // the API's rows.
    assert!(
        !product["forProduct"].as_array().unwrap().is_empty(),
        "{product}"
    );
    let ran = &product["ran"];
    let answer = s
        .get(
            &format!(
                "/v1/queries/{}?product={}",
                ran["query"].as_str().unwrap(),
                encode(first)
            ),
            None,
        )
        .json();
    assert_eq!(
        ran["rows"].as_u64().unwrap() as usize,
        answer["results"]["bindings"].as_array().unwrap().len(),
        "{ran}"
    );
    let around = product["edges"].as_array().unwrap();
    assert!(around.len() >= 2, "{product}");
    assert_triples_in_store(&s, around);

    // The model page: the registry's versions, the served one marked, its link kinds drawn.
    let models = s.get("/v1/models", None).json();
    let m = &report["model"];
    let versions: Vec<u64> = models["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(m["versions"], serde_json::json!(versions));
    assert_eq!(m["served"], serde_json::json!([models["served"]]));
    let kinds: Vec<&serde_json::Value> = models["link_weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["kind"])
        .collect();
    assert!(!kinds.is_empty());
    assert_eq!(m["kinds"], serde_json::json!(kinds));

    // The product named with HTML shows as text, and no element came of it.
    let history = s.get(&format!("/v1/users/{customer}/history"), None).json();
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["title"] == HOSTILE_NAME),
        "the fixture's hostile product is not in the history"
    );
    assert!(
        page["titles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == HOSTILE_NAME),
        "{:?}",
        page["titles"]
    );
    assert_eq!(page["images"], 0);

    // Read-only without the token; with it, a test purchase lands at the end of the history.
    assert_eq!(page["readOnly"], true);
    let before = page["history"].as_array().unwrap().len();
    let after = page["historyAfter"].as_array().unwrap();
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap(), &page["bought"]);

    // Readable on a phone: nothing wider than the screen.
    assert!(
        report["phone"]["overflow"].as_i64().unwrap() <= 0,
        "{report}"
    );
    // Search: a product's id finds that product.
    assert_eq!(
        report["search"]["found"],
        serde_json::json!([page["recommended"][0]])
    );
    // Keyboard only: the look-up form leads to the customer.
    assert_eq!(report["search"]["landed"], format!("#/customer/{customer}"));
    for name in [
        "customer.png",
        "customer-phone.png",
        "product.png",
        "model.png",
        "search.png",
    ] {
        assert!(shots.join(name).is_file(), "{name}");
    }
    for view in [
        "queries", "sparql", "customer", "product", "model", "search",
    ] {
        eprintln!(
            "workbench: {view} page {} bytes transferred, interactive after {} ms",
            report[view]["bytes"], report[view]["interactiveMs"]
        );
    }
}
