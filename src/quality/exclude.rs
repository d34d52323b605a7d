//! What `kgrec train --exclude-flagged` leaves out: the interactions of accounts flagged as
//! not human (no model learns from them or walks them; they remain the history their own
//! recommendations are scored from), and each duplicate product merged into one
//! representative (the one with the most interactions in its group), histories merged and
//! its KG edges read as the representative's. The same merge applies when serving: the
//! registry entry records it and the recommender resolves a duplicate's id to its
//! representative.
//!
//! Products whose title `kgrec check` repaired with certainty (an entity decoded, mojibake
//! undone) or whose title names a brand they are not linked to are read as repaired: the
//! text training encodes and the KG it walks see the repair, the store keeps what it holds.
//!
//! Accounts flagged for acting alike (copied sequences, shilling campaigns) count as one
//! account: what makes such a group harmful is its volume, the same behaviour repeated by
//! many accounts, so training keeps one of them (the most active; none when an unflagged
//! account of the group is learned from anyway) and leaves the rest out. A real group of
//! fans flagged by mistake then still teaches the model what its members share.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::findings::IssueKind;
use super::record;
use crate::embed::{CatalogueRepairs, LinkedBrand};
use crate::error::RecError;
use crate::eval::{EvalSplit, InteractionData};
use crate::kg::KgStore;

/// The kinds `--exclude-flagged` can act on: every kind that flags an account as not human,
/// both kinds of duplicate, and the kinds whose repair training can read.
pub fn actionable_kinds() -> Vec<IssueKind> {
    IssueKind::ALL.into_iter().filter(|k| acts_on(*k)).collect()
}

fn acts_on(kind: IssueKind) -> bool {
    kind.flags_account()
        || kind.repairs_catalogue()
        || matches!(kind, IssueKind::ExactDuplicate | IssueKind::NearDuplicate)
}

/// The kinds `--exclude-flagged` uses when none are named: the actionable kinds but
/// `shilling`. A shilling finding judges intent from a footprint real brand fans share; on
/// real Beauty, where no campaign was planted, leaving its accounts out costs validation
/// HR@10, and on the injected campaigns it wins nothing back (BENCHMARKS.md, "Leaving
/// flagged data out"). Name it (`--exclude-flagged shilling,…`) to keep a campaign's
/// products from being pushed.
pub fn default_kinds() -> Vec<IssueKind> {
    actionable_kinds()
        .into_iter()
        .filter(|k| *k != IssueKind::Shilling)
        .collect()
}

/// Parses `--exclude-flagged` kinds: issue kinds (`shilling`) or checks (`duplicates`,
/// `behaviour`: their kinds that exclusion can act on).
pub fn parse_kinds(list: &str) -> Result<Vec<IssueKind>, RecError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(kind) = IssueKind::parse(name) {
            if !acts_on(kind) {
                return Err(RecError::InvalidConfig(format!(
                    "--exclude-flagged {name}: training can leave out flagged accounts (burst, copied-sequence, shilling, random-activity), merge duplicates (exact-duplicate, near-duplicate) and read repairs (html-entity, control-character, mojibake, unlinked-brand), not {name}"
                )));
            }
            out.push(kind);
        } else if let Ok(check) = super::Check::parse(name) {
            out.extend(
                actionable_kinds()
                    .into_iter()
                    .filter(|k| k.check() == check),
            );
        } else {
            return Err(RecError::InvalidConfig(format!(
                "--exclude-flagged: unknown kind '{name}' (expected e.g. duplicates, behaviour, text, near-duplicate, shilling)"
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// What a model was trained without; recorded in its registry entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exclusions {
    /// The finding kinds acted on.
    pub kinds: Vec<IssueKind>,
    /// Accounts whose interactions were left out.
    pub users: BTreeSet<String>,
    /// Flagged accounts learned from after all: one per group of accounts acting alike.
    #[serde(default)]
    pub group_representatives: BTreeSet<String>,
    /// Each duplicate product and the representative it was merged into.
    pub item_aliases: BTreeMap<String, String>,
    /// Interactions left out (of flagged accounts).
    pub interactions_left_out: u64,
    /// Product titles and brands read as `kgrec check` repaired them.
    #[serde(default)]
    pub repairs: CatalogueRepairs,
}

impl Exclusions {
    /// Reads the recorded findings of `kinds` and decides what to leave out of `data`.
    pub fn from_store(
        store: &KgStore,
        kinds: &[IssueKind],
        data: &InteractionData,
    ) -> Result<Self, RecError> {
        let findings = record::flagged(store, kinds)?;
        if findings.is_empty()
            && !record::summary(store)?
                .runs
                .iter()
                .any(|r| kinds.iter().any(|k| k.check() == r.check))
        {
            return Err(RecError::InvalidConfig(
                "--exclude-flagged: no `kgrec check` of these kinds has run on this store; run `kgrec check` first".into(),
            ));
        }
        let mut users = BTreeSet::new();
        let mut on_its_own = BTreeSet::new();
        let mut alike = Vec::new();
        let mut pairs = Vec::new();
        let repairs = repairs(&findings);
        for record::RecordedFinding {
            kind,
            focus,
            related,
            ..
        } in findings
        {
            if kind.flags_group() {
                alike.extend(related.into_iter().map(|r| (focus.clone(), r)));
                users.insert(focus);
            } else if kind.flags_account() {
                on_its_own.insert(focus.clone());
                users.insert(focus);
            } else if matches!(kind, IssueKind::ExactDuplicate | IssueKind::NearDuplicate) {
                if let Some(rep) = related.into_iter().next() {
                    pairs.push((focus, rep));
                }
            }
        }
        let (per_item, per_user) = {
            let (mut items, mut users) = (BTreeMap::new(), BTreeMap::new());
            for e in &data.events {
                *items
                    .entry(data.items[e.item as usize].as_str())
                    .or_insert(0) += 1;
                *users
                    .entry(data.users[e.user as usize].as_str())
                    .or_insert(0) += 1;
            }
            (items, users)
        };
        let count = |m: &BTreeMap<&str, usize>, iri: &str| m.get(iri).copied().unwrap_or(0);
        let item_aliases = merge_groups(&pairs, |iri| count(&per_item, iri));
        let group_representatives =
            one_per_group(&alike, &users, &on_its_own, |iri| count(&per_user, iri));
        users.retain(|u| !group_representatives.contains(u));
        let interactions_left_out = data
            .events
            .iter()
            .filter(|e| users.contains(&data.users[e.user as usize]))
            .count() as u64;
        Ok(Exclusions {
            kinds: kinds.to_vec(),
            users,
            group_representatives,
            item_aliases,
            interactions_left_out,
            repairs,
        })
    }

    /// Whether `user` was flagged (left out, or kept as its group's one account).
    pub fn is_flagged(&self, user: &str) -> bool {
        self.users.contains(user) || self.group_representatives.contains(user)
    }

    /// `data` with the duplicates merged. The flagged accounts stay in it: training keeps
    /// their interactions as history only (see [`crate::eval::EvalSplit::learn_only_from`]),
    /// so they are still served but nothing is learned from them.
    pub fn apply(&self, data: &InteractionData) -> InteractionData {
        data.merged(&self.item_aliases)
    }
}

/// The repairs training reads from `findings` (those whose kind
/// [`IssueKind::repairs_catalogue`]): each flagged product title repaired as
/// [`super::text::repaired`] does, and each unlinked brand linked.
fn repairs(findings: &[record::RecordedFinding]) -> CatalogueRepairs {
    let mut out = CatalogueRepairs::default();
    for f in findings.iter().filter(|f| f.kind.repairs_catalogue()) {
        let text = |name: &str| f.evidence.get(name).and_then(|v| v.as_str());
        if f.kind == IssueKind::UnlinkedBrand {
            if let (Some(brand), Some(name)) = (f.related.first(), text("brand_name")) {
                let linked = LinkedBrand {
                    iri: brand.clone(),
                    name: name.to_owned(),
                };
                out.brands.insert(f.focus.clone(), linked);
            }
        } else if text("field") == Some("name") {
            if let Some(fixed) = text("text").and_then(super::text::repaired) {
                out.names.insert(f.focus.clone(), fixed);
            }
        }
    }
    out
}

/// Narrows `split` (of `data`, the exclusions already applied) to what a run with these
/// exclusions and evaluation users learns from and scores: flagged accounts' items become
/// history only; scored are the `eval_users` when given, else every account not flagged
/// (how well a model predicts bots is no measure of it). `kgrec train` and `kgrec eval`
/// both narrow their splits here, so their figures are comparable.
pub fn restrict_split(
    split: &mut EvalSplit,
    data: &InteractionData,
    exclusions: Option<&Exclusions>,
    eval_users: Option<&BTreeSet<String>>,
) {
    if let Some(x) = exclusions {
        split.learn_only_from(|u| !x.users.contains(&data.users[u as usize]));
        if eval_users.is_none() {
            split.score_only(|u| !x.is_flagged(&data.users[u as usize]));
        }
    }
    if let Some(users) = eval_users {
        split.score_only(|u| users.contains(&data.users[u as usize]));
    }
}

/// Groups linked products (union of pairs) and maps every member but the group's
/// representative (most interactions, then smallest IRI) onto it.
pub fn merge_groups(
    pairs: &[(String, String)],
    interactions: impl Fn(&str) -> usize,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for group in connected_groups(pairs) {
        let Some(rep) = group
            .iter()
            .max_by(|a, b| interactions(a).cmp(&interactions(b)).then(b.cmp(a)))
            .cloned()
        else {
            continue;
        };
        for m in group {
            if m != rep {
                out.insert(m, rep.clone());
            }
        }
    }
    out
}

/// The account training keeps of each group of accounts acting alike (`alike` links them):
/// the most active one (then the smallest IRI) not also flagged on its own account, and
/// none where a member of the group is not `flagged` (it is learned from anyway).
pub fn one_per_group(
    alike: &[(String, String)],
    flagged: &BTreeSet<String>,
    on_its_own: &BTreeSet<String>,
    interactions: impl Fn(&str) -> usize,
) -> BTreeSet<String> {
    connected_groups(alike)
        .into_iter()
        .filter(|group| group.iter().all(|u| flagged.contains(u)))
        .filter_map(|group| {
            group
                .into_iter()
                .filter(|u| !on_its_own.contains(u))
                .max_by(|a, b| interactions(a).cmp(&interactions(b)).then(b.cmp(a)))
        })
        .collect()
}

/// The connected groups of the graph whose edges are `pairs`, members in IRI order.
fn connected_groups(pairs: &[(String, String)]) -> Vec<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    fn root(parent: &mut BTreeMap<String, String>, x: &str) -> String {
        let mut at = x.to_owned();
        while let Some(p) = parent.get(&at).filter(|p| **p != at).cloned() {
            at = p;
        }
        // Point x straight at its root, so long chains are walked once.
        if at != x {
            parent.insert(x.to_owned(), at.clone());
        }
        at
    }
    for (a, b) in pairs {
        parent.entry(a.clone()).or_insert_with(|| a.clone());
        parent.entry(b.clone()).or_insert_with(|| b.clone());
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent.insert(ra, rb);
        }
    }
    let members: Vec<String> = parent.keys().cloned().collect();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in members {
        let r = root(&mut parent, &m);
        groups.entry(r).or_default().push(m);
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_merge_into_the_busiest_member() {
        let pairs = vec![
            ("a".to_owned(), "b".to_owned()),
            ("c".to_owned(), "b".to_owned()),
        ];
        let counts = |x: &str| match x {
            "a" => 10,
            "b" => 3,
            _ => 1,
        };
        let aliases = merge_groups(&pairs, counts);
        assert_eq!(
            aliases.into_iter().collect::<Vec<_>>(),
            [
                ("b".to_owned(), "a".to_owned()),
                ("c".to_owned(), "a".to_owned())
            ]
        );
    }

    #[test]
    fn a_group_acting_alike_keeps_its_busiest_account() {
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        let pairs = |xs: &[(&str, &str)]| {
            xs.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let counts = |x: &str| match x {
            "a" => 9,
            "b" => 7,
            "e" => 5,
            _ => 1,
        };
        // Group {a, b, c}: all flagged, but a is also flagged on its own, so b is kept.
        // Group {d, e}: e is not flagged (learned from anyway), so nothing is kept.
        // Group {f, g}: same activity, the smaller IRI is kept.
        let alike = pairs(&[("a", "b"), ("c", "b"), ("d", "e"), ("f", "g"), ("g", "f")]);
        let flagged = set(&["a", "b", "c", "d", "f", "g"]);
        let kept = one_per_group(&alike, &flagged, &set(&["a"]), counts);
        assert_eq!(kept, set(&["b", "f"]));
    }

    #[test]
    fn kinds_parse_by_check_or_name() {
        assert_eq!(
            parse_kinds("duplicates").unwrap(),
            [IssueKind::ExactDuplicate, IssueKind::NearDuplicate]
        );
        assert!(parse_kinds("behaviour")
            .unwrap()
            .contains(&IssueKind::Shilling));
        assert!(parse_kinds("price-outlier").is_err());
        assert!(parse_kinds("bots").is_err());
    }

    #[test]
    fn shilling_is_left_out_only_when_named() {
        let defaults = default_kinds();
        assert!(!defaults.contains(&IssueKind::Shilling));
        assert!(defaults.contains(&IssueKind::RandomActivity));
        assert!(defaults.contains(&IssueKind::NearDuplicate));
        assert_eq!(defaults.len() + 1, actionable_kinds().len());
    }
}
