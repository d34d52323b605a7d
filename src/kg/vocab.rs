//! The kgrec vocabulary: namespaces, terms of `ontology/kgrec.ttl`, named graphs and the
//! rules that mint stable IRIs for data entities.
//!
//! Every importer goes through these functions, so the same product, user or interaction
//! always gets the same IRI and re-importing a dataset never duplicates anything.

use oxigraph::model::NamedNode;

/// Namespace of kgrec's own terms (`kgr:`).
pub const KGR: &str = "https://w3id.org/kgrec/ns#";
/// Namespace of schema.org terms (`schema:`), in its widely used `http` form.
pub const SCHEMA: &str = "http://schema.org/";
/// Namespace of SKOS (`skos:`), used for the category tree.
pub const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
/// Namespace of RDF Schema (`rdfs:`).
pub const RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
/// Namespace of RDF (`rdf:`).
pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
/// Namespace of XML Schema datatypes (`xsd:`).
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
/// Prefix under which kgrec mints IRIs for data entities.
pub const ID: &str = "https://w3id.org/kgrec/id/";
/// Prefix of kgrec's named graphs.
pub const GRAPH: &str = "https://w3id.org/kgrec/graph/";
/// Freebase namespace, used for `m.`/`g.` entity ids in research KGs (KB4Rec links).
pub const FREEBASE: &str = "http://rdf.freebase.com/ns/";

/// SPARQL prologue with every prefix above, for code and tests that build queries (saved
/// queries carry their own prefixes).
pub const SPARQL_PREFIXES: &str = "PREFIX kgr: <https://w3id.org/kgrec/ns#>\n\
PREFIX schema: <http://schema.org/>\n\
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n\
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n\
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n\
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n";

fn term(ns: &str, local: &str) -> NamedNode {
    let mut iri = String::with_capacity(ns.len() + local.len());
    iri.push_str(ns);
    iri.push_str(local);
    NamedNode::new_unchecked(iri)
}

/// A `kgr:` term.
pub fn kgr(local: &str) -> NamedNode {
    term(KGR, local)
}
/// A `schema:` term.
pub fn schema(local: &str) -> NamedNode {
    term(SCHEMA, local)
}
/// A `skos:` term.
pub fn skos(local: &str) -> NamedNode {
    term(SKOS, local)
}
/// An `rdfs:` term.
pub fn rdfs(local: &str) -> NamedNode {
    term(RDFS, local)
}
/// `rdf:type`.
pub fn rdf_type() -> NamedNode {
    term(RDF, "type")
}

/// The part of the knowledge graph a named graph holds; each can be reloaded alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GraphPart {
    /// Products, brands, categories, offers and product-to-product relations.
    Catalogue,
    /// Users, interaction events and the direct user→item edges.
    Interactions,
    /// External KG triples (Freebase, Satori, …) and their links to items.
    External,
}

impl GraphPart {
    /// The path segment used in the graph IRI.
    pub fn as_str(self) -> &'static str {
        match self {
            GraphPart::Catalogue => "catalogue",
            GraphPart::Interactions => "interactions",
            GraphPart::External => "external",
        }
    }
}

/// The named graph holding one part of one source, e.g.
/// `https://w3id.org/kgrec/graph/amazon-beauty/catalogue`.
pub fn graph(source: &str, part: GraphPart) -> NamedNode {
    NamedNode::new_unchecked(format!(
        "{GRAPH}{}/{}",
        encode_segment(source),
        part.as_str()
    ))
}

/// The named graph of forgetting records: each user forgotten through the service leaves one
/// (their IRI's SHA-256 and the second), which other replicas follow. Not part of the KG.
pub fn forgotten_graph() -> NamedNode {
    NamedNode::new_unchecked(format!("{GRAPH}events/forgotten"))
}

/// The named graph where kgrec records what it imported (file hashes, counts, time).
pub fn meta_graph() -> NamedNode {
    NamedNode::new_unchecked(format!("{GRAPH}meta"))
}

/// The kind of a user–item interaction (`kgr:InteractionKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InteractionKind {
    /// The user bought the item.
    Purchase,
    /// The user viewed the item.
    View,
    /// The user gave the item an explicit rating.
    Rating,
    /// The user wrote a review (usually with a rating).
    Review,
    /// The user clicked, listened to or otherwise engaged with the item (implicit feedback).
    Click,
}

impl InteractionKind {
    /// The `kgr:` individual naming this kind.
    pub fn iri(self) -> NamedNode {
        kgr(match self {
            InteractionKind::Purchase => "Purchase",
            InteractionKind::View => "View",
            InteractionKind::Rating => "Rating",
            InteractionKind::Review => "Review",
            InteractionKind::Click => "Click",
        })
    }

    /// Every kind.
    pub const ALL: [InteractionKind; 5] = [
        InteractionKind::Purchase,
        InteractionKind::View,
        InteractionKind::Rating,
        InteractionKind::Review,
        InteractionKind::Click,
    ];

    /// The kind with this short name (`purchase`, `view`…).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Short lowercase name, used in interaction IRIs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::Purchase => "purchase",
            InteractionKind::View => "view",
            InteractionKind::Rating => "rating",
            InteractionKind::Review => "review",
            InteractionKind::Click => "click",
        }
    }
}

/// Which part of a dataset's own split an interaction belongs to (`kgr:split`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training interaction.
    Train,
    /// Validation interaction.
    Valid,
    /// Test interaction.
    Test,
}

impl Split {
    /// The `kgr:` individual naming this split.
    pub fn iri(self) -> NamedNode {
        kgr(match self {
            Split::Train => "Train",
            Split::Valid => "Valid",
            Split::Test => "Test",
        })
    }
}

/// A product-to-product relation of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductRelation {
    /// Customers who bought the head also bought the tail (`kgr:alsoBought`).
    AlsoBought,
    /// Customers who viewed the head also viewed the tail (`kgr:alsoViewed`).
    AlsoViewed,
    /// Head and tail are frequently bought together (`kgr:boughtTogether`).
    BoughtTogether,
}

impl ProductRelation {
    /// The property IRI.
    pub fn iri(self) -> NamedNode {
        kgr(match self {
            ProductRelation::AlsoBought => "alsoBought",
            ProductRelation::AlsoViewed => "alsoViewed",
            ProductRelation::BoughtTogether => "boughtTogether",
        })
    }

    /// Recognises the relation names used by Amazon metadata and research dumps
    /// (`also_bought`, `also_buy`, `also_viewed`, `also_view`, `bought_together`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "also_bought" | "also_buy" | "alsoBought" => Some(ProductRelation::AlsoBought),
            "also_viewed" | "also_view" | "alsoViewed" => Some(ProductRelation::AlsoViewed),
            "bought_together" | "boughtTogether" => Some(ProductRelation::BoughtTogether),
            _ => None,
        }
    }
}

/// Percent-encodes a string so that it can be one IRI path segment: unreserved characters
/// stay, everything else (including `/`, spaces and non-ASCII bytes) is `%XX`-escaped.
pub fn encode_segment(s: &str) -> String {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    if s.bytes().all(unreserved) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Mints entity IRIs inside one id namespace, e.g. `amazon` for everything keyed by ASIN and
/// Amazon reviewer id, so that Amazon datasets loaded side by side share their products.
#[derive(Clone, Debug)]
pub struct IriMinter {
    base: String,
}

impl IriMinter {
    /// A minter for `https://w3id.org/kgrec/id/{namespace}/…`.
    pub fn new(namespace: &str) -> Self {
        Self {
            base: format!("{ID}{}/", encode_segment(namespace)),
        }
    }

    fn mint(&self, kind: &str, id: &str) -> NamedNode {
        let mut iri = String::with_capacity(self.base.len() + kind.len() + id.len() + 1);
        iri.push_str(&self.base);
        iri.push_str(kind);
        iri.push('/');
        iri.push_str(&encode_segment(id));
        NamedNode::new_unchecked(iri)
    }

    /// A product (`schema:Product`).
    pub fn product(&self, id: &str) -> NamedNode {
        self.mint("product", id)
    }
    /// A user (`kgr:User`).
    pub fn user(&self, id: &str) -> NamedNode {
        self.mint("user", id)
    }
    /// A brand (`schema:Brand`), keyed by its name.
    pub fn brand(&self, name: &str) -> NamedNode {
        self.mint("brand", name)
    }
    /// A category (`kgr:Category`), keyed by its name or path.
    pub fn category(&self, key: &str) -> NamedNode {
        self.mint("category", key)
    }
    /// An interaction event, keyed by the stable identity the importer derives from the data.
    pub fn interaction(&self, key: &str) -> NamedNode {
        self.mint("interaction", key)
    }
    /// A sampled negative (CTR datasets), keyed like an interaction.
    pub fn negative(&self, key: &str) -> NamedNode {
        self.mint("negative", key)
    }
    /// The offer of a product.
    pub fn offer(&self, product_id: &str) -> NamedNode {
        self.mint("offer", product_id)
    }
    /// An external KG entity that has no IRI of its own in the source data.
    pub fn entity(&self, id: &str) -> NamedNode {
        if is_freebase_id(id) {
            NamedNode::new_unchecked(format!("{FREEBASE}{id}"))
        } else {
            self.mint("entity", id)
        }
    }
    /// An external KG relation; Freebase-style dotted names become Freebase IRIs.
    pub fn relation(&self, name: &str, freebase: bool) -> NamedNode {
        if freebase && name.contains('.') {
            NamedNode::new_unchecked(format!("{FREEBASE}{}", encode_segment(name)))
        } else {
            self.mint("relation", name)
        }
    }
}

/// Freebase MIDs look like `m.0abc12` or `g.11b…`.
pub fn is_freebase_id(id: &str) -> bool {
    (id.starts_with("m.") || id.starts_with("g."))
        && id.len() > 2
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped_and_stable() {
        assert_eq!(encode_segment("Nail Polish/Gel"), "Nail%20Polish%2FGel");
        assert_eq!(encode_segment("B004756YJA"), "B004756YJA");
        let m = IriMinter::new("amazon");
        assert_eq!(
            m.product("B004756YJA").as_str(),
            "https://w3id.org/kgrec/id/amazon/product/B004756YJA"
        );
        assert_eq!(m.brand("L'Oréal").as_str(), m.brand("L'Oréal").as_str());
        assert!(NamedNode::new(m.brand("L'Oréal & Co").as_str()).is_ok());
    }

    #[test]
    fn freebase_ids_get_freebase_iris() {
        let m = IriMinter::new("ml-100k");
        assert_eq!(
            m.entity("m.04ctbw8").as_str(),
            "http://rdf.freebase.com/ns/m.04ctbw8"
        );
        assert_eq!(
            m.relation("film.film.actor", true).as_str(),
            "http://rdf.freebase.com/ns/film.film.actor"
        );
        assert!(m.entity("3846").as_str().ends_with("/entity/3846"));
        assert!(!is_freebase_id("m."));
    }

    #[test]
    fn product_relation_names() {
        assert_eq!(
            ProductRelation::from_name("also_buy"),
            Some(ProductRelation::AlsoBought)
        );
        assert_eq!(ProductRelation::from_name("produced_by"), None);
    }
}
