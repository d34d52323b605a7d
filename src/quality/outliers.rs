//! Attribute outliers: prices far from their category's, by robust statistics (median and
//! MAD of log price, so one wild price cannot hide itself by moving the mean), products
//! whose categories their co-purchase neighbours contradict, and products without a brand
//! whose title names one.

use std::collections::{BTreeMap, HashMap};

use super::catalogue::Catalogue;
use super::findings::{Finding, IssueKind, Severity};

/// The default robust z-score past which a price is an outlier (Iglewicz and Hoaglin's 3.5).
pub const DEFAULT_PRICE_Z: f64 = 3.5;

/// Fewest priced products a category needs before its prices are a reference.
const MIN_PRICED: usize = 8;

/// Fewest categorised neighbours before they can contradict a product's category.
const MIN_NEIGHBOURS: usize = 5;

/// Share of neighbours that must agree on another branch of the tree.
const AGREEMENT: f64 = 0.8;

/// Fewest products a brand needs before a title naming it links a product to it: a brand
/// seen once may be a word that happens to start titles.
const MIN_BRAND_PRODUCTS: usize = 2;

/// Median of a non-empty slice (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Median and MAD (median absolute deviation) of `values`.
pub fn median_mad(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    let m = median(&mut v);
    let mut dev: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    (m, median(&mut dev))
}

/// The robust z-score of `x` (0.6745 (x − median) / MAD); 0 when MAD is 0 and x is the median.
pub fn robust_z(x: f64, median: f64, mad: f64) -> f64 {
    if mad > 0.0 {
        0.6745 * (x - median) / mad
    } else if (x - median).abs() < 1e-12 {
        0.0
    } else {
        f64::INFINITY.copysign(x - median)
    }
}

/// The category a product's price is compared within: its most specific category with at
/// least [`MIN_PRICED`] priced products, walking up the tree but never to a root.
fn reference_category(
    catalogue: &Catalogue,
    product: usize,
    priced: &BTreeMap<usize, Vec<f64>>,
) -> Option<usize> {
    let mut at = catalogue.leaf_category(product);
    let mut steps = 0;
    while let Some(c) = at {
        // A root category mixes everything the shop sells: no reference for a price.
        catalogue.categories[c].broader?;
        if priced.get(&c).is_some_and(|v| v.len() >= MIN_PRICED) {
            return Some(c);
        }
        at = catalogue.categories[c].broader;
        steps += 1;
        if steps > catalogue.categories.len() {
            break;
        }
    }
    None
}

/// The categories a product is in, with every broader one.
fn with_ancestors(catalogue: &Catalogue, product: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for &c in &catalogue.products[product].categories {
        let mut at = Some(c);
        while let Some(x) = at {
            if out.contains(&x) || out.len() > catalogue.categories.len() {
                break;
            }
            out.push(x);
            at = catalogue.categories[x].broader;
        }
    }
    out
}

/// The department of a category: its ancestor one level below a root (itself at that level).
fn department(catalogue: &Catalogue, category: usize) -> Option<usize> {
    let mut chain = vec![category];
    let mut at = category;
    while let Some(up) = catalogue.categories[at].broader {
        if chain.contains(&up) {
            break;
        }
        chain.push(up);
        at = up;
    }
    (chain.len() >= 2).then(|| chain[chain.len() - 2])
}

fn label(catalogue: &Catalogue, category: usize) -> &str {
    catalogue.categories[category]
        .label
        .as_deref()
        .unwrap_or(&catalogue.categories[category].iri)
}

/// Runs the outliers check; returns the findings and what could not be checked.
pub fn check(catalogue: &Catalogue, price_z: f64) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    // Prices: every category collects the log prices of the products in it or below it.
    let mut priced: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut n_priced = 0;
    for (i, p) in catalogue.products.iter().enumerate() {
        if let Some((price, _)) = p.price.as_ref().filter(|(v, _)| *v > 0.0) {
            n_priced += 1;
            for c in with_ancestors(catalogue, i) {
                priced.entry(c).or_default().push(price.ln());
            }
        }
    }
    if n_priced == 0 {
        notes.push("outliers: no product has a price, so prices were not checked".into());
    }
    let stats: BTreeMap<usize, (f64, f64)> =
        priced.iter().map(|(&c, v)| (c, median_mad(v))).collect();
    for (i, p) in catalogue.products.iter().enumerate() {
        let Some((price, offer)) = p.price.as_ref().filter(|(v, _)| *v > 0.0) else {
            continue;
        };
        let Some(c) = reference_category(catalogue, i, &priced) else {
            continue;
        };
        let (m, mad) = stats[&c];
        let z = robust_z(price.ln(), m, mad);
        if z.abs() > price_z {
            let typical = m.exp();
            let reason = format!(
                "price {price:.2} is {:.1}× the median {typical:.2} of {} ({} priced products; robust z {z:.1})",
                price / typical,
                label(catalogue, c),
                priced[&c].len()
            );
            out.push(
                Finding::new(
                    IssueKind::PriceOutlier,
                    Severity::Warning,
                    &p.iri,
                    reason,
                    z.abs(),
                )
                .with("price", *price)
                .with("category_median", (typical * 100.0).round() / 100.0)
                .with("ratio", (price / typical * 100.0).round() / 100.0)
                .with("robust_z", (z * 100.0).round() / 100.0)
                .with("category", catalogue.categories[c].iri.clone())
                .with("offer", offer.clone()),
            );
        }
    }
    // Categories: a product whose departments none of its neighbours share, while most of
    // them agree on another department.
    for p in &catalogue.products {
        let mut own: Vec<usize> = p
            .categories
            .iter()
            .filter_map(|&c| department(catalogue, c))
            .collect();
        own.sort_unstable();
        own.dedup();
        if own.is_empty() {
            continue;
        }
        let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
        let mut voters = 0;
        for &n in &p.neighbours {
            let theirs: Vec<usize> = {
                let mut d: Vec<usize> = catalogue.products[n]
                    .categories
                    .iter()
                    .filter_map(|&c| department(catalogue, c))
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            };
            if theirs.is_empty() {
                continue;
            }
            voters += 1;
            for d in theirs {
                *votes.entry(d).or_insert(0) += 1;
            }
        }
        if voters < MIN_NEIGHBOURS || own.iter().any(|d| votes.contains_key(d)) {
            continue;
        }
        let Some((&top, &count)) = votes.iter().max_by_key(|(_, &n)| n) else {
            continue;
        };
        let share = count as f64 / voters as f64;
        if share >= AGREEMENT {
            let reason = format!(
                "in {} but {count} of its {voters} co-purchase neighbours are in {} and none in its department",
                own.iter().map(|&d| label(catalogue, d)).collect::<Vec<_>>().join(", "),
                label(catalogue, top)
            );
            out.push(
                Finding::new(
                    IssueKind::CategoryMismatch,
                    Severity::Warning,
                    &p.iri,
                    reason,
                    share,
                )
                .with("neighbours", voters)
                .with("agreeing", count)
                .with(
                    "neighbour_department",
                    catalogue.categories[top].iri.clone(),
                ),
            );
        }
    }
    out.extend(unlinked_brands(catalogue));
    (out, notes)
}

/// Lower case with runs of white space as one space, trimmed: how titles and brand names
/// are compared.
fn folded(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Products without a brand whose title begins (at a word boundary) with the name of a
/// brand that [`MIN_BRAND_PRODUCTS`] or more products carry; the longest such name wins, so
/// "Goody Colour Collection" is preferred to "Goody" when both are brands.
fn unlinked_brands(catalogue: &Catalogue) -> Vec<Finding> {
    let mut carried = vec![0usize; catalogue.brands.len()];
    for b in catalogue.products.iter().filter_map(|p| p.brand) {
        carried[b] += 1;
    }
    // Brand names by their first word, longest name first.
    let mut by_first_word: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for (b, brand) in catalogue.brands.iter().enumerate() {
        let Some(name) = brand.label.as_deref().map(folded) else {
            continue;
        };
        if carried[b] < MIN_BRAND_PRODUCTS || name.chars().count() < 2 {
            continue;
        }
        if let Some(first) = name.split(' ').next() {
            by_first_word
                .entry(first.to_owned())
                .or_default()
                .push((name.clone(), b));
        }
    }
    for names in by_first_word.values_mut() {
        names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
    }
    let mut out = Vec::new();
    for p in catalogue.products.iter().filter(|p| p.brand.is_none()) {
        let Some(title) = p.name.as_deref().map(folded) else {
            continue;
        };
        let Some(first) = title.split(' ').next() else {
            continue;
        };
        let found = by_first_word.get(first).and_then(|names| {
            names.iter().find(|(name, _)| {
                title.starts_with(name.as_str())
                    && !title[name.len()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphanumeric)
            })
        });
        let Some(&(_, b)) = found else { continue };
        let brand = &catalogue.brands[b];
        let name = brand.label.clone().unwrap_or_default();
        let reason = format!(
            "has no brand, but its title begins with \"{name}\", the brand of {} other products",
            carried[b]
        );
        let mut finding = Finding::new(
            IssueKind::UnlinkedBrand,
            Severity::Warning,
            &p.iri,
            reason,
            carried[b] as f64,
        )
        .with("brand_name", name)
        .with("brand_products", carried[b]);
        finding.related.push(brand.iri.clone());
        out.push(finding);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::{Labelled, Product};
    use super::*;

    #[test]
    fn robust_statistics() {
        let (m, mad) = median_mad(&[1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!((m, mad), (3.0, 1.0));
        assert!(robust_z(100.0, m, mad) > 60.0);
    }

    #[test]
    fn a_price_a_hundred_times_too_high_is_flagged_and_normal_ones_are_not() {
        let cat = |iri: &str, broader| Labelled {
            iri: iri.into(),
            label: Some(iri.into()),
            broader,
        };
        let mut products: Vec<Product> = (0..20)
            .map(|k| Product {
                iri: format!("p{k}"),
                categories: vec![1],
                price: Some((10.0 + k as f64, format!("o{k}"))),
                ..Product::default()
            })
            .collect();
        products[3].price = Some((1300.0, "o3".into()));
        let catalogue = Catalogue::from_parts(
            products,
            vec![],
            vec![cat("root", None), cat("leaf", Some(0))],
        );
        let (found, notes) = check(&catalogue, DEFAULT_PRICE_Z);
        assert!(notes.is_empty());
        let flagged: Vec<&str> = found.iter().map(|f| f.focus.as_str()).collect();
        assert_eq!(flagged, ["p3"]);
    }

    #[test]
    fn a_title_naming_a_brand_links_it_and_the_longest_name_wins() {
        let brand = |iri: &str, label: &str| Labelled {
            iri: iri.into(),
            label: Some(label.into()),
            broader: None,
        };
        let product = |iri: &str, name: &str, brand: Option<usize>| Product {
            iri: iri.into(),
            name: Some(name.into()),
            brand,
            ..Product::default()
        };
        let products = vec![
            product("a", "Goody Classic Comb", Some(0)),
            product("b", "Goody Brush", Some(0)),
            product("c", "Goody Colour Collection Pins", Some(1)),
            product("d", "GOODY  colour collection Bobby Pins", Some(1)),
            product("e", "Once Only Shampoo", Some(2)),
            // No brand: the longer brand name wins over "Goody".
            product("f", "Goody Colour Collection Clips", None),
            product("g", "Goody Hair Ties", None),
            // "Goodyear" only starts with the name; "Once" is a brand of one product.
            product("h", "Goodyear Tyre", None),
            product("i", "Once Only Conditioner", None),
        ];
        let catalogue = Catalogue::from_parts(
            products,
            vec![
                brand("B0", "Goody"),
                brand("B1", "Goody Colour Collection"),
                brand("B2", "Once Only"),
            ],
            vec![],
        );
        let found = unlinked_brands(&catalogue);
        let linked: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.focus.as_str(), f.related[0].as_str()))
            .collect();
        assert_eq!(linked, [("f", "B1"), ("g", "B0")]);
        assert!(found[0].reason.contains("Goody Colour Collection"));
    }
}
