//! Loading every RDF format (plain and gzipped), target graphs, reloading one graph alone,
//! exporting, querying in every output format, updates, configuration and the default KG.

use std::io::Write;

use crate::common::*;

const TURTLE: &str = "@prefix schema: <http://schema.org/> .\n<http://example.com/p1> a schema:Product ; schema:name \"One\" .\n<http://example.com/p2> a schema:Product ; schema:name \"Two\" .\n";

fn products(s: &TempStore) -> u64 {
    s.count("?p a schema:Product")
}

#[test]
fn every_format_plain_and_gzipped() {
    // Write the same two products in each format through kgrec's own exporter.
    let src = TempStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let ttl = tmp.path().join("src.ttl");
    std::fs::write(&ttl, TURTLE).unwrap();
    src.ok(&[
        "load",
        "--graph",
        "http://example.com/g",
        ttl.to_str().unwrap(),
    ]);
    for ext in [
        "nt", "nq", "ttl", "trig", "rdf", "nt.gz", "ttl.gz", "rdf.gz",
    ] {
        let file = tmp.path().join(format!("out.{ext}"));
        let graph_only = !(ext.starts_with("nq") || ext.starts_with("trig"));
        let mut args = vec!["export", "-o", file.to_str().unwrap()];
        if graph_only {
            args.extend(["--graph", "http://example.com/g"]);
        }
        src.ok(&args);
        let s = TempStore::new();
        s.ok(&["load", file.to_str().unwrap()]);
        assert_eq!(products(&s), 2, "{ext}");
        assert_eq!(s.count("?p schema:name \"Two\""), 1, "{ext}");
    }
}

#[test]
fn explicit_format_and_target_graph() {
    let s = TempStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("data.txt");
    std::fs::write(&f, TURTLE).unwrap();
    s.ok(&[
        "load",
        "--format",
        "turtle",
        "--graph",
        "http://example.com/cat",
        f.to_str().unwrap(),
    ]);
    assert_eq!(
        s.count("GRAPH <http://example.com/cat> { ?p a schema:Product }"),
        2
    );
}

#[test]
fn replace_reloads_one_graph_alone() {
    let s = TempStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.ttl");
    let b = tmp.path().join("b.ttl");
    std::fs::write(&a, TURTLE).unwrap();
    std::fs::write(
        &b,
        "<http://example.com/p3> a <http://schema.org/Product> .\n",
    )
    .unwrap();
    s.ok(&[
        "load",
        "--graph",
        "http://example.com/g1",
        a.to_str().unwrap(),
    ]);
    s.ok(&[
        "load",
        "--graph",
        "http://example.com/g2",
        a.to_str().unwrap(),
    ]);
    s.ok(&[
        "load",
        "--graph",
        "http://example.com/g1",
        "--replace",
        b.to_str().unwrap(),
    ]);
    assert_eq!(
        s.count("GRAPH <http://example.com/g1> { ?p a schema:Product }"),
        1
    );
    assert_eq!(
        s.count("GRAPH <http://example.com/g2> { ?p a schema:Product }"),
        2
    );
    // A malformed replacement leaves the graph as it was.
    let bad = tmp.path().join("bad.ttl");
    std::fs::write(&bad, "<http://example.com/p4> a .\n").unwrap();
    s.err(&[
        "load",
        "--graph",
        "http://example.com/g1",
        "--replace",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(
        s.count("GRAPH <http://example.com/g1> { ?p a schema:Product }"),
        1
    );
}

#[test]
fn query_output_formats_and_files() {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let q = "SELECT ?n WHERE { ?b a <http://schema.org/Brand> ; <http://schema.org/name> ?n } ORDER BY ?n LIMIT 1";
    let table = s.ok(&["query", q]);
    assert!(table.contains("(1 row)"), "{table}");
    let csv = s.ok(&["query", q, "--format", "csv"]);
    assert!(csv.starts_with("n\r\n"), "{csv}");
    let tsv = s.ok(&["query", q, "--format", "tsv"]);
    assert!(tsv.starts_with("?n\n"), "{tsv}");
    let xml = s.ok(&["query", q, "--format", "xml"]);
    assert!(xml.contains("<sparql"), "{xml}");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("q.rq");
    std::fs::write(&f, q).unwrap();
    assert_eq!(
        parse_sparql_json(&s.ok(&["query", "-f", f.to_str().unwrap(), "--format", "json"])).len(),
        1
    );
    let ask = s.ok(&["query", "ASK { ?s a <http://schema.org/Product> }"]);
    assert_eq!(ask.trim(), "true");
    let ttl = s.ok(&[
        "query",
        "CONSTRUCT { ?b a <http://schema.org/Brand> } WHERE { ?b a <http://schema.org/Brand> }",
        "--format",
        "turtle",
    ]);
    assert!(ttl.contains("schema:Brand"), "{ttl}");
    let err = s.err(&["query", "SELECT * WHERE { ?s ?p }"]);
    assert!(err.contains("SPARQL syntax error"), "{err}");
}

#[test]
fn ad_hoc_params_bind_as_terms() {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let q = "SELECT ?p ?name WHERE { ?p <http://schema.org/name> ?name }";
    let rows = parse_sparql_json(&s.ok(&[
        "query",
        q,
        "--param",
        "name=\"no such name\"",
        "--format",
        "json",
    ]));
    assert!(rows.is_empty());
    // A value that looks like SPARQL is still one literal: nothing leaks out.
    let rows = parse_sparql_json(&s.ok(&[
        "query",
        q,
        "--param",
        "name=x\" } UNION { ?p ?q ?r",
        "--format",
        "json",
    ]));
    assert!(rows.is_empty());
    // The bound variable need not be selected; the binding restricts the WHERE clause.
    let rows = parse_sparql_json(&s.ok(&[
        "query",
        "SELECT ?b WHERE { ?b <http://schema.org/name> ?name }",
        "--param",
        "name=\"Essie\"",
        "--format",
        "json",
    ]));
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["b"].ends_with("Essie"), "{rows:?}");
}

#[test]
fn update_applies_and_reports() {
    let s = TempStore::new();
    s.ok(&["update", "INSERT DATA { GRAPH <http://example.com/g> { <http://example.com/a> a <http://schema.org/Product> } }"]);
    assert_eq!(products(&s), 1);
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("u.ru");
    std::fs::write(
        &f,
        "DELETE WHERE { GRAPH ?g { ?s a <http://schema.org/Product> } }",
    )
    .unwrap();
    s.ok(&["update", "-f", f.to_str().unwrap()]);
    assert_eq!(products(&s), 0);
    s.err(&["update", "INSERT DATA { <http://a> }"]);
}

#[test]
fn store_from_config_file_and_env() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("cfg-store");
    let cfg = tmp.path().join("kgrec.toml");
    let mut f = std::fs::File::create(&cfg).unwrap();
    writeln!(f, "store = {:?}", store.to_str().unwrap()).unwrap();
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kgrec"));
        c.args(args)
            .env("KGREC_NO_DEFAULT_KG", "1")
            .env_remove("KGREC_STORE")
            .current_dir(tmp.path());
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(
        &[],
        &[
            "update",
            "INSERT DATA { <http://example.com/a> <http://example.com/b> 1 }",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        store.join("CURRENT").exists(),
        "kgrec.toml in the working directory picks the store"
    );
    let env_store = tmp.path().join("env-store");
    let out = run(&[("KGREC_STORE", env_store.to_str().unwrap())], &["stats"]);
    assert!(out.status.success());
    assert!(
        env_store.join("CURRENT").exists(),
        "KGREC_STORE beats the config file"
    );
}

#[test]
fn default_kg_loads_on_first_run_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kgrec"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .env_remove("KGREC_NO_DEFAULT_KG")
            .current_dir(repo())
            .output()
            .unwrap()
    };
    let out = run(&["query", "--format", "json", "SELECT (COUNT(DISTINCT ?u) AS ?n) WHERE { ?e a <https://w3id.org/kgrec/ns#Interaction> ; <https://w3id.org/kgrec/ns#user> ?u }"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("default KG"));
    let users: u64 = parse_sparql_json(&String::from_utf8_lossy(&out.stdout))[0]["n"]
        .parse()
        .unwrap();
    assert_eq!(users, 1_500);
    let out = run(&["stats"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("default KG"));
}

#[test]
fn saved_query_listing_and_errors() {
    let s = TempStore::new();
    let list = s.ok(&["queries"]);
    assert!(
        list.contains("also-bought-with") || list.lines().count() >= 10,
        "{list}"
    );
    let err = s.err(&["query", "--saved", "no-such-query"]);
    assert!(
        err.contains("no saved query named 'no-such-query'"),
        "{err}"
    );
}
