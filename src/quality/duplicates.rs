//! Duplicates: products listed twice under two ids.
//!
//! - **Exact**: the same brand and the same normalised title (lowercase, entities decoded,
//!   punctuation dropped, size units spelled one way, words in any order).
//! - **Near**: within a block (the same brand; a product without a brand is compared with
//!   its most specific category), pairs whose MiniLM product-sentence cosine is at least
//!   [`COSINE_FLOOR`] are scored `title similarity × cosine`, where title similarity is the
//!   Jaccard of the normalised title words with one typo allowed per word. Blocking keeps the
//!   work near-linear in the catalogue: pairs are only formed inside a brand or category.
//!
//! Each pair carries its evidence: shared brand, title similarity, cosine, shared co-purchase
//! neighbours and shared buyers. The product with fewer interactions is the finding's focus;
//! the other, its representative, is `related`.

use std::collections::{BTreeMap, HashMap};

use super::catalogue::Catalogue;
use super::findings::{Finding, IssueKind, Severity};
use crate::embed::product_texts;
use crate::error::RecError;
use crate::eval::{InteractionData, Progress};
use crate::features::text::{encode_rows, load_encoder};
use crate::features::TextFeatureConfig;
use crate::kg::KgStore;
use crate::util::unit_rows;

/// Pairs under this sentence cosine are not scored.
pub const COSINE_FLOOR: f32 = 0.80;

/// The default lowest pair score reported as a near duplicate, chosen on the injected-noise
/// benchmark's first seed (BENCHMARKS.md, "Data quality").
pub const DEFAULT_THRESHOLD: f64 = 0.80;

/// What the duplicates check found.
pub struct DuplicateFindings {
    /// One finding per pair.
    pub findings: Vec<Finding>,
    /// What could not be checked.
    pub notes: Vec<String>,
}

/// Words of a title, normalised so that spelling, case, word order and unit spelling do not
/// matter: `"OPI Nail Lacquer, 0.5-Fluid Ounce"` → `["0.5", "lacquer", "nail", "opi", "oz"]`.
pub fn title_words(title: &str) -> Vec<String> {
    let decoded = html_escape::decode_html_entities(title).to_lowercase();
    let mut spaced = String::with_capacity(decoded.len() + 8);
    let mut prev: Option<char> = None;
    for c in decoded.chars() {
        // Split "0.5oz" into "0.5 oz"; keep "0.5" whole.
        if let Some(p) = prev {
            if (p.is_ascii_digit() && c.is_alphabetic())
                || (p.is_alphabetic() && c.is_ascii_digit())
            {
                spaced.push(' ');
            }
        }
        if c.is_alphanumeric() || c == '.' {
            spaced.push(c);
        } else {
            spaced.push(' ');
        }
        prev = Some(c);
    }
    let mut words: Vec<String> = Vec::new();
    for raw in spaced.split_whitespace() {
        let w = raw.trim_matches('.');
        if w.is_empty() {
            continue;
        }
        match unit_of(w) {
            Some("") => continue,
            Some(unit) => words.push(unit.to_owned()),
            None => words.push(w.to_owned()),
        }
    }
    words.sort();
    words.dedup();
    words
}

/// Unit spellings and the one spelling they normalise to (`""`: a word dropped, as `fluid`
/// in "fluid ounce").
const UNITS: &[(&str, &str)] = &[
    ("fl", ""),
    ("fluid", ""),
    ("oz", "oz"),
    ("ounce", "oz"),
    ("ounces", "oz"),
    ("onz", "oz"),
    ("ml", "ml"),
    ("milliliter", "ml"),
    ("milliliters", "ml"),
    ("millilitre", "ml"),
    ("millilitres", "ml"),
    ("l", "l"),
    ("liter", "l"),
    ("liters", "l"),
    ("litre", "l"),
    ("litres", "l"),
    ("g", "g"),
    ("gr", "g"),
    ("gram", "g"),
    ("grams", "g"),
    ("kg", "kg"),
    ("kilogram", "kg"),
    ("kilograms", "kg"),
    ("lb", "lb"),
    ("lbs", "lb"),
    ("pound", "lb"),
    ("pounds", "lb"),
    ("ct", "ct"),
    ("count", "ct"),
    ("pk", "pack"),
    ("pack", "pack"),
];

/// The unit a word spells, also with one typo in a spelling of 5 letters or more (`Ounnce`,
/// `Cout`): listings misspell units as often as anything else. (Not `liter`, one letter from
/// `liner`, a word beauty titles use.)
fn unit_of(word: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(spelling, _)| *spelling == word)
        .or_else(|| {
            UNITS.iter().find(|(spelling, _)| {
                spelling.len() >= 5
                    && !spelling.starts_with("lit")
                    && word.len() >= 4
                    && within_edits(word, spelling, 1)
            })
        })
        .map(|(_, unit)| *unit)
}

/// Whether two words are at most `limit` edits apart, counting a swap of two neighbouring
/// letters as one edit (optimal string alignment distance).
fn within_edits(a: &str, b: &str, limit: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m] <= limit
}

/// Jaccard similarity of two normalised word sets, where two words of letters, the longer of
/// at least 5 letters, one edit apart (8 letters: two) count as the same word; at 4 letters only
/// a letter more or less does (`Gel`, `Gell`), since one letter changed in a short word is most
/// often another word (`Bare`, `Dare`; `Pink`, `Mink`). Titles whose numbers differ
/// (`50%` and `70%`, `Set 1` and `Set 2`, `8 oz` and `16 oz`) name different variants, so
/// their similarity is halved.
pub fn title_similarity(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let numbers = |w: &[String]| -> Vec<String> {
        w.iter()
            .filter(|x| x.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .cloned()
            .collect()
    };
    let penalty = if numbers(a) == numbers(b) { 1.0 } else { 0.5 };
    // One-word and two-word titles (`Alien`, `Aliens`) are compared word for word: a letter
    // more is another title.
    let fuzzy = a.len() >= 3 && b.len() >= 3;
    let mut used = vec![false; b.len()];
    let mut matched = 0usize;
    for wa in a {
        let exact = b.iter().enumerate().find(|(j, wb)| !used[*j] && *wb == wa);
        let found = exact.map(|(j, _)| j).or_else(|| {
            let letters = |w: &str| w.chars().all(char::is_alphabetic);
            b.iter()
                .enumerate()
                .find(|(j, wb)| {
                    let (la, lb) = (wa.chars().count(), wb.chars().count());
                    let limit = match la.max(lb) {
                        n if n >= 8 => 2,
                        n if n >= 5 => 1,
                        4 if la != lb => 1,
                        _ => 0,
                    };
                    !used[*j]
                        && fuzzy
                        && limit > 0
                        && letters(wa)
                        && letters(wb)
                        && within_edits(wa, wb, limit)
                })
                .map(|(j, _)| j)
        });
        if let Some(j) = found {
            used[j] = true;
            matched += 1;
        }
    }
    // A word of each title that the other lacks is a substitution (`Verbena` for `Natural`,
    // `Shampoo` for `Conditioner`): two variants of one product line, not one product twice.
    // Words only one title has (`by`, `Bottle`) are the same product described differently.
    let substituted = matched < a.len() && matched < b.len();
    let penalty = if substituted { penalty * 0.5 } else { penalty };
    penalty * matched as f64 / (a.len() + b.len() - matched) as f64
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A scored pair of products (indices into the catalogue).
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The two products.
    pub a: usize,
    /// The other.
    pub b: usize,
    /// `exact` or the near score.
    pub exact: bool,
    /// Title similarity.
    pub title: f64,
    /// Sentence cosine (1 for exact pairs, which are not encoded).
    pub cosine: f64,
}

impl Pair {
    /// The pair's score: 1 for exact pairs, title similarity × cosine otherwise.
    pub fn score(&self) -> f64 {
        if self.exact {
            1.0
        } else {
            self.title * self.cosine
        }
    }
}

/// The blocks: products (with a name) by brand; products without a brand with every product
/// of their most specific category.
fn blocks(catalogue: &Catalogue, named: &[usize]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut by_brand: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut by_leaf: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut no_brand_by_leaf: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in named {
        if let Some(leaf) = catalogue.leaf_category(i) {
            by_leaf.entry(leaf).or_default().push(i);
        }
        match catalogue.products[i].brand {
            Some(b) => by_brand.entry(b).or_default().push(i),
            None => {
                if let Some(leaf) = catalogue.leaf_category(i) {
                    no_brand_by_leaf.entry(leaf).or_default().push(i);
                }
            }
        }
    }
    let mut out: Vec<(Vec<usize>, Vec<usize>)> =
        by_brand.into_values().map(|m| (m.clone(), m)).collect();
    for (leaf, queries) in no_brand_by_leaf {
        out.push((queries, by_leaf.remove(&leaf).unwrap_or_default()));
    }
    out
}

/// Scores the pairs of every block; `unit` holds unit sentence vectors (`dim`) by product,
/// or is empty for exact pairs only.
pub fn find_pairs(catalogue: &Catalogue, unit: &[f32], dim: usize, threshold: f64) -> Vec<Pair> {
    let named: Vec<usize> = (0..catalogue.products.len())
        .filter(|&i| {
            catalogue.products[i]
                .name
                .as_deref()
                .is_some_and(|n| !n.trim().is_empty())
        })
        .collect();
    let words: HashMap<usize, Vec<String>> = named
        .iter()
        .map(|&i| {
            (
                i,
                title_words(catalogue.products[i].name.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let mut pairs: BTreeMap<(usize, usize), Pair> = BTreeMap::new();
    for (queries, members) in blocks(catalogue, &named) {
        for &a in &queries {
            for &b in &members {
                if a == b || (queries == members && b < a) {
                    continue;
                }
                let key = (a.min(b), a.max(b));
                if pairs.contains_key(&key) {
                    continue;
                }
                let (wa, wb) = (&words[&a], &words[&b]);
                let same_brand = catalogue.products[a].brand == catalogue.products[b].brand;
                if same_brand && wa == wb {
                    pairs.insert(
                        key,
                        Pair {
                            a: key.0,
                            b: key.1,
                            exact: true,
                            title: 1.0,
                            cosine: 1.0,
                        },
                    );
                    continue;
                }
                if unit.is_empty() {
                    continue;
                }
                let cosine = dot(&unit[a * dim..(a + 1) * dim], &unit[b * dim..(b + 1) * dim]);
                if cosine < COSINE_FLOOR {
                    continue;
                }
                let title = title_similarity(wa, wb);
                let pair = Pair {
                    a: key.0,
                    b: key.1,
                    exact: false,
                    title,
                    cosine: f64::from(cosine),
                };
                if pair.score() >= threshold {
                    pairs.insert(key, pair);
                }
            }
        }
    }
    pairs.into_values().collect()
}

/// Runs the duplicates check: encodes every named product's sentence, scores pairs within
/// blocks and reports those at or over `threshold`.
pub fn check(
    store: &KgStore,
    catalogue: &Catalogue,
    data: &InteractionData,
    text: &TextFeatureConfig,
    threshold: f64,
    progress: Progress<'_>,
) -> Result<DuplicateFindings, RecError> {
    let encoder = load_encoder(text)?;
    let dim = encoder.dim();
    let sentences: Vec<(usize, String)> = product_texts(store)?
        .into_iter()
        .filter_map(|(iri, s)| {
            let i = catalogue.product(&iri)?;
            catalogue.products[i].name.is_some().then_some((i, s))
        })
        .collect();
    let vectors = encode_rows(
        &encoder,
        &sentences,
        catalogue.products.len(),
        "duplicates: encoding",
        progress,
    )?;
    let unit = unit_rows(&vectors, dim);
    drop(vectors);
    progress("duplicates: pairs", 0, 1);
    let pairs = find_pairs(catalogue, &unit, dim, threshold);
    progress("duplicates: pairs", 1, 1);
    let by_item = users_by_item(data);
    Ok(DuplicateFindings {
        findings: pairs
            .iter()
            .map(|p| pair_finding(catalogue, data, &by_item, p))
            .collect(),
        notes: Vec::new(),
    })
}

/// Each item's distinct users, by item id of `data`.
pub fn users_by_item(data: &InteractionData) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); data.item_count()];
    for e in &data.events {
        out[e.item as usize].push(e.user);
    }
    for users in &mut out {
        users.sort_unstable();
        users.dedup();
    }
    out
}

fn buyers<'a>(data: &InteractionData, by_item: &'a [Vec<u32>], iri: &str) -> &'a [u32] {
    data.item_id(iri)
        .and_then(|i| by_item.get(i as usize))
        .map_or(&[], Vec::as_slice)
}

/// The finding of one pair: the product with fewer interactions is the focus.
pub fn pair_finding(
    catalogue: &Catalogue,
    data: &InteractionData,
    by_item: &[Vec<u32>],
    pair: &Pair,
) -> Finding {
    let (pa, pb) = (&catalogue.products[pair.a], &catalogue.products[pair.b]);
    let (ua, ub) = (
        buyers(data, by_item, &pa.iri),
        buyers(data, by_item, &pb.iri),
    );
    let shared_buyers = ua.iter().filter(|u| ub.binary_search(u).is_ok()).count();
    let shared_neighbours = pa
        .neighbours
        .iter()
        .filter(|n| pb.neighbours.binary_search(n).is_ok())
        .count();
    // The representative: more interactions, then the smaller IRI.
    let (rep, dup, rep_n, dup_n) = if (ub.len(), &pa.iri) > (ua.len(), &pb.iri) {
        (pb, pa, ub.len(), ua.len())
    } else {
        (pa, pb, ua.len(), ub.len())
    };
    let (kind, severity) = if pair.exact {
        (IssueKind::ExactDuplicate, Severity::Error)
    } else {
        (IssueKind::NearDuplicate, Severity::Warning)
    };
    let reason = format!(
        "\"{}\" looks like \"{}\" ({}): title similarity {:.2}, sentence cosine {:.2}, {} shared co-purchase neighbours, {} shared buyers",
        dup.name.as_deref().unwrap_or(""),
        rep.name.as_deref().unwrap_or(""),
        if pa.brand.is_some() && pa.brand == pb.brand { "same brand" } else { "no shared brand" },
        pair.title,
        pair.cosine,
        shared_neighbours,
        shared_buyers
    );
    let mut f = Finding::new(kind, severity, &dup.iri, reason, pair.score())
        .with("shared_brand", pa.brand.is_some() && pa.brand == pb.brand)
        .with("title_similarity", round(pair.title))
        .with("text_cosine", round(pair.cosine))
        .with("shared_neighbours", shared_neighbours)
        .with("shared_buyers", shared_buyers)
        .with("interactions", dup_n)
        .with("representative_interactions", rep_n);
    f.related.push(rep.iri.clone());
    f
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::{Labelled, Product};
    use super::*;

    fn words(s: &str) -> Vec<String> {
        title_words(s)
    }

    #[test]
    fn titles_normalise_units_order_and_case() {
        assert_eq!(
            words("OPI Nail Lacquer, 0.5-Fluid Ounce"),
            ["0.5", "lacquer", "nail", "opi", "oz"]
        );
        assert_eq!(
            words("Nail Lacquer OPI 0.5oz"),
            words("OPI Nail Lacquer, 0.5 fl. oz.")
        );
        let a = words("Neutrogena Hydro Boost Water Gel, 1.7 oz");
        let typo = words("Neutrogena Hydro Boots Water Gell 1.7 Ounce");
        assert!(
            title_similarity(&a, &typo) > 0.99,
            "{}",
            title_similarity(&a, &typo)
        );
        assert!(title_similarity(&words("Aliens"), &words("Alien")) < 0.1);
        // One letter changed in a short word is another shade, not a typo.
        let bare = words("Sigma Eye Shadow Palette - Bare");
        assert!(title_similarity(&bare, &words("Sigma Eye Shadow Palette - Dare")) < 0.5);
        assert!(title_similarity(&bare, &words("Sigma Eye Shadow Palete - Bare")) > 0.99);
        assert_eq!(
            words("Night Cream, Fluid 1.70 Oucne"),
            words("Night Cream, 1.70 Fluid Ounce")
        );
        let stronger = words("Glycolic Acid 70% Peel, 1 oz");
        assert!(title_similarity(&words("Glycolic Acid 50% Peel, 1 oz"), &stronger) < 0.5);
        let scent = words("Pre de Provence Shea Butter Hand Cream, Verbena, 2.5 Ounce");
        let other_scent = words("Pre de Provence Shea Butter Hand Cream, Natural, 2.5 Ounce");
        assert!(title_similarity(&scent, &other_scent) < 0.5);
        let longer = words(
            "Lovely by Sarah Jessica Parker for Women, Eau de Parfum, 3.4-Ounce Spray Bottle",
        );
        let shorter = words("Sarah Jessica Parker Lovely Eau de Parfum Spray for Women, 3.4 Ounce");
        assert!(title_similarity(&longer, &shorter) > 0.8);
        let shade = words("OPI Nail Lacquer, Big Apple Red, 0.5 oz");
        let other = words("OPI Nail Lacquer, Lincoln Park After Dark, 0.5 oz");
        assert!(
            title_similarity(&shade, &other) < 0.6,
            "{}",
            title_similarity(&shade, &other)
        );
    }

    #[test]
    fn pairs_stay_inside_blocks_and_exact_ones_need_no_vectors() {
        let product = |iri: &str, name: &str, brand: Option<usize>| Product {
            iri: iri.into(),
            name: Some(name.into()),
            brand,
            categories: vec![0],
            ..Product::default()
        };
        let catalogue = Catalogue::from_parts(
            vec![
                product("p1", "Rose Water Toner 8 oz", Some(0)),
                product("p2", "Toner Rose Water 8 Ounce", Some(0)),
                product("p3", "Rose Water Toner 8 oz", Some(1)),
                product("p4", "Rose Water Toner 8 oz", None),
            ],
            vec![Labelled::new("b0"), Labelled::new("b1")],
            vec![Labelled::new("c0")],
        );
        let pairs = find_pairs(&catalogue, &[], 0, DEFAULT_THRESHOLD);
        let keys: Vec<(usize, usize, bool)> = pairs.iter().map(|p| (p.a, p.b, p.exact)).collect();
        // p1/p2 same brand and words; p3 is another brand; p4 has no brand, so it is compared
        // with its category but is not "the same brand" as anyone.
        assert_eq!(keys, [(0, 1, true)]);
    }
}
