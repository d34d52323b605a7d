//! The catalogue as the service shows it: each ranked product's title, brand and
//! categories, and every category's label, read from the store at start (and for one product
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
    /// IRIs of the categories it is filed under.
    pub categories: Vec<String>,
}

impl CatalogueItem {
    /// Adds one row of (name, brand, brand name, category) cells: the smallest name and
    /// brand seen (so every start shows the same one), every category once.
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
    }
}

/// Name, brand and categories of each item in `iris` (in that order), and every category's
/// label.
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
    let q = "PREFIX schema: <http://schema.org/>\n\
             SELECT ?p ?name ?brand ?brandName ?cat WHERE { ?p a schema:Product . \
             OPTIONAL { ?p schema:name ?name } \
             OPTIONAL { ?p schema:brand ?brand OPTIONAL { ?brand schema:name ?brandName } } \
             OPTIONAL { ?p schema:category ?cat } }";
    store.for_each_solution(q, |row| {
        let Some(Term::NamedNode(p)) = &row[0] else {
            return;
        };
        let Some(&r) = index.get(p.as_str()) else {
            return;
        };
        items[r].merge(&row[1..5]);
    })?;
    let mut labels = HashMap::new();
    let q = "PREFIX kgr: <https://w3id.org/kgrec/ns#>\n\
             PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n\
             SELECT ?c ?label WHERE { ?c a kgr:Category ; skos:prefLabel ?label }";
    store.for_each_solution(q, |row| {
        if let (Some(Term::NamedNode(c)), Some(Term::Literal(l))) = (&row[0], &row[1]) {
            labels
                .entry(c.as_str().to_owned())
                .or_insert_with(|| l.value().to_owned());
        }
    })?;
    Ok((items, labels))
}

/// One product's catalogue entry (title, brand, categories), as [`read_catalogue`] reads
/// every ranked item's. The IRI is bound into the query as a term.
pub(super) fn catalogue_item(
    store: &KgStore,
    product: &NamedNode,
) -> Result<CatalogueItem, RecError> {
    let q = "PREFIX schema: <http://schema.org/>\n\
             SELECT ?p ?name ?brand ?brandName ?cat WHERE { \
             OPTIONAL { ?p schema:name ?name } \
             OPTIONAL { ?p schema:brand ?brand OPTIONAL { ?brand schema:name ?brandName } } \
             OPTIONAL { ?p schema:category ?cat } }";
    let p = Variable::new_unchecked("p");
    let outcome = store.query(q, &[(p, Term::NamedNode(product.clone()))], true)?;
    let mut item = CatalogueItem {
        iri: product.as_str().to_owned(),
        ..CatalogueItem::default()
    };
    if let QueryOutcome::Solutions { rows, .. } = outcome {
        for row in rows {
            item.merge(&row[1..5]);
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
