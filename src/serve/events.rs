//! Live events: interactions sent to the service after training. Each is written to the
//! store (as a `kgr:Interaction` in the `graph/events/interactions` graph, the same shape the
//! importers write), so the next training sees it and forgetting a user removes it.

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Quad};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RecError;
use crate::ingest::builder::unix_to_datetime;
use crate::kg::vocab::{graph, kgr, rdf_type, schema, GraphPart, InteractionKind};
use crate::kg::KgStore;
use crate::registry::ModelRegistry;

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

/// Writes live events to the store, where training reads them. Each event gets a new id
/// from the registry's id generator (unique across restarts), which names its interaction
/// node. The store is the only place events are kept: a second copy (the sled event log of
/// earlier versions) was never replayed, so it could only disagree.
pub struct EventRecorder {
    registry: ModelRegistry,
}

impl EventRecorder {
    /// Records events with ids from `registry`.
    pub fn new(registry: ModelRegistry) -> Self {
        EventRecorder { registry }
    }

    /// The registry whose id generator names events.
    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    /// Writes `events` to the store in one transaction, durable when this returns (the
    /// service answers 201 after it); returns their ids. A bad event is refused before
    /// anything is written.
    pub fn record(&self, store: &KgStore, events: &[LiveEvent]) -> Result<Vec<u64>, RecError> {
        let ids = (0..events.len())
            .map(|_| self.registry.generate_id())
            .collect::<Result<Vec<_>, _>>()?;
        let mut quads = Vec::new();
        for (id, e) in ids.iter().zip(events) {
            quads.extend(e.quads(*id)?);
        }
        store.insert_quads(&quads)?;
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
    fn events_land_in_the_store_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventRecorder::new(ModelRegistry::open(dir.path()).unwrap());
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
        assert_eq!(
            n("SELECT ?e WHERE { ?e <https://w3id.org/kgrec/ns#user> <urn:u3> }"),
            0
        );
    }
}
