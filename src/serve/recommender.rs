//! [`Recommender`]: a registered model loaded for serving, with the catalogue it ranks and
//! every user's live history, so that answers reflect new events without retraining.
//!
//! Users are scored from their current history, so an event recorded a moment ago changes
//! the next answer: the sequence model runs its encoder over it (the last items first in
//! weight), EASE sums its item-to-item weights over it. Items are the rows of the registered
//! model; a product the model never saw is placed from its text when an event names it
//! (cold start, for a sequence model that reads text).
//!
//! Over 600 lines (about 1,000, 150 of them tests) because it is one idea: the served state
//! (items, users, cached user vectors) behind its locks, and every question the service asks
//! of it; a question that needs more than the state (paths, neighbourhoods) is a one-line
//! call into its own module. What needs no state lives beside it ([`super::catalogue`],
//! [`super::explain`], [`super::filter`]).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use serde::Serialize;

use super::catalogue::{catalogue_item, read_catalogue, CatalogueItem};
use super::events::{user_hash, Changes, Forgetting, RecordedEvent};
use super::explain::{ExplainRequest, Explanation, ExplanationGraph};
use super::filter::ItemFilter;
use crate::embed::{ProductSentences, TextEncoder};
use crate::error::RecError;
use crate::eval::metrics::top_k;
use crate::eval::ItemId;
use crate::eval::Scorer;
use crate::features::interactions::read_interactions_recorded_before;
use crate::features::read_interactions;
use crate::features::text::{load_encoder, TextFeatureConfig};
use crate::kg::KgStore;
use crate::registry::{load_registered, ModelEntry, ModelRegistry, RegisteredModel, RowKind};
use crate::util::unit_rows;

/// One ranked item.
#[derive(Clone, Debug, Serialize)]
pub struct ScoredItem {
    /// Row of the item in the model.
    #[serde(skip)]
    pub row: ItemId,
    /// Product IRI.
    pub item: String,
    /// The model's score (user · item, or cosine for similar items; for EASE, the sum of
    /// its weights from the history, or from the item for similar items).
    pub score: f32,
}

/// A registered model with its catalogue and the users' live histories.
pub struct Recommender {
    entry: ModelEntry,
    model: RegisteredModel,
    /// Vector size (for EASE, the catalogue's: its rows are what similar items compare).
    dim: usize,
    items: RwLock<Items>,
    category_labels: HashMap<String, String>,
    users: RwLock<Users>,
    explanations: ExplanationGraph,
    /// Product sentence vectors (unit length) and the encoder for queries, when the model
    /// reads text.
    text: Option<TextSearch>,
    /// Seconds each part of [`Recommender::load`] took.
    pub load_seconds: Vec<(&'static str, f64)>,
    /// Recent user vectors with the history they were computed from, so that a SPARQL
    /// query calling `kgr:score` on many rows encodes each user once.
    user_vectors: Mutex<HashMap<String, CachedUserVector>>,
    /// For EASE: each item's number of customers when the service started, what a user
    /// without history is answered with (EASE scores from the history alone).
    popularity: Vec<f32>,
    /// Live events already in the histories, by node IRI, with the second each was
    /// recorded in: the change log is read with overlap, so each is applied once.
    applied: Mutex<HashMap<String, i64>>,
}

/// How long a live event's IRI is remembered after it is applied: longer than any window
/// the change log is read with.
const APPLIED_MEMORY_SECONDS: i64 = 300;

/// A user vector and the history it was computed from.
type CachedUserVector = (Vec<ItemId>, Vec<f32>);

/// The sentence model, for search queries and for placing new products.
struct TextSearch {
    encoder: TextEncoder,
    dim: usize,
    /// The product sentences as training renders them, read on the first cold start.
    sentences: std::sync::OnceLock<ProductSentences>,
}

/// The ranked items: what the catalogue says, their vectors and id maps. It grows when a
/// product the model never saw arrives (cold start).
#[derive(Default)]
struct Items {
    catalogue: Vec<CatalogueItem>,
    rows: HashMap<String, ItemId>,
    /// Items by the last segment of their IRI (`None`: more than one item has it).
    by_local: HashMap<String, Option<ItemId>>,
    /// The model's item vectors, row-major (items × dim).
    vectors: Vec<f32>,
    /// The same scaled to unit length, for item-to-item similarity.
    unit: Vec<f32>,
    /// Product sentence vectors, unit length (empty when the model reads no text).
    text_unit: Vec<f32>,
}

type ItemsGuard<'a> = std::sync::RwLockReadGuard<'a, Items>;

/// Weight of the user's (standardised) model score against the query's cosine in a
/// personalised search.
const PERSONAL_WEIGHT: f32 = 0.05;

/// Cached user vectors kept at most (the cache is emptied when full).
const USER_VECTOR_CACHE: usize = 1 << 17;

/// Every known user's history, and users by the last segment of their IRI.
#[derive(Default)]
struct Users {
    histories: HashMap<String, Vec<ItemId>>,
    by_local: HashMap<String, Option<String>>,
}

impl Users {
    fn add(&mut self, iri: &str) -> &mut Vec<ItemId> {
        if !self.histories.contains_key(iri) {
            index_local(&mut self.by_local, iri, iri.to_owned());
        }
        self.histories.entry(iri.to_owned()).or_default()
    }
}

/// The last segment of an IRI (after its last `/`, `#` or `:`).
pub fn local_id(iri: &str) -> &str {
    iri.rsplit(['/', '#', ':']).next().unwrap_or(iri)
}

fn index_local<V: PartialEq>(index: &mut HashMap<String, Option<V>>, iri: &str, value: V) {
    index
        .entry(local_id(iri).to_owned())
        .and_modify(|v| {
            if v.as_ref() != Some(&value) {
                *v = None;
            }
        })
        .or_insert(Some(value));
}

impl Recommender {
    /// Loads version `entry` of `registry`, the catalogue facts of its items and every user's
    /// history from `store`.
    /// With text vectors in the model, the sentence model is loaded too (from `text`'s
    /// folder, `models/`, or a fetch), for search.
    pub fn load(
        store: &KgStore,
        registry: &ModelRegistry,
        entry: ModelEntry,
        text: &TextFeatureConfig,
    ) -> Result<Self, RecError> {
        Self::load_histories_until(store, registry, entry, text, None)
    }

    /// As [`Recommender::load`], but with `before`, the histories leave out live events
    /// recorded in or after that Unix second: the caller then applies the change log from
    /// there ([`Recommender::apply_live`]), so that none is missed or counted twice.
    pub fn load_histories_until(
        store: &KgStore,
        registry: &ModelRegistry,
        entry: ModelEntry,
        text: &TextFeatureConfig,
        before: Option<i64>,
    ) -> Result<Self, RecError> {
        let mut stages = Vec::new();
        let mut timed = |stage: &'static str, started: std::time::Instant| {
            stages.push((stage, started.elapsed().as_secs_f64()));
        };
        let t = std::time::Instant::now();
        let (model, features) = load_registered(registry, &entry)?;
        let iris = registry.iris(entry.version, RowKind::Item)?;
        if iris.len() != model.item_count() {
            return Err(RecError::Registry(format!(
                "version {} lists {} items but its model has {}",
                entry.version,
                iris.len(),
                model.item_count()
            )));
        }
        // Similar items compare unit rows: the sequence model's item vectors, or EASE's
        // rows (what each item adds to every other item's score).
        let (item_vectors, unit_items, dim) = match &model {
            RegisteredModel::Sequential(m) => {
                let (vectors, dim) = (m.item_vectors()?, m.dim());
                let unit = unit_rows(&vectors, dim);
                (vectors, unit, dim)
            }
            RegisteredModel::Ease(m) => {
                let n = m.item_count();
                (Vec::new(), unit_rows(m.weights(), n), n)
            }
        };
        timed("model", t);
        let t = std::time::Instant::now();
        let (text, text_unit) = match features.text {
            Some((dim, vectors)) => (
                Some(TextSearch {
                    encoder: load_encoder(text)?,
                    dim,
                    sentences: std::sync::OnceLock::new(),
                }),
                unit_rows(&vectors, dim),
            ),
            None => (None, Vec::new()),
        };
        timed("sentence model", t);
        let rows: HashMap<String, ItemId> = iris
            .iter()
            .enumerate()
            .map(|(r, iri)| (iri.clone(), r as ItemId))
            .collect();
        let mut items_by_local = HashMap::new();
        for (r, iri) in iris.iter().enumerate() {
            index_local(&mut items_by_local, iri, r as ItemId);
        }
        // A duplicate merged at training (`--exclude-flagged`) answers as its representative:
        // in histories, events, look-ups and SPARQL scores.
        let mut rows = rows;
        for (alias, rep) in entry.exclusions.iter().flat_map(|x| &x.item_aliases) {
            if let Some(&row) = rows.get(rep) {
                if !rows.contains_key(alias) {
                    rows.insert(alias.clone(), row);
                    index_local(&mut items_by_local, alias, row);
                }
            }
        }
        // The three reads of the store are independent: run them side by side.
        let t = std::time::Instant::now();
        let (catalogue, (explanations, data)) = rayon::join(
            || read_catalogue(store, &iris),
            || {
                rayon::join(
                    || ExplanationGraph::build(store, &iris),
                    || match before {
                        Some(second) => read_interactions_recorded_before(store, second),
                        None => read_interactions(store, None),
                    },
                )
            },
        );
        let ((catalogue, category_labels), explanations, data) = (catalogue?, explanations?, data?);
        timed("catalogue, KG and histories", t);
        let mut users = Users::default();
        for (user, events) in data.sequences().iter().enumerate() {
            let history = users.add(&data.users[user]);
            history.extend(
                events
                    .iter()
                    .filter_map(|e| rows.get(&data.items[e.item as usize]).copied()),
            );
        }
        let mut popularity = Vec::new();
        if let RegisteredModel::Ease(m) = &model {
            popularity = vec![0f32; m.item_count()];
            for history in users.histories.values() {
                let seen: std::collections::HashSet<&ItemId> = history.iter().collect();
                for &r in seen {
                    if let Some(p) = popularity.get_mut(r as usize) {
                        *p += 1.0;
                    }
                }
            }
        }
        Ok(Recommender {
            entry,
            model,
            dim,
            items: RwLock::new(Items {
                catalogue,
                rows,
                by_local: items_by_local,
                vectors: item_vectors,
                unit: unit_items,
                text_unit,
            }),
            category_labels,
            users: RwLock::new(users),
            explanations,
            text,
            user_vectors: Mutex::new(HashMap::new()),
            popularity,
            load_seconds: stages,
            applied: Mutex::new(HashMap::new()),
        })
    }

    /// The registry entry of the model being served.
    pub fn entry(&self) -> &ModelEntry {
        &self.entry
    }

    /// Number of items the model ranks (with the products placed since it loaded).
    pub fn item_count(&self) -> usize {
        self.items.read().map_or(0, |i| i.catalogue.len())
    }

    fn items(&self) -> Result<ItemsGuard<'_>, RecError> {
        self.items
            .read()
            .map_err(|_| RecError::Poisoned("the item table"))
    }

    fn users(&self) -> Result<std::sync::RwLockReadGuard<'_, Users>, RecError> {
        self.users
            .read()
            .map_err(|_| RecError::Poisoned("the user table"))
    }

    fn users_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, Users>, RecError> {
        self.users
            .write()
            .map_err(|_| RecError::Poisoned("the user table"))
    }

    /// Number of users with a known history.
    pub fn user_count(&self) -> usize {
        self.users.read().map_or(0, |u| u.histories.len())
    }

    /// The IRI of a user given by IRI or by the last segment of their IRI.
    pub fn resolve_user(&self, id: &str) -> Result<String, RecError> {
        let users = self.users()?;
        if users.histories.contains_key(id) {
            return Ok(id.to_owned());
        }
        match users.by_local.get(id) {
            Some(Some(iri)) => Ok(iri.clone()),
            Some(None) => Err(RecError::Ambiguous(format!(
                "user id {id} is shared by several users: give the full IRI"
            ))),
            None => Err(RecError::NotFound(format!("user {id}"))),
        }
    }

    /// The row of an item given by IRI or by the last segment of its IRI.
    pub fn resolve_item(&self, id: &str) -> Result<ItemId, RecError> {
        let items = self.items()?;
        if let Some(row) = items.rows.get(id) {
            return Ok(*row);
        }
        match items.by_local.get(id) {
            Some(Some(row)) => Ok(*row),
            Some(None) => Err(RecError::Ambiguous(format!(
                "item id {id} is shared by several items: give the full IRI"
            ))),
            None => Err(RecError::NotFound(format!("item {id}"))),
        }
    }

    /// What the catalogue says about the item in `row`.
    pub fn item(&self, row: ItemId) -> Option<CatalogueItem> {
        self.items().ok()?.catalogue.get(row as usize).cloned()
    }

    /// The row of a product IRI, if the model ranks it.
    pub fn item_row(&self, iri: &str) -> Option<ItemId> {
        self.items().ok()?.rows.get(iri).copied()
    }

    /// The label of a category IRI, if it has one.
    pub fn category_label(&self, iri: &str) -> Option<&str> {
        self.category_labels.get(iri).map(String::as_str)
    }

    /// The ranked items of `user`'s history, oldest first; `None` for an unknown user.
    pub fn history(&self, user: &str) -> Result<Option<Vec<ItemId>>, RecError> {
        Ok(self.users()?.histories.get(user).cloned())
    }

    /// Appends interactions to users' histories, in the order given; a new user is created.
    /// Items the model does not rank make the user known but do not change their ranking.
    /// Fails, changing nothing, when the tables are unusable.
    pub fn record<'a>(
        &self,
        events: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), RecError> {
        let items = self.items()?;
        let mut users = self.users_mut()?;
        for (user, item) in events {
            let history = users.add(user);
            if let Some(row) = items.rows.get(item) {
                history.push(*row);
            }
        }
        Ok(())
    }

    /// Applies live events from the change log (this replica's or another's), each once:
    /// one already applied is skipped. A product the model never saw is placed from its text
    /// first (cold start); one that cannot be placed is still made known through its user.
    /// Returns the products placed.
    pub fn apply_live(
        &self,
        store: &KgStore,
        events: &[RecordedEvent],
    ) -> Result<Vec<String>, RecError> {
        let fresh: Vec<&RecordedEvent> = {
            let mut applied = self
                .applied
                .lock()
                .map_err(|_| RecError::Poisoned("the applied-event table"))?;
            let newest = events.iter().map(|e| e.second).max().unwrap_or(0);
            applied.retain(|_, second| *second + APPLIED_MEMORY_SECONDS >= newest);
            events
                .iter()
                .filter(|e| applied.insert(e.iri.clone(), e.second).is_none())
                .collect()
        };
        let mut placed: Vec<String> = Vec::new();
        for e in &fresh {
            if self.item_row(&e.item).is_none() && !placed.contains(&e.item) {
                match self.add_item(store, &e.item) {
                    Ok(Some(_)) => placed.push(e.item.clone()),
                    Ok(None) => {}
                    Err(err) => tracing::warn!(
                        item = %e.item,
                        error = %err,
                        "a new product could not be placed from its text; its event is recorded"
                    ),
                }
            }
        }
        self.record(fresh.iter().map(|e| (e.user.as_str(), e.item.as_str())))?;
        Ok(placed)
    }

    /// Applies what the change log says, each record once: forgettings first (an event of a
    /// forgotten user that is still in the log was recorded after the forgetting, since the
    /// forgetting deleted the earlier ones), then events.
    pub fn apply_changes(&self, store: &KgStore, changes: &Changes) -> Result<(), RecError> {
        let hashes: Vec<String> = {
            let mut applied = self
                .applied
                .lock()
                .map_err(|_| RecError::Poisoned("the applied-event table"))?;
            changes
                .forgotten
                .iter()
                .filter(|f| applied.insert(f.iri.clone(), f.second).is_none())
                .map(|f| f.user_hash.clone())
                .collect()
        };
        self.forget_hashed(&hashes)?;
        self.apply_live(store, &changes.events)?;
        Ok(())
    }

    /// Forgets `user`, who this replica was asked to forget, noting their forgetting record
    /// as applied (so that reading it back from the change log does not forget events
    /// recorded since).
    pub fn forget_recorded(&self, user: &str, record: &Forgetting) -> Result<bool, RecError> {
        self.applied
            .lock()
            .map_err(|_| RecError::Poisoned("the applied-event table"))?
            .insert(record.iri.clone(), record.second);
        self.forget(user)
    }

    /// Forgets the users whose IRI has one of these SHA-256 hashes (what a forgetting
    /// record in the change log keeps); returns their IRIs.
    fn forget_hashed(&self, hashes: &[String]) -> Result<Vec<String>, RecError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let doomed: Vec<String> = self
            .users()?
            .histories
            .keys()
            .filter(|u| hashes.contains(&user_hash(u)))
            .cloned()
            .collect();
        for user in &doomed {
            self.forget(user)?;
        }
        Ok(doomed)
    }

    /// Forgets a user's history; returns whether they were known.
    pub fn forget(&self, user: &str) -> Result<bool, RecError> {
        let mut users = self.users_mut()?;
        let known = users.histories.remove(user).is_some();
        self.user_vectors
            .lock()
            .map_err(|_| RecError::Poisoned("the user-vector cache"))?
            .remove(user);
        if known {
            let local = local_id(user).to_owned();
            let others: Vec<String> = users
                .histories
                .keys()
                .filter(|k| local_id(k) == local)
                .cloned()
                .collect();
            match others.as_slice() {
                [] => users.by_local.remove(&local),
                [one] => users.by_local.insert(local, Some(one.clone())),
                _ => None,
            };
        }
        Ok(known)
    }

    /// The user's state vector after their history (what items are scored against); empty
    /// for EASE, which scores from the history itself. Items placed after the model loaded
    /// (cold start) are left out: the model's sequence encoder has no input row for them
    /// until the next training.
    pub fn user_vector(&self, history: &[ItemId]) -> Result<Vec<f32>, RecError> {
        Ok(self.model.user_vector(history)?)
    }

    /// The top `k` items for `user`, best first, restricted by `filter`; with `exclude_seen`
    /// the items of their history are left out. A known user with an empty history gets the
    /// model's answer for an empty sequence (for EASE, the most popular items).
    pub fn recommend(
        &self,
        user: &str,
        k: usize,
        filter: &ItemFilter,
        exclude_seen: bool,
    ) -> Result<Vec<ScoredItem>, RecError> {
        let history = self
            .history(user)?
            .ok_or_else(|| RecError::NotFound(format!("user {user}")))?;
        let user_vector = self.cached_user_vector(user, history.clone())?;
        let items = self.items()?;
        let scores = self.scores(&items, &user_vector, &history)?;
        let allowed = filter.mask(&items.catalogue, &self.category_labels)?;
        let excluded: &[ItemId] = if exclude_seen { &history } else { &[] };
        Ok(self.top(&items, &scores, excluded, allowed.as_deref(), k))
    }

    /// The `k` items closest to `item`: by cosine of the model's item vectors, or of EASE's
    /// rows (what each item adds to every other item's score).
    pub fn similar(
        &self,
        row: ItemId,
        k: usize,
        filter: &ItemFilter,
    ) -> Result<Vec<ScoredItem>, RecError> {
        let items = self.items()?;
        if row as usize >= items.catalogue.len() {
            return Err(RecError::NotFound(format!("item row {row}")));
        }
        let scores: Vec<f32> = (0..items.catalogue.len() as ItemId)
            .map(|other| self.similarity_in(&items, row, other))
            .collect();
        let allowed = filter.mask(&items.catalogue, &self.category_labels)?;
        Ok(self.top(&items, &scores, &[row], allowed.as_deref(), k))
    }

    /// Whether [`Recommender::search`] is available (the model reads product text).
    pub fn can_search(&self) -> bool {
        self.text.is_some()
    }

    /// The `k` products whose text is closest in meaning to `query` (cosine of sentence
    /// vectors); with a known `user`, their standardised model score is added with a small
    /// weight, so that among equally good matches theirs come first.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        user: Option<&str>,
        filter: &ItemFilter,
    ) -> Result<Vec<ScoredItem>, RecError> {
        let text = self.text.as_ref().ok_or_else(|| {
            RecError::InvalidConfig(
                "the served model reads no product text, so it cannot search by meaning".into(),
            )
        })?;
        let q = text.encoder.encode(&[query])?;
        let q = q.row(0);
        let user_vector = match user {
            Some(user) => {
                let history = self
                    .history(user)?
                    .ok_or_else(|| RecError::NotFound(format!("user {user}")))?;
                Some((self.cached_user_vector(user, history.clone())?, history))
            }
            None => None,
        };
        let items = self.items()?;
        let mut scores: Vec<f32> = items
            .text_unit
            .chunks(text.dim.max(1))
            .map(|v| v.iter().zip(q).map(|(a, b)| a * b).sum())
            .collect();
        if let Some((user_vector, history)) = user_vector {
            let personal = self.scores(&items, &user_vector, &history)?;
            let n = personal.len().max(1) as f32;
            let mean = personal.iter().sum::<f32>() / n;
            let std = (personal.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n)
                .sqrt()
                .max(1e-6);
            for (s, p) in scores.iter_mut().zip(&personal) {
                *s += PERSONAL_WEIGHT * (p - mean) / std;
            }
        }
        let allowed = filter.mask(&items.catalogue, &self.category_labels)?;
        Ok(self.top(&items, &scores, &[], allowed.as_deref(), k))
    }

    /// Places a product the model never saw (cold start): its sentence from the store (name,
    /// brand, categories, price) through the sentence model, then the model's own fusion of
    /// a text input with a zero structure input and no ID part. Returns its row; `None` when
    /// the model reads no text or the store says nothing about the product. It can then be
    /// recommended, found by search and compared; its KG paths appear after the next
    /// restart, and it shapes users' vectors after the next training.
    pub fn add_item(&self, store: &KgStore, iri: &str) -> Result<Option<ItemId>, RecError> {
        if let Some(row) = self.item_row(iri) {
            return Ok(Some(row));
        }
        let Some(text) = &self.text else {
            return Ok(None);
        };
        let node = oxigraph::model::NamedNode::new(iri)
            .map_err(|e| RecError::BadData(format!("<{iri}> is not an IRI: {e}")))?;
        let sentences = match text.sentences.get() {
            Some(s) => s,
            None => {
                let read = ProductSentences::new(store)?;
                text.sentences.get_or_init(|| read)
            }
        };
        let Some(sentence) = cold_start_sentence(sentences, store, &node)? else {
            return Ok(None);
        };
        let item = catalogue_item(store, &node)?;
        let text_vector = text.encoder.encode(&[sentence.as_str()])?.row(0).to_vec();
        let Some(vector) = self.model.cold_item_vector(&text_vector)? else {
            return Ok(None);
        };
        let mut items = self
            .items
            .write()
            .map_err(|_| RecError::Poisoned("the item table"))?;
        if let Some(row) = items.rows.get(iri) {
            return Ok(Some(*row));
        }
        let row = items.catalogue.len() as ItemId;
        items.catalogue.push(item);
        items.rows.insert(iri.to_owned(), row);
        index_local(&mut items.by_local, iri, row);
        items.unit.extend(unit_rows(&vector, self.dim));
        items.vectors.extend(vector);
        items.text_unit.extend(unit_rows(&text_vector, text.dim));
        Ok(Some(row))
    }

    /// The model's similarity of two items: the cosine of their vectors, or of their EASE
    /// rows.
    pub fn item_similarity(&self, a: ItemId, b: ItemId) -> f32 {
        self.items()
            .map_or(0.0, |items| self.similarity_in(&items, a, b))
    }

    fn similarity_in(&self, items: &Items, a: ItemId, b: ItemId) -> f32 {
        let dim = self.dim;
        let (a, b) = (a as usize, b as usize);
        let n = items.catalogue.len();
        if a >= n || b >= n {
            return 0.0;
        }
        items.unit[a * dim..(a + 1) * dim]
            .iter()
            .zip(&items.unit[b * dim..(b + 1) * dim])
            .map(|(x, y)| x * y)
            .sum()
    }

    /// The KG paths from `user` to the item in `row`, ranked by the model's similarity
    /// between the item and the user's history (see [`super::explain`]).
    pub fn explain(
        &self,
        user: &str,
        row: ItemId,
        max_paths: usize,
    ) -> Result<Explanation, RecError> {
        let history = self
            .history(user)?
            .ok_or_else(|| RecError::NotFound(format!("user {user}")))?;
        let items = self.items()?;
        if row as usize >= items.catalogue.len() {
            return Err(RecError::NotFound(format!("item row {row}")));
        }
        // Paths are ranked by how much their history item moves the item's score: the
        // cosine of the two items' vectors, or EASE's weight from one to the other.
        let similarity = |a: ItemId, b: ItemId| match &self.model {
            RegisteredModel::Ease(m) => m.weight(a, b),
            RegisteredModel::Sequential(_) => self.similarity_in(&items, a, b),
        };
        Ok(self.explanations.explain(&ExplainRequest {
            user,
            history: &history,
            item: row,
            similarity: &similarity,
            link_weights: &|back, from| self.model.links_between(back, from, row),
            new_product_like: self.model.new_product_text_match(&history, row),
            max_paths,
        }))
    }

    /// The served model's learned weight of each KG link kind, per recency class (from the
    /// last item, the two before, the rest of the last ten); empty for a model without links.
    pub fn link_weights(&self) -> Result<Vec<(String, Vec<f32>)>, RecError> {
        Ok(self.model.link_weights()?)
    }

    /// The KG neighbourhood of the product in `row` (see [`super::neighbourhood`]): the
    /// product alone when it has no links in the projection.
    pub fn neighbourhood(
        &self,
        row: ItemId,
        hops: u8,
        per_node: usize,
    ) -> Result<super::neighbourhood::Neighbourhood, RecError> {
        let item = self
            .item(row)
            .ok_or_else(|| RecError::NotFound(format!("item row {row}")))?;
        Ok(self
            .explanations
            .neighbourhood(&item.iri, hops, per_node)
            .unwrap_or_else(|| {
                super::neighbourhood::Neighbourhood::alone(&item.iri, item.title.clone())
            }))
    }

    /// The model's score of an item for a user, both by IRI (`None` when either is
    /// unknown): what `kgr:score` answers in SPARQL. A SPARQL function has no error but
    /// an unbound value, so a failure reads as unbound here too.
    pub fn score_user_item(&self, user: &str, item: &str) -> Option<f32> {
        let row = self.item_row(item)?;
        let history = self.history(user).ok()??;
        let model = match &self.model {
            RegisteredModel::Sequential(m) => m,
            RegisteredModel::Ease(_) if history.is_empty() => {
                return self.popularity.get(row as usize).copied();
            }
            RegisteredModel::Ease(m) => return Some(m.score_item(&history, row)),
        };
        let vector = self.cached_user_vector(user, history.clone()).ok()?;
        let dim = self.dim;
        let items = self.items().ok()?;
        let vector_of = |j: ItemId| items.vectors.get(j as usize * dim..(j as usize + 1) * dim);
        // An item without a vector row has no score: unbound, not 0.
        vector_of(row)?;
        let dot = |j: ItemId| -> f32 {
            vector_of(j).map_or(0.0, |v| vector.iter().zip(v).map(|(a, b)| a * b).sum())
        };
        Some(model.item_score(&history, row, dot))
    }

    /// The user's vector after `history`, from the cache when their history has not changed
    /// since it was computed.
    fn cached_user_vector(&self, user: &str, history: Vec<ItemId>) -> Result<Vec<f32>, RecError> {
        let lock = || {
            self.user_vectors
                .lock()
                .map_err(|_| RecError::Poisoned("the user-vector cache"))
        };
        if let Some((_, v)) = lock()?.get(user).filter(|(h, _)| *h == history) {
            return Ok(v.clone());
        }
        let v = self.user_vector(&history)?;
        let mut cache = lock()?;
        if cache.len() >= USER_VECTOR_CACHE {
            cache.clear();
        }
        cache.insert(user.to_owned(), (history, v.clone()));
        Ok(v)
    }

    /// Every item's score for a user with this vector and history: the dot products with
    /// the item vectors, plus the KG-link part when the model reads links; for EASE, its
    /// weights summed over the history (an empty history: the items' popularity).
    fn scores(
        &self,
        items: &Items,
        user: &[f32],
        history: &[ItemId],
    ) -> Result<Vec<f32>, RecError> {
        let model = match &self.model {
            RegisteredModel::Sequential(m) => m,
            RegisteredModel::Ease(m) => {
                let mut scores = vec![0f32; items.catalogue.len()];
                let n = m.item_count().min(scores.len());
                if history.is_empty() {
                    // Nothing to score from: the most popular items.
                    for (s, p) in scores.iter_mut().zip(&self.popularity) {
                        *s = *p;
                    }
                } else {
                    m.score(0, history, &mut scores[..n])?;
                }
                return Ok(scores);
            }
        };
        let mut scores: Vec<f32> = items
            .vectors
            .chunks(self.dim.max(1))
            .map(|row| row.iter().zip(user).map(|(a, b)| a * b).sum())
            .collect();
        model.add_history_scores(history, &mut scores);
        Ok(scores)
    }

    fn top(
        &self,
        items: &Items,
        scores: &[f32],
        excluded: &[ItemId],
        allowed: Option<&[bool]>,
        k: usize,
    ) -> Vec<ScoredItem> {
        let mut scores = scores.to_vec();
        if let Some(mask) = allowed {
            for (s, ok) in scores.iter_mut().zip(mask) {
                if !ok {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
        let mut mask = vec![false; scores.len()];
        top_k(&scores, excluded, k, &mut mask)
            .into_iter()
            .filter(|&r| scores[r as usize].is_finite())
            .map(|row| ScoredItem {
                row,
                item: items.catalogue[row as usize].iri.clone(),
                score: scores[row as usize],
            })
            .collect()
    }
}

/// The sentence a product the model never saw is placed by: the one training renders for
/// it ([`ProductSentences`]), so that its text vector means what the model learned.
fn cold_start_sentence(
    sentences: &ProductSentences,
    store: &KgStore,
    product: &oxigraph::model::NamedNode,
) -> Result<Option<String>, RecError> {
    Ok(sentences
        .facts(store, product)?
        .and_then(|facts| facts.text()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::embed::entity_text::store_tests::TWO_PRICES;
    use crate::embed::product_texts;
    use oxigraph::io::{RdfFormat, RdfParser};

    /// A product placed after training reads exactly as training read it: its deepest
    /// category chain without the common top, and its lowest price.
    #[test]
    fn cold_start_reads_the_training_sentence() {
        let store = KgStore::in_memory().unwrap();
        let quads = RdfParser::from_format(RdfFormat::TriG).for_reader(TWO_PRICES.as_bytes());
        store.bulk_load(quads, None).unwrap();
        let p1 = oxigraph::model::NamedNode::new("http://example.org/p1").unwrap();
        let trained = product_texts(&store).unwrap();
        let sentences = ProductSentences::new(&store).unwrap();
        let served = cold_start_sentence(&sentences, &store, &p1).unwrap();
        assert_eq!(served.as_deref(), Some(trained[0].1.as_str()));
        assert!(trained[0].1.contains("Nails > Nail Polish") && trained[0].1.contains("$9.50"));
    }

    /// The shop fixture with a small model trained on it, `exclusions` applied.
    pub(crate) fn trained_shop(
        exclusions: Option<crate::quality::exclude::Exclusions>,
    ) -> (
        KgStore,
        ModelRegistry,
        tempfile::TempDir,
        ModelEntry,
        crate::eval::InteractionData,
    ) {
        use crate::registry::{train_and_register, ExperimentConfig, TrainOptions};
        let store = KgStore::in_memory().unwrap();
        let shop = include_str!("../../tests/fixtures/shop.trig");
        let quads = RdfParser::from_format(RdfFormat::TriG).for_reader(shop.as_bytes());
        store.bulk_load(quads, None).unwrap();
        let mut data = read_interactions(&store, None).unwrap();
        if let Some(x) = &exclusions {
            data = x.apply(&data);
        }
        let mut config = ExperimentConfig::default();
        config.model.sequential.epochs = 1;
        config.model.sequential.dim = 16;
        config.features.structure.walks.walks_per_node = 2;
        config.features.structure.skipgram.epochs = 1;
        let dir = tempfile::tempdir().unwrap();
        let registry = ModelRegistry::open(dir.path()).unwrap();
        let options = TrainOptions {
            model: Some(crate::model::ModelKind::KgrecNoText),
            holdout: None,
            seed: 1,
            exclusions,
            eval_users: None,
        };
        let entry =
            train_and_register(&store, &data, &config, &options, &registry, &|_, _, _| {}).unwrap();
        (store, registry, dir, entry, data)
    }

    /// A duplicate merged into its representative at training answers as the representative
    /// when served: look-ups, histories and events.
    #[test]
    fn a_merged_duplicate_answers_as_its_representative() {
        let p = |id: &str| format!("https://w3id.org/kgrec/id/fixture/product/{id}");
        let exclusions = crate::quality::exclude::Exclusions {
            item_aliases: [(p("P2"), p("P1"))].into_iter().collect(),
            ..Default::default()
        };
        let (store, registry, _dir, entry, data) = trained_shop(Some(exclusions));
        assert!(
            data.item_id(&p("P2")).is_none(),
            "P2 was merged before training"
        );
        let recorded = entry.exclusions.clone().unwrap();
        assert_eq!(recorded.item_aliases[&p("P2")], p("P1"));
        let r = Recommender::load(&store, &registry, entry, &TextFeatureConfig::default()).unwrap();
        let rep = r.resolve_item(&p("P1")).unwrap();
        assert_eq!(r.resolve_item(&p("P2")).unwrap(), rep);
        assert_eq!(r.resolve_item("P2").unwrap(), rep, "by short id too");
        // U2's events on P1 and on P2 are all P1's now.
        let u2 = "https://w3id.org/kgrec/id/fixture/user/U2";
        let raw = read_interactions(&store, None).unwrap();
        let on = |item: &str| {
            raw.events
                .iter()
                .filter(|e| raw.users[e.user as usize] == u2 && raw.items[e.item as usize] == item)
                .count()
        };
        let (p1_events, p2_events) = (on(&p("P1")), on(&p("P2")));
        assert!(p1_events >= 1 && p2_events >= 1);
        let history = r.history(u2).unwrap().unwrap();
        assert_eq!(
            history.iter().filter(|&&i| i == rep).count(),
            p1_events + p2_events,
            "{history:?}"
        );
        r.record([(u2, p("P2").as_str())]).unwrap();
        assert_eq!(r.history(u2).unwrap().unwrap().last(), Some(&rep));
    }

    /// A flagged account is not learned from, yet it is still served from its history.
    #[test]
    fn a_flagged_account_is_served_but_not_learned_from() {
        let u3 = "https://w3id.org/kgrec/id/fixture/user/U3";
        let (_, _, _, plain, _) = trained_shop(None);
        let exclusions = crate::quality::exclude::Exclusions {
            users: [u3.to_owned()].into_iter().collect(),
            interactions_left_out: 3,
            ..Default::default()
        };
        let (store, registry, _dir, entry, data) = trained_shop(Some(exclusions));
        assert!(data.user_id(u3).is_some(), "U3 stays in the data");
        assert_eq!(
            entry.counts["training_interactions"] + 3,
            plain.counts["training_interactions"],
            "U3's three interactions do not train"
        );
        let r = Recommender::load(&store, &registry, entry, &TextFeatureConfig::default()).unwrap();
        assert_eq!(r.history(u3).unwrap().unwrap().len(), 3);
        let served = r.recommend(u3, 2, &ItemFilter::default(), false).unwrap();
        assert!(!served.is_empty());
    }

    /// A request that panics while it holds the user table leaves the table poisoned: the
    /// next event is refused with an error (500) and nothing is recorded, instead of a 201
    /// for an event the history never got.
    #[test]
    fn a_poisoned_user_table_refuses_events() {
        let (store, registry, _dir, entry, data) = trained_shop(None);
        let r = Recommender::load(&store, &registry, entry, &TextFeatureConfig::default()).unwrap();
        let user = data.users[0].clone();
        let before = r.history(&user).unwrap().unwrap();
        r.record([(user.as_str(), data.items[0].as_str())]).unwrap();
        assert_eq!(r.history(&user).unwrap().unwrap().len(), before.len() + 1);
        std::thread::scope(|s| {
            let crashed = s
                .spawn(|| {
                    let _held = r.users.write();
                    panic!("a request fails while it holds the user table");
                })
                .join();
            assert!(crashed.is_err());
        });
        let refused = r.record([(user.as_str(), data.items[0].as_str())]);
        assert!(matches!(refused, Err(RecError::Poisoned(_))), "{refused:?}");
        assert!(matches!(r.forget(&user), Err(RecError::Poisoned(_))));
        assert!(r.recommend(&user, 3, &ItemFilter::default(), true).is_err());
    }
}
