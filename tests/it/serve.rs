//! `kgrec serve`: the real server on a free port, over a real store and a registered model,
//! driven by a real HTTP client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{fixture, repo, TempStore, QUICK_TRAINING};

const P: &str = "https://w3id.org/kgrec/id/fixture/product/";
const U: &str = "https://w3id.org/kgrec/id/fixture/user/";
const TOKEN: &str = "test-token-0123456789";

/// The shop fixture with a small model registered, trained with `train ARGS` and quick
/// settings. Each set of arguments is trained once per test run; every test gets its own
/// copy of the store and registry (tests write to them).
fn shop_trained(args: &[&str]) -> TempStore {
    static TRAINED: std::sync::Mutex<Vec<(Vec<String>, TempStore)>> =
        std::sync::Mutex::new(Vec::new());
    let key: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut trained = TRAINED.lock().unwrap_or_else(|e| e.into_inner());
    if !trained.iter().any(|(k, _)| *k == key) {
        let store = TempStore::new();
        store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
        let mut train = vec!["train"];
        train.extend_from_slice(args);
        train.extend_from_slice(QUICK_TRAINING);
        store.ok(&train);
        trained.push((key.clone(), store));
    }
    let (_, template) = trained.iter().find(|(k, _)| *k == key).expect("trained");
    let copy = TempStore::new();
    copy_dir(template.dir.path(), copy.dir.path());
    copy
}

/// Copies a folder's files and subfolders (a closed store and registry) into `to`.
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The shop fixture with a small kgrec-no-text model registered (no sentence model needed).
pub(crate) fn shop_with_model() -> TempStore {
    shop_trained(&["--model", "kgrec-no-text"])
}

/// The shop fixture with a small kgrec model (text included) registered, and the sentence
/// model's folder; `None` (skipped) without the sentence model.
fn shop_with_text_model() -> Option<(TempStore, String)> {
    if !crate::text::model_available() {
        return None;
    }
    let model_dir = crate::text::model().dir().to_str().unwrap().to_owned();
    Some((
        shop_trained(&["--model", "kgrec", "--model-dir", &model_dir]),
        model_dir,
    ))
}

/// A running `kgrec serve`, stopped when dropped.
pub(crate) struct Service {
    child: Child,
    pub(crate) base: String,
    stderr: mpsc::Receiver<String>,
    agent: ureq::Agent,
}

/// A response: status, content type and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// Asserts an error reply: `status`, JSON with `code` and a message.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        v["error"]["message"].as_str().expect("message").to_owned()
    }
}

impl Service {
    pub(crate) fn start(store: &TempStore, extra: &[&str]) -> Service {
        Self::start_at(&store.path(), None, extra)
    }

    /// Serves the store `--store` names (a directory, or a remote store's endpoints), with
    /// the models in `registry` (default: beside the store).
    pub(crate) fn start_at(
        store: &std::path::Path,
        registry: Option<&std::path::Path>,
        extra: &[&str],
    ) -> Service {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kgrec"));
        command.arg("--store").arg(store);
        if let Some(r) = registry {
            command.arg("--registry").arg(r);
        }
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .env("KGREC_NO_DEFAULT_KG", "1")
            .env_remove("KGREC_STORE")
            .env_remove("KGREC_UPDATE_TOKEN")
            .current_dir(repo())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start kgrec serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let base = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    if let Some(rest) = line.split("serving on ").nth(1) {
                        break rest.split_whitespace().next().unwrap().to_owned();
                    }
                    seen.push(line);
                }
                Err(_) => panic!("kgrec serve did not start: {seen:?}"),
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Service {
            child,
            base,
            stderr: rx,
            agent,
        }
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.expect("HTTP request");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Reply {
            status: r.status().as_u16(),
            content_type,
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub(crate) fn get(&self, path: &str, accept: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        Self::reply(req.call())
    }

    pub(crate) fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::reply(req.send(body))
    }

    pub(crate) fn delete(&self, path: &str) -> Reply {
        Self::reply(self.agent.delete(format!("{}{path}", self.base)).call())
    }

    /// GET /sparql?query=… with an Accept header.
    pub(crate) fn query(&self, query: &str, accept: Option<&str>) -> Reply {
        self.get(&format!("/sparql?query={}", encode(query)), accept)
    }

    /// Sends SIGTERM and waits for the process; returns whether it exited cleanly and what
    /// it wrote on stderr after starting.
    pub(crate) fn terminate(mut self) -> (bool, String) {
        // SAFETY: kill only sends a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait");
        let rest: Vec<String> = self.stderr.try_iter().collect();
        (status.success(), rest.join("\n"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const PREFIXES: &str =
    "PREFIX kgr: <https://w3id.org/kgrec/ns#>\nPREFIX schema: <http://schema.org/>\n";

#[test]
fn sparql_protocol_queries_in_every_format() {
    let store = shop_with_model();
    let s = Service::start(&store, &[]);
    let names = format!(
        "{PREFIXES}SELECT ?p ?name WHERE {{ ?p a schema:Product ; schema:name ?name }} ORDER BY ?p"
    );

    // GET, default format: SPARQL JSON, over the union of the named graphs.
    let r = s.query(&names, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type, "application/sparql-results+json");
    let rows = r.json()["results"]["bindings"].as_array().unwrap().len();
    assert_eq!(rows, 9, "{}", r.body);

    // Content negotiation.
    let r = s.query(&names, Some("application/sparql-results+xml"));
    assert!(r.content_type.starts_with("application/sparql-results+xml"));
    assert!(r.body.contains("<sparql"), "{}", r.body);
    let r = s.query(&names, Some("text/csv"));
    assert!(r.content_type.starts_with("text/csv"));
    assert_eq!(r.body.lines().next(), Some("p,name"));
    assert_eq!(r.body.lines().count(), 10);
    let r = s.query(&names, Some("text/tab-separated-values"));
    assert!(r.body.starts_with("?p\t?name"), "{}", r.body);
    let r = s.query(
        &names,
        Some("text/csv;q=0.2, application/sparql-results+xml;q=0.9"),
    );
    assert!(r.content_type.starts_with("application/sparql-results+xml"));
    let r = s.query(&names, Some("image/png"));
    r.error(406, "not_acceptable");

    // CONSTRUCT and DESCRIBE as RDF.
    let construct = format!(
        "{PREFIXES}CONSTRUCT {{ ?p schema:name ?n }} WHERE {{ ?p schema:brand <https://w3id.org/kgrec/id/fixture/brand/OPI> ; schema:name ?n }}"
    );
    let r = s.query(&construct, None);
    assert_eq!(r.content_type, "text/turtle");
    assert!(r.body.contains("Big Apple Red"), "{}", r.body);
    let r = s.query(&construct, Some("application/n-triples"));
    assert_eq!(r.body.lines().filter(|l| !l.is_empty()).count(), 2);
    let r = s.query(&construct, Some("application/ld+json"));
    assert_eq!(r.content_type, "application/ld+json");
    let doc: serde_json::Value = serde_json::from_str(&r.body).expect("JSON-LD");
    assert!(doc.to_string().contains("Big Apple Red"), "{doc}");
    let r = s.query(&format!("DESCRIBE <{P}P1>"), Some("text/turtle"));
    assert!(r.body.contains("OPI Nail Lacquer"), "{}", r.body);
    let r = s.query("ASK { ?s ?p ?o }", Some("application/sparql-results+json"));
    assert_eq!(r.json()["boolean"], true);

    // POST, form-encoded and direct; the protocol's dataset parameters.
    let form = format!("query={}", encode(&names));
    let r = s.post("/sparql", "application/x-www-form-urlencoded", &form, &[]);
    assert_eq!(r.json()["results"]["bindings"].as_array().unwrap().len(), 9);
    let r = s.post("/sparql", "application/sparql-query", &names, &[]);
    assert_eq!(r.json()["results"]["bindings"].as_array().unwrap().len(), 9);
    let only_interactions = format!(
        "/sparql?query={}&default-graph-uri={}",
        encode("SELECT (COUNT(*) AS ?n) WHERE { ?p a <http://schema.org/Product> }"),
        encode("https://w3id.org/kgrec/graph/fixture/interactions")
    );
    let r = s.get(&only_interactions, None);
    assert_eq!(
        r.json()["results"]["bindings"][0]["n"]["value"],
        "0",
        "products live in the catalogue graph: {}",
        r.body
    );

    // Errors: all JSON, none a 500.
    s.query("SELECT WHERE {", None).error(400, "bad_query");
    s.get("/sparql", None).error(400, "bad_parameter");
    s.get("/sparql?query=a&query=b", None)
        .error(400, "bad_parameter");
    s.post("/sparql", "text/plain", "ASK {}", &[])
        .error(415, "unsupported_media_type");
    s.get("/sparql?update=CLEAR%20ALL", None)
        .error(405, "method_not_allowed");
    s.delete("/sparql").error(405, "method_not_allowed");
    s.get("/nowhere", None).error(404, "not_found");
}

#[test]
fn sparql_limits_and_updates() {
    let store = shop_with_model();
    let s = Service::start(
        &store,
        &[
            "--query-timeout",
            "0.5",
            "--max-results",
            "50",
            "--max-body",
            "4000",
            "--update-token",
            TOKEN,
        ],
    );
    // Result-size limit.
    let msg = s
        .query("SELECT * WHERE { ?s ?p ?o }", None)
        .error(400, "too_many_results");
    assert!(msg.contains("50"), "{msg}");
    // A query past the time limit is cancelled and named.
    let slow =
        "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }";
    let msg = s.query(slow, None).error(503, "query_timeout");
    assert!(msg.contains("COUNT(*)"), "{msg}");
    // The service still answers afterwards.
    assert_eq!(s.query("ASK {}", None).status, 200);
    // Body limit.
    let big = format!("query={}", "x".repeat(5000));
    s.post("/sparql", "application/x-www-form-urlencoded", &big, &[])
        .error(413, "payload_too_large");

    // Updates need the token.
    let insert = format!("INSERT DATA {{ GRAPH <urn:test> {{ <{P}P1> <urn:p> \"x\" }} }}");
    s.post("/sparql", "application/sparql-update", &insert, &[])
        .error(401, "unauthorized");
    s.post(
        "/sparql",
        "application/sparql-update",
        &insert,
        &[("Authorization", "Bearer wrong-token-xxxxxx")],
    )
    .error(401, "unauthorized");
    let ask = "ASK { GRAPH <urn:test> { ?s <urn:p> \"x\" } }";
    assert_eq!(s.query(ask, None).json()["boolean"], false);
    let bearer = format!("Bearer {TOKEN}");
    let r = s.post(
        "/sparql",
        "application/x-www-form-urlencoded",
        &format!("update={}", encode(&insert)),
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.query(ask, None).json()["boolean"], true);
    let r = s.post(
        "/sparql",
        "application/sparql-update",
        "INSERT DATA {",
        &[("Authorization", bearer.as_str())],
    );
    r.error(400, "bad_query");
    // The update landed on disk: it is there after a restart.
    drop(s);
    let s = Service::start(&store, &[]);
    assert_eq!(s.query(ask, None).json()["boolean"], true);
    // Read-only by default.
    s.post(
        "/sparql",
        "application/sparql-update",
        &insert,
        &[("Authorization", bearer.as_str())],
    )
    .error(401, "unauthorized");
}

#[test]
fn recommender_functions_inside_sparql() {
    let store = shop_with_model();
    let s = Service::start(&store, &[]);
    let by_score = format!(
        "{PREFIXES}SELECT ?p ?score WHERE {{ ?p a schema:Product . BIND(kgr:score(<{U}U1>, ?p) AS ?score) \
         FILTER(BOUND(?score)) }} ORDER BY DESC(?score)"
    );
    let r = s.query(&by_score, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["results"]["bindings"].as_array().unwrap().clone();
    assert!(rows.len() >= 8, "{rows:?}");
    let scores: Vec<f64> = rows
        .iter()
        .map(|b| b["score"]["value"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // The same order as the JSON API's (history included there, too).
    let api = s
        .get("/v1/users/U1/recommendations?k=3&exclude_seen=false", None)
        .json();
    let top: Vec<&str> = api["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    let sparql_top: Vec<&str> = rows[..3]
        .iter()
        .map(|b| b["p"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(top, sparql_top);

    let similar = format!(
        "{PREFIXES}SELECT ?p WHERE {{ ?p a schema:Product FILTER(kgr:similarity(<{P}P1>, ?p) > 0.999) }}"
    );
    let r = s.query(&similar, None).json();
    let found: Vec<&str> = r["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["p"]["value"].as_str().unwrap())
        .collect();
    assert!(found.contains(&format!("{P}P1").as_str()), "{found:?}");
    // Not an IRI, or unknown: unbound, not an error.
    let r = s.query(
        &format!("{PREFIXES}SELECT (kgr:score(\"U1\", <{P}P1>) AS ?s) (kgr:similarity(<urn:x>, <{P}P1>) AS ?t) WHERE {{}}"),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["results"]["bindings"][0]
        .as_object()
        .unwrap()
        .is_empty());
}

#[test]
fn an_ease_model_is_served_explained_and_scored_like_any_other() {
    let store = shop_trained(&["--model", "ease-kg"]);
    let s = Service::start(&store, &[]);
    let api = s
        .get("/v1/users/U6/recommendations?k=3&exclude_seen=false", None)
        .json();
    assert_eq!(api["model"]["name"], "ease-kg", "{api}");
    let top = item_iris(&api);
    assert_eq!(top.len(), 3, "{api}");
    // kgr:score ranks the catalogue in the same order as the JSON API.
    let by_score = format!(
        "{PREFIXES}SELECT ?p WHERE {{ ?p a schema:Product . BIND(kgr:score(<{U}U6>, ?p) AS ?score) \
         FILTER(BOUND(?score)) }} ORDER BY DESC(?score) LIMIT 3"
    );
    let rows = s.query(&by_score, None).json()["results"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["p"]["value"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(rows, top);
    // Explanations are real KG paths, and similar items come from the model's rows.
    let explained = s
        .get(
            &format!("/v1/explain?user=U6&item={}", encode(&top[0])),
            None,
        )
        .json();
    assert!(
        assert_paths_exist(&s, &explained["paths"]) > 0,
        "{explained}"
    );
    let similar = s.get("/v1/items/P1/similar?k=3", None);
    assert_eq!(similar.status, 200, "{}", similar.body);
    assert!(!item_iris(&similar.json()).contains(&format!("{P}P1")));
    // An event moves the next answer: EASE scores from the live history.
    let r = s.post(
        "/v1/events",
        "application/json",
        r#"{"user": "U6", "item": "P4", "kind": "purchase"}"#,
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let after = s
        .get("/v1/users/U6/recommendations?k=3&exclude_seen=false", None)
        .json();
    assert_ne!(api["items"], after["items"], "the scores did not move");
    // A user whose history holds nothing the model ranks gets the most popular products,
    // and kgr:score agrees.
    let r = s.post(
        "/v1/events",
        "application/json",
        &format!(r#"{{"user": "NEW1", "item": "{P}P999", "kind": "view"}}"#),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let fresh = s.get("/v1/users/NEW1/recommendations?k=1", None).json();
    let counts = s.query(
        "SELECT ?p (COUNT(DISTINCT ?u) AS ?n) WHERE { ?u <https://w3id.org/kgrec/ns#interactedWith> ?p } GROUP BY ?p ORDER BY DESC(?n) LIMIT 1",
        None,
    );
    let top = counts.json()["results"]["bindings"][0]["n"]["value"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap();
    assert_eq!(fresh["items"][0]["score"].as_f64().unwrap(), top, "{fresh}");
}

#[test]
fn recommendations_and_similar_items() {
    let store = shop_with_model();
    let s = Service::start(&store, &[]);
    let r = s.get("/v1/users/U1/recommendations?k=3", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["user"], format!("{U}U1"));
    assert_eq!(v["model"]["version"], 1);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    // U1 bought P1, P3 and P6: excluded by default.
    for i in items {
        let iri = i["item"].as_str().unwrap();
        assert!(
            ![1, 3, 6].iter().any(|n| iri == format!("{P}P{n}")),
            "{iri}"
        );
        assert!(i["score"].is_number());
    }
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // The full IRI, percent-encoded, names the same user.
    let by_iri = s
        .get(
            &format!(
                "/v1/users/{}/recommendations?k=3",
                encode(&format!("{U}U1"))
            ),
            None,
        )
        .json();
    assert_eq!(by_iri["items"], v["items"]);

    // Filters: brand by name, category by label or IRI; titles and brands are shown.
    let revlon = s
        .get("/v1/users/U1/recommendations?k=10&brand=revlon", None)
        .json();
    let items = revlon["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i["brand"] == "Revlon"), "{revlon}");
    let lips = s
        .get(
            "/v1/users/U2/recommendations?k=10&category=Lips&exclude_seen=false",
            None,
        )
        .json();
    let titles: Vec<&str> = lips["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{lips}");
    assert!(titles
        .iter()
        .all(|t| t.starts_with("Revlon Super Lustrous")));
    let cat = "https://w3id.org/kgrec/id/fixture/category/Lips";
    let by_iri = s
        .get(
            &format!(
                "/v1/users/U2/recommendations?k=10&exclude_seen=false&category={}",
                encode(cat)
            ),
            None,
        )
        .json();
    assert_eq!(by_iri["items"], lips["items"]);
    let seen = s
        .get("/v1/users/U1/recommendations?k=20&exclude_seen=false", None)
        .json();
    assert!(seen["items"].as_array().unwrap().len() > items.len());

    // Similar items.
    let r = s.get("/v1/items/P1/similar?k=4", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["item"], format!("{P}P1"));
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["item"] != format!("{P}P1")));
    assert!(items[0]["score"].as_f64().unwrap() <= 1.0001);

    // Errors.
    s.get("/v1/users/nobody/recommendations", None)
        .error(404, "not_found");
    s.get("/v1/items/P404/similar", None)
        .error(404, "not_found");
    s.get("/v1/users/U1/recommendations?k=0", None)
        .error(400, "bad_parameter");
    s.get("/v1/users/U1/recommendations?k=100000", None)
        .error(400, "bad_parameter");
    s.get("/v1/users/U1/recommendations?k=ten", None)
        .error(400, "bad_parameter");
    s.get("/v1/users/U1/recommendations?exclude_seen=maybe", None)
        .error(400, "bad_parameter");
    s.get("/v1/users/U1/recommendations?kk=3", None)
        .error(400, "bad_parameter");
    s.get("/v1/users/U1/recommendations?brand=Acme", None)
        .error(404, "not_found");
    s.get("/v1/users/U1/recommendations?category=Shoes", None)
        .error(404, "not_found");
    s.get("/v1/users/U1/recommendations?brand=", None)
        .error(400, "bad_parameter");
    // Identifiers are looked up, never spliced into a query.
    for hostile in [
        "U1> } ; DROP ALL ; #",
        "\" } UNION { ?s ?p ?o } #",
        "../../etc/passwd",
        "%00",
    ] {
        let r = s.get(
            &format!("/v1/users/{}/recommendations", encode(hostile)),
            None,
        );
        r.error(404, "not_found");
    }
    assert!(s.query("ASK { ?s ?p ?o }", None).json()["boolean"] == true);

    let (clean, stderr) = s.terminate();
    assert!(clean, "exit after SIGTERM: {stderr}");
    assert!(stderr.contains("kgrec stopped"), "{stderr}");
}

#[test]
fn without_a_model_sparql_works_and_v1_says_why_not() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let s = Service::start(&store, &[]);
    assert_eq!(s.query("ASK { ?s ?p ?o }", None).json()["boolean"], true);
    let msg = s
        .get("/v1/users/U1/recommendations", None)
        .error(503, "unavailable");
    assert!(msg.contains("kgrec train"), "{msg}");
    let health = s.get("/health", None).json();
    assert_eq!(health["status"], "ok");
    assert!(health["model"].is_null());
    // A store locked by the running service is refused with a clear error.
    let err = store.err(&["serve", "--addr", "127.0.0.1:0"]);
    assert!(err.contains("in use by another process"), "{err}");
}

/// Checks every edge of every path with an ASK query; returns the number of edges checked.
pub(crate) fn assert_paths_exist(s: &Service, paths: &serde_json::Value) -> usize {
    let mut checked = 0;
    for path in paths.as_array().expect("paths") {
        let steps = path["steps"].as_array().expect("steps");
        assert_eq!(path["hops"].as_u64().unwrap() as usize, steps.len() - 1);
        assert!(steps.len() <= 4, "{path}");
        for pair in steps.windows(2) {
            let a = pair[0]["entity"]["iri"].as_str().unwrap();
            let b = pair[1]["entity"]["iri"].as_str().unwrap();
            let rel = &pair[0]["relation"];
            let r = rel["iri"].as_str().unwrap();
            let (s_, o) = if rel["inverse"].as_bool().unwrap() {
                (b, a)
            } else {
                (a, b)
            };
            let ask = format!("ASK {{ <{s_}> <{r}> <{o}> }}");
            let reply = s.query(&ask, None);
            assert_eq!(reply.json()["boolean"], true, "{ask} is not in the KG");
            checked += 1;
        }
        assert!(steps.last().unwrap()["relation"].is_null());
    }
    checked
}

#[test]
fn explanations_are_true_paths_of_the_kg() {
    let store = shop_with_model();
    let s = Service::start(&store, &[]);
    // U1 bought P1 (OPI, Nails; also bought with P3), P3 (Essie, Nails) and P6 (Nivea).
    let r = s.get(
        &format!("/v1/explain?user=U1&item={}", encode(&format!("{P}P2"))),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["user"], format!("{U}U1"));
    assert_eq!(v["item"]["item"], format!("{P}P2"));
    assert_eq!(v["item"]["title"], "OPI Nail Lacquer - Big Apple Red");
    let paths = &v["paths"];
    assert!(!paths.as_array().unwrap().is_empty(), "{v}");
    assert!(assert_paths_exist(&s, paths) >= 2);
    let first = &paths[0]["steps"];
    assert_eq!(first[0]["entity"]["type"], "user");
    assert_eq!(first[1]["entity"]["type"], "product");
    // Different hubs: no entity in the middle of two paths.
    let middles: Vec<&str> = paths
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hops"] == 3)
        .map(|p| p["steps"][2]["entity"]["iri"].as_str().unwrap())
        .collect();
    let mut unique = middles.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), middles.len(), "{middles:?}");
    let scores: Vec<f64> = paths
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let sentence = v["sentence"].as_str().unwrap();
    assert!(sentence.starts_with("You bought "), "{sentence}");
    assert!(
        sentence.contains("OPI Nail Lacquer - Big Apple Red"),
        "{sentence}"
    );

    // explain=true on recommendations: every item carries its paths, all true.
    let recs = s
        .get("/v1/users/U4/recommendations?k=5&explain=true", None)
        .json();
    let mut edges = 0;
    for item in recs["items"].as_array().unwrap() {
        let e = &item["explanation"];
        assert!(e["paths"].is_array(), "{item}");
        edges += assert_paths_exist(&s, &e["paths"]);
    }
    assert!(edges > 0);
    let plain = s.get("/v1/users/U4/recommendations?k=5", None).json();
    assert!(plain["items"][0].get("explanation").is_none());

    // Errors.
    s.get("/v1/explain?user=U1", None)
        .error(400, "bad_parameter");
    s.get("/v1/explain?user=U1&item=P1&paths=0", None)
        .error(400, "bad_parameter");
    s.get("/v1/explain?user=nobody&item=P1", None)
        .error(404, "not_found");
    s.get("/v1/explain?user=U1&item=P404", None)
        .error(404, "not_found");
}

/// A product name that is HTML: pages must show it as text (tests/it/browser.rs).
pub(crate) const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";

/// The bundled default KG (real Beauty data) with a quick kgrec-no-text model registered,
/// trained once per test run; each test gets its own copy. One product of the first user's
/// history is renamed [`HOSTILE_NAME`]; that user's IRI is returned too.
pub(crate) fn bundled_with_model() -> (TempStore, String) {
    static TRAINED: std::sync::Mutex<Option<(TempStore, String)>> = std::sync::Mutex::new(None);
    let mut trained = TRAINED.lock().unwrap_or_else(|e| e.into_inner());
    if trained.is_none() {
        let store = TempStore::new();
        let file = repo().join("kg-data/amazon-beauty-sample.nq.gz");
        store.ok(&["load", file.to_str().unwrap()]);
        let first = store.select(
            "SELECT ?u ?p WHERE { ?u a <https://w3id.org/kgrec/ns#User> ; <https://w3id.org/kgrec/ns#interactedWith> ?p } ORDER BY ?u ?p LIMIT 1",
        );
        let (user, product) = (&first[0]["u"], &first[0]["p"]);
        store.ok(&[
            "update",
            &format!(
                "PREFIX schema: <http://schema.org/> DELETE {{ GRAPH ?g {{ <{product}> schema:name ?n }} }} INSERT {{ GRAPH ?g {{ <{product}> schema:name {HOSTILE_NAME:?} }} }} WHERE {{ GRAPH ?g {{ <{product}> schema:name ?n }} }}"
            ),
        ]);
        store.ok(&[
            "train",
            "--model",
            "kgrec-no-text",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--walks-per-node",
            "2",
            "--sg-epochs",
            "1",
        ]);
        let user = user.clone();
        *trained = Some((store, user));
    }
    let (template, id) = trained.as_ref().expect("trained");
    let copy = TempStore::new();
    copy_dir(template.dir.path(), copy.dir.path());
    (copy, id.clone())
}

/// On real Beauty data (the bundled sample): every recommendation of 40 users is explained,
/// by paths of at most 3 hops that avoid hubs or by what else moved its score, and every
/// edge of every path is in the KG.
#[test]
fn explanation_coverage_on_the_bundled_beauty_sample() {
    let (store, _) = bundled_with_model();
    let users = store.select(
        "SELECT DISTINCT ?u WHERE { ?u a <https://w3id.org/kgrec/ns#User> } ORDER BY ?u LIMIT 40",
    );
    assert_eq!(users.len(), 40);
    let s = Service::start(&store, &[]);
    let (mut recs, mut covered, mut edges) = (0, 0, 0);
    for u in &users {
        let path = format!(
            "/v1/users/{}/recommendations?k=10&explain=true",
            encode(&u["u"])
        );
        let v = s.get(&path, None).json();
        for item in v["items"].as_array().expect("items") {
            recs += 1;
            let e = &item["explanation"];
            let paths = &e["paths"];
            let has_paths = paths.as_array().is_some_and(|p| !p.is_empty());
            // Every recommendation is explained: by specific KG paths, or, when only a hub
            // joins it to the history, by what the model weighed or by similar customers.
            match e["basis"]["kind"].as_str() {
                Some("kg-path") => assert!(has_paths, "{e}"),
                Some("model-link") | Some("similar-customers") => assert!(!has_paths, "{e}"),
                other => panic!("basis {other:?}: {e}"),
            }
            assert!(e["sentence"].as_str().is_some_and(|t| !t.is_empty()), "{e}");
            if has_paths {
                covered += 1;
            }
            edges += assert_paths_exist(&s, paths);
        }
    }
    assert_eq!(recs, 400);
    let coverage = covered as f64 / recs as f64;
    eprintln!(
        "explained by a specific KG path {coverage:.4} ({covered}/{recs}), {edges} edges checked"
    );
    // The sample's 6,326 products are in a few large categories; most recommendations still
    // have a path more specific than those.
    assert!(coverage >= 0.5, "coverage {coverage}");
}

pub(crate) fn item_iris(v: &serde_json::Value) -> Vec<String> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_owned())
        .collect()
}

/// kill -9 while several clients post events: every event the service answered 201 for is in
/// the store when it opens again.
#[test]
fn events_answered_201_survive_kill_9() {
    let store = shop_with_model();
    let mut s = Service::start(&store, &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (base, agent, stop) = (s.base.clone(), s.agent.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let body = format!(
                        r#"[{{"user": "crash-{c}-{i}", "item": "P1"}}, {{"user": "crash-{c}-{i}", "item": "P2"}}]"#
                    );
                    let sent = agent
                        .post(format!("{base}/v1/events"))
                        .header("Content-Type", "application/json")
                        .send(&body);
                    match sent {
                        Ok(mut r) if r.status() == 201 => {
                            let v: serde_json::Value =
                                serde_json::from_str(&r.body_mut().read_to_string().unwrap())
                                    .unwrap();
                            acknowledged.push(v["users"][0].as_str().unwrap().to_owned());
                        }
                        Ok(r) => panic!("event refused: {}", r.status()),
                        // The service is gone.
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Let them get going, then kill the service with requests in flight.
    std::thread::sleep(Duration::from_millis(700));
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("wait");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert!(
        acknowledged.len() > 10,
        "only {} events",
        acknowledged.len()
    );
    let values: Vec<String> = acknowledged.iter().map(|u| format!("<{u}>")).collect();
    let q = format!(
        "SELECT (COUNT(DISTINCT ?u) AS ?n) WHERE {{ VALUES ?u {{ {} }} ?e <https://w3id.org/kgrec/ns#user> ?u }}",
        values.join(" ")
    );
    let found: usize = store.select(&q)[0]["n"].parse().unwrap();
    assert_eq!(found, acknowledged.len());
}

#[test]
fn live_events_change_the_next_answer_and_survive_a_restart() {
    let store = shop_with_model();
    let s = Service::start(&store, &["--max-body", "20000"]);
    let interactions =
        "SELECT (COUNT(*) AS ?n) WHERE { ?e a <https://w3id.org/kgrec/ns#Interaction> }";
    let count = |s: &Service| -> u64 {
        s.query(interactions, None).json()["results"]["bindings"][0]["n"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = count(&s);
    assert_eq!(before, 21);

    // U6 (P3, P1) buys P4: the next answer excludes it and is scored from the new history.
    let history = |s: &Service| -> Vec<String> {
        let v = s.get("/v1/users/U6/history", None).json();
        assert_eq!(v["user"], format!("{U}U6"));
        item_iris(&v)
    };
    assert_eq!(history(&s), [format!("{P}P3"), format!("{P}P1")]);
    let old = s
        .get("/v1/users/U6/recommendations?k=20&exclude_seen=false", None)
        .json();
    let r = s.post(
        "/v1/events",
        "application/json",
        r#"{"user": "U6", "item": "P4", "kind": "purchase", "time": "2026-11-29T10:00:00Z"}"#,
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["recorded"], 1);
    let new = s
        .get("/v1/users/U6/recommendations?k=20&exclude_seen=false", None)
        .json();
    assert_ne!(old["items"], new["items"], "the scores did not move");
    let unseen = item_iris(&s.get("/v1/users/U6/recommendations?k=20", None).json());
    assert!(!unseen.contains(&format!("{P}P4")), "{unseen:?}");
    assert_eq!(
        history(&s),
        [format!("{P}P3"), format!("{P}P1"), format!("{P}P4")],
        "the history ends with the new event"
    );

    // A new user and a new product, in one batch.
    s.get("/v1/users/alice/recommendations", None)
        .error(404, "not_found");
    let r = s.post(
        "/v1/events",
        "application/json",
        r#"{"events": [
            {"user": "alice", "item": "P1", "kind": "view", "time": 1764400000},
            {"user": "alice", "item": "https://example.org/product/new-1", "rating": 4.5, "kind": "rating"}
        ]}"#,
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let alice = r.json()["users"][0].as_str().unwrap().to_owned();
    assert_eq!(alice, "https://w3id.org/kgrec/id/events/user/alice");
    let recs = s.get("/v1/users/alice/recommendations?k=5", None).json();
    assert_eq!(item_iris(&recs).len(), 5);
    assert!(!item_iris(&recs).contains(&format!("{P}P1")));
    let ask = format!(
        "ASK {{ ?e <https://w3id.org/kgrec/ns#user> <{alice}> ; <https://w3id.org/kgrec/ns#item> <https://example.org/product/new-1> ; <https://w3id.org/kgrec/ns#rating> ?r }}"
    );
    assert_eq!(s.query(&ask, None).json()["boolean"], true);
    assert_eq!(count(&s), before + 3);

    // Bad input is refused whole: nothing of the batch is written.
    for (body, status, code) in [
        (
            r#"[{"user": "U1", "item": "P1"}, {"user": "U1", "item": "P1", "kind": "stare"}]"#,
            400,
            "bad_body",
        ),
        (
            r#"[{"user": "U1", "item": "P1"}, {"user": "U1", "item": "no-such-item"}]"#,
            404,
            "not_found",
        ),
        (
            r#"[{"user": "U1", "item": "P1", "time": "yesterday"}]"#,
            400,
            "bad_body",
        ),
        (r#"{"user": "U1"}"#, 400, "bad_body"),
        ("[]", 400, "bad_body"),
        ("{not json", 400, "bad_body"),
    ] {
        s.post("/v1/events", "application/json", body, &[])
            .error(status, code);
    }
    s.post("/v1/events", "text/plain", "{}", &[])
        .error(415, "unsupported_media_type");
    let big = format!("[{}]", vec![r#"{"user":"U1","item":"P1"}"#; 2000].join(","));
    s.post("/v1/events", "application/json", &big, &[])
        .error(413, "payload_too_large");
    assert_eq!(count(&s), before + 3);

    // After a restart the events are still there, and alice is still known.
    drop(s);
    let s = Service::start(&store, &[]);
    assert_eq!(count(&s), before + 3);
    let again = s.get("/v1/users/alice/recommendations?k=5", None).json();
    assert_eq!(item_iris(&again), item_iris(&recs));
}

#[test]
fn forgetting_a_user_leaves_no_trace() {
    let store = shop_with_model();
    let u1 = format!("{U}U1");
    let models = store.dir.path().join("models");
    assert!(std::fs::read_to_string(models.join("v1/users.txt"))
        .unwrap()
        .contains(&u1));
    let s = Service::start(&store, &[]);
    let r = s.post(
        "/v1/events",
        "application/json",
        r#"[{"user": "U1", "item": "P5"}, {"user": "U2", "item": "P5"}]"#,
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.delete("/v1/users/U1");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["user"], u1);
    assert_eq!(v["removed"]["model_versions"], 1);
    assert!(v["removed"]["store_quads"].as_u64().unwrap() > 10);

    s.get("/v1/users/U1/recommendations", None)
        .error(404, "not_found");
    s.delete("/v1/users/U1").error(404, "not_found");
    let anywhere = format!(
        "ASK {{ {{ <{u1}> ?p ?o }} UNION {{ ?s ?p <{u1}> }} UNION {{ GRAPH ?g {{ {{ <{u1}> ?p ?o }} UNION {{ ?s ?p <{u1}> }} }} }} }}"
    );
    assert_eq!(s.query(&anywhere, None).json()["boolean"], false);
    // Others are untouched: U2 keeps their history and their new event.
    assert_eq!(
        s.query(
            &format!("ASK {{ <{U}U2> <https://w3id.org/kgrec/ns#interactedWith> <{P}P5> }}"),
            None
        )
        .json()["boolean"],
        true
    );
    assert_eq!(s.get("/v1/users/U2/recommendations", None).status, 200);
    let (clean, _) = s.terminate();
    assert!(clean);

    // The model files: no line names U1, and their vector row is zero.
    let users = std::fs::read_to_string(models.join("v1/users.txt")).unwrap();
    assert!(!users.contains(&u1), "{users}");
    let row = users
        .lines()
        .position(str::is_empty)
        .expect("the blanked row");
    let tensors = candle_core::safetensors::load(
        models.join("v1/user_vectors.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let vectors = tensors["user_vectors"].to_vec2::<f32>().unwrap();
    assert!(vectors[row].iter().all(|&x| x == 0.0));
    assert!(
        vectors
            .iter()
            .filter(|r| r.iter().all(|&x| x == 0.0))
            .count()
            == 1
    );
    // The registry's id maps no longer know them.
    let registry = kgrec::registry::ModelRegistry::open(&models).unwrap();
    assert!(!registry
        .iris(1, kgrec::registry::RowKind::User)
        .unwrap()
        .contains(&u1));
    // And after a restart, the service does not know them either.
    drop(registry);
    let s = Service::start(&store, &[]);
    s.get("/v1/users/U1/recommendations", None)
        .error(404, "not_found");
}

#[test]
fn search_by_meaning_with_filters_and_a_user() {
    let Some((store, model_dir)) = shop_with_text_model() else {
        return;
    };
    let s = Service::start(&store, &["--model-dir", &model_dir]);
    let top = |path: &str| -> Vec<String> {
        let r = s.get(path, None);
        assert_eq!(r.status, 200, "{}", r.body);
        item_iris(&r.json())
    };
    let red = top("/v1/search?q=red%20nail%20polish&k=2");
    let mut red_sorted = red.clone();
    red_sorted.sort();
    assert_eq!(red_sorted, [format!("{P}P1"), format!("{P}P2")], "{red:?}");
    let cream = top("/v1/search?q=hand%20cream&k=1");
    assert_eq!(cream, [format!("{P}P8")]);
    let revlon = top("/v1/search?q=lipstick&k=3&brand=Revlon");
    assert_eq!(
        revlon[0..2]
            .iter()
            .filter(|i| i.ends_with("P4") || i.ends_with("P5"))
            .count(),
        2,
        "{revlon:?}"
    );
    let personal = s.get("/v1/search?q=nail%20polish&k=3&user=U5", None).json();
    assert_eq!(personal["user"], format!("{U}U5"));
    assert_eq!(item_iris(&personal).len(), 3);

    s.get("/v1/search", None).error(400, "bad_parameter");
    s.get("/v1/search?q=%20%20", None)
        .error(400, "bad_parameter");
    s.get("/v1/search?q=cream&user=nobody", None)
        .error(404, "not_found");
    s.get("/v1/search?q=cream&k=-1", None)
        .error(400, "bad_parameter");
    drop(s);

    // A model without text cannot search, and says so.
    let plain = shop_with_model();
    let s = Service::start(&plain, &[]);
    let msg = s.get("/v1/search?q=cream", None).error(503, "unavailable");
    assert!(msg.contains("no product text"), "{msg}");
}

/// Validates `value` with the `jsonschema` crate against `schema`, an OpenAPI 3.1 schema (JSON
/// Schema 2020-12) whose `$ref`s point into `doc`'s components. Returns what does not match.
fn schema_errors(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    doc: &serde_json::Value,
) -> Vec<String> {
    // `#/components/schemas/…` resolves against the root: give the root the components.
    let mut root = serde_json::json!({ "allOf": [schema] });
    root["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}"));
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_documented_operation_answers_as_documented() {
    let store = shop_with_model();
    // Findings to list, so that /v1/quality/issues answers with some.
    store.ok(&["check", "--only", "shapes,text"]);
    let s = Service::start(&store, &["--update-token", TOKEN]);
    let doc = s.get("/openapi.json", None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let bearer = format!("Bearer {TOKEN}");
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            // Path parameters from their examples, required query parameters filled in.
            let mut url = path.clone();
            let mut query = Vec::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    url = url.replace(&format!("{{{name}}}"), p["example"].as_str().unwrap());
                } else if p["required"] == true {
                    let v = match name {
                        "query" => "ASK {}",
                        "user" => "U1",
                        "item" => "P2",
                        "q" => "cream",
                        other => panic!("no value for {other}"),
                    };
                    query.push(format!("{name}={}", encode(v)));
                }
            }
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            let reply = match method.as_str() {
                "get" => s.get(&url, None),
                "delete" => s.delete(&url),
                "post" if path == "/sparql" => s.post(
                    &url,
                    "application/sparql-update",
                    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
                    &[("Authorization", bearer.as_str())],
                ),
                "post" => s.post(
                    &url,
                    "application/json",
                    r#"{"user": "U1", "item": "P1"}"#,
                    &[("Authorization", bearer.as_str())],
                ),
                other => panic!("undocumented method {other}"),
            };
            let responses = &op["responses"];
            let documented = &responses[reply.status.to_string()];
            assert!(
                documented.is_object(),
                "{method} {url} answered {} which {path} does not document: {}",
                reply.status,
                reply.body
            );
            if let Some(content) = documented["content"].as_object() {
                let media = reply.content_type.split(';').next().unwrap().trim();
                let schema = &content
                    .get(media)
                    .unwrap_or_else(|| panic!("{method} {url}: {media} not documented"))["schema"];
                if media.ends_with("json") {
                    let errors = schema_errors(&reply.json(), schema, &doc);
                    assert!(errors.is_empty(), "{method} {url}: {errors:?}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 21);
    // Documented errors hold their schema too.
    let r = s.get("/v1/users/nobody/recommendations", None);
    let errors = schema_errors(
        &r.json(),
        &serde_json::json!({"$ref": "#/components/schemas/Error"}),
        &doc,
    );
    assert!(errors.is_empty(), "{errors:?}");
    // And the validator does catch a body that does not match.
    let errors = schema_errors(
        &serde_json::json!({"error": {"code": 3}}),
        &serde_json::json!({"$ref": "#/components/schemas/Error"}),
        &doc,
    );
    assert!(!errors.is_empty(), "a wrong body passed");
    // /metrics counts by route pattern, not by raw path.
    let metrics = s.get("/metrics", None).body;
    assert!(metrics.contains(
        "kgrec_http_requests_total{method=\"GET\",route=\"/v1/users/{id}/recommendations\",status=\"404\"} 1"
    ), "{metrics}");
    assert!(metrics.contains("kgrec_model_version 1"));
    assert!(metrics.contains("kgrec_process_resident_memory_bytes"));
}

/// SPARQLWrapper and rdflib (installed by scripts/test.sh into its venv; `KGREC_PYTHON`
/// names that Python) work against /sparql unchanged.
#[test]
fn a_real_sparql_client_works_unchanged() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let store = shop_with_model();
    let s = Service::start(&store, &["--update-token", TOKEN]);
    let out = Command::new(&python)
        .arg(repo().join("tests/clients/sparqlwrapper_check.py"))
        .arg(format!("{}/sparql", s.base))
        .arg(TOKEN)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'SPARQLWrapper'"),
        "SPARQLWrapper is missing: run the tests with scripts/test.sh, which installs it, or set KGREC_PYTHON"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("update ok"), "{stdout}");
}

#[test]
fn saved_queries_call_the_model_from_the_command_line() {
    let store = shop_with_model();
    let picks = store.saved("top-picks-for-user", &[("user", &format!("<{U}U1>"))]);
    let products: Vec<&str> = picks.iter().map(|r| r["product"].as_str()).collect();
    assert!(products.len() >= 5, "{picks:?}");
    for seen in ["P1", "P3", "P6"] {
        assert!(
            !products.contains(&format!("{P}{seen}").as_str()),
            "{products:?}"
        );
    }
    let scores: Vec<f64> = picks.iter().map(|r| r["score"].parse().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let similar = store.saved("similar-products", &[("product", &format!("<{P}P1>"))]);
    assert!(similar.iter().all(|r| r["other"] != format!("{P}P1")));
    assert!(similar
        .iter()
        .all(|r| r["linked"] == "true" || r["linked"] == "false"));

    // The same order as the JSON API's.
    let s = Service::start(&store, &[]);
    let api = item_iris(&s.get("/v1/users/U1/recommendations?k=3", None).json());
    assert_eq!(api, products[..3].to_vec());
    let api = item_iris(&s.get("/v1/items/P1/similar?k=3", None).json());
    let first: Vec<&str> = similar[..3].iter().map(|r| r["other"].as_str()).collect();
    assert_eq!(api, first);
    drop(s);

    // Without a registered model the query says what to do.
    let bare = TempStore::new();
    bare.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let err = bare.err(&[
        "query",
        "--saved",
        "top-picks-for-user",
        "--param",
        &format!("user=<{U}U1>"),
    ]);
    assert!(err.contains("kgrec train"), "{err}");
}

/// schemathesis (installed by scripts/test.sh) generates requests from /openapi.json and
/// checks every answer: no server error, statuses, content types and bodies as documented,
/// schema-valid requests accepted and invalid ones refused.
#[test]
fn schemathesis_finds_nothing() {
    let Some(python) = crate::common::test_python() else {
        return;
    };
    let st = std::path::Path::new(&python).with_file_name("st");
    assert!(
        st.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which installs schemathesis",
        st.display()
    );
    let Some((store, model_dir)) = shop_with_text_model() else {
        return;
    };
    let s = Service::start(
        &store,
        &[
            "--model-dir",
            &model_dir,
            "--update-token",
            TOKEN,
            "--query-timeout",
            "5",
        ],
    );
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(repo().join("tests/clients/schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", s.base)])
        .args([
            "--max-examples",
            "50",
            "--seed",
            "1",
            "--request-timeout",
            "20",
        ])
        .env("NO_COLOR", "1")
        .current_dir(store.dir.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}

#[test]
fn a_new_product_is_placed_from_its_text() {
    let Some((store, model_dir)) = shop_with_text_model() else {
        return;
    };
    // A product added to the catalogue after training.
    store.ok(&[
        "update",
        &format!(
            "PREFIX schema: <http://schema.org/> INSERT DATA {{ GRAPH <https://w3id.org/kgrec/graph/fixture/catalogue> {{ \
             <{P}P20> a schema:Product ; schema:name \"OPI Nail Lacquer, Coral Sunset Orange\" ; \
             schema:brand <https://w3id.org/kgrec/id/fixture/brand/OPI> ; \
             schema:category <https://w3id.org/kgrec/id/fixture/category/Nails> }} }}"
        ),
    ]);
    let s = Service::start(&store, &["--model-dir", &model_dir]);
    s.get("/v1/items/P20/similar", None).error(404, "not_found");
    let r = s.post(
        "/v1/events",
        "application/json",
        &format!(r#"{{"user": "U5", "item": "{P}P20"}}"#),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["new_items"][0], format!("{P}P20"));

    // Now it is ranked: similar items, search, kgr:score, the user's answers.
    let similar = s.get("/v1/items/P20/similar?k=3", None);
    assert_eq!(similar.status, 200, "{}", similar.body);
    assert_eq!(item_iris(&similar.json()).len(), 3);
    let found = item_iris(
        &s.get("/v1/search?q=coral%20orange%20nail%20lacquer&k=1", None)
            .json(),
    );
    assert_eq!(found, [format!("{P}P20")]);
    let score = s.query(
        &format!("PREFIX kgr: <https://w3id.org/kgrec/ns#> SELECT (kgr:score(<{U}U1>, <{P}P20>) AS ?s) WHERE {{}}"),
        None,
    );
    assert!(
        score.json()["results"]["bindings"][0]["s"]["value"].is_string(),
        "{}",
        score.body
    );
    let all = item_iris(&s.get("/v1/users/U1/recommendations?k=50", None).json());
    assert!(all.contains(&format!("{P}P20")), "{all:?}");
    // U5 bought it: it leaves their recommendations, and their answer still comes.
    let u5 = item_iris(&s.get("/v1/users/U5/recommendations?k=50", None).json());
    assert!(!u5.contains(&format!("{P}P20")), "{u5:?}");
    let e = s.get(
        &format!("/v1/explain?user=U1&item={}", encode(&format!("{P}P20"))),
        None,
    );
    assert_eq!(e.status, 200, "{}", e.body);
}

/// `/v1/quality` sums up what `kgrec check` recorded; `/v1/quality/issues` pages through it,
/// filtered, every finding once.
#[test]
fn quality_routes_sum_up_filter_and_page_the_findings() {
    let store = TempStore::new();
    store.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    store.ok(&["check", "--only", "shapes,text,outliers,behaviour"]);
    let total =
        store.count("GRAPH <https://w3id.org/kgrec/graph/quality> { ?i a kgr:QualityIssue }");
    assert!(total >= 4, "{total}");
    let s = Service::start(&store, &[]);
    let summary = s.get("/v1/quality", None).json();
    assert_eq!(summary["total"], total, "{summary}");
    assert_eq!(summary["runs"].as_array().unwrap().len(), 4, "{summary}");
    assert!(summary["counts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "shape-violation" && c["severity"] == "error"));
    // Two at a time, following the cursor: every finding once, most severe first.
    let mut seen = Vec::new();
    let mut severities = Vec::new();
    let mut url = "/v1/quality/issues?limit=2".to_owned();
    loop {
        let page = s.get(&url, None).json();
        for issue in page["issues"].as_array().unwrap() {
            seen.push(issue["iri"].as_str().unwrap().to_owned());
            severities.push(issue["severity"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/quality/issues?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a finding on two pages");
    let rank = |s: &str| match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    assert!(
        severities.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "{severities:?}"
    );
    // Filters.
    let shapes = s
        .get("/v1/quality/issues?kind=shapes&limit=1000", None)
        .json();
    assert!(shapes["issues"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["kind"] == "shape-violation"));
    let errors = s.get("/v1/quality/issues?severity=error", None).json();
    assert!(!errors["issues"].as_array().unwrap().is_empty());
    assert!(errors["issues"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["severity"] == "error"));
    let p11 = "https://w3id.org/kgrec/id/fixture/product/P11";
    let about = s
        .get(&format!("/v1/quality/issues?focus={}", encode(p11)), None)
        .json();
    let about = about["issues"].as_array().unwrap();
    assert!(!about.is_empty());
    assert!(about.iter().all(|i| i["focus"] == p11));
    for bad in [
        "kind=bots",
        "severity=fatal",
        "limit=0",
        "limit=5000",
        "cursor=abc",
        "colour=red",
    ] {
        let r = s.get(&format!("/v1/quality/issues?{bad}"), None);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
}

#[test]
fn an_item_card_has_its_price_and_its_category_path_root_first() {
    let store = shop_with_model();
    let s = Service::start(&store, &[]);
    // P1: Nails, Makeup and Beauty (Nails › Makeup › Beauty up the tree), offered at 10.5 USD.
    let v = s.get("/v1/items/P1", None).json();
    assert_eq!(v["item"], format!("{P}P1"));
    assert_eq!(v["price"], "10.5");
    assert_eq!(v["currency"], "USD");
    let labels: Vec<&str> = v["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Beauty", "Makeup", "Nails"]);
    assert_eq!(v["category_path"], true);
    s.get("/v1/items/P404", None).error(404, "not_found");
}
