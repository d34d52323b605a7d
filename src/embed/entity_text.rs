//! The text of each catalogue entity, as the sentence encoder reads it.
//!
//! A product reads `"{title}. Brand: {brand}. Category: {A > B > C}. Price: $12.99."`, e.g.
//! "OPI Nail Lacquer, Simmer and Shimmer. Brand: OPI. Category: Makeup > Nails > Nail Polish.",
//! with each part left out when the store does not have it; a product with none of them has
//! no text. Brands and categories read their own names.
//!
//! The category part is the product's deepest category with its `skos:broader` chain, general
//! to specific. A top category that every categorised product falls under (the whole
//! catalogue, like "Beauty" in the Amazon Beauty data) is left out of chains longer than
//! itself: it is the same words in every text, which pulls all vectors together without
//! telling products apart. When the store holds several top categories, each is kept.
//!
//! Each kind is read with one SPARQL query over the union of all graphs.

use std::collections::{BTreeMap, HashMap, HashSet};

use oxigraph::model::Term;

use super::error::EmbedError;
use crate::kg::vocab::SPARQL_PREFIXES;
use crate::kg::{KgStore, QueryOutcome};

/// What is known about one product, ready to be rendered by [`ProductFacts::text`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProductFacts {
    /// Title (`schema:name`).
    pub name: Option<String>,
    /// Brand name.
    pub brand: Option<String>,
    /// Category labels, general to specific.
    pub categories: Vec<String>,
    /// Price and currency code (`None` or "USD" render as dollars).
    pub price: Option<(f64, Option<String>)>,
}

impl ProductFacts {
    /// The product's text, or `None` when nothing is known about it.
    pub fn text(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(name) = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            parts.push(sentence(name));
        }
        if let Some(brand) = self
            .brand
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            parts.push(sentence(&format!("Brand: {brand}")));
        }
        if !self.categories.is_empty() {
            parts.push(sentence(&format!(
                "Category: {}",
                self.categories.join(" > ")
            )));
        }
        if let Some((price, currency)) = &self.price {
            let amount = match currency.as_deref() {
                None | Some("USD") => format!("${price:.2}"),
                Some(code) => format!("{price:.2} {code}"),
            };
            parts.push(format!("Price: {amount}."));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `s` ending with a full stop (kept as is when it already ends with `.`, `!` or `?`).
fn sentence(s: &str) -> String {
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

fn rows(outcome: QueryOutcome) -> Vec<Vec<Option<Term>>> {
    match outcome {
        QueryOutcome::Solutions { rows, .. } => rows,
        _ => Vec::new(),
    }
}

fn iri(cell: &Option<Term>) -> Option<&str> {
    match cell {
        Some(Term::NamedNode(n)) => Some(n.as_str()),
        _ => None,
    }
}

fn text(cell: &Option<Term>) -> Option<&str> {
    match cell {
        Some(Term::Literal(l)) => Some(l.value()),
        _ => None,
    }
}

/// Keeps the smaller of two optional values (deterministic choice among several).
fn keep_min(slot: &mut Option<String>, value: Option<&str>) {
    if let Some(v) = value {
        if slot.as_deref().is_none_or(|s| v < s) {
            *slot = Some(v.to_owned());
        }
    }
}

/// A category's label and the category it sits under.
#[derive(Debug, Default)]
struct CategoryNode {
    label: Option<String>,
    broader: Option<String>,
}

/// The category tree: every `kgr:Category` with its label and (smallest) broader category.
fn category_tree(store: &KgStore) -> Result<HashMap<String, CategoryNode>, EmbedError> {
    let q = format!(
        "{SPARQL_PREFIXES}SELECT ?c ?label ?broader WHERE {{ ?c a kgr:Category . \
         OPTIONAL {{ ?c skos:prefLabel ?label }} OPTIONAL {{ ?c skos:broader ?broader }} }}"
    );
    let mut tree: HashMap<String, CategoryNode> = HashMap::new();
    for row in rows(store.query(&q, &[], true)?) {
        let Some(c) = iri(&row[0]) else { continue };
        let node = tree.entry(c.to_owned()).or_default();
        keep_min(&mut node.label, text(&row[1]));
        keep_min(&mut node.broader, iri(&row[2]));
    }
    Ok(tree)
}

/// The chain from the top of the tree down to `c` (IRIs, general to specific); stops at a
/// cycle or an unknown category.
fn chain(tree: &HashMap<String, CategoryNode>, c: &str) -> Vec<String> {
    let mut out = vec![c.to_owned()];
    let mut seen: HashSet<&str> = HashSet::from([c]);
    let mut at = c;
    while let Some(up) = tree.get(at).and_then(|n| n.broader.as_deref()) {
        if !seen.insert(up) {
            break;
        }
        out.push(up.to_owned());
        at = up;
    }
    out.reverse();
    out
}

/// The text of every product that has at least a name, brand, category or price, sorted by
/// IRI.
pub fn product_texts(store: &KgStore) -> Result<Vec<(String, String)>, EmbedError> {
    let tree = category_tree(store)?;
    let q = format!(
        "{SPARQL_PREFIXES}SELECT ?p ?name ?brand ?price ?currency ?cat WHERE {{ ?p a schema:Product . \
         OPTIONAL {{ ?p schema:name ?name }} \
         OPTIONAL {{ ?p schema:brand ?b . ?b schema:name ?brand }} \
         OPTIONAL {{ ?p schema:offers ?o . ?o schema:price ?price OPTIONAL {{ ?o schema:priceCurrency ?currency }} }} \
         OPTIONAL {{ ?p schema:category ?cat }} }}"
    );
    #[derive(Default)]
    struct Raw {
        name: Option<String>,
        brand: Option<String>,
        price: Option<(f64, Option<String>)>,
        categories: Vec<String>,
    }
    let mut products: BTreeMap<String, Raw> = BTreeMap::new();
    for row in rows(store.query(&q, &[], true)?) {
        let Some(p) = iri(&row[0]) else { continue };
        let raw = products.entry(p.to_owned()).or_default();
        keep_min(&mut raw.name, text(&row[1]));
        keep_min(&mut raw.brand, text(&row[2]));
        if let Some(price) = text(&row[3]).and_then(|v| v.trim().parse::<f64>().ok()) {
            if price.is_finite() && raw.price.as_ref().is_none_or(|(old, _)| price < *old) {
                raw.price = Some((price, text(&row[4]).map(str::to_owned)));
            }
        }
        if let Some(c) = iri(&row[5]) {
            if !raw.categories.iter().any(|x| x == c) {
                raw.categories.push(c.to_owned());
            }
        }
    }

    // Each product's deepest category chain (ties: smaller label, then IRI).
    let label = |c: &str| {
        tree.get(c)
            .and_then(|n| n.label.clone())
            .unwrap_or_else(|| c.rsplit('/').next().unwrap_or(c).to_owned())
    };
    let mut chains: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (p, raw) in &products {
        let best = raw
            .categories
            .iter()
            .map(|c| chain(&tree, c))
            .max_by(|a, b| {
                let (la, lb) = (label(&a[a.len() - 1]), label(&b[b.len() - 1]));
                a.len()
                    .cmp(&b.len())
                    .then_with(|| lb.cmp(&la))
                    .then_with(|| b[b.len() - 1].cmp(&a[a.len() - 1]))
            });
        if let Some(best) = best {
            chains.insert(p.as_str(), best);
        }
    }
    // A top category every categorised product falls under says nothing: leave it out.
    let mut tops = chains.values().map(|c| &c[0]);
    let common_top = match tops.next() {
        Some(first) if tops.all(|t| t == first) => Some(first.clone()),
        _ => None,
    };

    let mut out = Vec::with_capacity(products.len());
    for (p, raw) in &products {
        let mut path: &[String] = chains.get(p.as_str()).map_or(&[], Vec::as_slice);
        if path.len() > 1 && common_top.as_ref() == path.first() {
            path = &path[1..];
        }
        let facts = ProductFacts {
            name: raw.name.clone(),
            brand: raw.brand.clone(),
            categories: path.iter().map(|c| label(c)).collect(),
            price: raw.price.clone(),
        };
        if let Some(t) = facts.text() {
            out.push((p.clone(), t));
        }
    }
    Ok(out)
}

/// The name of every brand that has one, sorted by IRI.
pub fn brand_texts(store: &KgStore) -> Result<Vec<(String, String)>, EmbedError> {
    let q = format!(
        "{SPARQL_PREFIXES}SELECT ?b ?name WHERE {{ ?b a schema:Brand ; schema:name ?name }}"
    );
    named(store, &q)
}

/// The label of every category that has one (`skos:prefLabel`, else `rdfs:label`), sorted
/// by IRI.
pub fn category_texts(store: &KgStore) -> Result<Vec<(String, String)>, EmbedError> {
    let q = format!(
        "{SPARQL_PREFIXES}SELECT ?c ?name WHERE {{ ?c a kgr:Category . \
         {{ ?c skos:prefLabel ?name }} UNION {{ FILTER NOT EXISTS {{ ?c skos:prefLabel ?any }} ?c rdfs:label ?name }} }}"
    );
    named(store, &q)
}

fn named(store: &KgStore, q: &str) -> Result<Vec<(String, String)>, EmbedError> {
    let mut names: BTreeMap<String, Option<String>> = BTreeMap::new();
    for row in rows(store.query(q, &[], true)?) {
        if let Some(e) = iri(&row[0]) {
            let v = text(&row[1]).map(str::trim).filter(|n| !n.is_empty());
            keep_min(names.entry(e.to_owned()).or_default(), v);
        }
    }
    Ok(names
        .into_iter()
        .filter_map(|(e, n)| n.map(|n| (e, n)))
        .collect())
}

/// Products, then brands, then categories: every entity with a text, as `(IRI, text)`.
pub fn entity_texts(store: &KgStore) -> Result<Vec<(String, String)>, EmbedError> {
    let mut out = product_texts(store)?;
    out.extend(brand_texts(store)?);
    out.extend(category_texts(store)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_text_has_each_part_it_knows() {
        let full = ProductFacts {
            name: Some("OPI Nail Lacquer, Simmer and Shimmer".into()),
            brand: Some("OPI".into()),
            categories: vec!["Makeup".into(), "Nails".into(), "Nail Polish".into()],
            price: Some((12.99, Some("USD".into()))),
        };
        assert_eq!(
            full.text().unwrap(),
            "OPI Nail Lacquer, Simmer and Shimmer. Brand: OPI. Category: Makeup > Nails > Nail Polish. Price: $12.99."
        );
        let partial = ProductFacts {
            name: Some("  Really good!  ".into()),
            price: Some((10.5, Some("EUR".into()))),
            ..Default::default()
        };
        assert_eq!(partial.text().unwrap(), "Really good! Price: 10.50 EUR.");
        let nameless = ProductFacts {
            brand: Some("Nivea".into()),
            ..Default::default()
        };
        assert_eq!(nameless.text().unwrap(), "Brand: Nivea.");
        assert_eq!(ProductFacts::default().text(), None);
    }
}
