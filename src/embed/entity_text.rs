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

use oxigraph::model::{NamedNode, Term, Variable};
use serde::{Deserialize, Serialize};

use super::error::EmbedError;
use crate::kg::results::{cell_iri, cell_literal};
use crate::kg::vocab::SPARQL_PREFIXES;
use crate::kg::{KgStore, QueryOutcome};
use crate::util::keep_min;

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

/// Corrections training reads over what the store says of its products: the repairs
/// `kgrec check` is certain of (`train --exclude-flagged`), so a garbled title or a brand
/// left unlinked does not reach the model. The store itself is never changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogueRepairs {
    /// Product IRI → its title repaired (entities decoded, control characters dropped,
    /// mojibake undone).
    pub names: BTreeMap<String, String>,
    /// Product IRI → the brand its title names, for a product without one.
    pub brands: BTreeMap<String, LinkedBrand>,
}

/// A brand a product is read as carrying.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedBrand {
    /// The brand's IRI.
    pub iri: String,
    /// Its name.
    pub name: String,
}

impl CatalogueRepairs {
    /// Whether there is nothing to correct.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.brands.is_empty()
    }

    fn apply(&self, products: &mut BTreeMap<String, RawProduct>) {
        for (p, name) in &self.names {
            if let Some(raw) = products.get_mut(p) {
                raw.name = Some(name.clone());
            }
        }
        for (p, brand) in &self.brands {
            if let Some(raw) = products.get_mut(p) {
                raw.brand.get_or_insert_with(|| brand.name.clone());
            }
        }
    }
}

/// `s` ending with a full stop (kept as is when it already ends with `.`, `!` or `?`).
/// Words a product sentence adds around the facts themselves ([`ProductFacts::text`]).
const TEMPLATE_WORDS: [&str; 3] = ["Brand", "Category", "Price"];

/// Whether a product sentence says anything in words: a run of three or more letters (no
/// digits) besides the sentence's own field names. A catalogue whose "names" are attribute
/// ids or codes (`12345`, `c_17`, `B00ABC`) has none, and a sentence model would only learn
/// the digits' look.
pub fn has_words(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|token| {
        token.chars().count() >= 3
            && token.chars().all(char::is_alphabetic)
            && !TEMPLATE_WORDS.contains(&token)
    })
}

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
        let Some(c) = cell_iri(&row[0]) else { continue };
        let node = tree.entry(c.to_owned()).or_default();
        keep_min(&mut node.label, cell_literal(&row[1]));
        keep_min(&mut node.broader, cell_iri(&row[2]));
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

/// What the store says about one product, before its category chain is chosen.
#[derive(Default)]
struct RawProduct {
    name: Option<String>,
    brand: Option<String>,
    price: Option<(f64, Option<String>)>,
    categories: Vec<String>,
}

/// Name, brand, lowest price and categories of every product, or (`product` given) of that
/// one product alone, bound into the query as a term.
fn raw_products(
    store: &KgStore,
    product: Option<&NamedNode>,
) -> Result<BTreeMap<String, RawProduct>, EmbedError> {
    let q = format!(
        "{SPARQL_PREFIXES}SELECT ?p ?name ?brand ?price ?currency ?cat WHERE {{ ?p a schema:Product . \
         OPTIONAL {{ ?p schema:name ?name }} \
         OPTIONAL {{ ?p schema:brand ?b . ?b schema:name ?brand }} \
         OPTIONAL {{ ?p schema:offers ?o . ?o schema:price ?price OPTIONAL {{ ?o schema:priceCurrency ?currency }} }} \
         OPTIONAL {{ ?p schema:category ?cat }} }}"
    );
    let bindings: Vec<(Variable, Term)> = product
        .map(|p| (Variable::new_unchecked("p"), Term::NamedNode(p.clone())))
        .into_iter()
        .collect();
    let mut products: BTreeMap<String, RawProduct> = BTreeMap::new();
    for row in rows(store.query(&q, &bindings, true)?) {
        let Some(p) = cell_iri(&row[0]) else { continue };
        let raw = products.entry(p.to_owned()).or_default();
        keep_min(&mut raw.name, cell_literal(&row[1]));
        keep_min(&mut raw.brand, cell_literal(&row[2]));
        if let Some(price) = cell_literal(&row[3]).and_then(|v| v.trim().parse::<f64>().ok()) {
            if price.is_finite() && raw.price.as_ref().is_none_or(|(old, _)| price < *old) {
                raw.price = Some((price, cell_literal(&row[4]).map(str::to_owned)));
            }
        }
        if let Some(c) = cell_iri(&row[5]) {
            if !raw.categories.iter().any(|x| x == c) {
                raw.categories.push(c.to_owned());
            }
        }
    }
    Ok(products)
}

/// Renders product sentences, the one way both training and serving (a product placed by
/// its text after training) read a product: the deepest category chain with the catalogue's
/// common top category left out, the lowest price, the smallest name and brand.
pub struct ProductSentences {
    tree: HashMap<String, CategoryNode>,
    /// The top category every categorised product falls under, if there is one.
    common_top: Option<String>,
}

impl ProductSentences {
    /// Reads the category tree and finds the catalogue's common top category.
    pub fn new(store: &KgStore) -> Result<Self, EmbedError> {
        Ok(Self::with_products(store)?.0)
    }

    /// The renderer and every product's raw facts, from one read of the catalogue.
    fn with_products(store: &KgStore) -> Result<(Self, BTreeMap<String, RawProduct>), EmbedError> {
        let mut sentences = ProductSentences {
            tree: category_tree(store)?,
            common_top: None,
        };
        let products = raw_products(store, None)?;
        let mut tops = products
            .values()
            .filter_map(|raw| sentences.deepest_chain(raw))
            .map(|c| c[0].clone());
        sentences.common_top = match tops.next() {
            Some(first) if tops.all(|t| t == first) => Some(first),
            _ => None,
        };
        Ok((sentences, products))
    }

    fn label(&self, c: &str) -> String {
        self.tree
            .get(c)
            .and_then(|n| n.label.clone())
            .unwrap_or_else(|| c.rsplit('/').next().unwrap_or(c).to_owned())
    }

    /// The product's deepest category chain (ties: smaller label, then IRI).
    fn deepest_chain(&self, raw: &RawProduct) -> Option<Vec<String>> {
        raw.categories
            .iter()
            .map(|c| chain(&self.tree, c))
            .max_by(|a, b| {
                let (la, lb) = (self.label(&a[a.len() - 1]), self.label(&b[b.len() - 1]));
                a.len()
                    .cmp(&b.len())
                    .then_with(|| lb.cmp(&la))
                    .then_with(|| b[b.len() - 1].cmp(&a[a.len() - 1]))
            })
    }

    fn facts_of(&self, raw: &RawProduct) -> ProductFacts {
        let chain = self.deepest_chain(raw).unwrap_or_default();
        let mut path: &[String] = &chain;
        if path.len() > 1 && self.common_top.as_ref() == path.first() {
            path = &path[1..];
        }
        ProductFacts {
            name: raw.name.clone(),
            brand: raw.brand.clone(),
            categories: path.iter().map(|c| self.label(c)).collect(),
            price: raw.price.clone(),
        }
    }

    /// The facts of one product as its sentence reads them; `None` when the store does not
    /// know it as a `schema:Product`.
    pub fn facts(
        &self,
        store: &KgStore,
        product: &NamedNode,
    ) -> Result<Option<ProductFacts>, EmbedError> {
        Ok(raw_products(store, Some(product))?
            .get(product.as_str())
            .map(|raw| self.facts_of(raw)))
    }
}

/// The text of every product that has at least a name, brand, category or price, sorted by
/// IRI.
pub fn product_texts(store: &KgStore) -> Result<Vec<(String, String)>, EmbedError> {
    product_texts_repaired(store, &CatalogueRepairs::default())
}

/// [`product_texts`] with `repairs` read over the store's facts.
pub fn product_texts_repaired(
    store: &KgStore,
    repairs: &CatalogueRepairs,
) -> Result<Vec<(String, String)>, EmbedError> {
    let (sentences, mut products) = ProductSentences::with_products(store)?;
    repairs.apply(&mut products);
    Ok(products
        .iter()
        .filter_map(|(p, raw)| sentences.facts_of(raw).text().map(|t| (p.clone(), t)))
        .collect())
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
        if let Some(e) = cell_iri(&row[0]) {
            let v = cell_literal(&row[1])
                .map(str::trim)
                .filter(|n| !n.is_empty());
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

    #[test]
    fn a_sentence_of_ids_and_codes_has_no_words() {
        let ids = ProductFacts {
            name: Some("12345".into()),
            brand: Some("b_17".into()),
            categories: vec!["c_3".into(), "B00ABC12".into()],
            price: Some((9.0, None)),
        };
        assert!(!has_words(&ids.text().unwrap()));
        assert!(has_words("OPI Nail Lacquer. Brand: OPI."));
        assert!(has_words("Brand: Nivea."));
        assert!(!has_words("Brand: 7. Category: 12 > 3."));
    }
}

#[cfg(test)]
pub(crate) mod store_tests {
    use super::*;
    use oxigraph::io::{RdfFormat, RdfParser};

    /// A product in two categories of different depth, offered at two prices.
    pub(crate) const TWO_PRICES: &str =
        include_str!("../../tests/fixtures/product-two-prices.trig");

    #[test]
    fn one_product_reads_as_in_the_whole_catalogue() {
        let store = KgStore::in_memory().unwrap();
        let quads = RdfParser::from_format(RdfFormat::TriG).for_reader(TWO_PRICES.as_bytes());
        store.bulk_load(quads, None).unwrap();
        let all = product_texts(&store).unwrap();
        let p1 = NamedNode::new("http://example.org/p1").unwrap();
        let expected = "Red lacquer. Category: Nails > Nail Polish. Price: $9.50.";
        assert_eq!(all[0], (p1.as_str().to_owned(), expected.to_owned()));
        let one = ProductSentences::new(&store)
            .unwrap()
            .facts(&store, &p1)
            .unwrap()
            .unwrap();
        assert_eq!(one.text().as_deref(), Some(expected));
    }
}
