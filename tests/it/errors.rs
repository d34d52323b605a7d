//! Bad input gets a clear error and loses nothing: each case checks the message and that the
//! store still holds exactly what it held before.

use std::io::Write;

use crate::common::*;

/// A store with a little data in it, and its quad count.
fn seeded() -> (TempStore, u64) {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let n = total(&s);
    assert!(n > 0);
    (s, n)
}

fn total(s: &TempStore) -> u64 {
    s.count("GRAPH ?g { ?s ?p ?o }")
        + s.count("?s ?p ?o FILTER NOT EXISTS { GRAPH ?g { ?s ?p ?o } }")
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Many valid triples, so that a failure comes after the loader has already seen data.
fn many_triples(n: usize) -> String {
    (0..n)
        .map(|i| format!("<http://example.com/s{i}> <http://example.com/p> \"{i}\" .\n"))
        .collect()
}

#[test]
fn truncated_gzip() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let gz = gzip(many_triples(50_000).as_bytes());
    let p = write(tmp.path(), "cut.nt.gz", &gz[..gz.len() / 2]);
    let err = s.err(&["load", p.to_str().unwrap()]);
    assert!(
        err.contains("cut.nt.gz") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("store is unchanged"), "{err}");
    assert_eq!(total(&s), before);
}

#[test]
fn malformed_file_is_all_or_nothing_with_line_and_column() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let mut text = many_triples(300_000);
    text.push_str("<http://example.com/x> <http://example.com/p> \"unterminated .\n");
    let p = write(tmp.path(), "bad.nt", text.as_bytes());
    let err = s.err(&["load", p.to_str().unwrap()]);
    assert!(err.contains("bad.nt:300001:"), "{err}");
    assert_eq!(total(&s), before);
    assert_eq!(
        s.count("?s <http://example.com/p> ?o"),
        0,
        "no partial load"
    );
}

#[test]
fn invalid_iri() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "iri.nt", b"<http://example.com/a> <http://example.com/p> <http://example.com/b> .\n<http://exa mple.com/a> <http://example.com/p> <b> .\n");
    let err = s.err(&["load", p.to_str().unwrap()]);
    assert!(err.contains("iri.nt:2:"), "{err}");
    assert!(err.to_lowercase().contains("iri"), "{err}");
    assert_eq!(total(&s), before);
    assert_eq!(total(&s), before);
}

#[test]
fn wrong_column_count_in_atomic_file() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "d.inter",
        b"user_id:token\titem_id:token\trating:float\n1\t2\t5\n3\t4\n",
    );
    let err = s.err(&["import", "recbole", tmp.path().to_str().unwrap()]);
    assert!(
        err.contains("d.inter:3") && err.contains("expected 3 columns, found 2"),
        "{err}"
    );
    assert_eq!(total(&s), before);
}

#[test]
fn wrong_column_count_in_kgcn_file() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "ratings_final.txt", b"0\t1\t1\n0\t2\n");
    write(tmp.path(), "kg_final.txt", b"1\t0\t5\n");
    let err = s.err(&["import", "kgcn", tmp.path().to_str().unwrap()]);
    assert!(
        err.contains("ratings_final.txt:2") && err.contains("expected 3 columns, found 2"),
        "{err}"
    );
    assert_eq!(total(&s), before);
}

#[test]
fn unknown_relation_id() {
    let (s, before) = seeded();
    let err = s.err(&[
        "import",
        "kgat",
        fixture("kgat-bad-relation").to_str().unwrap(),
    ]);
    assert!(
        err.contains("kg_final.txt:2") && err.contains("unknown relation id 7"),
        "{err}"
    );
    assert_eq!(total(&s), before);
}

#[test]
fn unknown_relation_name_in_beauty_triples() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("items.tsv.gz"),
        gzip(b"item_id\tasin\ttitle\tbrand\tcategories\n1\tA1\tThing\tX\tBeauty\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("interactions_ordered.tsv.gz"),
        gzip(b"user_id\treviewerID\titem_id\tasin\tposition\n1\tU1\t1\tA1\t0\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("kg_triples.tsv.gz"),
        gzip(b"head_asin\trelation\ttail\nA1\tproduced_by\tbrand:X\nA1\tsimilar_to\tA2\n"),
    )
    .unwrap();
    let err = s.err(&["import", "beauty", d.to_str().unwrap()]);
    assert!(
        err.contains("kg_triples.tsv.gz:3") && err.contains("unknown relation 'similar_to'"),
        "{err}"
    );
    assert_eq!(total(&s), before);
}

#[test]
fn duplicate_load_is_refused_without_change() {
    let (s, before) = seeded();
    let err = s.err(&["load", fixture("shop.trig").to_str().unwrap()]);
    assert!(err.contains("already imported"), "{err}");
    assert_eq!(total(&s), before);
    s.ok(&["load", "--force", fixture("shop.trig").to_str().unwrap()]);
    assert_eq!(total(&s), before);
}

#[test]
fn unwritable_store_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "plain-file", b"x");
    let out = run_in(
        &file.join("store"),
        &["load", fixture("shop.trig").to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use") && err.contains("plain-file"),
        "{err}"
    );
    // A directory that is not a store is not taken over either.
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "cat.jpg", b"meow");
    let out = run_in(&dir, &["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no kgrec store"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn store_in_use_by_another_process() {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    let held = kgrec::kg::KgStore::open(&s.path()).unwrap();
    let err = s.err(&["stats"]);
    assert!(err.contains("in use by another process"), "{err}");
    drop(held);
    s.ok(&["stats"]);
}

#[test]
fn empty_files() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "empty.ttl", b"");
    let err = s.err(&["load", p.to_str().unwrap()]);
    assert!(err.contains("empty.ttl") && err.contains("empty"), "{err}");
    write(tmp.path(), "e.inter", b"");
    let err = s.err(&["import", "recbole", tmp.path().to_str().unwrap()]);
    assert!(err.contains("e.inter") && err.contains("empty"), "{err}");
    assert_eq!(total(&s), before);
}

#[test]
fn unknown_format_is_named() {
    let (s, _) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "data.json", b"{}");
    let err = s.err(&["load", p.to_str().unwrap()]);
    assert!(err.contains("--format"), "{err}");
}

#[test]
fn importer_failing_after_streaming_began_loads_nothing() {
    let (s, before) = seeded();
    let tmp = tempfile::tempdir().unwrap();
    // 30,000 interactions stream to the loader in several batches before the bad .kg row.
    let mut inter = String::from("user_id:token\titem_id:token\ttimestamp:float\n");
    for i in 0..30_000 {
        inter.push_str(&format!("u{}\ti{}\t{}\n", i % 700, i % 900, 1_000_000 + i));
    }
    write(tmp.path(), "big.inter", inter.as_bytes());
    write(
        tmp.path(),
        "big.kg",
        b"head_id:token\trelation_id:token\ttail_id:token\ne1\tr\te2\ne3\tr\n",
    );
    let err = s.err(&["import", "recbole", tmp.path().to_str().unwrap()]);
    assert!(
        err.contains("big.kg:3") && err.contains("expected 3 columns, found 2"),
        "{err}"
    );
    assert_eq!(total(&s), before);
    assert_eq!(
        s.count("?e a kgr:Interaction"),
        21,
        "only the fixture's interactions"
    );
}

#[test]
fn replace_with_malformed_input_keeps_the_old_graphs() {
    let s = TempStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let good = b"user_id:token\titem_id:token\n1\t2\n3\t4\n";
    write(tmp.path(), "d.inter", good);
    s.ok(&["import", "recbole", tmp.path().to_str().unwrap()]);
    let before = total(&s);
    // Same source, new content with a bad row: --replace must not empty the graphs first.
    write(
        tmp.path(),
        "d.inter",
        b"user_id:token\titem_id:token\n5\t6\n7\n",
    );
    let err = s.err(&[
        "import",
        "recbole",
        "--replace",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(err.contains("d.inter:3"), "{err}");
    assert_eq!(total(&s), before);
    assert_eq!(s.count("?e a kgr:Interaction"), 2);
}
