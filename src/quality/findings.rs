//! What a check finds: a [`Finding`] of some [`IssueKind`] (each belonging to one [`Check`])
//! at a [`Severity`], about one focus node. The kinds are individuals of the ontology
//! (`kgr:NearDuplicate`, …, in `ontology/kgrec.ttl`), so the names here and there agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One of the five checks of `kgrec check` (`--only`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// SHACL shapes (`ontology/shapes.ttl`).
    Shapes,
    /// Text hygiene of names, brands, descriptions and category labels.
    Text,
    /// Products listed twice.
    Duplicates,
    /// Prices and categories that do not fit.
    Outliers,
    /// Accounts and items whose activity does not look human.
    Behaviour,
}

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Check; 5] = [
        Check::Shapes,
        Check::Text,
        Check::Duplicates,
        Check::Outliers,
        Check::Behaviour,
    ];

    /// The name used on the command line and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Shapes => "shapes",
            Check::Text => "text",
            Check::Duplicates => "duplicates",
            Check::Outliers => "outliers",
            Check::Behaviour => "behaviour",
        }
    }

    /// The check named `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Check, String> {
        Check::ALL
            .into_iter()
            .find(|c| c.as_str() == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown check '{name}': expected one of {}",
                    Check::ALL.map(Check::as_str).join(", ")
                )
            })
    }
}

/// How bad a finding is; the SHACL severities, so a shape result and a finding compare.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing (`sh:Info`).
    Info,
    /// Probably wrong (`sh:Warning`).
    Warning,
    /// Wrong (`sh:Violation`); `kgrec check --fail-on error` exits 1.
    Error,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// The SHACL severity IRI.
    pub fn shacl_iri(self) -> &'static str {
        match self {
            Severity::Info => "http://www.w3.org/ns/shacl#Info",
            Severity::Warning => "http://www.w3.org/ns/shacl#Warning",
            Severity::Error => "http://www.w3.org/ns/shacl#Violation",
        }
    }

    /// The severity of a SHACL severity IRI (an unknown one counts as a violation, as SHACL
    /// says of custom severities).
    pub fn from_shacl_iri(iri: &str) -> Severity {
        match iri {
            "http://www.w3.org/ns/shacl#Info" => Severity::Info,
            "http://www.w3.org/ns/shacl#Warning" => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The severity named `name`.
    pub fn parse(name: &str) -> Result<Severity, String> {
        [Severity::Info, Severity::Warning, Severity::Error]
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| format!("unknown severity '{name}': expected info, warning or error"))
    }
}

/// What kind of problem a finding is. Each is a `kgr:QualityIssueKind` individual of the
/// ontology, named as in [`IssueKind::local_name`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    /// A SHACL constraint is not met.
    ShapeViolation,
    /// HTML entities left in text (`&amp;`, `&#39;`).
    HtmlEntity,
    /// HTML or XML markup in text.
    Markup,
    /// Control characters in text.
    ControlCharacter,
    /// UTF-8 read as Latin-1 or Windows-1252 (`Ã©` for `é`).
    Mojibake,
    /// A product name in capitals only.
    AllCaps,
    /// An empty or blank name.
    EmptyName,
    /// Two products with the same normalised title and brand.
    ExactDuplicate,
    /// Two products that are very probably the same thing.
    NearDuplicate,
    /// A price far from its category's.
    PriceOutlier,
    /// A category the product's co-purchase neighbours contradict.
    CategoryMismatch,
    /// A product with no brand whose title begins with a catalogue brand's name.
    UnlinkedBrand,
    /// Many events within seconds.
    Burst,
    /// Far more interactions than the rest.
    HeavyActivity,
    /// The same rating on everything.
    ConstantRating,
    /// The same items as several other accounts.
    CopiedSequence,
    /// Activity concentrated on a few products of one brand, with other accounts doing the same.
    Shilling,
    /// Items without any relation to each other: no shared brand, category or co-purchase.
    RandomActivity,
    /// An item whose activity comes mostly from flagged accounts or in a sudden spike.
    ItemSpike,
}

impl IssueKind {
    /// Every kind.
    pub const ALL: [IssueKind; 19] = [
        IssueKind::ShapeViolation,
        IssueKind::HtmlEntity,
        IssueKind::Markup,
        IssueKind::ControlCharacter,
        IssueKind::Mojibake,
        IssueKind::AllCaps,
        IssueKind::EmptyName,
        IssueKind::ExactDuplicate,
        IssueKind::NearDuplicate,
        IssueKind::PriceOutlier,
        IssueKind::CategoryMismatch,
        IssueKind::UnlinkedBrand,
        IssueKind::Burst,
        IssueKind::HeavyActivity,
        IssueKind::ConstantRating,
        IssueKind::CopiedSequence,
        IssueKind::Shilling,
        IssueKind::RandomActivity,
        IssueKind::ItemSpike,
    ];

    /// The check that finds this kind.
    pub fn check(self) -> Check {
        use IssueKind::*;
        match self {
            ShapeViolation => Check::Shapes,
            HtmlEntity | Markup | ControlCharacter | Mojibake | AllCaps | EmptyName => Check::Text,
            ExactDuplicate | NearDuplicate => Check::Duplicates,
            PriceOutlier | CategoryMismatch | UnlinkedBrand => Check::Outliers,
            Burst | HeavyActivity | ConstantRating | CopiedSequence | Shilling | RandomActivity
            | ItemSpike => Check::Behaviour,
        }
    }

    /// The kebab-case name (`near-duplicate`), as in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        use IssueKind::*;
        match self {
            ShapeViolation => "shape-violation",
            HtmlEntity => "html-entity",
            Markup => "markup",
            ControlCharacter => "control-character",
            Mojibake => "mojibake",
            AllCaps => "all-caps",
            EmptyName => "empty-name",
            ExactDuplicate => "exact-duplicate",
            NearDuplicate => "near-duplicate",
            PriceOutlier => "price-outlier",
            CategoryMismatch => "category-mismatch",
            UnlinkedBrand => "unlinked-brand",
            Burst => "burst",
            HeavyActivity => "heavy-activity",
            ConstantRating => "constant-rating",
            CopiedSequence => "copied-sequence",
            Shilling => "shilling",
            RandomActivity => "random-activity",
            ItemSpike => "item-spike",
        }
    }

    /// The ontology individual's local name (`NearDuplicate`): the name in camel case.
    pub fn local_name(self) -> String {
        self.as_str()
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The kind with this kebab-case or ontology name.
    pub fn parse(name: &str) -> Option<IssueKind> {
        IssueKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name || k.local_name() == name)
    }

    /// Whether the kind flags an account as not human, so `train --exclude-flagged` leaves its
    /// interactions out. Heavy activity and constant ratings alone are not enough: real
    /// customers do both.
    pub fn flags_account(self) -> bool {
        matches!(
            self,
            IssueKind::Burst
                | IssueKind::CopiedSequence
                | IssueKind::Shilling
                | IssueKind::RandomActivity
        )
    }

    /// Whether training can read the finding's repair in place of what the store says: a
    /// certain text repair (entities decoded, control characters dropped, mojibake undone)
    /// or the brand a product's title names.
    pub fn repairs_catalogue(self) -> bool {
        matches!(
            self,
            IssueKind::HtmlEntity
                | IssueKind::ControlCharacter
                | IssueKind::Mojibake
                | IssueKind::UnlinkedBrand
        )
    }

    /// Whether the kind flags an account for acting like a group of others (its related
    /// nodes), so training counts the group as one account rather than none.
    pub fn flags_group(self) -> bool {
        matches!(self, IssueKind::CopiedSequence | IssueKind::Shilling)
    }
}

/// One problem found: what, how bad, about which node, why, and the figures behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// What kind of problem.
    pub kind: IssueKind,
    /// How bad.
    pub severity: Severity,
    /// The node it is about (a product, user, brand, category or offer IRI).
    pub focus: String,
    /// Other nodes involved: the product a duplicate duplicates (its representative first);
    /// the accounts a copied-sequence or shilling account acts like.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    /// Why, for a person, with the figures.
    pub reason: String,
    /// How strong the evidence is; comparable within a kind (higher is stronger).
    pub score: f64,
    /// The figures behind the finding, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub evidence: BTreeMap<String, serde_json::Value>,
}

impl Finding {
    /// A finding with no related nodes or evidence yet.
    pub fn new(
        kind: IssueKind,
        severity: Severity,
        focus: &str,
        reason: String,
        score: f64,
    ) -> Self {
        Finding {
            kind,
            severity,
            focus: focus.to_owned(),
            related: Vec::new(),
            reason,
            score,
            evidence: BTreeMap::new(),
        }
    }

    /// Adds a figure to the evidence.
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.evidence.insert(name.to_owned(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in IssueKind::ALL {
            assert_eq!(IssueKind::parse(kind.as_str()), Some(kind));
            assert_eq!(IssueKind::parse(&kind.local_name()), Some(kind));
        }
        assert_eq!(IssueKind::NearDuplicate.local_name(), "NearDuplicate");
        assert!(Check::parse("behaviour").is_ok());
        let err = Check::parse("bots").unwrap_err();
        assert!(
            err.contains("shapes, text, duplicates, outliers, behaviour"),
            "{err}"
        );
    }
}
