//! Using kgrec as a library: build a small catalogue with the importer's builder, load it
//! atomically into an in-memory store, and run a saved query with a bound parameter.
//!
//! Run: `cargo run --example library`

use std::convert::Infallible;
use std::path::Path;

use kgrec::ingest::{InteractionRecord, KgBuilder};
use kgrec::kg::vocab::InteractionKind;
use kgrec::kg::{results, KgStore, ResultFormat, SavedQuery};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = KgBuilder::new("example", "example", String::new(), None);
    for (id, name, brand) in [
        ("P1", "Big Apple Red", "OPI"),
        ("P2", "Ballet Slippers", "Essie"),
        ("P3", "Lincoln Park After Dark", "OPI"),
    ] {
        b.name(id, name);
        b.brand(id, brand);
    }
    for (user, items) in [("alice", ["P1", "P2"]), ("bob", ["P1", "P3"])] {
        for (position, item) in items.iter().enumerate() {
            b.interaction(&InteractionRecord {
                user,
                item,
                kind: InteractionKind::Purchase,
                rating: None,
                timestamp: None,
                position: Some(position as u64),
                split: None,
                key: format!("{user}-{position}"),
            });
        }
    }
    let store = KgStore::in_memory()?;
    let n = store.bulk_load(b.finish().quads.into_iter().map(Ok::<_, Infallible>), None)?;
    println!("loaded {n} quads\n");

    let query = SavedQuery::find("also-bought-with", Path::new("queries"))?;
    println!("{}: {}", query.title, query.purpose);
    let bindings = query.bind(&[(
        "product".into(),
        "<https://w3id.org/kgrec/id/example/product/P1>".into(),
    )])?;
    let outcome = store.query(&query.text, &bindings, true)?;
    results::write_outcome(outcome, ResultFormat::Table, std::io::stdout().lock())?;
    Ok(())
}
