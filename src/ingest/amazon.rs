//! Raw Amazon review data (McAuley et al., 2014/2018 releases): `*_5.json.gz` reviews and
//! `meta_*.json.gz` product metadata, one JSON object per line, read as published: HTML
//! entities and markup in text, missing fields, duplicate lines, and `also_buy`/`also_view`
//! links to products that have no reviews.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::builder::{ImportOutput, ImportSender, InteractionRecord, KgBuilder};
use super::clean::clean_text;
use super::error::IngestError;
use super::source::{name_without_gz, ContentHash, Lines};
use crate::kg::vocab::{InteractionKind, ProductRelation};

/// One review line. Every field but the ids is optional in the wild.
#[derive(Deserialize)]
struct Review {
    #[serde(rename = "reviewerID")]
    reviewer_id: String,
    asin: String,
    overall: Option<f64>,
    #[serde(rename = "unixReviewTime")]
    unix_review_time: Option<i64>,
}

/// One metadata line (2018 schema; 2014 files use `related` instead of `also_*`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    asin: String,
    title: Option<String>,
    description: Option<serde_json::Value>,
    brand: Option<String>,
    category: Option<Vec<String>>,
    categories: Option<Vec<Vec<String>>>,
    price: Option<serde_json::Value>,
    also_buy: Option<Vec<String>>,
    also_view: Option<Vec<String>>,
    related: Option<HashMap<String, Vec<String>>>,
}

/// Inputs of the Amazon importer.
#[derive(Clone, Debug, Default)]
pub struct AmazonOptions {
    /// Review files (`*_5.json.gz` or full review dumps).
    pub reviews: Vec<PathBuf>,
    /// Metadata files (`meta_*.json.gz`).
    pub meta: Vec<PathBuf>,
    /// Source name for graph IRIs (default: derived from the first review file, e.g.
    /// `amazon-gift-cards`).
    pub source: Option<String>,
}

/// Imports Amazon reviews and metadata.
pub fn import(
    opts: &AmazonOptions,
    sink: Option<ImportSender>,
) -> Result<ImportOutput, IngestError> {
    if opts.reviews.is_empty() && opts.meta.is_empty() {
        return Err(IngestError::Input(
            "give at least one --reviews or --meta file".into(),
        ));
    }
    let mut hash = ContentHash::default();
    for p in opts.reviews.iter().chain(&opts.meta) {
        hash.add_file(p)?;
    }
    let source = opts.source.clone().unwrap_or_else(|| {
        let first = opts
            .reviews
            .first()
            .or(opts.meta.first())
            .map(|p| name_without_gz(p))
            .unwrap_or_default();
        let stem = first
            .trim_end_matches(".json")
            .trim_start_matches("meta_")
            .trim_end_matches("_5");
        format!("amazon-{}", stem.to_lowercase().replace('_', "-"))
    });
    let mut b = KgBuilder::new(&source, "amazon", hash.finish(), sink);

    for path in &opts.reviews {
        let mut lines = Lines::open(path)?;
        let mut seen: HashMap<(String, String, Option<i64>), u32> = HashMap::new();
        let mut any = false;
        while let Some((line, text)) = lines.next_line()? {
            if text.trim().is_empty() {
                continue;
            }
            let r: Review = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
            any = true;
            // Identical (user, item, time) lines are distinct reviews in the published counts;
            // the n-th repeat gets a stable suffix so re-imports map to the same IRIs.
            let n = seen
                .entry((r.reviewer_id.clone(), r.asin.clone(), r.unix_review_time))
                .or_insert(0);
            let mut key = format!(
                "{}-{}-{}",
                r.reviewer_id,
                r.asin,
                r.unix_review_time
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            );
            if *n > 0 {
                key.push_str(&format!("-{n}"));
            }
            *n += 1;
            b.interaction(&InteractionRecord {
                user: &r.reviewer_id,
                item: &r.asin,
                kind: InteractionKind::Review,
                rating: r.overall,
                timestamp: r.unix_review_time,
                position: None,
                split: None,
                key,
            });
        }
        if !any {
            return Err(IngestError::Input(format!(
                "{}: the file is empty",
                path.display()
            )));
        }
    }

    for path in &opts.meta {
        let mut lines = Lines::open(path)?;
        let mut any = false;
        let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some((line, text)) = lines.next_line()? {
            if text.trim().is_empty() {
                continue;
            }
            let m: Meta = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
            any = true;
            if m.asin.is_empty() {
                return Err(IngestError::at(path, line, "metadata line has no asin"));
            }
            // Metadata dumps repeat some products; the first full record wins.
            if !done.insert(m.asin.clone()) {
                continue;
            }
            add_meta(&mut b, &m);
        }
        if !any {
            return Err(IngestError::Input(format!(
                "{}: the file is empty",
                path.display()
            )));
        }
    }
    Ok(b.finish())
}

fn add_meta(b: &mut KgBuilder, m: &Meta) {
    let id = m.asin.as_str();
    b.product(id);
    if let Some(t) = m.title.as_deref().and_then(clean_text) {
        b.name(id, &t);
    }
    let description = match &m.description {
        Some(serde_json::Value::String(s)) => clean_text(s),
        Some(serde_json::Value::Array(parts)) => clean_text(
            &parts
                .iter()
                .filter_map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    if let Some(d) = description {
        b.description(id, &d);
    }
    if let Some(brand) = m.brand.as_deref().and_then(clean_text) {
        if !brand.eq_ignore_ascii_case("unknown") {
            b.brand(id, &brand);
        }
    }
    let paths: Vec<Vec<String>> = match (&m.category, &m.categories) {
        (Some(c), _) => vec![c.clone()],
        (None, Some(cs)) => cs.clone(),
        _ => Vec::new(),
    };
    for path in paths {
        let labels: Vec<String> = path.iter().filter_map(|c| clean_text(c)).collect();
        let mut parent: Option<String> = None;
        for (depth, label) in labels.iter().enumerate() {
            let key = labels[..=depth].join(" > ");
            b.category(&key, label, parent.as_deref());
            b.in_category(id, &key);
            parent = Some(key);
        }
    }
    if let Some(p) = m.price.as_ref().and_then(parse_price) {
        b.price(id, p);
    }
    let related = |name: &str| -> Vec<String> {
        m.related
            .as_ref()
            .and_then(|r| r.get(name).cloned())
            .unwrap_or_default()
    };
    for t in m.also_buy.clone().unwrap_or_else(|| related("also_bought")) {
        b.related(id, ProductRelation::AlsoBought, &t);
    }
    for t in m
        .also_view
        .clone()
        .unwrap_or_else(|| related("also_viewed"))
    {
        b.related(id, ProductRelation::AlsoViewed, &t);
    }
    for t in related("bought_together") {
        b.related(id, ProductRelation::BoughtTogether, &t);
    }
}

/// `"$12.99"` or `12.99` → 12.99; ranges and prose (`"$5.00 - $10.00"`, `".a-box…"`) → `None`.
fn parse_price(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => {
            let s = s.trim().trim_start_matches('$').replace(',', "");
            s.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0)
        }
        _ => None,
    }
}

fn json_error(path: &Path, line: u64, e: &serde_json::Error) -> IngestError {
    IngestError::Parse {
        file: path.to_owned(),
        line,
        column: Some(e.column() as u64),
        message: format!("invalid JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(parse_price(&serde_json::json!("$1,299.00")), Some(1299.0));
        assert_eq!(parse_price(&serde_json::json!("$5.00 - $10.00")), None);
        assert_eq!(parse_price(&serde_json::json!(3.5)), Some(3.5));
    }
}
