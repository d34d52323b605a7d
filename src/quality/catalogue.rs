//! The catalogue as the checks read it: every product with its text, brand, categories,
//! price and co-purchase neighbours, brands and categories with their labels, in plain types
//! read from the store once per run.

use std::collections::HashMap;

use crate::error::RecError;
use crate::kg::results::{cell_iri as iri, cell_literal as literal};
use crate::kg::vocab::SPARQL_PREFIXES;
use crate::kg::KgStore;
use crate::util::keep_min;

/// One product.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Product {
    /// Its IRI.
    pub iri: String,
    /// `schema:name` (the smallest when there are several: shapes report those).
    pub name: Option<String>,
    /// `schema:description`.
    pub description: Option<String>,
    /// Its brand's index in [`Catalogue::brands`].
    pub brand: Option<usize>,
    /// Its categories' indices in [`Catalogue::categories`].
    pub categories: Vec<usize>,
    /// Price of its offer, and the offer's IRI.
    pub price: Option<(f64, String)>,
    /// Co-purchase and co-view neighbours (`kgr:alsoBought`, `kgr:boughtTogether`,
    /// `kgr:alsoViewed`, either way), as product indices.
    pub neighbours: Vec<usize>,
}

/// A brand or category: IRI and label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labelled {
    /// Its IRI.
    pub iri: String,
    /// `schema:name` of a brand, `skos:prefLabel` of a category.
    pub label: Option<String>,
    /// A category's broader category (index), if any.
    pub broader: Option<usize>,
}

impl Labelled {
    /// A brand or category known by its IRI only.
    pub fn new(iri: &str) -> Self {
        Labelled {
            iri: iri.to_owned(),
            ..Labelled::default()
        }
    }
}

/// The whole catalogue.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// Every `schema:Product`.
    pub products: Vec<Product>,
    /// Every `schema:Brand` a product names.
    pub brands: Vec<Labelled>,
    /// Every `kgr:Category`.
    pub categories: Vec<Labelled>,
    index: HashMap<String, usize>,
}

fn index_of(list: &mut Vec<Labelled>, index: &mut HashMap<String, usize>, iri: &str) -> usize {
    *index.entry(iri.to_owned()).or_insert_with(|| {
        list.push(Labelled::new(iri));
        list.len() - 1
    })
}

impl Catalogue {
    /// Reads the catalogue from every graph of the store.
    pub fn read(store: &KgStore) -> Result<Self, RecError> {
        let mut cat = Catalogue::default();
        let q = format!(
            "{SPARQL_PREFIXES}SELECT ?p ?name ?desc ?brand ?offer ?price WHERE {{ \
             ?p a schema:Product . OPTIONAL {{ ?p schema:name ?name }} \
             OPTIONAL {{ ?p schema:description ?desc }} OPTIONAL {{ ?p schema:brand ?brand }} \
             OPTIONAL {{ ?p schema:offers ?offer OPTIONAL {{ ?offer schema:price ?price }} }} }}"
        );
        let mut brand_index = HashMap::new();
        let mut brands = Vec::new();
        store.for_each_solution(&q, |row| {
            let Some(p) = iri(&row[0]) else { return };
            let i = cat.product_or_insert(p);
            let product = &mut cat.products[i];
            keep_min(&mut product.name, literal(&row[1]));
            keep_min(&mut product.description, literal(&row[2]));
            if let Some(b) = iri(&row[3]) {
                if product.brand.is_none() {
                    product.brand = Some(index_of(&mut brands, &mut brand_index, b));
                }
            }
            if let (Some(offer), Some(price)) = (iri(&row[4]), literal(&row[5])) {
                if let Ok(v) = price.parse::<f64>() {
                    product.price.get_or_insert((v, offer.to_owned()));
                }
            }
        })?;
        let q = format!(
            "{SPARQL_PREFIXES}SELECT ?b ?name WHERE {{ ?b a schema:Brand OPTIONAL {{ ?b schema:name ?name }} }}"
        );
        store.for_each_solution(&q, |row| {
            if let Some(b) = iri(&row[0]) {
                let i = index_of(&mut brands, &mut brand_index, b);
                keep_min(&mut brands[i].label, literal(&row[1]));
            }
        })?;
        cat.brands = brands;

        let mut cat_index = HashMap::new();
        let mut categories = Vec::new();
        let q = format!(
            "{SPARQL_PREFIXES}SELECT ?c ?label ?broader WHERE {{ ?c a kgr:Category \
             OPTIONAL {{ ?c skos:prefLabel ?label }} OPTIONAL {{ ?c skos:broader ?broader }} }}"
        );
        store.for_each_solution(&q, |row| {
            let Some(c) = iri(&row[0]) else { return };
            let i = index_of(&mut categories, &mut cat_index, c);
            keep_min(&mut categories[i].label, literal(&row[1]));
            if let Some(b) = iri(&row[2]) {
                let j = index_of(&mut categories, &mut cat_index, b);
                categories[i].broader.get_or_insert(j);
            }
        })?;
        let q = format!("{SPARQL_PREFIXES}SELECT ?p ?c WHERE {{ ?p schema:category ?c }}");
        let mut memberships = Vec::new();
        store.for_each_solution(&q, |row| {
            if let (Some(p), Some(c)) = (iri(&row[0]), iri(&row[1])) {
                memberships.push((p.to_owned(), c.to_owned()));
            }
        })?;
        for (p, c) in memberships {
            if let Some(&i) = cat.index.get(&p) {
                let j = index_of(&mut categories, &mut cat_index, &c);
                if !cat.products[i].categories.contains(&j) {
                    cat.products[i].categories.push(j);
                }
            }
        }
        cat.categories = categories;

        let q = format!(
            "{SPARQL_PREFIXES}SELECT ?a ?b WHERE {{ ?a kgr:alsoBought|kgr:boughtTogether|kgr:alsoViewed ?b }}"
        );
        let mut links: Vec<(usize, usize)> = Vec::new();
        store.for_each_solution(&q, |row| {
            if let (Some(a), Some(b)) = (iri(&row[0]), iri(&row[1])) {
                if let (Some(&i), Some(&j)) = (cat.index.get(a), cat.index.get(b)) {
                    if i != j {
                        links.push((i, j));
                    }
                }
            }
        })?;
        for (i, j) in links {
            cat.products[i].neighbours.push(j);
            cat.products[j].neighbours.push(i);
        }
        for p in &mut cat.products {
            p.neighbours.sort_unstable();
            p.neighbours.dedup();
        }
        Ok(cat)
    }

    fn product_or_insert(&mut self, iri: &str) -> usize {
        if let Some(&i) = self.index.get(iri) {
            return i;
        }
        self.products.push(Product {
            iri: iri.to_owned(),
            ..Product::default()
        });
        self.index.insert(iri.to_owned(), self.products.len() - 1);
        self.products.len() - 1
    }

    /// Builds a catalogue from plain products (tests, benchmarks).
    pub fn from_parts(
        products: Vec<Product>,
        brands: Vec<Labelled>,
        categories: Vec<Labelled>,
    ) -> Self {
        let index = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.iri.clone(), i))
            .collect();
        Catalogue {
            products,
            brands,
            categories,
            index,
        }
    }

    /// The index of a product IRI.
    pub fn product(&self, iri: &str) -> Option<usize> {
        self.index.get(iri).copied()
    }

    /// A brand's label.
    pub fn brand_label(&self, brand: usize) -> Option<&str> {
        self.brands.get(brand).and_then(|b| b.label.as_deref())
    }

    /// A category's depth below the root (a root category is 0).
    pub fn depth(&self, category: usize) -> usize {
        let mut depth = 0;
        let mut at = category;
        while let Some(up) = self.categories.get(at).and_then(|c| c.broader) {
            depth += 1;
            at = up;
            if depth > self.categories.len() {
                break; // a cycle: shapes report it
            }
        }
        depth
    }

    /// The product's most specific category (deepest; the smallest IRI among equals).
    pub fn leaf_category(&self, product: usize) -> Option<usize> {
        self.products[product]
            .categories
            .iter()
            .copied()
            .max_by(|&a, &b| {
                self.depth(a)
                    .cmp(&self.depth(b))
                    .then(self.categories[b].iri.cmp(&self.categories[a].iri))
            })
    }
}
