//! A remote SPARQL 1.1 service as the store: Virtuoso (Debian's `virtuoso-opensource`) and
//! oxigraph's own server (PyPI's `oxigraph`, in the test venv), both installed by
//! scripts/test.sh and started here on free ports. The same commands run against each and
//! against a local store, and must answer the same.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kgrec::kg::{KgStore, LoadCommit, QueryOutcome, RemoteEndpoints, RemoteStore};
use oxigraph::model::{GraphName, NamedNode, Quad};

use crate::common::*;
use crate::serve::{assert_paths_exist, copy_dir, encode, shop_with_model, Service};

/// The SPARQL services the tests start: oxigraph's server (PyPI) and Virtuoso (Debian).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Engine {
    Oxigraph,
    Virtuoso,
}

/// A SPARQL service on free local ports, in a temporary directory; stopped when dropped.
pub(crate) struct SparqlServer {
    child: Child,
    pub(crate) spec: String,
    _dir: tempfile::TempDir,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl SparqlServer {
    /// Starts the engine, or `None` (skipped) where it is not installed and the run is not
    /// scripts/test.sh's, which installs both.
    pub(crate) fn start(engine: Engine) -> Option<Self> {
        Self::start_with(engine, &[])
    }

    /// Starts the engine with Virtuoso's `settings`: each replaces the line of its name in
    /// Debian's `virtuoso.ini`, or is added to its `[Parameters]` section.
    pub(crate) fn start_with(engine: Engine, settings: &[(&str, &str)]) -> Option<Self> {
        let set = |ini: String| {
            settings.iter().fold(ini, |ini, (key, value)| {
                let mut found = false;
                let mut lines: Vec<String> = ini
                    .lines()
                    .map(|l| match l.split_once('=') {
                        Some((k, _)) if k.trim() == *key => {
                            found = true;
                            format!("{key} = {value}")
                        }
                        _ => l.to_owned(),
                    })
                    .collect();
                if !found {
                    let at = lines.iter().position(|l| l.trim() == "[Parameters]");
                    let at = at.expect("virtuoso.ini has [Parameters]");
                    lines.insert(at + 1, format!("{key} = {value}"));
                }
                lines.join("\n")
            })
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut command, port, spec, sql_port) = match engine {
            Engine::Oxigraph => {
                let python = test_python()?;
                let binary = Path::new(&python).with_file_name("oxigraph");
                if !binary.exists() {
                    return skip(&format!(
                        "needs oxigraph's server at {} (scripts/test.sh installs it)",
                        binary.display()
                    ));
                }
                let port = free_port();
                let mut c = Command::new(&binary);
                c.args(["serve", "--location"])
                    .arg(dir.path())
                    .args(["--bind", &format!("127.0.0.1:{port}")]);
                let base = format!("http://127.0.0.1:{port}");
                let spec = format!("query={base}/query,update={base}/update,gsp={base}/store");
                (c, port, spec, None)
            }
            Engine::Virtuoso => {
                let template = Path::new("/etc/virtuoso-opensource-7/virtuoso.ini");
                if !template.exists() {
                    return skip("needs Virtuoso (Debian's virtuoso-opensource; scripts/test.sh installs it)");
                }
                let (sql, http) = (free_port(), free_port());
                let ini = set(std::fs::read_to_string(template).expect("virtuoso.ini"))
                    .replace(
                        "/var/lib/virtuoso-opensource-7/db/",
                        &format!("{}/", dir.path().display()),
                    )
                    .replace("= 1111", &format!("= {sql}"))
                    .replace("= 8890", &format!("= {http}"));
                let ini_path = dir.path().join("virtuoso.ini");
                std::fs::write(&ini_path, ini).expect("write virtuoso.ini");
                let mut c = Command::new("virtuoso-t");
                c.args(["+foreground", "+configfile"]).arg(&ini_path);
                let base = format!("http://127.0.0.1:{http}");
                let spec = format!("query={base}/sparql,gsp={base}/sparql-graph-crud");
                (c, http, spec, Some(sql))
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {engine:?}: {e}"));
        let server = Self {
            child,
            spec,
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err()
            || RemoteStore::connect(server.endpoints(), None).is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{engine:?} did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(sql) = sql_port {
            // Virtuoso's anonymous SPARQL user may only read until it is granted updates.
            let out = Command::new("isql-vt")
                .arg(sql.to_string())
                .args(["dba", "dba", "exec=grant SPARQL_UPDATE to \"SPARQL\";"])
                .output()
                .expect("run isql-vt");
            assert!(
                out.status.success(),
                "isql-vt: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(server)
    }

    fn endpoints(&self) -> RemoteEndpoints {
        RemoteEndpoints::parse(&self.spec)
            .expect("spec")
            .expect("remote")
    }

    /// Runs `kgrec --store <this service> ARGS…`.
    fn run(&self, args: &[&str]) -> Output {
        run_in(Path::new(&self.spec), args)
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kgrec {args:?} against {} failed: {}",
            self.spec,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for SparqlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query's rows, order-free, for comparing two stores' answers.
fn rows(json: &str) -> BTreeSet<String> {
    parse_sparql_json(json)
        .into_iter()
        .map(|r| {
            let mut cells: Vec<_> = r.into_iter().collect();
            cells.sort();
            format!("{cells:?}")
        })
        .collect()
}

/// An export's lines, less the import records' times: the two stores were loaded a moment
/// apart, sometimes across a second's boundary.
fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.contains("<https://w3id.org/kgrec/ns#importedAt>"))
        .map(str::to_owned)
        .collect()
}

fn staging_graphs(server: &SparqlServer) -> usize {
    let json = server.ok(&[
        "query",
        "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), \"urn:kgrec:staging:\")) }",
        "--format",
        "json",
    ]);
    parse_sparql_json(&json).len()
}

#[test]
fn commands_answer_against_oxigraphs_server_as_against_the_local_store() {
    commands_answer_as_against_the_local_store(Engine::Oxigraph);
}

#[test]
fn commands_answer_against_virtuoso_as_against_the_local_store() {
    commands_answer_as_against_the_local_store(Engine::Virtuoso);
}

fn commands_answer_as_against_the_local_store(engine: Engine) {
    let Some(server) = SparqlServer::start(engine) else {
        return;
    };
    let local = TempStore::new();
    let shop = fixture("shop.trig");
    let shop = shop.to_str().expect("utf-8 path");
    local.ok(&["load", shop]);
    server.ok(&["load", shop]);

    let quads = |stats: &str| {
        stats
            .lines()
            .find(|l| l.starts_with("quads:"))
            .map(str::to_owned)
            .expect("stats names the quad count")
    };
    let remote_stats = server.ok(&["stats"]);
    assert_eq!(quads(&remote_stats), quads(&local.ok(&["stats"])));
    assert!(
        remote_stats.contains("SPARQL service at http://127.0.0.1"),
        "{remote_stats}"
    );

    // Every saved query that runs on the local store gives the same rows remotely.
    let mut compared = 0;
    for entry in std::fs::read_dir(repo().join("queries")).expect("queries/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let args = ["query", "--saved", name.as_str(), "--format", "json"];
        let here = local.run(&args);
        if !here.status.success() {
            continue; // needs a parameter
        }
        let there = server.ok(&args);
        assert_eq!(
            rows(&String::from_utf8_lossy(&here.stdout)),
            rows(&there),
            "saved query {name}"
        );
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} saved queries ran");

    // Exports hold the same quads.
    let export = ["export", "--format", "nquads"];
    assert_eq!(lines(&server.ok(&export)), lines(&local.ok(&export)));

    // A load that fails half-way leaves the remote graphs as they were, and no staging graph.
    let before = quads(&server.ok(&["stats"]));
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.nq");
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!(
            "<http://example.com/s{i}> <http://example.com/p> \"{i}\" <https://w3id.org/kgrec/graph/extra> .\n"
        ));
    }
    text.push_str("<http://example.com/broken> <http://example.com/p> .\n");
    std::fs::write(&bad, text).expect("write");
    let out = server.run(&["load", bad.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "a malformed file loaded");
    assert_eq!(quads(&server.ok(&["stats"])), before);
    assert_eq!(staging_graphs(&server), 0);

    // Updates go to the service; SPARQL errors are kgrec's own words before they travel.
    let insert = "INSERT DATA { GRAPH <https://w3id.org/kgrec/graph/extra> { <http://example.com/a> <http://example.com/b> <http://example.com/c> } }";
    local.ok(&["update", insert]);
    server.ok(&["update", insert]);
    assert_eq!(quads(&server.ok(&["stats"])), quads(&local.ok(&["stats"])));
    let out = server.run(&["query", "SELEC ?x WHERE { ?x ?y ?z }"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SPARQL syntax error"));
}

#[test]
fn evaluation_reads_the_same_data_from_oxigraphs_server_and_scores_the_same() {
    evaluation_reads_the_same_data_and_scores_the_same(Engine::Oxigraph);
}

#[test]
fn evaluation_reads_the_same_data_from_virtuoso_and_scores_the_same() {
    evaluation_reads_the_same_data_and_scores_the_same(Engine::Virtuoso);
}

fn evaluation_reads_the_same_data_and_scores_the_same(engine: Engine) {
    let Some(server) = SparqlServer::start(engine) else {
        return;
    };
    let local = TempStore::new();
    let sample = repo().join("kg-data/amazon-beauty-sample.nq.gz");
    let sample = sample.to_str().expect("utf-8 path");
    local.ok(&["load", sample]);
    server.ok(&["load", sample]);
    let args = [
        "eval",
        "--protocol",
        "loo",
        "--models",
        "popularity,item-knn,walk-knn",
        "--walks-per-node",
        "2",
        "--sg-epochs",
        "1",
        "--format",
        "json",
    ];
    let figures = |json: &str| {
        let doc: serde_json::Value = serde_json::from_str(json).expect("json report");
        doc["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|m| (m["model"].clone(), m["test"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&server.ok(&args)), figures(&local.ok(&args)));
}

/// Quads in two graphs, enough to cross the small pages and batches the library test sets.
fn quads(n: usize) -> Vec<Quad> {
    (0..n)
        .map(|i| {
            let g = NamedNode::new_unchecked(format!("http://example.com/g{}", i % 2));
            Quad::new(
                NamedNode::new_unchecked(format!("http://example.com/s{i}")),
                NamedNode::new_unchecked("http://example.com/p"),
                oxigraph::model::Literal::from(i as i64),
                GraphName::NamedNode(g),
            )
        })
        .collect()
}

fn count(store: &KgStore, graph: &str) -> usize {
    let mut n = 0;
    store
        .for_each_quad_in_graph(&NamedNode::new_unchecked(graph), |_| n += 1)
        .expect("read");
    n
}

#[test]
fn pages_batches_staging_and_forgetting_on_oxigraphs_server() {
    pages_batches_staging_and_forgetting(Engine::Oxigraph);
}

#[test]
fn pages_batches_staging_and_forgetting_on_virtuoso() {
    pages_batches_staging_and_forgetting(Engine::Virtuoso);
}

fn pages_batches_staging_and_forgetting(engine: Engine) {
    let Some(server) = SparqlServer::start(engine) else {
        return;
    };
    // Pages of 7 rows and batches of 5 triples, so that 23 quads cross both many times.
    let remote = RemoteStore::connect(server.endpoints(), None)
        .expect("connect")
        .with_sizes(7, 5);
    let store = KgStore::connect(remote);
    let all = quads(23);
    assert_eq!(
        store
            .bulk_load(all.iter().cloned().map(Ok::<_, String>), None)
            .expect("load"),
        23
    );
    assert_eq!(store.len().expect("len"), 23);
    assert_eq!(count(&store, "http://example.com/g0"), 12);
    let mut seen = Vec::new();
    store
        .for_each_quad(|q| seen.push(q.into_owned()))
        .expect("all");
    seen.sort_by_key(ToString::to_string);
    let mut expected = all.clone();
    expected.sort_by_key(ToString::to_string);
    assert_eq!(seen, expected, "every quad once, none twice");
    // Without a Graph Store endpoint, graphs are read page by page and written with
    // INSERT DATA.
    let plain = RemoteEndpoints {
        graph_store: None,
        ..server.endpoints()
    };
    let plain = KgStore::connect(
        RemoteStore::connect(plain, None)
            .expect("connect")
            .with_sizes(7, 5),
    );
    assert_eq!(count(&plain, "http://example.com/g0"), 12);
    let more: Vec<Quad> = quads(40).into_iter().skip(23).collect();
    plain
        .bulk_load(more.into_iter().map(Ok::<_, String>), None)
        .expect("load without GSP");
    assert_eq!(count(&plain, "http://example.com/g1"), 20);
    assert_eq!(count(&store, "http://example.com/g1"), 20);
    plain.remove_quads(&quads(40)[23..]).expect("remove");
    assert_eq!(store.len().expect("len"), 23);
    let mut values = Vec::new();
    store
        .for_each_solution(
            "SELECT ?o ?s WHERE { ?s <http://example.com/p> ?o } ORDER BY ?s",
            |r| values.push(r.to_vec()),
        )
        .expect("rows");
    assert_eq!(values.len(), 23);
    // The graphs a union query lists are read again after this process writes: Virtuoso's
    // list, which is read off its quads, is reused otherwise.
    let union_rows = |s: &KgStore| {
        let mut n = 0;
        s.for_each_solution("SELECT ?s WHERE { ?s <http://example.com/p> ?o }", |_| {
            n += 1
        })
        .expect("rows");
        n
    };
    store
        .update("INSERT DATA { GRAPH <http://example.com/g9> { <http://example.com/s9> <http://example.com/p> 9 } }")
        .expect("insert");
    assert_eq!(union_rows(&store), 24, "a graph this process made");
    store
        .update("CLEAR GRAPH <http://example.com/g9> ; DROP SILENT GRAPH <http://example.com/g9>")
        .expect("drop");
    assert_eq!(union_rows(&store), 23, "a graph this process dropped");

    // A query that calls a function of kgrec's own is split: the service answers the graph
    // pattern, kgrec the call and the filter over it.
    let double = NamedNode::new_unchecked("http://example.com/double");
    let f: kgrec::kg::ExtensionFunction =
        std::sync::Arc::new(|args: &[oxigraph::model::Term]| match args.first() {
            Some(oxigraph::model::Term::Literal(l)) => l
                .value()
                .parse::<i64>()
                .ok()
                .map(|v| oxigraph::model::Literal::from(v * 2).into()),
            _ => None,
        });
    let options = kgrec::kg::QueryOptions {
        functions: vec![(double, f)],
        union_default_graph: true,
        ..Default::default()
    };
    let split = "SELECT ?s ?d WHERE { ?s <http://example.com/p> ?o BIND(<http://example.com/double>(?o) AS ?d) FILTER(?d > 20) } ORDER BY DESC(?d) LIMIT 5";
    let here = KgStore::in_memory().expect("local");
    here.bulk_load(all.iter().cloned().map(Ok::<_, String>), None)
        .expect("load");
    let answer = |s: &KgStore| match s.query_with(split, &options).expect("split query") {
        QueryOutcome::Solutions { rows, .. } => rows,
        _ => panic!("expected rows"),
    };
    let rows = answer(&store);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows, answer(&here));
    assert_eq!(
        rows[0][1],
        Some(oxigraph::model::Literal::from(44i64).into()),
        "{rows:?}"
    );

    // A replacement whose input fails part-way leaves both graphs whole.
    let g0 = NamedNode::new_unchecked("http://example.com/g0");
    let failing = quads(9).into_iter().enumerate().map(|(i, q)| {
        if i == 8 {
            Err("line 9 is bad".to_owned())
        } else {
            Ok(q)
        }
    });
    let err = store
        .replace_graphs(std::slice::from_ref(&g0), failing, None)
        .unwrap_err();
    assert!(err.to_string().contains("line 9 is bad"), "{err}");
    assert_eq!(count(&store, "http://example.com/g0"), 12);
    assert_eq!(store.len().expect("len"), 23);
    assert_eq!(
        store.graph_names().expect("graphs").len(),
        2,
        "no staging graph left"
    );

    // A replacement that succeeds swaps the graph whole.
    let fresh: Vec<Quad> = quads(6)
        .into_iter()
        .filter(|q| q.graph_name == GraphName::NamedNode(g0.clone()))
        .collect();
    store
        .replace_graphs(
            std::slice::from_ref(&g0),
            fresh.into_iter().map(Ok::<_, String>),
            None,
        )
        .expect("replace");
    assert_eq!(count(&store, "http://example.com/g0"), 3);
    assert_eq!(count(&store, "http://example.com/g1"), 11);

    // Forgetting a user removes what names them and the records about them.
    let user = NamedNode::new_unchecked("https://w3id.org/kgrec/id/user/u1");
    let record = NamedNode::new_unchecked("https://w3id.org/kgrec/id/interaction/e1");
    let g = GraphName::NamedNode(NamedNode::new_unchecked("http://example.com/events"));
    let kgr = |l: &str| NamedNode::new_unchecked(format!("https://w3id.org/kgrec/ns#{l}"));
    store
        .insert_quads(&[
            Quad::new(record.clone(), kgr("user"), user.clone(), g.clone()),
            Quad::new(record.clone(), kgr("item"), kgr("p1"), g.clone()),
            Quad::new(user.clone(), kgr("name"), kgr("x"), g.clone()),
        ])
        .expect("insert");
    assert_eq!(store.delete_user(&user).expect("forget"), 3);
    match store
        .query(
            "ASK { GRAPH ?g { ?s ?p ?o } FILTER(?s = <https://w3id.org/kgrec/id/interaction/e1>) }",
            &[],
            false,
        )
        .expect("ask")
    {
        QueryOutcome::Boolean(b) => assert!(!b, "the record survived"),
        _ => panic!("expected a boolean"),
    }

    // Import records live in the meta graph, one per content.
    let record = kgrec::kg::ImportRecord {
        content_hash: "abc".into(),
        source: "fixture".into(),
        imported_at: "2026-01-01T00:00:00Z".into(),
        quad_count: 7,
    };
    store.record_import(&record).expect("record");
    store.record_import(&record).expect("again");
    let found = store.find_import("abc").expect("find").expect("found");
    assert_eq!((found.quad_count, found.source.as_str()), (7, "fixture"));
}

/// `n` triples in `graph`, whose subjects start at `from`.
fn graph_of(graph: &str, from: usize, n: usize) -> Vec<Quad> {
    (from..from + n)
        .map(|i| {
            Quad::new(
                NamedNode::new_unchecked(format!("http://example.com/s{i}")),
                NamedNode::new_unchecked("http://example.com/text"),
                oxigraph::model::Literal::from(format!("the value of item {i}, some text")),
                GraphName::NamedNode(NamedNode::new_unchecked(graph)),
            )
        })
        .collect()
}

/// A Virtuoso whose transactions move 20,000 of these triples but not 40,000 (its
/// `TransactionAfterImageLimit` at 1 MB, where a shop's full KG meets the default 50 MB): a load
/// of 45,000 is refused as one transaction and lands graph by graph, and a graph too large
/// even alone undoes the graphs moved before it, to the triple.
#[test]
fn a_load_past_virtuosos_transaction_limit_lands_graph_by_graph_or_not_at_all() {
    let Some(server) = SparqlServer::start_with(
        Engine::Virtuoso,
        &[("TransactionAfterImageLimit", "1000000")],
    ) else {
        return;
    };
    let store = |commit| {
        let endpoints = RemoteEndpoints {
            commit,
            ..server.endpoints()
        };
        KgStore::connect(
            RemoteStore::connect(endpoints, None)
                .expect("connect")
                .with_sizes(1000, 1000),
        )
    };
    let (whole, by_graph) = (store(LoadCommit::Import), store(LoadCommit::Graph));
    let [a, b, c, d, big] = ["a", "b", "c", "d", "big"].map(|g| format!("http://example.com/{g}"));
    let load = |store: &KgStore, parts: &[Vec<Quad>]| {
        store.bulk_load(parts.concat().into_iter().map(Ok::<_, String>), None)
    };
    // Graph a holds one triple before, which the loads below bring again.
    load(&whole, &[graph_of(&a, 0, 1)]).expect("first triple");
    let sizes = |store: &KgStore| {
        [&a, &b, &c, &d, &big].map(|g| {
            let remote = store.remote().expect("remote");
            let rows = remote
                .select(
                    &format!("SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{g}> {{ ?s ?p ?o }} }}"),
                    &Default::default(),
                )
                .expect("count");
            match rows.first().and_then(|r| r.first()) {
                Some(Some(oxigraph::model::Term::Literal(n))) => {
                    n.value().parse::<usize>().expect("a number")
                }
                other => panic!("COUNT answered {other:?}"),
            }
        })
    };
    let before = sizes(&whole);
    assert_eq!(before, [1, 0, 0, 0, 0]);
    let load_of_four = [
        graph_of(&a, 0, 100),
        graph_of(&b, 0, 15_000),
        graph_of(&c, 0, 15_000),
        graph_of(&d, 0, 15_000),
    ];

    let err = load(&whole, &load_of_four).expect_err("one transaction of 45,100 triples");
    assert!(
        err.to_string().contains("SR325") && err.to_string().contains("commit=graph"),
        "{err}"
    );
    assert_eq!(sizes(&whole), before, "the graphs as they were");
    assert_eq!(staging_graphs(&server), 0);

    // A graph too large even alone, after two that moved: both are put back, and the
    // triple a held before stays.
    let err = load(
        &by_graph,
        &[
            graph_of(&a, 0, 100),
            graph_of(&b, 0, 15_000),
            graph_of(&big, 0, 50_000),
        ],
    )
    .expect_err("50,000 triples in one graph");
    assert!(
        err.to_string()
            .contains("2 graph(s) moved before it were put back"),
        "{err}"
    );
    assert_eq!(sizes(&by_graph), before);
    assert_eq!(staging_graphs(&server), 0);

    assert_eq!(
        load(&by_graph, &load_of_four).expect("graph by graph"),
        45_100
    );
    assert_eq!(sizes(&by_graph), [100, 15_000, 15_000, 15_000, 0]);

    // Replacing graphs: the same, with backups of the graphs replaced.
    let err = by_graph
        .replace_graphs(
            &[&a, &b, &big].map(|g| NamedNode::new_unchecked(g.as_str())),
            [graph_of(&a, 90_000, 10), graph_of(&big, 0, 50_000)]
                .concat()
                .into_iter()
                .map(Ok::<_, String>),
            None,
        )
        .expect_err("50,000 triples in one graph");
    assert!(err.to_string().contains("put back"), "{err}");
    assert_eq!(sizes(&by_graph), [100, 15_000, 15_000, 15_000, 0]);
    by_graph
        .replace_graphs(
            &[&a, &b].map(|g| NamedNode::new_unchecked(g.as_str())),
            graph_of(&a, 90_000, 10).into_iter().map(Ok::<_, String>),
            None,
        )
        .expect("replace a, empty b");
    assert_eq!(sizes(&by_graph), [10, 0, 15_000, 15_000, 0]);
    let leftovers = by_graph
        .remote()
        .expect("remote")
        .graph_names()
        .expect("graphs")
        .into_iter()
        .filter(|g| g.as_str().starts_with("urn:kgrec:"))
        .count();
    assert_eq!(leftovers, 0, "no staging or backup graph left");
}

/// A Virtuoso that cuts every answer at 20 rows, its Graph Store reads included: a graph of 50
/// triples is read predicate by predicate, a part of 30 page by page, and every triple comes
/// back once.
#[test]
fn a_graph_past_the_services_cap_on_answers_is_read_in_parts() {
    let Some(server) = SparqlServer::start_with(Engine::Virtuoso, &[("ResultSetMaxRows", "20")])
    else {
        return;
    };
    let store = KgStore::connect(
        RemoteStore::connect(server.endpoints(), None)
            .expect("connect")
            .with_sizes(7, 100),
    );
    let g = "http://example.com/g";
    let all: Vec<Quad> = [("p1", 15), ("p2", 30), ("p3", 5)]
        .iter()
        .flat_map(|(p, n)| {
            (0..*n).map(move |i| {
                Quad::new(
                    NamedNode::new_unchecked(format!("http://example.com/s{i}")),
                    NamedNode::new_unchecked(format!("http://example.com/{p}")),
                    oxigraph::model::Literal::from(i as i64),
                    GraphName::NamedNode(NamedNode::new_unchecked(g)),
                )
            })
        })
        .collect();
    store
        .bulk_load(all.iter().cloned().map(Ok::<_, String>), None)
        .expect("load");
    for _ in 0..2 {
        // Twice: first after a short Graph Store read, then knowing the cap.
        let mut seen = Vec::new();
        store
            .for_each_quad_in_graph(&NamedNode::new_unchecked(g), |q| seen.push(q))
            .expect("read");
        seen.sort_by_key(ToString::to_string);
        let mut expected = all.clone();
        expected.sort_by_key(ToString::to_string);
        assert_eq!(seen, expected, "every triple once");
    }
    let mut rows = 0;
    store
        .for_each_solution("SELECT ?s ?o WHERE { ?s ?p ?o }", |_| rows += 1)
        .expect("rows past the cap, page by page");
    assert_eq!(rows, 50);
}

#[test]
fn a_remote_store_that_does_not_answer_is_named_in_the_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let spec = format!("http://127.0.0.1:{port}/sparql");
    let out = run_in(&PathBuf::from(&spec), &["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&spec) && err.contains("failed"), "{err}");
    let out = run_in(&PathBuf::from("query=ftp://x/q"), &["stats"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an http"));
}

#[test]
fn serving_from_oxigraphs_server_answers_as_from_the_local_store() {
    serving_answers_as_from_the_local_store(Engine::Oxigraph);
}

#[test]
fn serving_from_virtuoso_answers_as_from_the_local_store() {
    serving_answers_as_from_the_local_store(Engine::Virtuoso);
}

/// The same model served from a local store and from a remote one holding the same KG: the
/// same recommendations, `kgr:score` inside SPARQL, explanations whose every edge the remote
/// confirms, and events and forgetting that reach the remote.
fn serving_answers_as_from_the_local_store(engine: Engine) {
    let Some(server) = SparqlServer::start(engine) else {
        return;
    };
    let local = shop_with_model();
    server.ok(&["load", fixture("shop.trig").to_str().expect("utf-8")]);
    // Its own copy of the registry, so that forgetting a user remotely leaves the local
    // service's files alone.
    let registry = tempfile::tempdir().expect("tempdir");
    copy_dir(&local.dir.path().join("models"), registry.path());
    let remote = Service::start_at(Path::new(&server.spec), Some(registry.path()), &[]);
    let here = Service::start(&local, &[]);
    let items = |s: &Service, path: &str| {
        let r = s.get(path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()["items"].clone()
    };
    for path in [
        "/v1/users/U1/recommendations?k=5",
        "/v1/users/U4/recommendations?k=5&exclude_seen=false",
    ] {
        assert_eq!(items(&remote, path), items(&here, path), "{path}");
    }
    let p = "https://w3id.org/kgrec/id/fixture/product/";
    let u = "https://w3id.org/kgrec/id/fixture/user/";
    let by_score = format!(
        "{PREFIXES}SELECT ?p ?score WHERE {{ ?p a schema:Product . BIND(kgr:score(<{u}U1>, ?p) AS ?score) \
         FILTER(BOUND(?score)) }} ORDER BY DESC(?score) ?p LIMIT 5"
    );
    let scored = |s: &Service| {
        let r = s.query(&by_score, None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["results"]["bindings"].clone()
    };
    assert_eq!(scored(&remote), scored(&here));
    let r = remote.get(
        &format!("/v1/explain?user=U1&item={}", encode(&format!("{p}P2"))),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(assert_paths_exist(&remote, &r.json()["paths"]) > 0);

    // An event posted to the service lands in the remote store.
    let interactions = || {
        server
            .ok(&[
                "query",
                &format!("{PREFIXES}SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?e a kgr:Interaction ; kgr:user <{u}U2> }} }}"),
                "--format",
                "json",
            ])
    };
    let before = parse_sparql_json(&interactions())[0]["n"].clone();
    let r = remote.post(
        "/v1/events",
        "application/json",
        r#"[{"user": "U2", "item": "P5"}]"#,
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let after = parse_sparql_json(&interactions())[0]["n"].clone();
    assert_eq!(
        after.parse::<u64>().expect("count"),
        before.parse::<u64>().expect("count") + 1
    );

    // Forgetting a user through the service leaves no triple that names them remotely.
    let r = remote.delete("/v1/users/U1");
    assert_eq!(r.status, 200, "{}", r.body);
    let left = server.ok(&[
        "query",
        &format!("ASK {{ GRAPH ?g {{ {{ <{u}U1> ?p ?o }} UNION {{ ?s ?p <{u}U1> }} }} }}"),
        "--format",
        "json",
    ]);
    assert!(left.contains("false"), "{left}");
}
