//! [`ItemLinks`]: the KG's links between catalogue items, read straight from the graph, as
//! an input the sequence model scores with.
//!
//! A link is a KG path of one hop from item to item (`also_bought`, either direction) or of
//! two hops through a small shared neighbour (the same brand, a co-purchased product outside
//! the catalogue). Each kind of link, seen from each of the user's most recent items, is a
//! feature of a candidate item; the model learns one weight per (kind, recency) and adds
//! them to its score. The walk vectors blur these links into a dense space, where a test
//! item that is a co-purchase of the last item bought is one neighbour among many; here the
//! link itself counts, and it is exactly the path an explanation shows. A model that reads
//! text adds one more kind, `similar text`: each item's nearest items by sentence vector.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::eval::ItemId;

/// What a link between two catalogue items is. Its [name](LinkKind::name) is what a
/// checkpoint stores, a report shows and an explanation looks the model's weight up by, so
/// every part of kgrec builds it here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// One KG edge from item to item by `relation` (`^relation`: read backwards).
    Hop {
        /// The relation's short name (`also_bought`).
        relation: String,
        /// Whether the edge points from the candidate to the history item.
        inverse: bool,
    },
    /// Two KG edges through a neighbour both items share (`shared brand`).
    Shared {
        /// The relation's short name.
        relation: String,
        /// Whether the edges point from the neighbour to the items.
        inverse: bool,
    },
    /// Among each other's nearest items by sentence vector (`similar text`).
    SimilarText,
}

impl LinkKind {
    /// The kind's name: `also_bought`, `^also_bought`, `shared brand`, `similar text`.
    pub fn name(&self) -> String {
        let directed =
            |relation: &str, inverse: bool| format!("{}{relation}", if inverse { "^" } else { "" });
        match self {
            LinkKind::Hop { relation, inverse } => directed(relation, *inverse),
            LinkKind::Shared { relation, inverse } => {
                format!("shared {}", directed(relation, *inverse))
            }
            LinkKind::SimilarText => "similar text".to_owned(),
        }
    }
}

/// How many of the most recent history items a link is read from.
pub const RECENT_ITEMS: usize = 10;

/// Recency classes of the item a link starts from: the last item, the two before it, and
/// the rest of the [`RECENT_ITEMS`].
pub const RECENCY_CLASSES: usize = 3;

/// The recency class of the item `back` positions before the end of a history (0: last).
pub fn recency_class(back: usize) -> Option<usize> {
    match back {
        0 => Some(0),
        1 | 2 => Some(1),
        _ if back < RECENT_ITEMS => Some(2),
        _ => None,
    }
}

/// Item-to-item links by kind, as adjacency lists over item ids (a CSR table).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemLinks {
    /// A name for each kind, e.g. `also_bought`, `^also_bought` (the inverse direction) or
    /// `shared produced_by`.
    pub kinds: Vec<String>,
    offsets: Vec<u32>,
    targets: Vec<ItemId>,
    kind_of: Vec<u32>,
}

impl ItemLinks {
    /// The table of `lists.len()` items from each item's links `(to, kind)`, in any order
    /// and with repeats (kept once). Links to the item itself, to items beyond the table and
    /// of kinds out of range are dropped.
    pub fn from_lists(kinds: Vec<String>, mut lists: Vec<Vec<(ItemId, u32)>>) -> Self {
        let n = lists.len();
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        let mut targets = Vec::new();
        let mut kind_of = Vec::new();
        offsets.push(0);
        for (item, list) in lists.iter_mut().enumerate() {
            list.retain(|&(to, kind)| {
                to as usize != item && (to as usize) < n && (kind as usize) < kinds.len()
            });
            list.sort_unstable();
            list.dedup();
            for &(to, kind) in list.iter() {
                targets.push(to);
                kind_of.push(kind);
            }
            offsets.push(targets.len() as u32);
        }
        ItemLinks {
            kinds,
            offsets,
            targets,
            kind_of,
        }
    }

    /// This table with one more kind, `name`, whose links are `lists` (item `i`'s list is
    /// `lists[i]`; items beyond the table's get no link).
    pub fn with_kind(self, name: &str, lists: &[Vec<ItemId>]) -> Self {
        let n = self.item_count().max(lists.len());
        let kind = self.kinds.len() as u32;
        let mut all: Vec<Vec<(ItemId, u32)>> = (0..n)
            .map(|i| {
                self.links(i as ItemId)
                    .map(|(t, k)| (t, k as u32))
                    .collect()
            })
            .collect();
        for (list, extra) in all.iter_mut().zip(lists) {
            list.extend(extra.iter().map(|&t| (t, kind)));
        }
        let mut kinds = self.kinds;
        kinds.push(name.to_owned());
        ItemLinks::from_lists(kinds, all)
    }

    /// Per feature (kind × recency class), whether its kind passes through another product:
    /// one KG edge between two items (`also_bought`), or two through a product outside the
    /// catalogue (`shared also_bought`, a relation that also joins two catalogue items), not
    /// `shared brand` nor `similar text`. These are the links a product new to the catalogue
    /// has none of: its links to other products come with its sales, as `cold-items` leaves
    /// them out.
    pub fn direct_features(&self) -> Vec<bool> {
        let text = LinkKind::SimilarText.name();
        let hop = |relation: &str| {
            let relation = relation.trim_start_matches('^');
            self.kinds
                .iter()
                .any(|k| k.trim_start_matches('^') == relation)
        };
        self.kinds
            .iter()
            .flat_map(|k| {
                let direct = match k.strip_prefix("shared ") {
                    Some(relation) => hop(relation),
                    None => *k != text,
                };
                std::iter::repeat_n(direct, RECENCY_CLASSES)
            })
            .collect()
    }

    /// Number of items the table covers (items beyond it have no links).
    pub fn item_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of links.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there is no link at all.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Number of features a model weighs: one per (kind, recency class).
    pub fn feature_count(&self) -> usize {
        self.kinds.len() * RECENCY_CLASSES
    }

    /// The links of `item`: (to, kind).
    pub fn links(&self, item: ItemId) -> impl Iterator<Item = (ItemId, usize)> + '_ {
        let i = item as usize;
        let range = if i < self.item_count() {
            self.offsets[i] as usize..self.offsets[i + 1] as usize
        } else {
            0..0
        };
        self.targets[range.clone()]
            .iter()
            .zip(&self.kind_of[range])
            .map(|(&to, &kind)| (to, kind as usize))
    }

    /// The kinds of the links from `from` to `to` (a binary search: each item's links are
    /// sorted by target).
    pub fn kinds_between(&self, from: ItemId, to: ItemId) -> impl Iterator<Item = usize> + '_ {
        let i = from as usize;
        let (start, end) = if i < self.item_count() {
            (self.offsets[i] as usize, self.offsets[i + 1] as usize)
        } else {
            (0, 0)
        };
        let targets = &self.targets[start..end];
        let first = start + targets.partition_point(|&t| t < to);
        let last = start + targets.partition_point(|&t| t <= to);
        self.kind_of[first..last].iter().map(|&k| k as usize)
    }

    /// Calls `f(candidate, feature)` for every link from one of the recent items of
    /// `history` (oldest first) to a candidate; a candidate linked several times gets
    /// several calls. The feature is `kind × RECENCY_CLASSES + recency class`.
    pub fn for_each_feature(&self, history: &[ItemId], mut f: impl FnMut(ItemId, usize)) {
        for (back, &item) in history.iter().rev().enumerate() {
            let Some(class) = recency_class(back) else {
                break;
            };
            for (to, kind) in self.links(item) {
                f(to, kind * RECENCY_CLASSES + class);
            }
        }
    }

    /// The link part of one candidate's score: the sum of `weights[feature]` over the links
    /// from `history`'s recent items to `item` (the one slot of [`ItemLinks::add_scores`]).
    pub fn score_of(&self, history: &[ItemId], item: ItemId, weights: &[f32]) -> f32 {
        let mut sum = 0.0;
        for (back, &from) in history.iter().rev().enumerate() {
            let Some(class) = recency_class(back) else {
                break;
            };
            for kind in self.kinds_between(from, item) {
                sum += weights
                    .get(kind * RECENCY_CLASSES + class)
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        sum
    }

    /// Adds `weights[feature]` to `scores[candidate]` for every link from `history`'s recent
    /// items (candidates beyond `scores` are skipped).
    pub fn add_scores(&self, history: &[ItemId], weights: &[f32], scores: &mut [f32]) {
        self.for_each_feature(history, |to, feature| {
            if let (Some(s), Some(w)) = (scores.get_mut(to as usize), weights.get(feature)) {
                *s += w;
            }
        });
    }

    /// The table as three u32 vectors (offsets, targets, kinds), for saving with a model.
    pub fn to_parts(&self) -> [&[u32]; 3] {
        [&self.offsets, &self.targets, &self.kind_of]
    }

    /// The table from [`ItemLinks::to_parts`] and its kind names; `None` when the parts do
    /// not fit together.
    pub fn from_parts(
        kinds: Vec<String>,
        offsets: Vec<u32>,
        targets: Vec<u32>,
        kind_of: Vec<u32>,
    ) -> Option<Self> {
        let n = offsets.len().checked_sub(1)?;
        let ordered = offsets.windows(2).all(|w| w[0] <= w[1]);
        let ends = offsets.first() == Some(&0) && offsets.last() == Some(&(targets.len() as u32));
        let in_range = targets.iter().all(|&t| (t as usize) < n)
            && kind_of.iter().all(|&k| (k as usize) < kinds.len());
        // Each item's links sorted by target, as `kinds_between` searches them.
        let sorted = ordered
            && ends
            && offsets.windows(2).all(|w| {
                targets
                    .get(w[0] as usize..w[1] as usize)
                    .is_some_and(|t| t.windows(2).all(|p| p[0] <= p[1]))
            });
        (sorted && in_range && targets.len() == kind_of.len()).then_some(ItemLinks {
            kinds,
            offsets,
            targets,
            kind_of,
        })
    }
}

/// The link part of a batch's logits: `rows × cols`, where entry (row, col) is the sum of the
/// weights of the features `entries` lists for it. Apply with
/// `weights.apply_op1(LinkLogits { .. })` to the `[features]` weight vector; the gradient
/// flows back to the weights.
pub(crate) struct LinkLogits {
    /// Rows of the output.
    pub rows: usize,
    /// Columns of the output.
    pub cols: usize,
    /// (row × cols + col, feature), one per link.
    pub entries: Vec<(u32, u32)>,
    /// A factor on every weight, so that the weights move at a useful pace under the
    /// learning rate the rest of the network uses.
    pub scale: f32,
}

impl CustomOp1 for LinkLogits {
    fn name(&self) -> &'static str {
        "kg-link-logits"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("link weights must be contiguous");
        };
        let weights = &storage.as_slice::<f32>()?[start..end];
        let mut out = vec![0f32; self.rows * self.cols];
        for &(at, feature) in &self.entries {
            match (out.get_mut(at as usize), weights.get(feature as usize)) {
                (Some(o), Some(w)) => *o += self.scale * w,
                _ => candle_core::bail!("link entry ({at}, {feature}) out of range"),
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((self.rows, self.cols))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad: Vec<f32> = grad_res.flatten_all()?.to_vec1()?;
        let mut grad_weights = vec![0f32; arg.elem_count()];
        for &(at, feature) in &self.entries {
            grad_weights[feature as usize] += self.scale * grad[at as usize];
        }
        Tensor::from_vec(grad_weights, arg.shape(), arg.device()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn sample() -> ItemLinks {
        // 0 → 1 (kind 0), 0 → 2 (kind 1), 1 → 2 (kind 0), 2 → 0 (kind 1); a self-link, a
        // repeat, an unknown kind and an unknown item, all dropped.
        ItemLinks::from_lists(
            vec!["a".into(), "b".into()],
            vec![
                vec![(2, 1), (1, 0), (1, 0), (0, 0)],
                vec![(2, 0), (0, 7), (9, 0)],
                vec![(0, 1)],
            ],
        )
    }

    #[test]
    fn table_keeps_each_link_once() {
        let links = sample();
        assert_eq!(links.item_count(), 3);
        assert_eq!(links.len(), 4);
        assert_eq!(links.links(0).collect::<Vec<_>>(), [(1, 0), (2, 1)]);
        assert_eq!(links.links(9).count(), 0);
        assert_eq!(links.kinds_between(0, 2).collect::<Vec<_>>(), [1]);
        assert_eq!(links.kinds_between(0, 0).count(), 0);
        assert_eq!(links.kinds_between(9, 0).count(), 0);
        let two = sample().with_kind("c", &[vec![2], vec![], vec![]]);
        assert_eq!(two.kinds_between(0, 2).collect::<Vec<_>>(), [1, 2]);
        let [o, t, k] = links.to_parts();
        let back =
            ItemLinks::from_parts(links.kinds.clone(), o.to_vec(), t.to_vec(), k.to_vec()).unwrap();
        assert_eq!(back, links);
        // Parts that do not fit together are refused.
        assert!(ItemLinks::from_parts(links.kinds.clone(), vec![0, 5], vec![0], vec![0]).is_none());
        assert!(ItemLinks::from_parts(vec![], o.to_vec(), t.to_vec(), k.to_vec()).is_none());
        // Unsorted links of an item are refused too.
        assert!(ItemLinks::from_parts(
            links.kinds.clone(),
            vec![0, 2, 2, 2],
            vec![2, 1],
            vec![0, 0]
        )
        .is_none());
    }

    #[test]
    fn a_kind_can_be_added() {
        let links = sample().with_kind("c", &[vec![2], vec![], vec![1, 2]]);
        assert_eq!(links.kinds, ["a", "b", "c"]);
        assert_eq!(links.links(0).collect::<Vec<_>>(), [(1, 0), (2, 1), (2, 2)]);
        // Item 2's link to itself is dropped.
        assert_eq!(links.links(2).collect::<Vec<_>>(), [(0, 1), (1, 2)]);
        let empty = ItemLinks::default().with_kind("c", &[vec![1], vec![0]]);
        assert_eq!(empty.item_count(), 2);
        assert_eq!(empty.links(1).collect::<Vec<_>>(), [(0, 0)]);
    }

    #[test]
    fn a_new_product_keeps_only_links_that_pass_no_other_product() {
        let kinds = [
            "also_bought",
            "^also_bought",
            "shared ^also_bought",
            "shared brand",
            "similar text",
        ];
        let links = ItemLinks::from_lists(
            kinds.iter().map(|k| (*k).to_owned()).collect(),
            vec![Vec::new(); 2],
        );
        let direct: Vec<bool> = links
            .direct_features()
            .chunks(RECENCY_CLASSES)
            .map(|c| c[0])
            .collect();
        assert_eq!(direct, [true, true, true, false, false]);
    }

    #[test]
    fn features_follow_kind_and_recency() {
        let links = sample();
        let mut seen = Vec::new();
        // History oldest first: 2 is the last item (class 0), 0 the one before (class 1).
        links.for_each_feature(&[0, 2], |to, f| seen.push((to, f)));
        seen.sort_unstable();
        assert_eq!(
            seen,
            [(0, RECENCY_CLASSES), (1, 1), (2, RECENCY_CLASSES + 1)]
        );
        let weights: Vec<f32> = (0..links.feature_count()).map(|f| f as f32).collect();
        let mut scores = vec![0f32; 3];
        links.add_scores(&[0, 2], &weights, &mut scores);
        for (item, &score) in scores.iter().enumerate() {
            assert_eq!(links.score_of(&[0, 2], item as ItemId, &weights), score);
        }
        assert_eq!(scores, [3.0, 1.0, 4.0]);
        assert_eq!(recency_class(RECENT_ITEMS), None);
        assert_eq!(recency_class(RECENT_ITEMS - 1), Some(2));
    }

    #[test]
    fn link_logits_and_their_gradient() {
        let w = Var::from_vec(vec![1f32, 2.0, 3.0], 3, &Device::Cpu).unwrap();
        let op = LinkLogits {
            rows: 2,
            cols: 2,
            entries: vec![(0, 0), (0, 2), (3, 1)],
            scale: 2.0,
        };
        let e = w.as_tensor().apply_op1(op).unwrap();
        assert_eq!(e.to_vec2::<f32>().unwrap(), [[8.0, 0.0], [0.0, 4.0]]);
        // d/dw of Σ e ⊙ g with g = [[1, 10], [100, 1000]].
        let g = Tensor::new(&[[1f32, 10.0], [100.0, 1000.0]], &Device::Cpu).unwrap();
        let grads = (e * g).unwrap().sum_all().unwrap().backward().unwrap();
        let gw = grads.get(w.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(gw, [2.0, 2000.0, 2.0]);
    }
}
