//! KGAT / KGIN files: `train.txt` and `test.txt` (`user item item …` per line) and
//! `kg_final.txt` (`head relation tail` integer ids; items are entities `0..n_items`).
//! Optional `relation_list.txt`, `entity_list.txt` (`org_id remap_id`) give original names;
//! when `relation_list.txt` exists, a relation id it does not list is an error.

use std::collections::HashMap;
use std::path::Path;

use super::builder::{ImportOutput, ImportSender, InteractionRecord, KgBuilder};
use super::error::IngestError;
use super::kgcn::folder_name;
use super::source::{ContentHash, Table};
use crate::kg::vocab::{InteractionKind, Split};

/// Imports a KGAT-format folder. `source` names the graphs (default: the folder name).
pub fn import(
    dir: &Path,
    source: Option<&str>,
    sink: Option<ImportSender>,
) -> Result<ImportOutput, IngestError> {
    let train = dir.join("train.txt");
    let test = dir.join("test.txt");
    let kg = dir.join("kg_final.txt");
    for p in [&train, &kg] {
        if !p.is_file() {
            return Err(IngestError::Input(format!(
                "{} is missing (KGAT format needs train.txt, test.txt and kg_final.txt)",
                p.display()
            )));
        }
    }
    let relation_list = dir.join("relation_list.txt");
    let entity_list = dir.join("entity_list.txt");
    let mut hash = ContentHash::default();
    for p in [&train, &test, &kg, &relation_list, &entity_list] {
        if p.is_file() {
            hash.add_file(p)?;
        }
    }
    let source = source
        .map(str::to_owned)
        .unwrap_or_else(|| folder_name(dir));
    let mut b = KgBuilder::new(&source, &source, hash.finish(), sink);

    let mut max_item = 0u64;
    let mut any = false;
    for (path, split) in [(&train, Split::Train), (&test, Split::Test)] {
        if !path.is_file() {
            continue;
        }
        let mut t = Table::whitespace(path)?;
        while let Some(f) = t.next_row(None)? {
            let user = f.id(0, "user id")?.to_string();
            for i in 1..f.len() {
                let item = f.id(i, "item id")?;
                max_item = max_item.max(item);
                let item = item.to_string();
                any = true;
                b.interaction(&InteractionRecord {
                    user: &user,
                    item: &item,
                    kind: InteractionKind::Click,
                    rating: None,
                    timestamp: None,
                    position: None,
                    split: Some(split),
                    key: format!("{user}-{item}"),
                });
            }
        }
    }
    if !any {
        return Err(IngestError::Input(format!(
            "{}: no interactions",
            train.display()
        )));
    }

    let relations = read_list(&relation_list)?;
    let entities = read_list(&entity_list)?;
    let entity_name = |id: u64| {
        entities
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("e{id}"))
    };
    for i in 0..=max_item {
        let name = entity_name(i);
        let iri = entity_iri(&b, &name);
        b.link(&i.to_string(), &name, iri);
    }
    let mut t = Table::whitespace(&kg)?;
    while let Some(f) = t.next_row(Some(3))? {
        let h = f.id(0, "head id")?;
        let r = f.id(1, "relation id")?;
        let tl = f.id(2, "tail id")?;
        let rel_name = if relation_list.is_file() {
            relations.get(&r).cloned().ok_or_else(|| {
                f.error(format!(
                    "unknown relation id {r}: relation_list.txt does not list it"
                ))
            })?
        } else {
            format!("r{r}")
        };
        let rel = match oxigraph::model::NamedNode::new(rel_name.clone()) {
            Ok(iri) if rel_name.contains("://") => iri,
            _ => b.minter().relation(&rel_name, true),
        };
        let (hn, tn) = (entity_name(h), entity_name(tl));
        b.external(&hn, &rel_name, rel, &tn);
    }
    Ok(b.finish())
}

fn entity_iri(b: &KgBuilder, name: &str) -> oxigraph::model::NamedNode {
    match oxigraph::model::NamedNode::new(name) {
        Ok(iri) if name.contains("://") => iri,
        _ => b.minter().entity(name),
    }
}

/// Reads an `org_id remap_id` list (first line is a header) into `remap_id → org_id`.
fn read_list(path: &Path) -> Result<HashMap<u64, String>, IngestError> {
    let mut out = HashMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    let mut t = Table::whitespace(path)?;
    let mut first = true;
    while let Some(f) = t.next_row(None)? {
        if first {
            first = false;
            if f.fields.get(1).is_some_and(|s| s.parse::<u64>().is_err()) {
                continue;
            }
        }
        if f.len() < 2 {
            return Err(f.error(format!(
                "expected at least 2 columns (org_id remap_id), found {}",
                f.len()
            )));
        }
        let id = f.id(1, "remap id")?;
        out.insert(id, f[0].to_owned());
    }
    Ok(out)
}
