//! Behaviour: accounts whose activity does not look human, and items pushed by them.
//!
//! Accounts: bursts (many events within a minute, where timestamps have that resolution),
//! far more interactions than the rest (robust z of log activity), the same rating on
//! everything, the same items as several other accounts, activity concentrated on one brand
//! shared with many other accounts doing the same (shilling: one account favouring a brand is
//! a fan; a group with the same handful of products, making much of their custom, is a
//! campaign), and items unrelated to
//! each other and less popular than people's choices (random clicking).
//! Items: most of their activity from flagged accounts, or a day far busier than their
//! usual one.

use std::collections::{BTreeMap, HashMap};

use super::catalogue::Catalogue;
use super::findings::{Finding, IssueKind, Severity};
use super::outliers::{median_mad, robust_z};
use crate::eval::InteractionData;

/// The default robust z-score of log activity past which an account is far more active.
pub const DEFAULT_ACTIVITY_Z: f64 = 3.5;

/// Events within [`BURST_SECONDS`] that make a burst.
const BURST_EVENTS: usize = 20;
/// The burst window.
const BURST_SECONDS: i64 = 60;
/// Fewest ratings before "the same rating on everything" says anything.
const CONSTANT_RATINGS: usize = 10;
/// Fewest items before an account's item set is compared with others'.
const MIN_ITEMS: usize = 4;
/// Item-set Jaccard from which two accounts have "the same items".
const COPY_JACCARD: f64 = 0.8;
/// Other accounts with the same items that make a copy.
const COPY_TWINS: usize = 2;
/// Share of an account's items from its top brand that makes it concentrated.
const BRAND_SHARE: f64 = 0.4;
/// Fewest items of its top brand for a concentrated account.
const BRAND_ITEMS: usize = 2;
/// Item-set Jaccard between two concentrated accounts of one brand that makes them peers.
const SHILL_JACCARD: f64 = 0.2;
/// Peers that make a campaign: a group of this many accounts, plus the one, concentrated on
/// the same brand's same products. (On the injected-noise benchmark's first seed, every
/// campaign account had at least 9 peers; 1% of real Beauty accounts had 10 or more.)
const SHILL_PEERS: usize = 10;
/// Share of the customers of a concentrated group's products of its brand that are the
/// group itself (averaged over the account's products of that brand), from which the group
/// looks like a campaign: a campaign makes its products' popularity, while fans share
/// products many others buy too. On the injected-noise benchmark's first seed, 0.2 kept 556
/// of the 558 shills flagged and cleared 143 of the 234 real accounts flagged without it.
const SHILL_GROUP_SHARE: f64 = 0.2;
/// Fewest interactions before an account's items are judged unrelated.
const RANDOM_MIN_ITEMS: usize = 10;
/// An account is random when the mean log-likelihood ratio of its items (popularity over
/// uniform) plus the share of its items related to another of them is below this: random
/// clicks land on unpopular, unrelated products; people's choices follow popularity, or
/// hang together, or both. Chosen on the injected-noise benchmark's first seed.
pub const DEFAULT_RANDOM_SCORE: f64 = 0.1;
/// Items with more users than this are left out of the overlap counts (they say little
/// about two accounts being alike, and they dominate the cost).
const OVERLAP_ITEM_CAP: usize = 5000;

/// Per-account facts the detectors share.
struct Account {
    items: Vec<u32>,
    products: Vec<Option<usize>>,
}

fn jaccard(a: &[u32], b: &[u32], shared: usize) -> f64 {
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// Runs the behaviour check; returns the findings and what could not be checked.
pub fn check(
    catalogue: &Catalogue,
    data: &InteractionData,
    settings: &super::CheckSettings,
) -> (Vec<Finding>, Vec<String>) {
    let activity_z = settings.activity_z;
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let sequences = data.sequences();
    let product_of: Vec<Option<usize>> = data.items.iter().map(|i| catalogue.product(i)).collect();
    let accounts: Vec<Account> = sequences
        .iter()
        .map(|events| {
            let mut items: Vec<u32> = events.iter().map(|e| e.item).collect();
            items.sort_unstable();
            items.dedup();
            let products = items.iter().map(|&i| product_of[i as usize]).collect();
            Account { items, products }
        })
        .collect();
    if accounts.is_empty() {
        notes.push("behaviour: no interactions, so no account was checked".into());
        return (out, notes);
    }

    // Far more interactions than the rest.
    let logs: Vec<f64> = sequences
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| (s.len() as f64).ln())
        .collect();
    let (m, mad) = median_mad(&logs);
    for (u, events) in sequences.iter().enumerate() {
        let n = events.len();
        let z = robust_z((n.max(1) as f64).ln(), m, mad);
        if n >= 20 && z > activity_z {
            out.push(
                Finding::new(
                    IssueKind::HeavyActivity,
                    Severity::Info,
                    &data.users[u],
                    format!(
                        "{n} interactions where the median account has {:.0} (robust z {z:.1})",
                        m.exp()
                    ),
                    z,
                )
                .with("interactions", n)
                .with("median_interactions", m.exp().round())
                .with("robust_z", (z * 100.0).round() / 100.0),
            );
        }
    }

    // Bursts, where timestamps resolve seconds.
    let times: Vec<i64> = data.events.iter().filter_map(|e| e.time).collect();
    if times.is_empty() {
        notes.push("behaviour: no timestamps, so bursts and item spikes were not checked".into());
    } else if times.iter().all(|t| t.rem_euclid(86_400) == 0) {
        notes.push(
            "behaviour: timestamps are whole days, so bursts within seconds cannot be seen".into(),
        );
    } else {
        for (u, events) in sequences.iter().enumerate() {
            let mut t: Vec<i64> = events.iter().filter_map(|e| e.time).collect();
            t.sort_unstable();
            let mut best = (0usize, 0i64);
            let mut lo = 0;
            for hi in 0..t.len() {
                while t[hi] - t[lo] > BURST_SECONDS {
                    lo += 1;
                }
                if hi + 1 - lo > best.0 {
                    best = (hi + 1 - lo, t[lo]);
                }
            }
            if best.0 >= BURST_EVENTS {
                out.push(
                    Finding::new(
                        IssueKind::Burst,
                        Severity::Warning,
                        &data.users[u],
                        format!("{} events within {BURST_SECONDS} seconds", best.0),
                        best.0 as f64,
                    )
                    .with("events", best.0)
                    .with("window_seconds", BURST_SECONDS)
                    .with("window_start_unix", best.1),
                );
            }
        }
        out.extend(item_spikes(data));
    }

    // The same rating on everything.
    for (u, events) in sequences.iter().enumerate() {
        let ratings: Vec<f32> = events.iter().filter_map(|e| e.rating).collect();
        if ratings.len() >= CONSTANT_RATINGS && ratings.iter().all(|r| *r == ratings[0]) {
            out.push(
                Finding::new(
                    IssueKind::ConstantRating,
                    Severity::Info,
                    &data.users[u],
                    format!("rated all {} items {}", ratings.len(), ratings[0]),
                    ratings.len() as f64,
                )
                .with("ratings", ratings.len())
                .with("rating", f64::from(ratings[0])),
            );
        }
    }

    // Overlaps between accounts: inverted index over items.
    let mut users_of: Vec<Vec<u32>> = vec![Vec::new(); data.item_count()];
    for (u, a) in accounts.iter().enumerate() {
        if a.items.len() >= MIN_ITEMS {
            for &i in &a.items {
                users_of[i as usize].push(u as u32);
            }
        }
    }
    let top_brand: Vec<Option<(usize, f64)>> = accounts
        .iter()
        .map(|a| {
            let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
            for p in a.products.iter().flatten() {
                if let Some(b) = catalogue.products[*p].brand {
                    *counts.entry(b).or_insert(0) += 1;
                }
            }
            counts
                .into_iter()
                .max_by_key(|&(b, n)| (n, std::cmp::Reverse(b)))
                .filter(|&(_, n)| n >= BRAND_ITEMS)
                .map(|(b, n)| (b, n as f64 / a.items.len().max(1) as f64))
        })
        .collect();
    let mut customers: Vec<usize> = vec![0; data.item_count()];
    for a in &accounts {
        for &i in &a.items {
            customers[i as usize] += 1;
        }
    }
    let mut flagged: Vec<bool> = vec![false; accounts.len()];
    let mut shared: HashMap<u32, usize> = HashMap::new();
    for (u, a) in accounts.iter().enumerate() {
        if a.items.len() < MIN_ITEMS {
            continue;
        }
        shared.clear();
        for &i in &a.items {
            let users = &users_of[i as usize];
            if users.len() > OVERLAP_ITEM_CAP {
                continue;
            }
            for &v in users {
                if v as usize != u {
                    *shared.entry(v).or_insert(0) += 1;
                }
            }
        }
        let mut twins: Vec<u32> = Vec::new();
        let mut peers: Vec<u32> = Vec::new();
        let concentrated = top_brand[u].filter(|(_, s)| *s >= BRAND_SHARE);
        for (&v, &n) in &shared {
            let j = jaccard(&a.items, &accounts[v as usize].items, n);
            if j >= COPY_JACCARD {
                twins.push(v);
            }
            if let Some((brand, _)) = concentrated {
                if j >= SHILL_JACCARD
                    && top_brand[v as usize].is_some_and(|(b, s)| b == brand && s >= BRAND_SHARE)
                {
                    peers.push(v);
                }
            }
        }
        // The accounts it acts like are its related nodes: training counts such a group as
        // one account (see `exclude`).
        let alike = |ids: &mut Vec<u32>| -> Vec<String> {
            ids.sort_unstable();
            ids.iter()
                .map(|&v| data.users[v as usize].clone())
                .collect()
        };
        if twins.len() >= COPY_TWINS {
            flagged[u] = true;
            let twins_n = twins.len();
            let mut f = Finding::new(
                IssueKind::CopiedSequence,
                Severity::Warning,
                &data.users[u],
                format!(
                    "{twins_n} other accounts have nearly the same {} items (Jaccard ≥ {COPY_JACCARD})",
                    a.items.len()
                ),
                twins_n as f64,
            )
            .with("accounts_alike", twins_n)
            .with("items", a.items.len());
            f.related = alike(&mut twins);
            out.push(f);
        }
        let group_share = |brand: usize| {
            let shares: Vec<f64> = a
                .items
                .iter()
                .zip(&a.products)
                .filter(|(_, p)| p.and_then(|p| catalogue.products[p].brand) == Some(brand))
                .map(|(&i, _)| {
                    let group = 1 + peers
                        .iter()
                        .filter(|&&v| accounts[v as usize].items.binary_search(&i).is_ok())
                        .count();
                    group as f64 / customers[i as usize].max(1) as f64
                })
                .collect();
            shares.iter().sum::<f64>() / shares.len().max(1) as f64
        };
        let campaign = concentrated
            .filter(|_| peers.len() >= SHILL_PEERS)
            .map(|(brand, share)| (brand, share, group_share(brand)))
            .filter(|&(_, _, g)| g >= SHILL_GROUP_SHARE);
        if let Some((brand, share, group_share)) = campaign {
            flagged[u] = true;
            let peers_n = peers.len();
            let name = catalogue
                .brand_label(brand)
                .unwrap_or(&catalogue.brands[brand].iri);
            let mut f = Finding::new(
                IssueKind::Shilling,
                Severity::Warning,
                &data.users[u],
                format!(
                    "{:.0}% of its {} items are {name}'s, and {peers_n} other accounts concentrated on {name} have the same products: the group is {:.0}% of those products' customers",
                    share * 100.0,
                    a.items.len(),
                    group_share * 100.0
                ),
                share * peers_n.min(20) as f64,
            )
            .with("brand", catalogue.brands[brand].iri.clone())
            .with("brand_share", (share * 100.0).round() / 100.0)
            .with("group_share", (group_share * 100.0).round() / 100.0)
            .with("peer_accounts", peers_n)
            .with("items", a.items.len());
            f.related = alike(&mut peers);
            out.push(f);
        }
    }

    // Items without relation to each other, and less popular than people's choices.
    let users_per_item: Vec<f64> = customers.iter().map(|&n| n as f64).collect();
    let total: f64 = users_per_item.iter().sum();
    let n_items = users_per_item.len() as f64;
    // Without brands or co-purchase links nothing relates two items, and popularity alone
    // would flag every listener of obscure music: say so instead.
    let relatable = catalogue
        .products
        .iter()
        .any(|p| p.brand.is_some() || !p.neighbours.is_empty());
    if !relatable {
        notes.push(
            "behaviour: no product has a brand or a co-purchase link, so random activity was not checked".into(),
        );
    }
    for (u, a) in accounts.iter().enumerate().filter(|_| relatable) {
        let known: Vec<usize> = a.products.iter().flatten().copied().collect();
        if a.items.len() < RANDOM_MIN_ITEMS || known.is_empty() {
            continue;
        }
        let related = known
            .iter()
            .filter(|&&p| {
                let product = &catalogue.products[p];
                known.iter().any(|&q| {
                    q != p
                        && ((product.brand.is_some()
                            && product.brand == catalogue.products[q].brand)
                            || product.neighbours.binary_search(&q).is_ok())
                })
            })
            .count();
        let coherence = related as f64 / known.len() as f64;
        // Mean log of (popularity share / uniform share), add-one smoothed.
        let llr = a
            .items
            .iter()
            .map(|&i| ((users_per_item[i as usize] + 1.0) * n_items / (total + n_items)).ln())
            .sum::<f64>()
            / a.items.len() as f64;
        let score = llr + coherence;
        if score < settings.random_score {
            flagged[u] = true;
            out.push(
                Finding::new(
                    IssueKind::RandomActivity,
                    Severity::Warning,
                    &data.users[u],
                    format!(
                        "its {} items are as rarely chosen as random picks (popularity log-likelihood ratio {llr:.2}) and only {related} of them share a brand or a co-purchase link with another",
                        a.items.len()
                    ),
                    -score,
                )
                .with("items", a.items.len())
                .with("related_items", related)
                .with("coherence", (coherence * 1000.0).round() / 1000.0)
                .with("popularity_llr", (llr * 1000.0).round() / 1000.0),
            );
        }
    }

    // Items pushed by flagged accounts.
    for (i, iri) in data.items.iter().enumerate() {
        let users = &users_of[i];
        let by_flagged = users.iter().filter(|&&u| flagged[u as usize]).count();
        let total = users.len();
        if by_flagged >= 5 && by_flagged * 2 >= total {
            out.push(
                Finding::new(
                    IssueKind::ItemSpike,
                    Severity::Warning,
                    iri,
                    format!("{by_flagged} of its {total} accounts are flagged as not human"),
                    by_flagged as f64 / total.max(1) as f64,
                )
                .with("flagged_accounts", by_flagged)
                .with("accounts", total),
            );
        }
    }
    (out, notes)
}

/// Items with a day far busier than their usual one, mostly from few accounts.
fn item_spikes(data: &InteractionData) -> Vec<Finding> {
    let mut per_item_day: HashMap<(u32, i64), Vec<u32>> = HashMap::new();
    for e in &data.events {
        if let Some(t) = e.time {
            per_item_day
                .entry((e.item, t.div_euclid(86_400)))
                .or_default()
                .push(e.user);
        }
    }
    let mut days_of: BTreeMap<u32, Vec<(i64, usize, usize)>> = BTreeMap::new();
    for ((item, day), mut users) in per_item_day {
        let n = users.len();
        users.sort_unstable();
        users.dedup();
        days_of.entry(item).or_default().push((day, n, users.len()));
    }
    let mut out = Vec::new();
    for (item, days) in days_of {
        if days.len() < 3 {
            continue;
        }
        let mut counts: Vec<f64> = days.iter().map(|d| d.1 as f64).collect();
        let usual = super::outliers::median(&mut counts);
        let Some(&(day, n, distinct)) = days.iter().max_by_key(|d| (d.1, std::cmp::Reverse(d.0)))
        else {
            continue;
        };
        if n >= 10 && n as f64 >= 5.0 * usual && distinct * 2 <= n {
            out.push(
                Finding::new(
                    IssueKind::ItemSpike,
                    Severity::Warning,
                    &data.items[item as usize],
                    format!(
                        "{n} events on one day from {distinct} accounts, where a usual day has {usual:.0}"
                    ),
                    n as f64 / usual.max(1.0),
                )
                .with("events", n)
                .with("accounts", distinct)
                .with("usual_day", usual)
                .with("day_unix", day * 86_400),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::{Catalogue, Labelled, Product};
    use super::*;

    /// 40 coherent customers (ten of them fans of one brand), 12 shills pushing the same 4
    /// products of brand 1, one random clicker over unrelated, unpopular products, and 12
    /// fans of four popular products of brand 1.
    #[test]
    fn finds_shills_and_random_clickers_but_not_fans() {
        let mut products: Vec<Product> = Vec::new();
        for k in 0..400 {
            products.push(Product {
                iri: format!("p{k}"),
                brand: Some(if k < 200 { 0 } else { 1 }),
                categories: vec![0],
                ..Product::default()
            });
        }
        // Co-purchase links among neighbours in id order, so customers' items are related.
        for k in 0..399 {
            products[k].neighbours.push(k + 1);
            products[k + 1].neighbours.push(k);
        }
        for k in 400..930 {
            products.push(Product {
                iri: format!("p{k}"),
                ..Product::default()
            });
        }
        let catalogue = Catalogue::from_parts(
            products,
            vec![Labelled::new("b0"), Labelled::new("b1")],
            vec![Labelled::new("c0")],
        );
        let mut triples: Vec<(String, String, i64)> = Vec::new();
        for u in 0..40 {
            // Three products of each brand, a window of each per customer; fans of one brand
            // (the first ten) buy six of its products.
            let start = u * 4;
            for k in 0..3 {
                triples.push((format!("u{u}"), format!("p{}", start + k), k as i64));
                let other = if u < 10 {
                    start + 3 + k
                } else {
                    200 + start + k
                };
                triples.push((format!("u{u}"), format!("p{other}"), 3 + k as i64));
            }
            // Two best-sellers everyone buys.
            triples.push((format!("u{u}"), "p398".to_owned(), 6));
            triples.push((format!("u{u}"), "p399".to_owned(), 7));
        }
        for s in 0..12 {
            for (k, p) in [231, 233, 235, 237, 2].iter().enumerate() {
                triples.push((format!("shill{s}"), format!("p{p}"), k as i64));
            }
        }
        for k in 0..12 {
            triples.push(("random".into(), format!("p{}", 400 + k), k as i64));
        }
        // Twelve fans of brand 1 with the same four products, which 120 other customers buy
        // too (two each, with products of no brand): a fan base, not a campaign.
        for f in 0..12 {
            let own = [900 + 2 * f, 901 + 2 * f];
            for (k, p) in [300, 302, 304, 306].into_iter().chain(own).enumerate() {
                triples.push((format!("fan{f}"), format!("p{p}"), k as i64));
            }
        }
        for c in 0..120usize {
            let pair = if c % 2 == 0 { [300, 302] } else { [304, 306] };
            let own = (0..4).map(|k| 420 + (4 * c + k) % 480);
            for (k, p) in pair.into_iter().chain(own).enumerate() {
                triples.push((format!("other{c}"), format!("p{p}"), k as i64));
            }
        }
        let data = InteractionData::from_triples(
            triples.iter().map(|(u, i, p)| (u.as_str(), i.as_str(), *p)),
        );
        let (found, _) = check(&catalogue, &data, &crate::quality::CheckSettings::default());
        let mut flagged: Vec<(&str, IssueKind)> = found
            .iter()
            .filter(|f| f.kind.flags_account())
            .map(|f| (f.focus.as_str(), f.kind))
            .collect();
        flagged.sort();
        flagged.dedup_by_key(|f| f.0);
        let names: Vec<&str> = flagged.iter().map(|f| f.0).collect();
        let mut expected = vec!["random".to_owned()];
        expected.extend((0..12).map(|s| format!("shill{s}")));
        expected.sort();
        assert_eq!(names, expected, "{found:#?}");
        // A shill's related nodes are the other shills of its campaign (their copied
        // sequences too), which is what lets training count the campaign as one account.
        for f in found.iter().filter(|f| f.kind.flags_group()) {
            let mut others: Vec<String> = (0..12)
                .map(|s| format!("shill{s}"))
                .filter(|s| *s != f.focus)
                .collect();
            others.sort();
            assert_eq!(f.related, others, "{f:?}");
        }
    }
}
