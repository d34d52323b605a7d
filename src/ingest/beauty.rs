//! The Amazon Beauty benchmark as derived in `amazon-beauty/derived/`: items with titles,
//! interactions in time order per user, and KG triples (brand, category, co-purchase).
//!
//! Categories come as unordered sets per item, so the SKOS tree is inferred: a category's
//! broader category is the smallest other category that contains (almost) all its items.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use super::builder::{ImportOutput, ImportSender, InteractionRecord, KgBuilder};
use super::clean::clean_text;
use super::error::IngestError;
use super::source::{ContentHash, Table};
use crate::kg::vocab::{InteractionKind, ProductRelation};

/// Options of the Beauty importer.
#[derive(Clone, Debug, Default)]
pub struct BeautyOptions {
    /// Keep only this many users (chosen deterministically by a hash of their id), with every
    /// product they touched and the relations among those products. `None` keeps all.
    pub sample_users: Option<usize>,
    /// Source name for graph IRIs (default `amazon-beauty`).
    pub source: Option<String>,
}

/// Reads `items.tsv.gz`, `interactions_ordered.tsv.gz` and `kg_triples.tsv.gz` from `dir`.
pub fn import(
    dir: &Path,
    opts: &BeautyOptions,
    sink: Option<ImportSender>,
) -> Result<ImportOutput, IngestError> {
    let items_path = dir.join("items.tsv.gz");
    let inter_path = dir.join("interactions_ordered.tsv.gz");
    let kg_path = dir.join("kg_triples.tsv.gz");
    let mut hash = ContentHash::default();
    for p in [&items_path, &inter_path, &kg_path] {
        if !p.is_file() {
            return Err(IngestError::Input(format!(
                "{} is missing: the Beauty importer expects items.tsv.gz, interactions_ordered.tsv.gz and kg_triples.tsv.gz in {}",
                p.display(),
                dir.display()
            )));
        }
        hash.add_file(p)?;
    }
    hash.add_setting(&format!("beauty sample={:?}", opts.sample_users));
    // Text is decoded since the importer passes it through clean_text: a new hash, so a store
    // loaded before is re-imported rather than kept with escaped names.
    hash.add_setting("beauty text=clean");
    let source = opts.source.clone().unwrap_or_else(|| {
        if opts.sample_users.is_some() {
            "amazon-beauty-sample".into()
        } else {
            "amazon-beauty".into()
        }
    });
    let mut b = KgBuilder::new(&source, "amazon", hash.finish(), sink);

    // Interactions first: sampling decides which items are kept.
    let mut t = Table::with_header(&inter_path)?;
    let c_user = t.require_column(&["reviewerID"])?;
    let c_asin = t.require_column(&["asin"])?;
    let c_pos = t.require_column(&["position"])?;
    let mut rows: Vec<(String, String, u64)> = Vec::new();
    while let Some(f) = t.next_row(None)? {
        let pos = f.id(c_pos, "position")?;
        rows.push((f[c_user].to_owned(), f[c_asin].to_owned(), pos));
    }
    if rows.is_empty() {
        return Err(IngestError::Input(format!(
            "{}: no interactions",
            inter_path.display()
        )));
    }
    let kept_users: Option<HashSet<String>> = opts.sample_users.map(|n| {
        let mut users: Vec<&String> = rows
            .iter()
            .map(|r| &r.0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        users.sort_by_key(|u| (stable_hash(u), (*u).clone()));
        users.into_iter().take(n).cloned().collect()
    });
    let keep_user = |u: &str| kept_users.as_ref().is_none_or(|k| k.contains(u));
    let mut kept_items: HashSet<String> = HashSet::new();
    for (user, asin, pos) in &rows {
        if !keep_user(user) {
            continue;
        }
        kept_items.insert(asin.clone());
        b.interaction(&InteractionRecord {
            user,
            item: asin,
            kind: InteractionKind::Review,
            rating: None,
            timestamp: None,
            position: Some(*pos),
            split: None,
            key: format!("{user}-{pos}"),
        });
    }
    drop(rows);
    let sampling = kept_users.is_some();
    let keep_item = |a: &str| !sampling || kept_items.contains(a);

    // Titles.
    let mut t = Table::with_header(&items_path)?;
    let c_asin = t.require_column(&["asin"])?;
    let c_title = t.require_column(&["title"])?;
    while let Some(f) = t.next_row(None)? {
        if keep_item(f[c_asin]) {
            if let Some(title) = clean_text(f[c_title]) {
                b.name(f[c_asin], &title);
            } else {
                b.product(f[c_asin]);
            }
        }
    }

    // KG triples; categories are collected first to infer the tree.
    let mut t = Table::with_header(&kg_path)?;
    let mut item_categories: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let Some(f) = t.next_row(Some(3))? {
        let (head, relation, tail) = (f[0], f[1], f[2]);
        if !keep_item(head) {
            continue;
        }
        match relation {
            "produced_by" => {
                let brand = tail.strip_prefix("brand:").ok_or_else(|| f.error(format!("produced_by tail '{tail}' is not brand:NAME")))?;
                if let Some(brand) = clean_text(brand) {
                    b.brand(head, &brand);
                }
            }
            "belongs_to" => {
                let cat = tail.strip_prefix("category:").ok_or_else(|| f.error(format!("belongs_to tail '{tail}' is not category:NAME")))?;
                item_categories.entry(head.to_owned()).or_default().push(cat.to_owned());
            }
            other => match ProductRelation::from_name(other) {
                Some(rel) => {
                    if keep_item(tail) {
                        b.related(head, rel, tail);
                    }
                }
                None => {
                    return Err(f.error(format!(
                        "unknown relation '{other}' (expected produced_by, belongs_to, also_bought, also_viewed or bought_together)"
                    )))
                }
            },
        }
    }
    let broader = infer_category_tree(&item_categories);
    for (item, cats) in &item_categories {
        for c in cats {
            let label = clean_text(c).unwrap_or_else(|| c.clone());
            b.category(c, &label, broader.get(c).map(String::as_str));
            b.in_category(item, c);
        }
    }
    Ok(b.finish())
}

/// For each category, the smallest other category containing at least 95% of its items.
pub fn infer_category_tree(
    item_categories: &BTreeMap<String, Vec<String>>,
) -> HashMap<String, String> {
    let mut members: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for (item, cats) in item_categories {
        for c in cats {
            members.entry(c.as_str()).or_default().insert(item.as_str());
        }
    }
    let mut out = HashMap::new();
    for (c, items) in &members {
        let mut best: Option<(&str, usize)> = None;
        for (d, ditems) in &members {
            if c == d || ditems.len() < items.len() || (ditems.len() == items.len() && d > c) {
                continue;
            }
            let shared = items.iter().filter(|i| ditems.contains(*i)).count();
            if shared * 100 >= items.len() * 95 && best.is_none_or(|(_, n)| ditems.len() < n) {
                best = Some((d, ditems.len()));
            }
        }
        if let Some((d, _)) = best {
            out.insert((*c).to_owned(), d.to_owned());
        }
    }
    out
}

/// FNV-1a, for deterministic sampling independent of the platform.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_inferred_from_containment() {
        let mut m = BTreeMap::new();
        m.insert(
            "a".to_owned(),
            vec!["Beauty".into(), "Makeup".into(), "Nails".into()],
        );
        m.insert(
            "b".to_owned(),
            vec!["Beauty".into(), "Makeup".into(), "Eyes".into()],
        );
        m.insert("c".to_owned(), vec!["Beauty".into(), "Skin".into()]);
        let t = infer_category_tree(&m);
        assert_eq!(t["Nails"], "Makeup");
        assert_eq!(t["Eyes"], "Makeup");
        assert_eq!(t["Makeup"], "Beauty");
        assert_eq!(t["Skin"], "Beauty");
        assert!(!t.contains_key("Beauty"));
    }
}
