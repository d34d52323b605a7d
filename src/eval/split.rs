//! Evaluation protocols and the splits they make: leave-one-out, per-user ratio, the KGCN
//! click-through split, and cold products (a share of the catalogue never seen in training).

use serde::{Deserialize, Serialize};

use super::data::{DataSplit, InteractionData, ItemId, UserId};
use super::LearnError;
use crate::util::SeededRng;

/// How held-out interactions are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Each user's last item is the test target, the one before it the validation target;
    /// full ranking with the history excluded (SASRec, S3-Rec, TIGER on Amazon).
    Loo,
    /// The split the data carries; else a random per-user 80/10/10 split (RecBole's `RS`).
    Ratio,
    /// KGCN's click-through split: all labelled pairs shuffled 6:2:2, scored by AUC and F1.
    Ctr,
    /// Cold products: [`COLD_ITEM_SHARE`] of the items (seeded) are left out of training with
    /// all their interactions and their product-to-product KG edges. Each user with one of
    /// them is cut at the last: that item is the test target, ranked among all items, and the
    /// warm items before it are the history (the last of them the validation target). Users
    /// without one train on their warm items, the last of them validation.
    #[serde(rename = "cold-items")]
    ColdItems,
}

/// The share of the catalogue the `cold-items` protocol leaves out of training.
pub const COLD_ITEM_SHARE: f64 = 0.1;

impl Protocol {
    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Loo => "loo",
            Protocol::Ratio => "ratio",
            Protocol::Ctr => "ctr",
            Protocol::ColdItems => "cold-items",
        }
    }
}

/// Which held-out part to score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Validation: the history is the training part only.
    Valid,
    /// Test: the history is training plus validation.
    Test,
}

/// One ranking query: rank every item for `user` given `history` (excluded from the
/// ranking), and see where `relevant` land.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankingCase {
    /// The user.
    pub user: UserId,
    /// What the model may see, in order.
    pub history: Vec<ItemId>,
    /// The held-out items.
    pub relevant: Vec<ItemId>,
}

/// A labelled (user, item) pair of a click-through split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelledPair {
    /// Who.
    pub user: UserId,
    /// What.
    pub item: ItemId,
    /// Whether they interacted.
    pub positive: bool,
}

/// The result of applying a protocol to the data.
#[derive(Clone, Debug)]
pub struct EvalSplit {
    /// The protocol used.
    pub protocol: Protocol,
    /// Each user's training items, in sequence order.
    pub train: Vec<Vec<ItemId>>,
    /// Each user's items before the held-out ones that are only history: the model sees
    /// them when it scores the user but never learns from them (the accounts
    /// `--exclude-flagged` leaves out). Empty for every other user.
    pub context_only: Vec<Vec<ItemId>>,
    /// Each user's validation items.
    pub valid: Vec<Vec<ItemId>>,
    /// Each user's test items.
    pub test: Vec<Vec<ItemId>>,
    /// Labelled negatives usable for training (click-through data only).
    pub train_negatives: Vec<(UserId, ItemId)>,
    /// Click-through validation pairs.
    pub valid_pairs: Vec<LabelledPair>,
    /// Click-through test pairs.
    pub test_pairs: Vec<LabelledPair>,
    /// Number of items in the catalogue.
    pub n_items: usize,
    /// Whether the split came from the data itself rather than from kgrec.
    pub from_data: bool,
    /// Items left out of training entirely, sorted (the `cold-items` protocol; empty
    /// otherwise): no interaction with them trains, and the KG projection drops their edges
    /// to other products (co-purchase links come from the interactions it leaves out).
    pub cold_items: Vec<ItemId>,
}

impl EvalSplit {
    /// Nothing held out: every user's whole sequence trains (the model a service runs).
    /// Its validation and test parts are empty.
    pub fn all_training(data: &InteractionData) -> Result<Self, LearnError> {
        let mut split = Self::empty(data, Protocol::Loo)?;
        for (u, seq) in data.sequences().iter().enumerate() {
            split.train[u] = seq.iter().map(|e| e.item).collect();
        }
        Ok(split)
    }

    /// A split of `data` with every part empty; refuses data without interactions.
    fn empty(data: &InteractionData, protocol: Protocol) -> Result<Self, LearnError> {
        if data.events.is_empty() {
            return Err(LearnError::BadData(
                "the store holds no interactions".into(),
            ));
        }
        let n_users = data.user_count();
        Ok(EvalSplit {
            protocol,
            train: vec![Vec::new(); n_users],
            context_only: vec![Vec::new(); n_users],
            valid: vec![Vec::new(); n_users],
            test: vec![Vec::new(); n_users],
            train_negatives: Vec::new(),
            valid_pairs: Vec::new(),
            test_pairs: Vec::new(),
            n_items: data.item_count(),
            from_data: false,
            cold_items: Vec::new(),
        })
    }

    /// Splits `data` by `protocol`; `seed` drives the random protocols.
    pub fn new(data: &InteractionData, protocol: Protocol, seed: u64) -> Result<Self, LearnError> {
        let mut split = Self::empty(data, protocol)?;
        let sequences = data.sequences();
        match protocol {
            Protocol::Loo => {
                for (u, seq) in sequences.iter().enumerate() {
                    let items: Vec<ItemId> = seq.iter().map(|e| e.item).collect();
                    if items.len() < 3 {
                        // Too short to hold anything out: all of it trains.
                        split.train[u] = items;
                        continue;
                    }
                    let n = items.len();
                    split.test[u] = vec![items[n - 1]];
                    split.valid[u] = vec![items[n - 2]];
                    split.train[u] = items[..n - 2].to_vec();
                }
            }
            Protocol::Ratio if data.has_split() => {
                split.from_data = true;
                for (u, seq) in sequences.iter().enumerate() {
                    for e in seq.iter() {
                        let part = match e.split {
                            Some(DataSplit::Valid) => &mut split.valid,
                            Some(DataSplit::Test) => &mut split.test,
                            _ => &mut split.train,
                        };
                        part[u].push(e.item);
                    }
                }
            }
            Protocol::Ratio => {
                for (u, seq) in sequences.iter().enumerate() {
                    let mut items: Vec<ItemId> = seq.iter().map(|e| e.item).collect();
                    let mut rng = SeededRng::for_stream(seed, u as u64);
                    rng.shuffle(&mut items);
                    let n = items.len();
                    let (n_valid, n_test) = (n / 10, n / 10);
                    let n_train = n - n_valid - n_test;
                    split.test[u] = items[n_train + n_valid..].to_vec();
                    split.valid[u] = items[n_train..n_train + n_valid].to_vec();
                    let mut train = items[..n_train].to_vec();
                    // Training keeps the user's sequence order.
                    let order = |i: &ItemId| seq.iter().position(|e| e.item == *i);
                    train.sort_by_key(order);
                    split.train[u] = train;
                }
            }
            Protocol::Ctr => {
                if data.negatives.is_empty() {
                    return Err(LearnError::BadData(
                        "the ctr protocol needs labelled negatives (kgr:NegativeSample), as KGCN datasets carry".into(),
                    ));
                }
                let mut pairs: Vec<LabelledPair> = data
                    .events
                    .iter()
                    .map(|e| LabelledPair {
                        user: e.user,
                        item: e.item,
                        positive: true,
                    })
                    .chain(data.negatives.iter().map(|n| LabelledPair {
                        user: n.user,
                        item: n.item,
                        positive: false,
                    }))
                    .collect();
                SeededRng::new(seed).shuffle(&mut pairs);
                let n = pairs.len();
                let n_valid = n / 5;
                let n_test = n / 5;
                for (i, p) in pairs.into_iter().enumerate() {
                    if i < n_valid {
                        split.valid_pairs.push(p);
                    } else if i < n_valid + n_test {
                        split.test_pairs.push(p);
                    } else if p.positive {
                        split.train[p.user as usize].push(p.item);
                    } else {
                        split.train_negatives.push((p.user, p.item));
                    }
                }
                for p in &split.valid_pairs {
                    if p.positive {
                        split.valid[p.user as usize].push(p.item);
                    }
                }
                for p in &split.test_pairs {
                    if p.positive {
                        split.test[p.user as usize].push(p.item);
                    }
                }
                // Training positives in the user's sequence order.
                for (u, seq) in sequences.iter().enumerate() {
                    let position = |i: &ItemId| seq.iter().position(|e| e.item == *i);
                    split.train[u].sort_by_key(position);
                }
            }
            Protocol::ColdItems => {
                let n_items = data.item_count();
                let mut items: Vec<ItemId> = (0..n_items as ItemId).collect();
                SeededRng::new(seed).shuffle(&mut items);
                let n_cold = ((n_items as f64 * COLD_ITEM_SHARE).round() as usize).max(1);
                let mut cold = vec![false; n_items];
                for &i in &items[..n_cold.min(n_items)] {
                    cold[i as usize] = true;
                }
                for (u, seq) in sequences.iter().enumerate() {
                    let items: Vec<ItemId> = seq.iter().map(|e| e.item).collect();
                    let last_cold = items.iter().rposition(|&i| cold[i as usize]);
                    let warm_before = |end: usize| -> Vec<ItemId> {
                        items[..end]
                            .iter()
                            .copied()
                            .filter(|&i| !cold[i as usize])
                            .collect()
                    };
                    let asked = last_cold
                        .map(|p| (warm_before(p), items[p]))
                        .filter(|(history, _)| !history.is_empty());
                    let (mut warm, target) = match asked {
                        Some((history, t)) => (history, Some(t)),
                        // No history before the cold item: nothing to ask, the warm items train.
                        None => (warm_before(items.len()), None),
                    };
                    if let Some(t) = target {
                        split.test[u] = vec![t];
                    }
                    if warm.len() >= 2 {
                        split.valid[u] = warm.pop().into_iter().collect();
                    }
                    split.train[u] = warm;
                }
                split.cold_items = (0..n_items as ItemId)
                    .filter(|&i| cold[i as usize])
                    .collect();
            }
        }
        Ok(split)
    }

    /// Whether `item` is left out of training entirely (see [`EvalSplit::cold_items`]).
    pub fn is_cold(&self, item: ItemId) -> bool {
        self.cold_items.binary_search(&item).is_ok()
    }

    /// Scores only the held-out parts of users `keep` accepts: the others' validation and test
    /// items (and click-through pairs) are dropped, their training items stay.
    pub fn score_only(&mut self, keep: impl Fn(UserId) -> bool) {
        for u in 0..self.train.len() {
            if !keep(u as UserId) {
                self.valid[u].clear();
                self.test[u].clear();
            }
        }
        self.valid_pairs.retain(|p| keep(p.user));
        self.test_pairs.retain(|p| keep(p.user));
    }

    /// Turns the training items of the users `learn` rejects into history only: they are
    /// still the context their held-out items are scored with, but no model learns from
    /// them and they never enter the KG projection.
    pub fn learn_only_from(&mut self, learn: impl Fn(UserId) -> bool) {
        for u in 0..self.train.len() {
            if !learn(u as UserId) {
                let items = std::mem::take(&mut self.train[u]);
                self.context_only[u].extend(items);
            }
        }
        self.train_negatives.retain(|&(u, _)| learn(u));
    }

    /// What the model sees of user `u` before the held-out items: the training items, or
    /// for a user nothing is learned from, the history kept as context.
    pub fn history(&self, u: usize) -> &[ItemId] {
        if self.context_only[u].is_empty() {
            &self.train[u]
        } else {
            &self.context_only[u]
        }
    }

    /// [`EvalSplit::history`] of every user.
    pub fn histories(&self) -> Vec<Vec<ItemId>> {
        (0..self.train.len())
            .map(|u| self.history(u).to_vec())
            .collect()
    }

    /// The ranking cases of a stage: every user with held-out items in it.
    pub fn ranking_cases(&self, stage: Stage) -> Vec<RankingCase> {
        let mut cases = Vec::new();
        for u in 0..self.train.len() {
            let (history, relevant) = match stage {
                Stage::Valid => (self.history(u).to_vec(), &self.valid[u]),
                Stage::Test => {
                    let mut h = self.history(u).to_vec();
                    h.extend_from_slice(&self.valid[u]);
                    (h, &self.test[u])
                }
            };
            // An item seen in the history is excluded from the ranking, so it cannot count
            // as a held-out target either.
            let mut relevant: Vec<ItemId> = relevant
                .iter()
                .copied()
                .filter(|i| !history.contains(i))
                .collect();
            relevant.sort_unstable();
            relevant.dedup();
            if !relevant.is_empty() {
                cases.push(RankingCase {
                    user: u as UserId,
                    history,
                    relevant,
                });
            }
        }
        cases
    }

    /// Every training (user, item) pair, users in order.
    pub fn train_pairs(&self) -> impl Iterator<Item = (UserId, ItemId)> + '_ {
        self.train
            .iter()
            .enumerate()
            .flat_map(|(u, items)| items.iter().map(move |&i| (u as UserId, i)))
    }

    /// Number of training interactions.
    pub fn train_len(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> InteractionData {
        let mut events = Vec::new();
        for u in 0..20 {
            for p in 0..10 {
                events.push((
                    format!("u:{u:02}"),
                    format!("i:{:02}", (u + p) % 15),
                    p as i64,
                ));
            }
        }
        InteractionData::from_triples(events.iter().map(|(u, i, p)| (u.as_str(), i.as_str(), *p)))
    }

    #[test]
    fn leave_one_out_holds_out_the_last_two() {
        let d = data();
        let s = EvalSplit::new(&d, Protocol::Loo, 0).unwrap();
        // User 3: items 3..13 in order.
        assert_eq!(s.test[3], [12]);
        assert_eq!(s.valid[3], [11]);
        assert_eq!(s.train[3], (3..11).collect::<Vec<_>>());
        let test = s.ranking_cases(Stage::Test);
        assert_eq!(test.len(), 20);
        assert_eq!(test[3].history.len(), 9);
        let valid = s.ranking_cases(Stage::Valid);
        assert_eq!(valid[3].history.len(), 8);
        assert_eq!(valid[3].relevant, [11]);
    }

    #[test]
    fn cold_items_never_train_and_are_asked_after_the_warm_history() {
        let d = data();
        let s = EvalSplit::new(&d, Protocol::ColdItems, 4).unwrap();
        // 10% of 15 items, rounded.
        assert_eq!(s.cold_items.len(), 2);
        assert_eq!(
            s.cold_items,
            EvalSplit::new(&d, Protocol::ColdItems, 4)
                .unwrap()
                .cold_items
        );
        for u in 0..s.train.len() {
            assert!(s.train[u].iter().chain(&s.valid[u]).all(|&i| !s.is_cold(i)));
            for &t in &s.test[u] {
                assert!(s.is_cold(t));
            }
        }
        let cases = s.ranking_cases(Stage::Test);
        assert!(!cases.is_empty());
        for case in &cases {
            let seq: Vec<ItemId> = d.sequences()[case.user as usize]
                .iter()
                .map(|e| e.item)
                .collect();
            let at = seq.iter().rposition(|i| s.is_cold(*i)).unwrap();
            assert_eq!(case.relevant, [seq[at]]);
            let warm: Vec<ItemId> = seq[..at]
                .iter()
                .copied()
                .filter(|i| !s.is_cold(*i))
                .collect();
            assert_eq!(case.history, warm);
        }
    }

    #[test]
    fn context_only_users_are_scored_but_not_learned_from() {
        let d = data();
        let mut s = EvalSplit::new(&d, Protocol::Loo, 0).unwrap();
        s.learn_only_from(|u| u != 3);
        assert!(s.train[3].is_empty());
        assert_eq!(s.history(3), (3..11).collect::<Vec<_>>());
        assert!(s.train_pairs().all(|(u, _)| u != 3));
        let test = s.ranking_cases(Stage::Test);
        assert_eq!(test.len(), 20);
        assert_eq!(
            (test[3].history.len(), test[3].relevant.as_slice()),
            (9, &[12][..])
        );
        assert_eq!(s.histories()[3].len(), 8);
    }

    #[test]
    fn ratio_split_is_per_user_seeded_and_disjoint() {
        let d = data();
        let a = EvalSplit::new(&d, Protocol::Ratio, 1).unwrap();
        let b = EvalSplit::new(&d, Protocol::Ratio, 1).unwrap();
        let c = EvalSplit::new(&d, Protocol::Ratio, 2).unwrap();
        assert_eq!(a.test, b.test);
        assert_ne!(a.test, c.test);
        for u in 0..20 {
            assert_eq!(
                (a.train[u].len(), a.valid[u].len(), a.test[u].len()),
                (8, 1, 1)
            );
            let mut all: Vec<_> = [&a.train[u], &a.valid[u], &a.test[u]]
                .iter()
                .flat_map(|v| v.iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 10);
            // Training keeps sequence order.
            let positions: Vec<_> = a.train[u]
                .iter()
                .map(|i| (*i as usize + 15 - u % 15) % 15)
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        }
        assert!(!a.from_data);
    }

    #[test]
    fn ctr_needs_negatives() {
        assert!(EvalSplit::new(&data(), Protocol::Ctr, 0).is_err());
    }
}
