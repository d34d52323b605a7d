//! Live events: interactions sent to the service after training. Each is written to the
//! store (as a `kgr:Interaction` in the `graph/events/interactions` graph, the same shape the
//! importers write) and to an append-only event log in the registry's sled database, so the
//! next training sees it and a user can be forgotten everywhere.

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Quad};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::registry::ModelRegistry;
use super::RecError;
use crate::ingest::builder::unix_to_datetime;
use crate::kg::vocab::{graph, kgr, rdf_type, schema, GraphPart, InteractionKind};
use crate::kg::KgStore;

/// The import source live events are filed under (`graph/events/interactions`).
pub const EVENTS_SOURCE: &str = "events";

/// One interaction, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// User IRI.
    pub user: String,
    /// Product IRI.
    pub item: String,
    /// `purchase`, `view`, `rating`, `review` or `click`.
    pub kind: String,
    /// Unix seconds.
    pub time: i64,
    /// Explicit rating, if any.
    pub rating: Option<f32>,
}

impl LiveEvent {
    /// The interaction node's IRI: stable for the event and its position in the log.
    fn node(&self, id: u64) -> NamedNode {
        let mut h = Sha256::new();
        h.update(format!(
            "{}\n{}\n{}\n{}\n{id}",
            self.user, self.item, self.kind, self.time
        ));
        let digest: String = h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        NamedNode::new_unchecked(format!(
            "{}{EVENTS_SOURCE}/interaction/{digest}",
            crate::kg::vocab::ID
        ))
    }

    /// The quads of this event (the user and product declared too, so that a new user or
    /// product exists in the KG).
    pub fn quads(&self, id: u64) -> Result<Vec<Quad>, RecError> {
        let iri = |s: &str| {
            NamedNode::new(s).map_err(|e| RecError::BadData(format!("<{s}> is not an IRI: {e}")))
        };
        let kind = InteractionKind::from_name(&self.kind)
            .ok_or_else(|| RecError::BadData(format!("unknown event kind {}", self.kind)))?;
        let (user, item) = (iri(&self.user)?, iri(&self.item)?);
        let g = graph(EVENTS_SOURCE, GraphPart::Interactions);
        let e = self.node(id);
        let mut quads = vec![
            Quad::new(user.clone(), rdf_type(), kgr("User"), g.clone()),
            Quad::new(item.clone(), rdf_type(), schema("Product"), g.clone()),
            Quad::new(e.clone(), rdf_type(), kgr("Interaction"), g.clone()),
            Quad::new(e.clone(), kgr("user"), user.clone(), g.clone()),
            Quad::new(e.clone(), kgr("item"), item.clone(), g.clone()),
            Quad::new(e.clone(), kgr("kind"), kind.iri(), g.clone()),
            Quad::new(
                e.clone(),
                kgr("timestamp"),
                Literal::new_typed_literal(unix_to_datetime(self.time), xsd::DATE_TIME),
                g.clone(),
            ),
            Quad::new(user, kgr("interactedWith"), item, g.clone()),
        ];
        if let Some(r) = self.rating {
            quads.push(Quad::new(
                e,
                kgr("rating"),
                Literal::new_typed_literal(format!("{r}"), xsd::DECIMAL),
                g,
            ));
        }
        Ok(quads)
    }
}

/// The append-only log of live events, in the registry's sled database.
pub struct EventLog {
    events: sled::Tree,
    by_user: sled::Tree,
    registry: ModelRegistry,
}

fn log_error(e: impl std::fmt::Display) -> RecError {
    RecError::Registry(format!("event log: {e}"))
}

/// `user`, a zero byte, then the event id: the by-user index key.
fn user_key(user: &str, id: u64) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl EventLog {
    /// The log of `registry` (created empty on first use).
    pub fn open(registry: ModelRegistry) -> Result<Self, RecError> {
        Ok(EventLog {
            events: registry.tree("event-log")?,
            by_user: registry.tree("event-log-by-user")?,
            registry,
        })
    }

    /// The registry the log lives in.
    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    /// Fresh ids for `n` events, increasing.
    pub fn reserve_ids(&self, n: usize) -> Result<Vec<u64>, RecError> {
        (0..n).map(|_| self.registry.generate_id()).collect()
    }

    /// Appends events under their ids and waits until they are on disk.
    pub fn append(&self, events: &[(u64, LiveEvent)]) -> Result<(), RecError> {
        let mut batch = sled::Batch::default();
        let mut index = sled::Batch::default();
        for (id, e) in events {
            let value = serde_json::to_vec(e).map_err(log_error)?;
            batch.insert(&id.to_be_bytes(), value);
            index.insert(user_key(&e.user, *id), &[]);
        }
        self.events.apply_batch(batch).map_err(log_error)?;
        self.by_user.apply_batch(index).map_err(log_error)?;
        self.registry.sync()
    }

    /// Number of logged events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// A user's logged events, oldest first.
    pub fn for_user(&self, user: &str) -> Result<Vec<(u64, LiveEvent)>, RecError> {
        let mut prefix = user.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for k in self.by_user.scan_prefix(&prefix).keys() {
            let k = k.map_err(log_error)?;
            let bytes: [u8; 8] = k[prefix.len()..].try_into().map_err(log_error)?;
            let id = u64::from_be_bytes(bytes);
            if let Some(v) = self.events.get(bytes).map_err(log_error)? {
                out.push((id, serde_json::from_slice(&v).map_err(log_error)?));
            }
        }
        Ok(out)
    }

    /// Removes every event of `user`; returns how many there were.
    pub fn forget_user(&self, user: &str) -> Result<usize, RecError> {
        let events = self.for_user(user)?;
        for (id, _) in &events {
            self.events.remove(id.to_be_bytes()).map_err(log_error)?;
            self.by_user
                .remove(user_key(user, *id))
                .map_err(log_error)?;
        }
        self.registry.sync()?;
        Ok(events.len())
    }

    /// Writes events to the store and then to the log: both or, on a failure, neither (the
    /// store's part is undone).
    pub fn record(&self, store: &KgStore, events: &[LiveEvent]) -> Result<Vec<u64>, RecError> {
        let ids = self.reserve_ids(events.len())?;
        let mut quads = Vec::new();
        for (id, e) in ids.iter().zip(events) {
            quads.extend(e.quads(*id)?);
        }
        store.insert_quads(&quads)?;
        let logged: Vec<(u64, LiveEvent)> =
            ids.iter().copied().zip(events.iter().cloned()).collect();
        if let Err(e) = self.append(&logged) {
            // Only the interaction records are undone: the user and product declarations
            // may have been there before.
            let own: Vec<Quad> = quads
                .into_iter()
                .filter(|q| q.predicate != rdf_type() || q.object == kgr("Interaction").into())
                .filter(|q| q.predicate != kgr("interactedWith"))
                .collect();
            let _ = store.remove_quads(&own);
            return Err(e);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, item: &str) -> LiveEvent {
        LiveEvent {
            user: user.into(),
            item: item.into(),
            kind: "purchase".into(),
            time: 1_700_000_000,
            rating: None,
        }
    }

    #[test]
    fn events_land_in_the_store_and_the_log_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(ModelRegistry::open(dir.path()).unwrap()).unwrap();
        let store = KgStore::in_memory().unwrap();
        let ids = log
            .record(
                &store,
                &[
                    event("urn:u1", "urn:p1"),
                    event("urn:u2", "urn:p1"),
                    event("urn:u1", "urn:p2"),
                ],
            )
            .unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(log.len(), 3);
        let u1: Vec<String> = log
            .for_user("urn:u1")
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.item)
            .collect();
        assert_eq!(u1, ["urn:p1", "urn:p2"]);
        let n = |q: &str| match store.query(q, &[], true).unwrap() {
            crate::kg::QueryOutcome::Solutions { rows, .. } => rows.len(),
            _ => unreachable!(),
        };
        assert_eq!(
            n("SELECT ?e WHERE { ?e a <https://w3id.org/kgrec/ns#Interaction> }"),
            3
        );

        let removed = store
            .delete_user(&NamedNode::new("urn:u1").unwrap())
            .unwrap();
        assert!(removed > 2 * 6, "{removed}");
        assert_eq!(log.forget_user("urn:u1").unwrap(), 2);
        assert_eq!(log.len(), 1);
        assert!(log.for_user("urn:u1").unwrap().is_empty());
        assert_eq!(
            n("SELECT * WHERE { { <urn:u1> ?p ?o } UNION { ?s ?p <urn:u1> } }"),
            0
        );
        assert_eq!(
            n("SELECT ?e WHERE { ?e a <https://w3id.org/kgrec/ns#Interaction> }"),
            1
        );

        // A bad event is refused before anything is written.
        let mut bad = event("urn:u3", "urn:p1");
        bad.kind = "stare".into();
        assert!(log
            .record(&store, &[event("urn:u3", "urn:p1"), bad])
            .is_err());
        assert!(log.for_user("urn:u3").unwrap().is_empty());
        assert_eq!(
            n("SELECT ?e WHERE { ?e <https://w3id.org/kgrec/ns#user> <urn:u3> }"),
            0
        );
    }
}
