//! RecBole atomic files: `NAME.inter` (or pre-split `NAME.train/.valid/.test.inter`),
//! `NAME.item`, `NAME.user`, `NAME.kg` and `NAME.link`. Headers are `field:type` columns and
//! rows are tab-separated; a row with the wrong number of columns is an error.

use std::path::{Path, PathBuf};

use super::builder::{ImportOutput, ImportSender, InteractionRecord, KgBuilder};
use super::clean::clean_text;
use super::error::IngestError;
use super::source::{ContentHash, Table};
use crate::kg::vocab::{is_freebase_id, InteractionKind, Split};

/// Options of the RecBole importer.
#[derive(Clone, Debug, Default)]
pub struct RecboleOptions {
    /// Dataset name, i.e. the file stem (`ml-100k`); found from `*.inter` files if `None`.
    pub dataset: Option<String>,
    /// Id namespace for minted IRIs (default: the dataset name). Use `amazon` for ASIN-keyed data.
    pub namespace: Option<String>,
    /// Source name for graph IRIs (default: the dataset name).
    pub source: Option<String>,
}

/// Imports the atomic files of one dataset in `dir`.
pub fn import(
    dir: &Path,
    opts: &RecboleOptions,
    sink: Option<ImportSender>,
) -> Result<ImportOutput, IngestError> {
    let name = match &opts.dataset {
        Some(n) => n.clone(),
        None => detect_dataset(dir)?,
    };
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    let mut inter_files: Vec<(PathBuf, Option<Split>)> = Vec::new();
    if file("inter").is_file() {
        inter_files.push((file("inter"), None));
    } else {
        for (ext, split) in [
            ("train.inter", Split::Train),
            ("valid.inter", Split::Valid),
            ("test.inter", Split::Test),
        ] {
            if file(ext).is_file() {
                inter_files.push((file(ext), Some(split)));
            }
        }
    }
    if inter_files.is_empty() {
        return Err(IngestError::Input(format!(
            "no {name}.inter or {name}.train.inter in {}",
            dir.display()
        )));
    }
    let optional = ["item", "user", "link", "kg"].map(|e| Some(file(e)).filter(|p| p.is_file()));
    let [item_file, user_file, link_file, kg_file] = optional;
    let mut hash = ContentHash::default();
    for p in inter_files.iter().map(|(p, _)| p).chain(
        [&item_file, &user_file, &link_file, &kg_file]
            .into_iter()
            .flatten(),
    ) {
        hash.add_file(p)?;
    }
    let namespace = opts.namespace.clone().unwrap_or_else(|| name.clone());
    hash.add_setting(&namespace);
    let mut b = KgBuilder::new(
        opts.source.as_deref().unwrap_or(&name),
        &namespace,
        hash.finish(),
        sink,
    );

    for (path, split) in &inter_files {
        let mut t = Table::with_header(path)?;
        let cu = t.require_column(&["user_id"])?;
        let ci = t.require_column(&["item_id"])?;
        let cr = t.column(&["rating"]);
        let ct = t.column(&["timestamp"]);
        let mut any = false;
        while let Some(f) = t.next_row(None)? {
            any = true;
            let rating = match cr {
                Some(c) => Some(
                    f[c].parse::<f64>()
                        .map_err(|_| f.error(format!("rating '{}' is not a number", f[c])))?,
                ),
                None => None,
            };
            let timestamp = match ct {
                Some(c) => Some(
                    f[c].parse::<f64>()
                        .map_err(|_| f.error(format!("timestamp '{}' is not a number", f[c])))?
                        as i64,
                ),
                None => None,
            };
            let when = timestamp
                .map(|t| t.to_string())
                .unwrap_or_else(|| format!("r{}", f.line));
            b.interaction(&InteractionRecord {
                user: f[cu],
                item: f[ci],
                kind: if rating.is_some() {
                    InteractionKind::Rating
                } else {
                    InteractionKind::Click
                },
                rating,
                timestamp,
                position: None,
                split: *split,
                key: format!("{}-{}-{when}", f[cu], f[ci]),
            });
        }
        if !any {
            return Err(IngestError::Input(format!(
                "{}: the file has a header but no rows",
                path.display()
            )));
        }
    }

    if let Some(path) = &item_file {
        let mut t = Table::with_header(path)?;
        let ci = t.require_column(&["item_id"])?;
        let ctitle = t.column(&["title", "movie_title", "name"]);
        let ccat = t.column(&["class", "genre", "categories", "category"]);
        let cbrand = t.column(&["brand"]);
        let cprice = t.column(&["price"]);
        while let Some(f) = t.next_row(None)? {
            let id = f[ci];
            b.product(id);
            if let Some(title) = ctitle.and_then(|c| clean_text(f[c])) {
                b.name(id, &title);
            }
            if let Some(brand) = cbrand.and_then(|c| clean_text(f[c])) {
                b.brand(id, &brand);
            }
            if let Some(c) = ccat {
                // token_seq fields are space-separated.
                for cat in f[c].split_whitespace() {
                    b.category(cat, cat, None);
                    b.in_category(id, cat);
                }
            }
            if let Some(p) = cprice.and_then(|c| f[c].parse::<f64>().ok()) {
                b.price(id, p);
            }
        }
    }

    if let Some(path) = &user_file {
        let mut t = Table::with_header(path)?;
        let cu = t.require_column(&["user_id"])?;
        while let Some(f) = t.next_row(None)? {
            b.user(f[cu]);
        }
    }

    let freebase = if let Some(path) = &link_file {
        let mut t = Table::with_header(path)?;
        let ci = t.require_column(&["item_id"])?;
        let ce = t.require_column(&["entity_id"])?;
        let mut fb = false;
        while let Some(f) = t.next_row(None)? {
            fb |= is_freebase_id(f[ce]);
            let iri = b.minter().entity(f[ce]);
            b.link(f[ci], f[ce], iri);
        }
        fb
    } else {
        false
    };

    if let Some(path) = &kg_file {
        let mut t = Table::with_header(path)?;
        let ch = t.require_column(&["head_id"])?;
        let cr = t.require_column(&["relation_id"])?;
        let ct = t.require_column(&["tail_id"])?;
        while let Some(f) = t.next_row(None)? {
            if f[cr].is_empty() {
                return Err(f.error("empty relation"));
            }
            let rel = b.minter().relation(f[cr], freebase);
            b.external(f[ch], f[cr], rel, f[ct]);
        }
    }
    Ok(b.finish())
}

fn detect_dataset(dir: &Path) -> Result<String, IngestError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| IngestError::read(dir, &e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter_map(|n| {
            n.strip_suffix(".train.inter")
                .or_else(|| n.strip_suffix(".valid.inter"))
                .or_else(|| n.strip_suffix(".test.inter"))
                .or_else(|| n.strip_suffix(".inter"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(IngestError::Input(format!(
            "no RecBole .inter file in {}",
            dir.display()
        ))),
        many => Err(IngestError::Input(format!(
            "{} holds several datasets ({}); pick one with --dataset",
            dir.display(),
            many.join(", ")
        ))),
    }
}
