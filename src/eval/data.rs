//! [`InteractionData`]: the users, items and interactions of a dataset, in dense ids and
//! per-user sequences for training and evaluation. Plain data: [`crate::features`] reads it
//! from the store through [`InteractionDataBuilder`].

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Dense user index.
pub type UserId = u32;
/// Dense item index.
pub type ItemId = u32;

/// The split a dataset itself assigns to an interaction (`kgr:split`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataSplit {
    /// `kgr:Train`.
    Train,
    /// `kgr:Valid`.
    Valid,
    /// `kgr:Test`.
    Test,
}

/// One positive interaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// Who.
    pub user: UserId,
    /// What.
    pub item: ItemId,
    /// Order within the user's sequence: `kgr:position`, else the timestamp.
    pub position: Option<i64>,
    /// Unix seconds, from `kgr:timestamp`.
    pub time: Option<i64>,
    /// The dataset's own split, if it carries one.
    pub split: Option<DataSplit>,
    /// Explicit rating, if any.
    pub rating: Option<f32>,
}

/// A labelled negative (`kgr:NegativeSample`), as CTR datasets carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negative {
    /// Who.
    pub user: UserId,
    /// What they did not choose.
    pub item: ItemId,
    /// The dataset's own split, if any.
    pub split: Option<DataSplit>,
}

/// All interactions of one source, with dense ids both ways.
#[derive(Clone, Debug, Default)]
pub struct InteractionData {
    /// User IRIs by id.
    pub users: Vec<String>,
    /// Item IRIs by id: every product that has at least one interaction or negative.
    pub items: Vec<String>,
    /// Positive interactions, grouped by user and in each user's order.
    pub events: Vec<Event>,
    /// Labelled negatives.
    pub negatives: Vec<Negative>,
    /// Products merged into another (duplicate IRI → the item it now counts as), by
    /// [`InteractionData::merged`]: the KG projection reads each as its target too.
    pub item_aliases: BTreeMap<String, String>,
    user_index: HashMap<String, UserId>,
    item_index: HashMap<String, ItemId>,
}

impl InteractionData {
    /// Builds data from IRI-keyed events (tests, examples and live events): `(user, item,
    /// position)` in any order.
    pub fn from_triples<'a>(events: impl IntoIterator<Item = (&'a str, &'a str, i64)>) -> Self {
        let mut data = InteractionData::default();
        let mut list = Vec::new();
        for (u, i, p) in events {
            let user = data.user_id_or_insert(u);
            let item = data.item_id_or_insert(i);
            list.push(Event {
                user,
                item,
                position: Some(p),
                time: None,
                split: None,
                rating: None,
            });
        }
        data.finish(list);
        data
    }

    /// The same data with each item of `aliases` renamed to its target (merged into it:
    /// histories keep both events), the merge recorded in [`InteractionData::item_aliases`].
    pub fn merged(&self, aliases: &BTreeMap<String, String>) -> InteractionData {
        let mut out = InteractionData::default();
        let item = |i: ItemId| {
            let iri = self.items[i as usize].as_str();
            aliases.get(iri).map_or(iri, String::as_str)
        };
        let mut events = Vec::with_capacity(self.events.len());
        for e in &self.events {
            events.push(Event {
                user: out.user_id_or_insert(&self.users[e.user as usize]),
                item: out.item_id_or_insert(item(e.item)),
                ..*e
            });
        }
        for n in &self.negatives {
            let negative = Negative {
                user: out.user_id_or_insert(&self.users[n.user as usize]),
                item: out.item_id_or_insert(item(n.item)),
                split: n.split,
            };
            out.negatives.push(negative);
        }
        out.item_aliases = self.item_aliases.clone();
        out.item_aliases
            .extend(aliases.iter().map(|(a, b)| (a.clone(), b.clone())));
        out.finish(events);
        out
    }

    /// Renumbers users and items in IRI order (so ids do not depend on the store's
    /// iteration order) and sorts events by user, then sequence order.
    pub(crate) fn finish(&mut self, mut events: Vec<Event>) {
        let user_map = renumber(&mut self.users, &mut self.user_index);
        let item_map = renumber(&mut self.items, &mut self.item_index);
        for e in &mut events {
            e.user = user_map[e.user as usize];
            e.item = item_map[e.item as usize];
        }
        for n in &mut self.negatives {
            n.user = user_map[n.user as usize];
            n.item = item_map[n.item as usize];
        }
        // Order: position, then time, then item id so that ties are broken the same way
        // every time.
        events.sort_by(|a, b| {
            (a.user, a.position.or(a.time), a.time, a.item).cmp(&(
                b.user,
                b.position.or(b.time),
                b.time,
                b.item,
            ))
        });
        self.negatives
            .sort_by_key(|n| (n.user, n.item, n.split.map(|s| s as u8)));
        self.events = events;
    }

    pub(crate) fn user_id_or_insert(&mut self, iri: &str) -> UserId {
        id_or_insert(&mut self.users, &mut self.user_index, iri)
    }

    pub(crate) fn item_id_or_insert(&mut self, iri: &str) -> ItemId {
        id_or_insert(&mut self.items, &mut self.item_index, iri)
    }

    /// The id of a user IRI.
    pub fn user_id(&self, iri: &str) -> Option<UserId> {
        self.user_index.get(iri).copied()
    }

    /// The id of an item IRI.
    pub fn item_id(&self, iri: &str) -> Option<ItemId> {
        self.item_index.get(iri).copied()
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Number of items.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// A SHA-256 of users, items, events and labelled negatives, in order: two runs on the
    /// same data give the same hash, so a trained model names the data it came from.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut text = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        for u in &self.users {
            text(u);
        }
        text("|items|");
        for i in &self.items {
            text(i);
        }
        text("|events|");
        for e in &self.events {
            text(&format!(
                "{} {} {:?} {:?} {:?} {:?}",
                e.user, e.item, e.position, e.time, e.split, e.rating
            ));
        }
        text("|negatives|");
        for n in &self.negatives {
            text(&format!("{} {} {:?}", n.user, n.item, n.split));
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Each user's events, in order, indexed by user id.
    pub fn sequences(&self) -> Vec<&[Event]> {
        let mut out: Vec<&[Event]> = vec![&[]; self.users.len()];
        let mut start = 0;
        while start < self.events.len() {
            let user = self.events[start].user;
            let mut end = start;
            while end < self.events.len() && self.events[end].user == user {
                end += 1;
            }
            out[user as usize] = &self.events[start..end];
            start = end;
        }
        out
    }

    /// Whether every event carries the dataset's own split.
    pub fn has_split(&self) -> bool {
        !self.events.is_empty() && self.events.iter().all(|e| e.split.is_some())
    }
}

fn id_or_insert(names: &mut Vec<String>, index: &mut HashMap<String, u32>, iri: &str) -> u32 {
    if let Some(&id) = index.get(iri) {
        return id;
    }
    let id = names.len() as u32;
    names.push(iri.to_owned());
    index.insert(iri.to_owned(), id);
    id
}

/// Sorts `names` and rebuilds `index`; returns old id → new id.
fn renumber(names: &mut Vec<String>, index: &mut HashMap<String, u32>) -> Vec<u32> {
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    let mut map = vec![0u32; names.len()];
    for (new, &old) in order.iter().enumerate() {
        map[old as usize] = new as u32;
    }
    let mut sorted = std::mem::take(names);
    sorted.sort();
    *names = sorted;
    index.clear();
    for (i, n) in names.iter().enumerate() {
        index.insert(n.clone(), i as u32);
    }
    map
}

/// Unix seconds of an `xsd:dateTime` lexical form (no time zone counts as UTC).
pub fn unix_seconds(lexical: &str) -> Option<i64> {
    let dt = oxsdatatypes::DateTime::from_str(lexical).ok()?;
    let (y, m, d) = (dt.year(), i64::from(dt.month()), i64::from(dt.day()));
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = f64::from(oxsdatatypes::Double::from(dt.second())) as i64;
    let offset = dt
        .timezone_offset()
        .map(|o| i64::from(i16::from_be_bytes(o.to_be_bytes())) * 60)
        .unwrap_or(0);
    Some(
        days * 86_400 + i64::from(dt.hour()) * 3600 + i64::from(dt.minute()) * 60 + seconds
            - offset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_items_keep_every_event_and_record_the_alias() {
        let data = InteractionData::from_triples([
            ("u1", "a", 0),
            ("u1", "dup", 1),
            ("u2", "dup", 0),
            ("u2", "b", 1),
        ]);
        let aliases = BTreeMap::from([("dup".to_owned(), "a".to_owned())]);
        let out = data.merged(&aliases);
        assert_eq!(out.users, ["u1", "u2"]);
        assert_eq!(out.items, ["a", "b"]);
        assert_eq!(out.item_aliases, aliases);
        let seqs: Vec<Vec<&str>> = out
            .sequences()
            .iter()
            .map(|s| {
                s.iter()
                    .map(|e| out.items[e.item as usize].as_str())
                    .collect()
            })
            .collect();
        assert_eq!(seqs, [vec!["a", "a"], vec!["a", "b"]]);
    }

    #[test]
    fn unix_seconds_of_datetimes() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2014-02-26T00:00:00Z"), Some(1_393_372_800));
        assert_eq!(
            unix_seconds("2014-02-26T01:00:00+01:00"),
            Some(1_393_372_800)
        );
        assert_eq!(unix_seconds("2000-03-01T00:00:00"), Some(951_868_800));
        assert_eq!(unix_seconds("not a date"), None);
    }

    #[test]
    fn ids_in_iri_order_and_sequences_in_position_order() {
        let data = InteractionData::from_triples([
            ("u:b", "i:2", 1),
            ("u:a", "i:3", 2),
            ("u:b", "i:1", 0),
            ("u:a", "i:1", 0),
            ("u:a", "i:2", 1),
        ]);
        assert_eq!(data.users, ["u:a", "u:b"]);
        assert_eq!(data.items, ["i:1", "i:2", "i:3"]);
        let seqs = data.sequences();
        let items = |u: usize| seqs[u].iter().map(|e| e.item).collect::<Vec<_>>();
        assert_eq!(items(0), [0, 1, 2]);
        assert_eq!(items(1), [0, 1]);
        assert_eq!(data.user_id("u:b"), Some(1));
        assert_eq!(data.item_id("i:9"), None);
    }
}
