//! KGCN / RippleNet files: `ratings_final.txt` (`user item label`, label 0 = sampled
//! negative) and `kg_final.txt` (`head relation tail` integer ids; items are entities
//! `0..n_items`). When `kg.txt` lies beside them with the same rows, relation names are read
//! from it.

use std::collections::HashMap;
use std::path::Path;

use super::builder::{ImportOutput, ImportSender, InteractionRecord, KgBuilder};
use super::error::IngestError;
use super::source::{ContentHash, Table};
use crate::kg::vocab::InteractionKind;

/// Imports a KGCN-format folder. `source` names the graphs (default: the folder name).
pub fn import(
    dir: &Path,
    source: Option<&str>,
    sink: Option<ImportSender>,
) -> Result<ImportOutput, IngestError> {
    let ratings = dir.join("ratings_final.txt");
    let kg = dir.join("kg_final.txt");
    for p in [&ratings, &kg] {
        if !p.is_file() {
            return Err(IngestError::Input(format!(
                "{} is missing (KGCN format needs ratings_final.txt and kg_final.txt)",
                p.display()
            )));
        }
    }
    let names_file = dir.join("kg.txt");
    let mut hash = ContentHash::default();
    hash.add_file(&ratings)?;
    hash.add_file(&kg)?;
    if names_file.is_file() {
        hash.add_file(&names_file)?;
    }
    let source = source
        .map(str::to_owned)
        .unwrap_or_else(|| folder_name(dir));
    let mut b = KgBuilder::new(&source, &source, hash.finish(), sink);

    let mut t = Table::whitespace(&ratings)?;
    let mut max_item = 0u64;
    let mut rows = Vec::new();
    while let Some(f) = t.next_row(Some(3))? {
        let user = f.id(0, "user id")?;
        let item = f.id(1, "item id")?;
        let label = match f[2] {
            "1" => true,
            "0" => false,
            other => return Err(f.error(format!("label '{other}' is not 0 or 1"))),
        };
        max_item = max_item.max(item);
        rows.push((user, item, label));
    }
    if rows.is_empty() {
        return Err(IngestError::Input(format!(
            "{}: the file is empty",
            ratings.display()
        )));
    }
    for (user, item, label) in rows {
        let (u, i) = (user.to_string(), item.to_string());
        let key = format!("{u}-{i}");
        if label {
            b.interaction(&InteractionRecord {
                user: &u,
                item: &i,
                kind: InteractionKind::Click,
                rating: None,
                timestamp: None,
                position: None,
                split: None,
                key,
            });
        } else {
            b.negative(&u, &i, &key, None);
        }
    }

    let relation_names = if names_file.is_file() {
        read_relation_names(&kg, &names_file)?
    } else {
        HashMap::new()
    };
    let n_items = max_item + 1;
    for i in 0..n_items {
        let iri = b.minter().entity(&format!("e{i}"));
        b.link(&i.to_string(), &format!("e{i}"), iri);
    }
    let mut t = Table::whitespace(&kg)?;
    let mut any = false;
    while let Some(f) = t.next_row(Some(3))? {
        any = true;
        let h = f.id(0, "head id")?;
        let r = f.id(1, "relation id")?;
        let tl = f.id(2, "tail id")?;
        let name = if relation_names.is_empty() {
            format!("r{r}")
        } else {
            relation_names.get(&r).cloned().ok_or_else(|| {
                f.error(format!(
                    "unknown relation id {r}: kg.txt names no such relation"
                ))
            })?
        };
        let rel = b.minter().relation(&name, false);
        b.external(&format!("e{h}"), &name, rel, &format!("e{tl}"));
    }
    if !any {
        return Err(IngestError::Input(format!(
            "{}: the file is empty",
            kg.display()
        )));
    }
    Ok(b.finish())
}

/// Reads relation names by pairing `kg_final.txt` with `kg.txt`, row by row.
fn read_relation_names(
    kg_final: &Path,
    kg_names: &Path,
) -> Result<HashMap<u64, String>, IngestError> {
    let mut ids = Table::whitespace(kg_final)?;
    let mut names = Table::whitespace(kg_names)?;
    let mut out = HashMap::new();
    while let Some(row) = ids.next_row(Some(3))? {
        let id = row.id(1, "relation id")?;
        let head = row[0].to_owned();
        let Some(named) = names.next_row(Some(3))? else {
            break;
        };
        if named[0] != head {
            return Err(named.error(format!(
                "kg.txt does not line up with kg_final.txt (head '{}' here, '{head}' there); relation names cannot be read from it",
                named[0]
            )));
        }
        out.entry(id).or_insert_with(|| named[1].to_owned());
    }
    Ok(out)
}

/// The last component of a folder path, e.g. `lastfm-kgcn`.
pub fn folder_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .unwrap_or_else(|| "dataset".into())
}
