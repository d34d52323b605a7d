//! The catalogue as the service shows it: each ranked product's title, brand, categories
//! (root first) and lowest price, and every category's label, read from the store at start (and for one product
//! placed after training).

use std::collections::HashMap;

use oxigraph::model::{NamedNode, Term, Variable};
use serde::Serialize;

use crate::error::RecError;
use crate::kg::{KgStore, QueryOutcome};

/// What the catalogue says about one ranked product: for display and for filters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CatalogueItem {
    /// Product IRI.
    pub iri: String,
    /// Its name (`schema:name`), if any.
    pub title: Option<String>,
    /// Its brand's IRI, if any.
    pub brand_iri: Option<String>,
    /// Its brand's name, if any.
    pub brand: Option<String>,
    /// IRIs of the categories it is filed under; root first where the store holds the
    /// category tree (`skos:broader`).
    pub categories: Vec<String>,
    /// Whether [`Self::categories`] is one path down the category tree (each the broader of
    /// the next), so it reads `Beauty › Makeup › Lips`.
    pub category_path: bool,
    /// Its lowest offered price (`schema:offers/schema:price`), as written.
    pub price: Option<String>,
    /// That offer's currency (`schema:priceCurrency`), if given.
    pub currency: Option<String>,
}

impl CatalogueItem {
    /// Adds one row of (name, brand, brand name, category, price, currency) cells: the
    /// smallest name and brand seen (so every start shows the same one), every category once,
    /// the lowest price.
    fn merge(&mut self, cells: &[Option<Term>]) {
        if let Some(Term::Literal(l)) = &cells[0] {
            keep_smaller(&mut self.title, l.value());
        }
        if let Some(Term::NamedNode(b)) = &cells[1] {
            keep_smaller(&mut self.brand_iri, b.as_str());
        }
        if let Some(Term::Literal(l)) = &cells[2] {
            keep_smaller(&mut self.brand, l.value());
        }
        if let Some(Term::NamedNode(c)) = &cells[3] {
            if !self.categories.iter().any(|x| x == c.as_str()) {
                self.categories.push(c.as_str().to_owned());
            }
        }
        if let Some(Term::Literal(price)) = &cells[4] {
            let value = |v: &str| v.parse::<f64>().ok();
            let lower = match (value(price.value()), self.price.as_deref().and_then(value)) {
                (Some(new), Some(old)) => new < old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if lower {
                self.price = Some(price.value().to_owned());
                self.currency = match &cells[5] {
                    Some(Term::Literal(c)) => Some(c.value().to_owned()),
                    _ => None,
                };
            }
        }
    }

    /// Orders the categories root first by their depth in the tree `broader` (category →
    /// its broader one), and notes whether they form one path.
    fn order_categories(&mut self, broader: &HashMap<String, String>) {
        let depth = |c: &str| {
            let mut d = 0;
            let mut at = c;
            while let Some(up) = broader.get(at) {
                d += 1;
                at = up;
                if d > 64 {
                    break; // a cycle in the data: stop rather than loop
                }
            }
            d
        };
        self.categories.sort_by_key(|c| (depth(c), c.clone()));
        self.category_path = self.categories.len() > 1
            && self
                .categories
                .windows(2)
                .all(|w| broader.get(&w[1]) == Some(&w[0]));
    }
}

/// The catalogue's columns, in the order [`CatalogueItem::merge`] reads them after `?p`.
const CATALOGUE_QUERY: &str = "PREFIX schema: <http://schema.org/>\n\
     SELECT ?p ?name ?brand ?brandName ?cat ?price ?currency WHERE {";
/// What each column is, for one product `?p`.
const CATALOGUE_PATTERNS: &str = "OPTIONAL { ?p schema:name ?name } \
     OPTIONAL { ?p schema:brand ?brand OPTIONAL { ?brand schema:name ?brandName } } \
     OPTIONAL { ?p schema:category ?cat } \
     OPTIONAL { ?p schema:offers ?offer . ?offer schema:price ?price \
                OPTIONAL { ?offer schema:priceCurrency ?currency } }";

/// Name, brand, categories (root first) and lowest price of each item in `iris` (in that
/// order), and every category's label.
pub(super) fn read_catalogue(
    store: &KgStore,
    iris: &[String],
) -> Result<(Vec<CatalogueItem>, HashMap<String, String>), RecError> {
    let index: HashMap<&str, usize> = iris
        .iter()
        .enumerate()
        .map(|(r, i)| (i.as_str(), r))
        .collect();
    let mut items: Vec<CatalogueItem> = iris
        .iter()
        .map(|iri| CatalogueItem {
            iri: iri.clone(),
            ..CatalogueItem::default()
        })
        .collect();
    store.for_each_solution(
        &format!("{CATALOGUE_QUERY} ?p a schema:Product . {CATALOGUE_PATTERNS} }}"),
        |row| {
            let Some(Term::NamedNode(p)) = &row[0] else {
                return;
            };
            let Some(&r) = index.get(p.as_str()) else {
                return;
            };
            items[r].merge(&row[1..7]);
        },
    )?;
    let mut labels = HashMap::new();
    let mut broader = HashMap::new();
    let q = "PREFIX kgr: <https://w3id.org/kgrec/ns#>\n\
             PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n\
             SELECT ?c ?label ?up WHERE { ?c a kgr:Category OPTIONAL { ?c skos:prefLabel ?label } \
             OPTIONAL { ?c skos:broader ?up } }";
    store.for_each_solution(q, |row| {
        let Some(Term::NamedNode(c)) = &row[0] else {
            return;
        };
        if let Some(Term::Literal(l)) = &row[1] {
            labels
                .entry(c.as_str().to_owned())
                .or_insert_with(|| l.value().to_owned());
        }
        if let Some(Term::NamedNode(up)) = &row[2] {
            broader
                .entry(c.as_str().to_owned())
                .or_insert_with(|| up.as_str().to_owned());
        }
    })?;
    for item in &mut items {
        item.order_categories(&broader);
    }
    Ok((items, labels))
}

/// One product's catalogue entry (title, brand, categories), as [`read_catalogue`] reads
/// every ranked item's. The IRI is bound into the query as a term.
pub(super) fn catalogue_item(
    store: &KgStore,
    product: &NamedNode,
) -> Result<CatalogueItem, RecError> {
    let q = format!("{CATALOGUE_QUERY} {CATALOGUE_PATTERNS} }}");
    let p = Variable::new_unchecked("p");
    let outcome = store.query(&q, &[(p, Term::NamedNode(product.clone()))], true)?;
    let mut item = CatalogueItem {
        iri: product.as_str().to_owned(),
        ..CatalogueItem::default()
    };
    if let QueryOutcome::Solutions { rows, .. } = outcome {
        for row in rows {
            item.merge(&row[1..7]);
        }
    }
    Ok(item)
}

/// Keeps the smallest value seen, so that a product with two names shows the same one on
/// every start.
fn keep_smaller(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(|old| value < old) {
        *slot = Some(value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxigraph::model::Literal;

    fn row(cat: &str, price: Option<&str>) -> Vec<Option<Term>> {
        vec![
            Some(Literal::new_simple_literal("Lip gloss").into()),
            None,
            None,
            Some(NamedNode::new_unchecked(cat).into()),
            price.map(|p| Literal::new_simple_literal(p).into()),
            price.map(|_| Literal::new_simple_literal("USD").into()),
        ]
    }

    #[test]
    fn categories_read_root_first_and_the_lowest_price_wins() {
        let broader: HashMap<String, String> =
            [("lips", "makeup"), ("makeup", "beauty"), ("skin", "beauty")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
        let mut item = CatalogueItem::default();
        for (cat, price) in [
            ("lips", Some("12.50")),
            ("beauty", Some("9.99")),
            ("makeup", None),
        ] {
            item.merge(&row(cat, price));
        }
        item.order_categories(&broader);
        assert_eq!(item.categories, ["beauty", "makeup", "lips"]);
        assert!(item.category_path);
        assert_eq!(item.price.as_deref(), Some("9.99"));
        assert_eq!(item.currency.as_deref(), Some("USD"));
        // Two branches are not a path: ordered by depth, shown as a list.
        let mut two = CatalogueItem::default();
        two.merge(&row("lips", None));
        two.merge(&row("skin", None));
        two.order_categories(&broader);
        assert_eq!(two.categories, ["skin", "lips"]);
        assert!(!two.category_path);
        assert_eq!(two.price, None);
    }
}
