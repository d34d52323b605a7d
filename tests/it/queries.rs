//! The saved merchandiser queries (`queries/*.rq`), each run through `kgrec query --saved`
//! against the hand-written fixture `tests/fixtures/shop.trig`. The fixture's header sums up
//! what is in it; each test states the expected answer worked out from it by hand.

use std::collections::{BTreeMap, HashMap};

use crate::common::*;

/// Prefix of every entity IRI in the fixture; results are compared with it cut off.
const ID: &str = "https://w3id.org/kgrec/id/fixture/";

type Row = BTreeMap<String, String>;

/// A fresh store holding the fixture.
fn shop() -> TempStore {
    let s = TempStore::new();
    s.ok(&["load", fixture("shop.trig").to_str().unwrap()]);
    s
}

/// A fixture IRI in N-Triples syntax, as `--param` takes it: `iri("product/P1")`.
fn iri(local: &str) -> String {
    format!("<{ID}{local}>")
}

/// Runs a saved query and returns its rows with the fixture prefix cut off IRIs, so that
/// `https://w3id.org/kgrec/id/fixture/product/P1` reads `product/P1`. Unbound variables are
/// absent from a row.
fn saved(s: &TempStore, name: &str, params: &[(&str, &str)]) -> Vec<Row> {
    shorten(s.saved(name, params))
}

fn shorten(rows: Vec<HashMap<String, String>>) -> Vec<Row> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|(k, v)| {
                    let v = v.strip_prefix(ID).map(str::to_owned).unwrap_or(v);
                    (k, v)
                })
                .collect()
        })
        .collect()
}

/// Expected rows, written as `(variable, value)` pairs; leave a variable out for "unbound".
fn rows(expected: &[&[(&str, &str)]]) -> Vec<Row> {
    expected
        .iter()
        .map(|r| {
            r.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        })
        .collect()
}

/// Some columns of every row, joined with " | " ("-" for unbound): compact expectations
/// for longer results.
fn cols(rows: &[Row], names: &[&str]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            names
                .iter()
                .map(|n| r.get(*n).map(String::as_str).unwrap_or("-"))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The files themselves

#[test]
fn every_saved_query_has_a_header_and_binds_its_params_in_the_projection() {
    let dir = repo().join("queries");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("queries/") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rq") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}.rq: name is not kebab-case"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text
            .lines()
            .map(str::trim)
            .take_while(|l| l.starts_with('#') || l.is_empty())
            .collect();
        let value = |key: &str| {
            header.iter().find_map(|l| {
                l.trim_start_matches('#')
                    .trim()
                    .strip_prefix(key)
                    .map(str::trim)
            })
        };
        assert!(
            value("title:").is_some_and(|t| !t.is_empty()),
            "{name}.rq has no `# title:` line"
        );
        assert!(
            value("purpose:").is_some_and(|t| !t.is_empty()),
            "{name}.rq has no `# purpose:` line"
        );
        // kgrec binds a parameter by substituting ?NAME, which oxigraph only accepts for a
        // variable of the outermost SELECT's projection.
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let select = body
            .find("SELECT")
            .unwrap_or_else(|| panic!("{name}.rq has no SELECT"));
        let projection = &body[select..select + body[select..].find("WHERE").expect("WHERE")];
        let projected: Vec<&str> = projection
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .collect();
        for line in header
            .iter()
            .filter_map(|l| l.trim_start_matches('#').trim().strip_prefix("param:"))
        {
            let param = line.split('(').next().unwrap().trim();
            assert!(
                projected.contains(&format!("?{param}").as_str()),
                "{name}.rq: parameter ?{param} is not in the SELECT projection"
            );
        }
        names.push(name);
    }
    assert!(
        names.len() >= 10,
        "only {} saved queries: {names:?}",
        names.len()
    );
    // `kgrec queries` lists every one of them.
    let listing = TempStore::new().ok(&["queries"]);
    for n in &names {
        assert!(
            listing.contains(n.as_str()),
            "`kgrec queries` does not list {n}:\n{listing}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// One test per saved query

#[test]
fn store_overview() {
    // 11 products (P1–P11), 9 with a name (not P10, P11), 4 brands, 7 categories, 8 offers
    // (P1–P8), 6 users, 21 interaction events, 19 user–product edges, 1 linked product (P6).
    let s = shop();
    assert_eq!(
        cols(&saved(&s, "store-overview", &[]), &["metric", "count"]),
        [
            "products | 11",
            "named products | 9",
            "brands | 4",
            "categories | 7",
            "offers | 8",
            "users | 6",
            "interactions | 21",
            "user-product pairs | 19",
            "linked products | 1",
        ]
    );
}

#[test]
fn category_tree() {
    // Ordered by path. Products count every product that lists the category: Beauty P1–P8 = 8,
    // Makeup P1–P5 = 5, Nails P1–P3 = 3, Lips P4 P5 = 2, Eyes none = 0, Skin Care and
    // Moisturizers P6–P8 = 3. Depth is the number of ancestors.
    let s = shop();
    let r = saved(&s, "category-tree", &[]);
    assert_eq!(
        cols(&r, &["category", "label", "broader", "depth", "path", "products"]),
        [
            "category/Beauty | Beauty | - | 0 | Beauty | 8",
            "category/Makeup | Makeup | category/Beauty | 1 | Beauty > Makeup | 5",
            "category/Eyes | Eyes | category/Makeup | 2 | Beauty > Makeup > Eyes | 0",
            "category/Lips | Lips | category/Makeup | 2 | Beauty > Makeup > Lips | 2",
            "category/Nails | Nails | category/Makeup | 2 | Beauty > Makeup > Nails | 3",
            "category/SkinCare | Skin Care | category/Beauty | 1 | Beauty > Skin Care | 3",
            "category/Moisturizers | Moisturizers | category/SkinCare | 2 | Beauty > Skin Care > Moisturizers | 3",
        ]
    );
    assert!(
        !r[0].contains_key("broader"),
        "a top category has no broader one: {:?}",
        r[0]
    );
}

#[test]
fn best_sellers_per_category() {
    let s = shop();
    // Buyers (distinct users with an interactedWith edge): P1 4 (U1 U2 U3 U6), P3 3 (U1 U2 U6),
    // P4 3 (U2 U3 U4), P6 3 (U1 U4 U5), P5 2 (U3 U4), P2 P8 1. Nails holds P1 P2 P3.
    assert_eq!(
        saved(
            &s,
            "best-sellers-per-category",
            &[("category", iri("category/Nails").as_str())]
        ),
        rows(&[
            &[
                ("category", "category/Nails"),
                ("categoryLabel", "Nails"),
                ("product", "product/P1"),
                ("name", "OPI Nail Lacquer, Big Apple Red"),
                ("buyers", "4")
            ],
            &[
                ("category", "category/Nails"),
                ("categoryLabel", "Nails"),
                ("product", "product/P3"),
                ("name", "Essie Gel Couture Top Coat"),
                ("buyers", "3")
            ],
            &[
                ("category", "category/Nails"),
                ("categoryLabel", "Nails"),
                ("product", "product/P2"),
                ("name", "OPI Nail Lacquer - Big Apple Red"),
                ("buyers", "1")
            ],
        ])
    );
    // Eyes has no products; P7 (Moisturizers) was never bought and so is never listed.
    assert_eq!(
        saved(
            &s,
            "best-sellers-per-category",
            &[("category", iri("category/Eyes").as_str())]
        ),
        rows(&[])
    );
    // Unbound: every (category, bought product), by category label, then buyers (ties by name).
    let all = saved(&s, "best-sellers-per-category", &[]);
    assert_eq!(
        cols(&all, &["categoryLabel", "product", "buyers"]),
        [
            "Beauty | product/P1 | 4",
            "Beauty | product/P3 | 3", // Essie …
            "Beauty | product/P6 | 3", // Nivea …
            "Beauty | product/P4 | 3", // Revlon …
            "Beauty | product/P5 | 2",
            "Beauty | product/P8 | 1", // Hand Cream …
            "Beauty | product/P2 | 1", // OPI …
            "Lips | product/P4 | 3",
            "Lips | product/P5 | 2",
            "Makeup | product/P1 | 4",
            "Makeup | product/P3 | 3",
            "Makeup | product/P4 | 3",
            "Makeup | product/P5 | 2",
            "Makeup | product/P2 | 1",
            "Moisturizers | product/P6 | 3",
            "Moisturizers | product/P8 | 1",
            "Nails | product/P1 | 4",
            "Nails | product/P3 | 3",
            "Nails | product/P2 | 1",
            "Skin Care | product/P6 | 3",
            "Skin Care | product/P8 | 1",
        ]
    );
}

#[test]
fn brands_repeat_buyers() {
    // Revlon (P4 P5 P9): U3 has P4 P5, U4 has P4 P5 P9 → 2 repeat buyers of 3 (U2 U3 U4).
    // OPI (P1 P2): U2 has both → 1 of 4 (U1 U2 U3 U6). Essie and Nivea: nobody bought two.
    let s = shop();
    assert_eq!(
        saved(&s, "brands-repeat-buyers", &[]),
        rows(&[
            &[
                ("brand", "brand/Revlon"),
                ("brandName", "Revlon"),
                ("repeatBuyers", "2"),
                ("buyers", "3")
            ],
            &[
                ("brand", "brand/OPI"),
                ("brandName", "OPI"),
                ("repeatBuyers", "1"),
                ("buyers", "4")
            ],
        ])
    );
}

#[test]
fn also_bought_with() {
    // Buyers of P1: U1 (P3 P6), U2 (P2 P3 P4), U3 (P4 P5), U6 (P3).
    // → P3 3, P4 2, then P2 P5 P6 once each (ties by IRI). P1 itself is left out.
    let s = shop();
    assert_eq!(
        saved(
            &s,
            "also-bought-with",
            &[("product", iri("product/P1").as_str())]
        ),
        rows(&[
            &[
                ("product", "product/P1"),
                ("other", "product/P3"),
                ("name", "Essie Gel Couture Top Coat"),
                ("users", "3")
            ],
            &[
                ("product", "product/P1"),
                ("other", "product/P4"),
                ("name", "Revlon Super Lustrous Lipstick"),
                ("users", "2")
            ],
            &[
                ("product", "product/P1"),
                ("other", "product/P2"),
                ("name", "OPI Nail Lacquer - Big Apple Red"),
                ("users", "1")
            ],
            &[
                ("product", "product/P1"),
                ("other", "product/P5"),
                ("name", "Revlon Super Lustrous Lipstick, Matte Collection"),
                ("users", "1")
            ],
            &[
                ("product", "product/P1"),
                ("other", "product/P6"),
                ("name", "Nivea Soft Moisturizing Creme"),
                ("users", "1")
            ],
        ])
    );
    // Nobody interacted with P10.
    assert_eq!(
        saved(
            &s,
            "also-bought-with",
            &[("product", iri("product/P10").as_str())]
        ),
        rows(&[])
    );
}

#[test]
fn products_missing_attributes() {
    // P11 (interacted with, no data) lacks all three; P8 has no brand; P9 no category.
    // P10 (only a relation target: no name, no interaction) is not reported. Ordered by IRI.
    let s = shop();
    assert_eq!(
        saved(&s, "products-missing-attributes", &[]),
        rows(&[
            &[
                ("product", "product/P11"),
                ("sourceId", "P11"),
                ("missing", "name, brand, category")
            ],
            &[
                ("product", "product/P8"),
                ("sourceId", "P8"),
                ("name", "Hand Cream Sampler"),
                ("missing", "brand")
            ],
            &[
                ("product", "product/P9"),
                ("sourceId", "P9"),
                ("name", "Revlon Lip Liner"),
                ("missing", "category")
            ],
        ])
    );
}

#[test]
fn products_never_interacted() {
    // Only P7 (its negative sample does not count); P10 has no name.
    let s = shop();
    assert_eq!(
        saved(&s, "products-never-interacted", &[]),
        rows(&[&[
            ("product", "product/P7"),
            ("name", "Nivea Creme Tin"),
            ("brandName", "Nivea"),
            ("price", "3.25")
        ]])
    );
}

#[test]
fn user_history() {
    let s = shop();
    // U2's events, written out of order in the fixture, come back by position. The 5.0 rating
    // reads "5" (oxigraph writes decimals canonically).
    let u2 = saved(&s, "user-history", &[("user", iri("user/U2").as_str())]);
    assert_eq!(
        u2,
        rows(&[
            &[
                ("user", "user/U2"),
                ("position", "0"),
                ("timestamp", "2024-01-02T08:00:00Z"),
                ("product", "product/P1"),
                ("name", "OPI Nail Lacquer, Big Apple Red"),
                ("kind", "View"),
                ("interaction", "interaction/U2-0")
            ],
            &[
                ("user", "user/U2"),
                ("position", "1"),
                ("timestamp", "2024-01-03T08:00:00Z"),
                ("product", "product/P1"),
                ("name", "OPI Nail Lacquer, Big Apple Red"),
                ("kind", "Purchase"),
                ("interaction", "interaction/U2-1")
            ],
            &[
                ("user", "user/U2"),
                ("position", "2"),
                ("timestamp", "2024-01-15T08:00:00Z"),
                ("product", "product/P2"),
                ("name", "OPI Nail Lacquer - Big Apple Red"),
                ("kind", "Purchase"),
                ("interaction", "interaction/U2-2")
            ],
            &[
                ("user", "user/U2"),
                ("position", "3"),
                ("timestamp", "2024-02-01T09:30:00Z"),
                ("product", "product/P3"),
                ("name", "Essie Gel Couture Top Coat"),
                ("kind", "Review"),
                ("rating", "5"),
                ("interaction", "interaction/U2-3")
            ],
            &[
                ("user", "user/U2"),
                ("position", "4"),
                ("timestamp", "2024-03-10T12:00:00Z"),
                ("product", "product/P4"),
                ("name", "Revlon Super Lustrous Lipstick"),
                ("kind", "Rating"),
                ("rating", "2.5"),
                ("interaction", "interaction/U2-4")
            ],
        ])
    );
    // U5's events have no position: they come back by timestamp. P11 has no name.
    let u5 = saved(&s, "user-history", &[("user", iri("user/U5").as_str())]);
    assert_eq!(
        cols(
            &u5,
            &["position", "timestamp", "product", "name", "kind", "rating"]
        ),
        [
            "- | 2024-02-10T00:00:00Z | product/P6 | Nivea Soft Moisturizing Creme | Purchase | -",
            "- | 2024-02-11T00:00:00Z | product/P8 | Hand Cream Sampler | Purchase | -",
            "- | 2024-02-12T00:00:00Z | product/P11 | - | Review | 3.5",
        ]
    );
}

#[test]
fn co_purchase_pairs() {
    // Pairs shared by at least two users: P1+P3 (U1 U2 U6), P1+P4 (U2 U3), P4+P5 (U3 U4).
    // The other 15 pairs have one user each.
    let s = shop();
    assert_eq!(
        saved(&s, "co-purchase-pairs", &[]),
        rows(&[
            &[
                ("a", "product/P1"),
                ("nameA", "OPI Nail Lacquer, Big Apple Red"),
                ("b", "product/P3"),
                ("nameB", "Essie Gel Couture Top Coat"),
                ("sharedUsers", "3")
            ],
            &[
                ("a", "product/P1"),
                ("nameA", "OPI Nail Lacquer, Big Apple Red"),
                ("b", "product/P4"),
                ("nameB", "Revlon Super Lustrous Lipstick"),
                ("sharedUsers", "2")
            ],
            &[
                ("a", "product/P4"),
                ("nameA", "Revlon Super Lustrous Lipstick"),
                ("b", "product/P5"),
                ("nameB", "Revlon Super Lustrous Lipstick, Matte Collection"),
                ("sharedUsers", "2")
            ],
        ])
    );
}

#[test]
fn near_duplicate_titles() {
    // P1/P2 normalize to the same "opinaillacquerbigapplered"; P4's "revlonsuperlustrouslipstick"
    // (27 characters) starts P5's. P4/P9 (same brand, different titles) are not near-duplicates.
    let s = shop();
    assert_eq!(
        saved(&s, "near-duplicate-titles", &[]),
        rows(&[
            &[
                ("a", "product/P1"),
                ("nameA", "OPI Nail Lacquer, Big Apple Red"),
                ("b", "product/P2"),
                ("nameB", "OPI Nail Lacquer - Big Apple Red"),
                ("reason", "same title")
            ],
            &[
                ("a", "product/P4"),
                ("nameA", "Revlon Super Lustrous Lipstick"),
                ("b", "product/P5"),
                ("nameB", "Revlon Super Lustrous Lipstick, Matte Collection"),
                ("reason", "title prefix")
            ],
        ])
    );
}

#[test]
fn top_categories_per_user() {
    let s = shop();
    // U1: P1 P3 (Nails, Makeup, Beauty) and P6 (Moisturizers, Skin Care, Beauty).
    assert_eq!(
        saved(
            &s,
            "top-categories-per-user",
            &[("user", iri("user/U1").as_str())]
        ),
        rows(&[
            &[
                ("user", "user/U1"),
                ("category", "category/Beauty"),
                ("label", "Beauty"),
                ("products", "3")
            ],
            &[
                ("user", "user/U1"),
                ("category", "category/Makeup"),
                ("label", "Makeup"),
                ("products", "2")
            ],
            &[
                ("user", "user/U1"),
                ("category", "category/Nails"),
                ("label", "Nails"),
                ("products", "2")
            ],
            &[
                ("user", "user/U1"),
                ("category", "category/Moisturizers"),
                ("label", "Moisturizers"),
                ("products", "1")
            ],
            &[
                ("user", "user/U1"),
                ("category", "category/SkinCare"),
                ("label", "Skin Care"),
                ("products", "1")
            ],
        ])
    );
    // Every user: U1 5 categories, U2 4, U3 4, U4 5 (P9 has none), U5 3, U6 3 = 24 rows.
    let all = saved(&s, "top-categories-per-user", &[]);
    assert_eq!(all.len(), 24, "{all:?}");
    assert_eq!(
        cols(&all[18..], &["user", "label", "products"]),
        [
            "user/U5 | Beauty | 2",
            "user/U5 | Moisturizers | 2",
            "user/U5 | Skin Care | 2",
            "user/U6 | Beauty | 2",
            "user/U6 | Makeup | 2",
            "user/U6 | Nails | 2",
        ]
    );
}

#[test]
fn price_bands_per_category() {
    // Prices: P1 10.5, P2 9.99, P3 12.99 (Nails: avg 33.48/3 = 11.16); P4 7.49, P5 8.75
    // (Lips: 8.12); Makeup 49.72/5 = 9.944 → 9.94; P6 5.99, P7 3.25, P8 14.5 (23.74/3 → 7.91);
    // Beauty 73.46/8 = 9.1825 → 9.18. Eyes has no priced product.
    let s = shop();
    assert_eq!(
        cols(
            &saved(&s, "price-bands-per-category", &[]),
            &["label", "currency", "products", "minPrice", "avgPrice", "maxPrice"]
        ),
        [
            "Beauty | USD | 8 | 3.25 | 9.18 | 14.5",
            "Lips | USD | 2 | 7.49 | 8.12 | 8.75",
            "Makeup | USD | 5 | 7.49 | 9.94 | 12.99",
            "Moisturizers | USD | 3 | 3.25 | 7.91 | 14.5",
            "Nails | USD | 3 | 9.99 | 11.16 | 12.99",
            "Skin Care | USD | 3 | 3.25 | 7.91 | 14.5",
        ]
    );
    assert_eq!(
        saved(
            &s,
            "price-bands-per-category",
            &[("category", iri("category/Nails").as_str())]
        ),
        rows(&[&[
            ("category", "category/Nails"),
            ("label", "Nails"),
            ("currency", "USD"),
            ("products", "3"),
            ("minPrice", "9.99"),
            ("avgPrice", "11.16"),
            ("maxPrice", "12.99"),
        ]])
    );
}

#[test]
fn interactions_per_kind() {
    // Purchase: 12 events by all 6 users on P1 P2 P3 P4 P5 P6 P8; Review: U1→P6, U2→P3,
    // U5→P11; View: U2→P1, U4→P9, U6→P1; Rating: U2→P4, U4→P4; Click: U3→P5.
    let s = shop();
    assert_eq!(
        cols(
            &saved(&s, "interactions-per-kind", &[]),
            &["kind", "interactions", "users", "products"]
        ),
        [
            "Purchase | 12 | 6 | 7",
            "Review | 3 | 3 | 3",
            "View | 3 | 3 | 2",
            "Rating | 2 | 2 | 1",
            "Click | 1 | 1 | 1"
        ]
    );
}

#[test]
fn brand_catalogue() {
    // Revlon: P4 (3 buyers), P5 (2), P9 (1 buyer, no offer).
    let s = shop();
    assert_eq!(
        saved(
            &s,
            "brand-catalogue",
            &[("brand", iri("brand/Revlon").as_str())]
        ),
        rows(&[
            &[
                ("brand", "brand/Revlon"),
                ("product", "product/P4"),
                ("name", "Revlon Super Lustrous Lipstick"),
                ("price", "7.49"),
                ("buyers", "3")
            ],
            &[
                ("brand", "brand/Revlon"),
                ("product", "product/P5"),
                ("name", "Revlon Super Lustrous Lipstick, Matte Collection"),
                ("price", "8.75"),
                ("buyers", "2")
            ],
            &[
                ("brand", "brand/Revlon"),
                ("product", "product/P9"),
                ("name", "Revlon Lip Liner"),
                ("buyers", "1")
            ],
        ])
    );
    // Nivea's P7 was never bought: it is listed with 0 buyers.
    assert_eq!(
        cols(
            &saved(
                &s,
                "brand-catalogue",
                &[("brand", iri("brand/Nivea").as_str())]
            ),
            &["product", "price", "buyers"]
        ),
        ["product/P6 | 5.99 | 3", "product/P7 | 3.25 | 0"]
    );
}

#[test]
fn top_rated_products() {
    // Ratings: P3 5.0; P6 4.5; P11 3.5; P4 2.5 and 4.0 (average 3.25).
    let s = shop();
    assert_eq!(
        saved(&s, "top-rated-products", &[]),
        rows(&[
            &[
                ("product", "product/P3"),
                ("name", "Essie Gel Couture Top Coat"),
                ("avgRating", "5"),
                ("ratings", "1")
            ],
            &[
                ("product", "product/P6"),
                ("name", "Nivea Soft Moisturizing Creme"),
                ("avgRating", "4.5"),
                ("ratings", "1")
            ],
            &[
                ("product", "product/P11"),
                ("avgRating", "3.5"),
                ("ratings", "1")
            ],
            &[
                ("product", "product/P4"),
                ("name", "Revlon Super Lustrous Lipstick"),
                ("avgRating", "3.25"),
                ("ratings", "2")
            ],
        ])
    );
}

#[test]
fn related_products() {
    // P1 alsoBought P3 and P10 (no name), alsoViewed P2, boughtTogether P3.
    let s = shop();
    assert_eq!(
        saved(
            &s,
            "related-products",
            &[("product", iri("product/P1").as_str())]
        ),
        rows(&[
            &[
                ("product", "product/P1"),
                ("relation", "alsoBought"),
                ("other", "product/P10")
            ],
            &[
                ("product", "product/P1"),
                ("relation", "alsoBought"),
                ("other", "product/P3"),
                ("name", "Essie Gel Couture Top Coat")
            ],
            &[
                ("product", "product/P1"),
                ("relation", "alsoViewed"),
                ("other", "product/P2"),
                ("name", "OPI Nail Lacquer - Big Apple Red")
            ],
            &[
                ("product", "product/P1"),
                ("relation", "boughtTogether"),
                ("other", "product/P3"),
                ("name", "Essie Gel Couture Top Coat")
            ],
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Parameter binding

/// The arguments `TempStore::saved` would pass, for running a saved query that must fail.
fn saved_args<'a>(name: &'a str, params: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["query", "--saved", name, "--format", "json"];
    for p in params {
        args.push("--param");
        args.push(p);
    }
    args
}

fn quads(s: &TempStore) -> String {
    s.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0]["n"].clone()
}

#[test]
fn injected_parameter_values_fail_and_change_nothing() {
    let s = shop();
    let before = quads(&s);
    assert!(before.parse::<u64>().unwrap() > 250, "{before}");
    for (query, param) in [
        (
            "also-bought-with",
            "product=<http://x> } ; DROP ALL ; SELECT * { ?s ?p ?o",
        ),
        (
            "also-bought-with",
            "product=http://x> } ; DROP ALL ; SELECT * { ?s ?p ?o",
        ),
        (
            "user-history",
            "user=\"x\" } ; DROP ALL ; SELECT * { ?s ?p ?o",
        ),
        (
            "best-sellers-per-category",
            "category=<http://x> } UNION { ?category ?p ?o",
        ),
    ] {
        let params = [param.to_owned()];
        let err = s.err(&saved_args(query, &params));
        assert!(err.contains("param"), "{query} {param}: {err}");
    }
    assert_eq!(quads(&s), before);
    assert_eq!(s.count("?p a schema:Product"), 11);
}

#[test]
fn parameters_are_checked_against_the_header() {
    let s = shop();
    // A required parameter that is missing.
    let err = s.err(&saved_args("also-bought-with", &[]));
    assert!(err.contains("needs --param product"), "{err}");
    // A parameter the query does not take.
    let err = s.err(&saved_args(
        "store-overview",
        &["user=<http://example.com/u>".to_owned()],
    ));
    assert!(err.contains("takes no parameter 'user'"), "{err}");
    // A literal where an IRI is expected.
    s.err(&saved_args(
        "brand-catalogue",
        &["brand=\"Revlon\"".to_owned()],
    ));
    // A bare IRI is read as an IRI.
    let bare = format!("brand={ID}brand/OPI");
    let rows = shorten(parse_sparql_json(
        &s.ok(&saved_args("brand-catalogue", &[bare])),
    ));
    assert_eq!(
        cols(&rows, &["product", "buyers"]),
        ["product/P1 | 4", "product/P2 | 1"]
    );
}

#[test]
fn find_by_name() {
    // "opi" is in the brand OPI and in P1's and P2's names; the shortest name first, any case.
    let s = shop();
    let found = saved(&s, "find-by-name", &[("text", "opi")]);
    let nodes: Vec<&str> = found.iter().map(|r| r["node"].as_str()).collect();
    assert_eq!(
        nodes,
        ["brand/OPI", "product/P1", "product/P2"],
        "{found:?}"
    );
    assert_eq!(found[0]["name"], "OPI");
    assert_eq!(found[0]["type"], "http://schema.org/Brand");
    // The text is a bound value, not SPARQL: quotes and braces are only characters.
    assert!(saved(&s, "find-by-name", &[("text", r#"x") } DROP ALL #"#)]).is_empty());
}
