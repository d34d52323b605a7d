//! [`KgBuilder`]: turns what importers read into quads of the kgrec ontology, in the right
//! named graphs, declaring every entity once and minting stable IRIs.

use std::collections::{HashMap, HashSet};

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Quad, Term};

use crate::kg::vocab::{
    graph, kgr, rdf_type, rdfs, schema, skos, GraphPart, InteractionKind, IriMinter,
    ProductRelation, Split,
};

/// One user–item interaction as an importer reads it.
#[derive(Clone, Debug)]
pub struct InteractionRecord<'a> {
    /// The user's id in the source data.
    pub user: &'a str,
    /// The item's id in the source data.
    pub item: &'a str,
    /// What the user did.
    pub kind: InteractionKind,
    /// Explicit rating, if any.
    pub rating: Option<f64>,
    /// Unix time in seconds, if any.
    pub timestamp: Option<i64>,
    /// Order within the user's sequence, if the data is ordered.
    pub position: Option<u64>,
    /// Split the data assigns, if any.
    pub split: Option<Split>,
    /// Stable identity of this interaction within the source (e.g. `user-item-time`).
    pub key: String,
}

/// What an import contains, counted while building.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// Distinct users with at least one interaction.
    pub users: u64,
    /// Distinct items with at least one interaction.
    pub items: u64,
    /// Interaction events.
    pub interactions: u64,
    /// Sampled negatives (CTR datasets).
    pub negatives: u64,
    /// Products in the catalogue, including those only named by relations.
    pub products: u64,
    /// Brands.
    pub brands: u64,
    /// Categories.
    pub categories: u64,
    /// Knowledge-graph triples: brand and category links, product relations and external triples.
    pub kg_triples: u64,
    /// Items linked to external entities.
    pub links: u64,
}

/// What an importer streams to its caller while it builds, so that loading can run alongside.
pub enum ImportEvent {
    /// Sent first, before any quad: what is being imported, so that the caller can refuse a
    /// duplicate or empty the source's graphs before loading.
    Started {
        /// Source name (graph IRIs).
        source: String,
        /// SHA-256 of the inputs and settings.
        content_hash: String,
    },
    /// A batch of quads.
    Quads(Vec<Quad>),
}

/// The sending end handed to an importer for streaming; `None` collects every quad in memory.
pub type ImportSender = std::sync::mpsc::SyncSender<ImportEvent>;

/// Quads per streamed batch.
const BATCH: usize = 1 << 16;

/// The result of an importer: quads ready for the store, counts and a content hash.
pub struct ImportOutput {
    /// Source name, used in graph IRIs and import records.
    pub source: String,
    /// Every quad, in no particular order (the store is a set); empty when they were streamed.
    pub quads: Vec<Quad>,
    /// What the import contains.
    pub counts: ImportCounts,
    /// SHA-256 of the inputs and settings.
    pub content_hash: String,
}

/// Accumulates the quads of one import.
pub struct KgBuilder {
    source: String,
    minter: IriMinter,
    catalogue: NamedNode,
    interactions: NamedNode,
    external: NamedNode,
    quads: Vec<Quad>,
    sink: Option<ImportSender>,
    content_hash: String,
    products: HashSet<String>,
    users: HashSet<String>,
    brands: HashSet<String>,
    categories: HashSet<String>,
    relations: HashSet<String>,
    entities: HashSet<String>,
    interaction_keys: HashSet<String>,
    edges: HashSet<u128>,
    kg_edges: HashSet<u128>,
    active_users: HashSet<String>,
    active_items: HashSet<String>,
    links: HashMap<String, String>,
    counts: ImportCounts,
}

impl KgBuilder {
    /// A builder writing into the graphs of `source`, minting IRIs in `namespace`. With a
    /// `sink`, quads are streamed in batches (after an [`ImportEvent::Started`]) instead of
    /// being kept.
    pub fn new(
        source: &str,
        namespace: &str,
        content_hash: String,
        sink: Option<ImportSender>,
    ) -> Self {
        let sink = sink.filter(|tx| {
            tx.send(ImportEvent::Started {
                source: source.to_owned(),
                content_hash: content_hash.clone(),
            })
            .is_ok()
        });
        Self {
            source: source.to_owned(),
            minter: IriMinter::new(namespace),
            catalogue: graph(source, GraphPart::Catalogue),
            interactions: graph(source, GraphPart::Interactions),
            external: graph(source, GraphPart::External),
            quads: Vec::new(),
            sink,
            content_hash,
            products: HashSet::new(),
            users: HashSet::new(),
            brands: HashSet::new(),
            categories: HashSet::new(),
            relations: HashSet::new(),
            entities: HashSet::new(),
            interaction_keys: HashSet::new(),
            edges: HashSet::new(),
            kg_edges: HashSet::new(),
            active_users: HashSet::new(),
            active_items: HashSet::new(),
            links: HashMap::new(),
            counts: ImportCounts::default(),
        }
    }

    /// The IRI minter (for importers that need an IRI without declaring anything).
    pub fn minter(&self) -> &IriMinter {
        &self.minter
    }

    fn push(&mut self, s: NamedNode, p: NamedNode, o: impl Into<Term>, part: &GraphPart) {
        let g = match part {
            GraphPart::Catalogue => &self.catalogue,
            GraphPart::Interactions => &self.interactions,
            GraphPart::External => &self.external,
        };
        self.quads.push(Quad::new(s, p, o, g.clone()));
        if self.quads.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(tx) = &self.sink {
            let batch = std::mem::take(&mut self.quads);
            if tx.send(ImportEvent::Quads(batch)).is_err() {
                // The caller stopped listening (it refused the import): build on, keep nothing.
                self.sink = None;
            }
        }
    }

    /// Declares a product (once) and returns its IRI.
    pub fn product(&mut self, id: &str) -> NamedNode {
        let iri = self.minter.product(id);
        if !self.products.contains(id) {
            self.products.insert(id.to_owned());
            let g = GraphPart::Catalogue;
            self.push(iri.clone(), rdf_type(), schema("Product"), &g);
            self.push(
                iri.clone(),
                kgr("sourceId"),
                Literal::new_simple_literal(id),
                &g,
            );
            self.counts.products += 1;
        }
        iri
    }

    /// Sets a product's name.
    pub fn name(&mut self, id: &str, name: &str) {
        let p = self.product(id);
        let g = GraphPart::Catalogue;
        self.push(p, schema("name"), Literal::new_simple_literal(name), &g);
    }

    /// Sets a product's description.
    pub fn description(&mut self, id: &str, text: &str) {
        let p = self.product(id);
        let g = GraphPart::Catalogue;
        self.push(
            p,
            schema("description"),
            Literal::new_simple_literal(text),
            &g,
        );
    }

    /// Links a product to its brand, declaring the brand once.
    pub fn brand(&mut self, id: &str, brand: &str) {
        let p = self.product(id);
        let b = self.minter.brand(brand);
        let g = GraphPart::Catalogue;
        if self.brands.insert(brand.to_owned()) {
            self.push(b.clone(), rdf_type(), schema("Brand"), &g);
            self.push(
                b.clone(),
                schema("name"),
                Literal::new_simple_literal(brand),
                &g,
            );
            self.counts.brands += 1;
        }
        if self.kg_edges.insert(edge_key(&[id, "brand", brand])) {
            self.push(p, schema("brand"), b, &g);
            self.counts.kg_triples += 1;
        }
    }

    /// Declares a category (once) with its label and broader category, returning its IRI.
    pub fn category(&mut self, key: &str, label: &str, broader: Option<&str>) -> NamedNode {
        let c = self.minter.category(key);
        if self.categories.insert(key.to_owned()) {
            let g = GraphPart::Catalogue;
            self.push(c.clone(), rdf_type(), kgr("Category"), &g);
            self.push(
                c.clone(),
                skos("prefLabel"),
                Literal::new_simple_literal(label),
                &g,
            );
            if let Some(b) = broader {
                let b = self.minter.category(b);
                self.push(c.clone(), skos("broader"), b, &g);
            }
            self.counts.categories += 1;
        }
        c
    }

    /// Puts a product in a category declared with [`KgBuilder::category`].
    pub fn in_category(&mut self, id: &str, key: &str) {
        if self.kg_edges.insert(edge_key(&[id, "category", key])) {
            let p = self.product(id);
            let c = self.minter.category(key);
            let g = GraphPart::Catalogue;
            self.push(p, schema("category"), c, &g);
            self.counts.kg_triples += 1;
        }
    }

    /// Gives a product an offer with a price in US dollars.
    pub fn price(&mut self, id: &str, price: f64) {
        let p = self.product(id);
        let o = self.minter.offer(id);
        let g = GraphPart::Catalogue;
        self.push(p, schema("offers"), o.clone(), &g);
        self.push(o.clone(), rdf_type(), schema("Offer"), &g);
        self.push(
            o.clone(),
            schema("price"),
            Literal::new_typed_literal(format!("{price:.2}"), xsd::DECIMAL),
            &g,
        );
        self.push(
            o,
            schema("priceCurrency"),
            Literal::new_simple_literal("USD"),
            &g,
        );
    }

    /// Adds a product-to-product relation, declaring both products.
    pub fn related(&mut self, head: &str, relation: ProductRelation, tail: &str) {
        if self
            .kg_edges
            .insert(edge_key(&[head, relation.iri().as_str(), tail]))
        {
            let h = self.product(head);
            let t = self.product(tail);
            let g = GraphPart::Catalogue;
            self.push(h, relation.iri(), t, &g);
            self.counts.kg_triples += 1;
        }
    }

    /// Declares a user (once) and returns its IRI.
    pub fn user(&mut self, id: &str) -> NamedNode {
        let iri = self.minter.user(id);
        if self.users.insert(id.to_owned()) {
            let g = GraphPart::Interactions;
            self.push(iri.clone(), rdf_type(), kgr("User"), &g);
            self.push(
                iri.clone(),
                kgr("sourceId"),
                Literal::new_simple_literal(id),
                &g,
            );
        }
        iri
    }

    /// Adds an interaction event and the direct user→item edge. Returns `false` (and adds
    /// nothing) when an interaction with the same key was already added.
    pub fn interaction(&mut self, r: &InteractionRecord<'_>) -> bool {
        if !self.interaction_keys.insert(r.key.clone()) {
            return false;
        }
        let u = self.user(r.user);
        let i = self.product(r.item);
        let e = self.minter.interaction(&r.key);
        let g = GraphPart::Interactions;
        self.push(e.clone(), rdf_type(), kgr("Interaction"), &g);
        self.push(e.clone(), kgr("user"), u.clone(), &g);
        self.push(e.clone(), kgr("item"), i.clone(), &g);
        self.push(e.clone(), kgr("kind"), r.kind.iri(), &g);
        if let Some(rating) = r.rating {
            self.push(
                e.clone(),
                kgr("rating"),
                Literal::new_typed_literal(decimal(rating), xsd::DECIMAL),
                &g,
            );
        }
        if let Some(ts) = r.timestamp {
            self.push(
                e.clone(),
                kgr("timestamp"),
                Literal::new_typed_literal(unix_to_datetime(ts), xsd::DATE_TIME),
                &g,
            );
        }
        if let Some(pos) = r.position {
            self.push(
                e.clone(),
                kgr("position"),
                Literal::new_typed_literal(pos.to_string(), xsd::INTEGER),
                &g,
            );
        }
        if let Some(split) = r.split {
            self.push(e, kgr("split"), split.iri(), &g);
        }
        if self.edges.insert(edge_key(&[r.user, r.item])) {
            self.push(u, kgr("interactedWith"), i, &g);
        }
        self.counts.interactions += 1;
        if self.active_users.insert(r.user.to_owned()) {
            self.counts.users += 1;
        }
        if self.active_items.insert(r.item.to_owned()) {
            self.counts.items += 1;
        }
        true
    }

    /// Adds a sampled negative (a user–item pair known not to be an interaction).
    pub fn negative(&mut self, user: &str, item: &str, key: &str, split: Option<Split>) {
        if !self.interaction_keys.insert(format!("negative/{key}")) {
            return;
        }
        let u = self.user(user);
        let i = self.product(item);
        let n = self.minter.negative(key);
        let g = GraphPart::Interactions;
        self.push(n.clone(), rdf_type(), kgr("NegativeSample"), &g);
        self.push(n.clone(), kgr("user"), u, &g);
        self.push(n.clone(), kgr("item"), i, &g);
        if let Some(split) = split {
            self.push(n, kgr("split"), split.iri(), &g);
        }
        self.counts.negatives += 1;
    }

    /// Records that external entity `entity` stands for item `item`: KG triples about the
    /// entity are written on the product, which keeps a `kgr:linkedEntity` to it.
    pub fn link(&mut self, item: &str, entity: &str, entity_iri: NamedNode) {
        let p = self.product(item);
        let g = GraphPart::External;
        self.push(p, kgr("linkedEntity"), entity_iri, &g);
        self.links.insert(entity.to_owned(), item.to_owned());
        self.counts.links += 1;
    }

    /// Adds an external KG triple between entity ids. Linked entities resolve to their
    /// products, and relation names kgrec knows map to its own properties.
    pub fn external(&mut self, head: &str, relation: &str, relation_iri: NamedNode, tail: &str) {
        if let Some(rel) = ProductRelation::from_name(relation) {
            // Product relations connect products, linked to an item or not.
            let h = self
                .links
                .get(head)
                .cloned()
                .unwrap_or_else(|| head.to_owned());
            let t = self
                .links
                .get(tail)
                .cloned()
                .unwrap_or_else(|| tail.to_owned());
            self.related(&h, rel, &t);
            return;
        }
        if !self.kg_edges.insert(edge_key(&[head, relation, tail])) {
            return;
        }
        let h = self.entity(head);
        let t = self.entity(tail);
        let g = GraphPart::External;
        if self.relations.insert(relation.to_owned()) {
            self.push(
                relation_iri.clone(),
                rdf_type(),
                kgr("ExternalRelation"),
                &g,
            );
            self.push(
                relation_iri.clone(),
                rdfs("label"),
                Literal::new_simple_literal(relation),
                &g,
            );
        }
        self.push(h, relation_iri, t, &g);
        self.counts.kg_triples += 1;
    }

    fn entity(&mut self, id: &str) -> NamedNode {
        if let Some(item) = self.links.get(id).cloned() {
            return self.product(&item);
        }
        let iri = self.minter.entity(id);
        if self.entities.insert(id.to_owned()) {
            let g = GraphPart::External;
            self.push(iri.clone(), rdf_type(), kgr("ExternalEntity"), &g);
        }
        iri
    }

    /// Finishes the import, sending the last batch when streaming.
    pub fn finish(mut self) -> ImportOutput {
        self.flush();
        if self.sink.is_some() {
            self.quads.clear();
        }
        ImportOutput {
            source: self.source,
            quads: self.quads,
            counts: self.counts,
            content_hash: self.content_hash,
        }
    }
}

/// A 128-bit key for a tuple of ids (two independent 64-bit FNV-1a variants), so that edge
/// sets need no owned strings; a collision among millions of edges has odds below 1e-25.
fn edge_key(parts: &[&str]) -> u128 {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for p in parts {
        for &byte in p.as_bytes().iter().chain(&[0xff]) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x5bd1_e995);
        }
    }
    (u128::from(a) << 64) | u128::from(b)
}

fn decimal(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Unix seconds as an `xsd:dateTime` in UTC.
pub fn unix_to_datetime(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(unix_to_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(unix_to_datetime(1_393_372_800), "2014-02-26T00:00:00Z");
        assert_eq!(unix_to_datetime(881_250_949), "1997-12-04T15:55:49Z");
    }

    #[test]
    fn entities_are_declared_once_and_interactions_keyed() {
        let mut b = KgBuilder::new("t", "t", String::new(), None);
        b.name("P1", "One");
        b.brand("P1", "Acme");
        b.brand("P2", "Acme");
        let r = InteractionRecord {
            user: "U1",
            item: "P1",
            kind: InteractionKind::Purchase,
            rating: Some(4.0),
            timestamp: None,
            position: Some(0),
            split: None,
            key: "U1-0".into(),
        };
        assert!(b.interaction(&r));
        assert!(!b.interaction(&r));
        let out = b.finish();
        assert_eq!(out.counts.products, 2);
        assert_eq!(out.counts.brands, 1);
        assert_eq!(out.counts.interactions, 1);
        assert_eq!(out.counts.kg_triples, 2);
        let dataset: oxigraph::model::Dataset = out.quads.into_iter().collect();
        // 2 products × 2 + name + brand decl 2 + 2 brand links + user 2 + event 5 + edge 1
        assert_eq!(dataset.len(), 4 + 1 + 2 + 2 + 2 + 6 + 1);
    }
}
