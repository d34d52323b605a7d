//! [`ItemFilter`]: the part of the catalogue a ranking may answer from (a category, a brand),
//! as a mask over the served rows.

use std::collections::{HashMap, HashSet};

use super::catalogue::CatalogueItem;
use crate::error::RecError;

/// Restricts a ranking to part of the catalogue.
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    /// A category, by IRI or by label (case-insensitive).
    pub category: Option<String>,
    /// A brand, by IRI or by name (case-insensitive).
    pub brand: Option<String>,
}

impl ItemFilter {
    /// Which rows of `catalogue` pass (`None`: all); `category_labels` maps category IRIs to
    /// their labels. An unknown brand or category is an error, so that a typo is not answered
    /// with an empty list.
    pub fn mask(
        &self,
        catalogue: &[CatalogueItem],
        category_labels: &HashMap<String, String>,
    ) -> Result<Option<Vec<bool>>, RecError> {
        if self.brand.is_none() && self.category.is_none() {
            return Ok(None);
        }
        let brand = self.brand.as_deref().map(str::to_lowercase);
        let categories: Option<HashSet<&str>> = match &self.category {
            None => None,
            Some(c) => {
                let wanted = c.to_lowercase();
                let set: HashSet<&str> = category_labels
                    .iter()
                    .filter(|(iri, label)| **iri == *c || label.to_lowercase() == wanted)
                    .map(|(iri, _)| iri.as_str())
                    .chain(
                        catalogue
                            .iter()
                            .flat_map(|i| i.categories.iter())
                            .filter(|iri| **iri == *c)
                            .map(String::as_str),
                    )
                    .collect();
                if set.is_empty() {
                    return Err(RecError::NotFound(format!("category {c}")));
                }
                Some(set)
            }
        };
        let mask: Vec<bool> = catalogue
            .iter()
            .map(|item| {
                let brand_ok = brand.as_ref().is_none_or(|b| {
                    item.brand_iri
                        .as_deref()
                        .is_some_and(|i| i.to_lowercase() == *b)
                        || item
                            .brand
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase() == *b)
                });
                let category_ok = categories
                    .as_ref()
                    .is_none_or(|set| item.categories.iter().any(|c| set.contains(c.as_str())));
                brand_ok && category_ok
            })
            .collect();
        if let (Some(b), false) = (&self.brand, mask.iter().any(|&m| m)) {
            if !catalogue.iter().any(|i| {
                i.brand_iri.as_deref() == Some(b.as_str())
                    || i.brand
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(b))
            }) {
                return Err(RecError::NotFound(format!("brand {b}")));
            }
        }
        Ok(Some(mask))
    }
}
