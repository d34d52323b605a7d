//! Every importer on its real dataset from ../shared, with the counts of the dataset READMEs
//! checked in the store itself (SPARQL), not only in the importer's own report.

use crate::common::*;

fn g(source: &str, part: &str) -> String {
    format!("<https://w3id.org/kgrec/graph/{source}/{part}>")
}

fn users(s: &TempStore, source: &str) -> u64 {
    s.count(&format!(
        "SELECT DISTINCT ?u WHERE {{ GRAPH {} {{ ?e a kgr:Interaction ; kgr:user ?u }} }}",
        g(source, "interactions")
    ))
}

fn items(s: &TempStore, source: &str) -> u64 {
    s.count(&format!(
        "SELECT DISTINCT ?i WHERE {{ GRAPH {} {{ ?e a kgr:Interaction ; kgr:item ?i }} }}",
        g(source, "interactions")
    ))
}

fn interactions(s: &TempStore, source: &str) -> u64 {
    s.count(&format!(
        "GRAPH {} {{ ?e a kgr:Interaction }}",
        g(source, "interactions")
    ))
}

fn predicate_count(s: &TempStore, predicate: &str) -> u64 {
    s.count(&format!("GRAPH ?g {{ ?a {predicate} ?b }}"))
}

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).expect("import prints its counts as JSON")
}

#[test]
fn beauty_counts_match_readme() {
    let s = TempStore::new();
    let Some(dir) = shared_dataset("amazon-beauty/derived") else {
        return;
    };
    let r = report(&s.ok(&["import", "beauty", dir.to_str().unwrap()]));
    assert_eq!(r["users"], 22_363);
    assert_eq!(r["items"], 12_101);
    assert_eq!(r["interactions"], 198_502);
    // The README's 1,115,330 less 18 `produced_by` rows that name an empty brand (`brand:`),
    // which the importer leaves out.
    assert_eq!(r["kg_triples"], 1_115_312);
    assert_eq!(users(&s, "amazon-beauty"), 22_363);
    assert_eq!(items(&s, "amazon-beauty"), 12_101);
    assert_eq!(interactions(&s, "amazon-beauty"), 198_502);
    assert_eq!(predicate_count(&s, "schema:brand"), 10_003);
    assert_eq!(predicate_count(&s, "schema:category"), 49_756);
    assert_eq!(predicate_count(&s, "kgr:alsoBought"), 891_182);
    assert_eq!(predicate_count(&s, "kgr:alsoViewed"), 155_350);
    assert_eq!(predicate_count(&s, "kgr:boughtTogether"), 9_021);
    // The README's 2,077 counts the empty brand, which is no brand.
    assert_eq!(s.count("?b a schema:Brand"), 2_076);
    assert_eq!(s.count("?c a kgr:Category"), 248);
    // 12,094 of the items have a title.
    assert_eq!(
        s.count("SELECT DISTINCT ?i WHERE { ?e kgr:item ?i . ?i schema:name ?n }"),
        12_094
    );
    // Positions survive: every user's sequence starts at 0.
    assert_eq!(
        s.count("SELECT DISTINCT ?u WHERE { ?e kgr:user ?u ; kgr:position 0 }"),
        22_363
    );
}

#[test]
fn luxury_beauty_recbole_split_is_kept() {
    let s = TempStore::new();
    let Some(dir) = shared_dataset("amazon-luxury-beauty") else {
        return;
    };
    let r = report(&s.ok(&["import", "recbole", dir.to_str().unwrap()]));
    assert_eq!(r["users"], 2_028);
    assert_eq!(r["items"], 936);
    assert_eq!(r["interactions"], 20_050);
    let src = "Amazon-luxury-beauty";
    assert_eq!(users(&s, src), 2_028);
    assert_eq!(items(&s, src), 936);
    assert_eq!(interactions(&s, src), 20_050);
    assert_eq!(predicate_count(&s, "kgr:alsoBought"), 6_335);
    assert_eq!(predicate_count(&s, "kgr:alsoViewed"), 4_138);
    let split = |x: &str| s.count(&format!("?e kgr:split kgr:{x}"));
    // Row counts of the three files (header excluded).
    assert_eq!(split("Train"), 16_040);
    assert_eq!(split("Valid"), 2_005);
    assert_eq!(split("Test"), 2_005);
    assert_eq!(s.count("?e kgr:timestamp ?t"), 20_050);
}

#[test]
fn ml100k_with_freebase_kg() {
    let s = TempStore::new();
    let Some(dir) = shared_dataset("ml-100k-kg") else {
        return;
    };
    let r = report(&s.ok(&["import", "recbole", dir.to_str().unwrap()]));
    assert_eq!(r["users"], 943);
    assert_eq!(r["items"], 1_682);
    assert_eq!(r["interactions"], 100_000);
    assert_eq!(r["links"], 1_598);
    assert_eq!(users(&s, "ml-100k"), 943);
    assert_eq!(items(&s, "ml-100k"), 1_682);
    assert_eq!(interactions(&s, "ml-100k"), 100_000);
    assert_eq!(
        s.count(&format!(
            "GRAPH {} {{ ?h ?r ?t . ?r a kgr:ExternalRelation }}",
            g("ml-100k", "external")
        )),
        91_631
    );
    assert_eq!(s.count("?r a kgr:ExternalRelation"), 24);
    assert_eq!(s.count("?i kgr:linkedEntity ?e"), 1_598);
    // Freebase ids become Freebase IRIs; linked movies carry their KG edges themselves.
    assert_eq!(
        s.count("?i kgr:linkedEntity <http://rdf.freebase.com/ns/m.08gjyx>"),
        1
    );
    assert!(
        s.count(
            "<https://w3id.org/kgrec/id/ml-100k/product/476> ?r ?t . ?r a kgr:ExternalRelation"
        ) > 0
    );
}

#[test]
fn lastfm_kgcn_with_negatives() {
    let s = TempStore::new();
    let Some(dir) = shared_dataset("lastfm-kgcn") else {
        return;
    };
    let r = report(&s.ok(&["import", "kgcn", dir.to_str().unwrap()]));
    assert_eq!(r["users"], 1_872);
    assert_eq!(r["items"], 3_846);
    assert_eq!(r["interactions"], 21_173);
    assert_eq!(r["negatives"], 21_173);
    assert_eq!(r["kg_triples"], 15_518);
    assert_eq!(users(&s, "lastfm-kgcn"), 1_872);
    assert_eq!(interactions(&s, "lastfm-kgcn"), 21_173);
    assert_eq!(s.count("?n a kgr:NegativeSample"), 21_173);
    assert_eq!(s.count("?r a kgr:ExternalRelation"), 60);
    assert_eq!(s.count("?h ?r ?t . ?r a kgr:ExternalRelation"), 15_518);
    // Relation names come from kg.txt.
    assert_eq!(
        s.count("?r a kgr:ExternalRelation ; rdfs:label \"music.artist.origin\""),
        1
    );
    // 9,366 entities: items are entities 0..3845, the rest are external.
    assert_eq!(s.count("?e a kgr:ExternalEntity"), 9_366 - 3_846);
}

#[test]
fn raw_amazon_2018_files() {
    for (cat, reviews, n_users, n_items) in [
        ("Magazine_Subscriptions", 2_375, 348, 157),
        ("Gift_Cards", 2_972, 458, 148),
    ] {
        let s = TempStore::new();
        let Some(dir) = shared_dataset("amazon2018-raw") else {
            return;
        };
        let rev = dir.join(format!("{cat}_5.json.gz"));
        let meta = dir.join(format!("meta_{cat}.json.gz"));
        let r = report(&s.ok(&[
            "import",
            "amazon",
            "--reviews",
            rev.to_str().unwrap(),
            "--meta",
            meta.to_str().unwrap(),
        ]));
        assert_eq!(r["interactions"], reviews, "{cat}");
        assert_eq!(r["users"], n_users, "{cat}");
        assert_eq!(r["items"], n_items, "{cat}");
        let src = format!("amazon-{}", cat.to_lowercase().replace('_', "-"));
        assert_eq!(interactions(&s, &src), reviews);
        assert_eq!(users(&s, &src), n_users);
        assert_eq!(items(&s, &src), n_items);
        // HTML entities are decoded and markup-only titles dropped.
        assert_eq!(
            s.count("?p schema:name ?n FILTER(CONTAINS(?n, \"&amp;\") || CONTAINS(?n, \"<span\"))"),
            0
        );
        assert!(s.count("?p kgr:alsoBought ?q") > 0);
        assert!(s.count("?c skos:broader ?d") > 0);
    }
}

#[test]
fn kgat_format_with_split() {
    let s = TempStore::new();
    let dir = fixture("kgat");
    let r = report(&s.ok(&["import", "kgat", dir.to_str().unwrap()]));
    // train.txt: 0 → 0 1 2, 1 → 1 3; test.txt: 0 → 3, 1 → 0.
    assert_eq!(r["users"], 2);
    assert_eq!(r["items"], 4);
    assert_eq!(r["interactions"], 7);
    assert_eq!(r["kg_triples"], 4);
    assert_eq!(s.count("?e kgr:split kgr:Test"), 2);
    assert_eq!(s.count("?e kgr:split kgr:Train"), 5);
    assert_eq!(
        s.count("?h <http://rdf.freebase.com/ns/film.film.genre> ?t"),
        2
    );
}

#[test]
fn reimport_duplicates_nothing() {
    let s = TempStore::new();
    let Some(dir) = shared_dataset("amazon-luxury-beauty") else {
        return;
    };
    let d = dir.to_str().unwrap();
    s.ok(&["import", "recbole", d]);
    let before = s.count("GRAPH ?g { ?s ?p ?o }");
    let err = s.err(&["import", "recbole", d]);
    assert!(err.contains("already imported"), "{err}");
    assert_eq!(s.count("GRAPH ?g { ?s ?p ?o }"), before);
    s.ok(&["import", "recbole", d, "--force"]);
    assert_eq!(s.count("GRAPH ?g { ?s ?p ?o }"), before);
    assert_eq!(interactions(&s, "Amazon-luxury-beauty"), 20_050);
}
