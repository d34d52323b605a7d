//! Load benchmark on the full Amazon Beauty KG and interactions (from ../shared).
//!
//! The importer's output is written once as N-Triples (every triple in the default graph) and
//! once as N-Quads (the same triples in their named graphs, as kgrec stores them). Then, in the
//! same run, each of these loads a fresh store:
//! - `raw N-Triples`: oxigraph's bulk loader directly on the N-Triples file;
//! - `kgrec load`: kgrec's atomic file load path on the same N-Triples file;
//! - `raw N-Quads`: oxigraph's bulk loader directly on the N-Quads file;
//! - `kgrec import beauty`: the importer from the TSV files, streaming to the bulk loader, which
//!   writes exactly the quads of the N-Quads file.
//!
//! Named-graph quads cost the store more than default-graph triples (six indexes instead of
//! three), so each kgrec path is compared with the raw loader on the same data. It also reports
//! the store's size on disk and the latency of three saved queries.
//! Run: `cargo bench --profile dev --bench load` (add `-- --users N` to run on a sample).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kgrec::ingest::{beauty, RdfFile};
use kgrec::kg::{KgStore, QueryOutcome, SavedQuery};
use oxigraph::io::{RdfFormat, RdfParser, RdfSerializer};
use oxigraph::store::Store;

/// Each loader runs this many times, interleaved, into a fresh store; the best time counts.
const ROUNDS: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let users = args
        .iter()
        .position(|a| a == "--users")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let options = beauty::BeautyOptions {
        sample_users: users,
        source: None,
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../shared/datasets/amazon-beauty/derived");
    let tmp = tempfile::tempdir().expect("tempdir");

    let t = Instant::now();
    let output = beauty::import(&dir, &options, None).expect("import");
    let build_time = t.elapsed();
    let quads = output.quads.len() as u64;
    let nt = tmp.path().join("beauty.nt");
    let nq = tmp.path().join("beauty.nq");
    write_rdf(&nt, RdfFormat::NTriples, &output.quads);
    write_rdf(&nq, RdfFormat::NQuads, &output.quads);
    drop(output);
    println!(
        "Beauty: {quads} triples ({:.0} MB of N-Triples); building them alone took {:.2}s",
        std::fs::metadata(&nt).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        build_time.as_secs_f64()
    );

    let mut best = [Duration::MAX; 4];
    let import_store = tmp.path().join("import-final");
    for round in 0..ROUNDS {
        let fresh = |name: &str| tmp.path().join(format!("{name}-{round}"));
        best[0] = best[0].min(time(|| {
            raw_load(&fresh("raw-nt"), &nt, RdfFormat::NTriples, quads)
        }));
        best[1] = best[1].min(time(|| {
            let store = KgStore::open(&fresh("load")).unwrap();
            let file = RdfFile::new(&nt, None).unwrap();
            store.bulk_load(file.quads(None).unwrap(), None).unwrap();
            assert_eq!(store.len().unwrap() as u64, quads);
        }));
        best[2] = best[2].min(time(|| {
            raw_load(&fresh("raw-nq"), &nq, RdfFormat::NQuads, quads)
        }));
        let target = if round + 1 == ROUNDS {
            import_store.clone()
        } else {
            fresh("import")
        };
        best[3] = best[3].min(time(|| {
            // Exactly what `kgrec import beauty` does.
            let (dir, options) = (dir.clone(), options.clone());
            let stream =
                kgrec::ingest::stream::spawn(move |sink| beauty::import(&dir, &options, sink))
                    .unwrap();
            let store = KgStore::open(&target).unwrap();
            store.bulk_load(stream, None).unwrap();
            assert_eq!(store.len().unwrap() as u64, quads);
        }));
        for name in ["raw-nt", "load", "raw-nq", "import"] {
            let _ = std::fs::remove_dir_all(fresh(name));
        }
    }
    let rate = |d: Duration| quads as f64 / d.as_secs_f64();
    println!("\n| loader | data | seconds | triples/s | ratio to raw on the same data |\n|---|---|---|---|---|");
    let rows = [
        (
            "oxigraph bulk loader (raw)",
            "N-Triples, default graph",
            best[0],
            best[0],
        ),
        ("kgrec load", "N-Triples, default graph", best[1], best[0]),
        (
            "oxigraph bulk loader (raw)",
            "N-Quads, named graphs",
            best[2],
            best[2],
        ),
        (
            "kgrec import beauty (TSV → ontology → store)",
            "N-Quads, named graphs",
            best[3],
            best[2],
        ),
    ];
    for (name, data, d, baseline) in rows {
        println!(
            "| {name} | {data} | {:.2} | {:.0} | {:.2} |",
            d.as_secs_f64(),
            rate(d),
            baseline.as_secs_f64() / d.as_secs_f64()
        );
    }

    let store = KgStore::open(&import_store).unwrap();
    println!(
        "\nstore size on disk after import: {:.0} MB",
        store.size_on_disk().unwrap_or(0) as f64 / 1e6
    );
    let user = first_user(&store);
    println!("\n| saved query | median of 5 (ms) |\n|---|---|");
    for (name, params) in [
        ("category-tree", vec![]),
        ("brands-repeat-buyers", vec![]),
        ("user-history", vec![("user".to_owned(), user)]),
    ] {
        let q = SavedQuery::find(name, &root.join("queries")).expect("saved query");
        let bindings = q.bind(&params).expect("bind");
        let mut times: Vec<Duration> = (0..5)
            .map(|_| {
                time(|| {
                    store.query(&q.text, &bindings, true).expect("query");
                })
            })
            .collect();
        times.sort();
        println!("| {name} | {:.1} |", times[2].as_secs_f64() * 1e3);
    }
}

fn write_rdf(path: &Path, format: RdfFormat, quads: &[oxigraph::model::Quad]) {
    let file = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = RdfSerializer::from_format(format).for_writer(file);
    for q in quads {
        if format == RdfFormat::NTriples {
            w.serialize_triple(oxigraph::model::TripleRef::new(
                &q.subject,
                &q.predicate,
                &q.object,
            ))
            .unwrap();
        } else {
            w.serialize_quad(q).unwrap();
        }
    }
    w.finish().unwrap().flush().unwrap();
}

fn raw_load(store_dir: &Path, file: &Path, format: RdfFormat, expected: u64) {
    let store = Store::open(store_dir).unwrap();
    let mut loader = store.bulk_loader();
    loader
        .load_from_reader(
            RdfParser::from_format(format),
            std::fs::File::open(file).unwrap(),
        )
        .unwrap();
    loader.commit().unwrap();
    assert_eq!(store.len().unwrap() as u64, expected);
}

fn first_user(store: &KgStore) -> String {
    let q = "SELECT ?u WHERE { ?u a <https://w3id.org/kgrec/ns#User> } ORDER BY ?u LIMIT 1";
    match store.query(q, &[], true).unwrap() {
        QueryOutcome::Solutions { rows, .. } => rows[0][0].as_ref().unwrap().to_string(),
        _ => unreachable!(),
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}
