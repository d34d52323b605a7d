//! Live events: interactions sent to the service after training. Each is written to the
//! store (as a `kgr:Interaction` in the `graph/events/interactions` graph, the same shape the
//! importers write), so the next training sees it and forgetting a user removes it.

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Quad};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RecError;
use crate::eval::data::unix_seconds;
use crate::ingest::builder::unix_to_datetime;
use crate::kg::vocab::{forgotten_graph, graph, kgr, rdf_type, schema, GraphPart, InteractionKind};
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

/// One event as written: its node and the second it was recorded in (its place in the change
/// log other replicas follow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The event's id (random, 53 bits: exact as a JSON number), which names its node.
    pub id: u64,
    /// The interaction node's IRI.
    pub iri: String,
    /// User IRI.
    pub user: String,
    /// Product IRI.
    pub item: String,
    /// Unix second the event was recorded in (`kgr:recordedSecond`).
    pub second: i64,
    /// Unix milliseconds it was recorded at (`kgr:recordedAt`): the order of events within a
    /// second.
    pub millis: i64,
}

/// The current Unix second.
pub fn now_second() -> i64 {
    now_millis().div_euclid(1000)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Unix milliseconds as an `xsd:dateTime` in UTC, to the millisecond.
fn millis_to_datetime(millis: i64) -> String {
    let seconds = unix_to_datetime(millis.div_euclid(1000));
    let head = seconds.trim_end_matches('Z');
    format!("{head}.{:03}Z", millis.rem_euclid(1000))
}

/// Unix milliseconds of an `xsd:dateTime` given to the millisecond or coarser.
fn datetime_to_millis(lexical: &str) -> Option<i64> {
    let (whole, fraction) = match lexical.trim_end_matches('Z').split_once('.') {
        Some((w, f)) => (format!("{w}Z"), f),
        None => (lexical.to_owned(), ""),
    };
    let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
    Some(unix_seconds(&whole)? * 1000 + digits.parse::<i64>().ok()?)
}

/// The SHA-256 of a user IRI, hex: what a forgetting record keeps of the user.
pub fn user_hash(user: &str) -> String {
    Sha256::digest(user.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn fresh_id() -> Result<u64, RecError> {
    // 53 bits, so that a JSON number carries it exactly.
    getrandom::u64()
        .map(|x| x >> 11)
        .map_err(|e| RecError::Registry(format!("no random event id: {e}")))
}

/// Writes `events` to the store in one transaction, durable when this returns (the service
/// answers 201 after it). Each gets a random 64-bit id naming its node, unique across
/// replicas and restarts without coordination. A bad event is refused before anything is
/// written.
pub fn record_events(
    store: &KgStore,
    events: &[LiveEvent],
) -> Result<Vec<RecordedEvent>, RecError> {
    let start = now_millis();
    let second = start.div_euclid(1000);
    let mut quads = Vec::new();
    let mut recorded = Vec::with_capacity(events.len());
    for (n, e) in events.iter().enumerate() {
        // Events of one request keep their order, a millisecond apart.
        let millis = start + n as i64;
        let id = fresh_id()?;
        let node = e.node(id);
        let g = graph(EVENTS_SOURCE, GraphPart::Interactions);
        quads.extend(e.quads(id)?);
        quads.push(Quad::new(
            node.clone(),
            kgr("recordedSecond"),
            Literal::from(second),
            g.clone(),
        ));
        quads.push(Quad::new(
            node.clone(),
            kgr("recordedAt"),
            Literal::new_typed_literal(millis_to_datetime(millis), xsd::DATE_TIME),
            g,
        ));
        recorded.push(RecordedEvent {
            id,
            iri: node.into_string(),
            user: e.user.clone(),
            item: e.item.clone(),
            second,
            millis,
        });
    }
    store.insert_quads(&quads)?;
    Ok(recorded)
}

/// Writes the record that `user` was forgotten, which other replicas follow: the user's
/// SHA-256 (not the IRI) and the second, in `graph/events/forgotten`.
pub fn record_forgetting(store: &KgStore, user: &str) -> Result<Forgetting, RecError> {
    let node = NamedNode::new_unchecked(format!(
        "{}{EVENTS_SOURCE}/forgetting/{:016x}",
        crate::kg::vocab::ID,
        fresh_id()?
    ));
    let g = forgotten_graph();
    let second = now_second();
    let record = Forgetting {
        iri: node.as_str().to_owned(),
        user_hash: user_hash(user),
        second,
    };
    store.insert_quads(&[
        Quad::new(node.clone(), rdf_type(), kgr("Forgetting"), g.clone()),
        Quad::new(
            node.clone(),
            kgr("forgotUser"),
            Literal::new_simple_literal(user_hash(user)),
            g.clone(),
        ),
        Quad::new(node, kgr("recordedSecond"), Literal::from(second), g),
    ])?;
    Ok(record)
}

/// What the store says changed in some seconds: events recorded, and users forgotten (by
/// their SHA-256).
#[derive(Debug, Default)]
pub struct Changes {
    /// Events, by recording second.
    pub events: Vec<RecordedEvent>,
    /// Forgetting records.
    pub forgotten: Vec<Forgetting>,
}

/// A forgetting record: a user forgotten through some replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forgetting {
    /// The record's IRI (each is applied once).
    pub iri: String,
    /// The SHA-256 of the user's IRI.
    pub user_hash: String,
    /// Unix second it was recorded in.
    pub second: i64,
}

/// The events recorded and users forgotten in the Unix seconds `from..=to`, read by their
/// `kgr:recordedSecond` (an index lookup per second on any SPARQL store, so a poll costs the
/// changes it returns, not the log's length).
pub fn changes_between(store: &KgStore, from: i64, to: i64) -> Result<Changes, RecError> {
    let seconds: Vec<String> = (from..=to).map(|s| s.to_string()).collect();
    let query = format!(
        "{prefixes}SELECT ?e ?user ?item ?s ?forgot ?at WHERE {{ VALUES ?s {{ {seconds} }} \
         {{ GRAPH <{events}> {{ ?e kgr:recordedSecond ?s ; kgr:user ?user ; kgr:item ?item \
         OPTIONAL {{ ?e kgr:recordedAt ?at }} }} }} \
         UNION {{ GRAPH <{forgotten}> {{ ?e kgr:recordedSecond ?s ; kgr:forgotUser ?forgot }} }} }}",
        prefixes = crate::kg::vocab::SPARQL_PREFIXES,
        seconds = seconds.join(" "),
        events = graph(EVENTS_SOURCE, GraphPart::Interactions).as_str(),
        forgotten = forgotten_graph().as_str(),
    );
    let mut changes = Changes::default();
    let mut bad = None;
    store.for_each_solution(&query, |row| {
        use oxigraph::model::Term;
        let second = crate::kg::results::cell_literal(&row[3]).and_then(|s| s.parse().ok());
        match (&row[0], &row[1], &row[2], second, &row[4]) {
            (Some(Term::NamedNode(e)), _, _, Some(s), Some(Term::Literal(hash))) => {
                changes.forgotten.push(Forgetting {
                    iri: e.as_str().to_owned(),
                    user_hash: hash.value().to_owned(),
                    second: s,
                });
            }
            (
                Some(Term::NamedNode(e)),
                Some(Term::NamedNode(u)),
                Some(Term::NamedNode(i)),
                Some(s),
                None,
            ) => {
                let millis = crate::kg::results::cell_literal(&row[5])
                    .and_then(datetime_to_millis)
                    .unwrap_or(s * 1000);
                changes.events.push(RecordedEvent {
                    id: 0,
                    iri: e.as_str().to_owned(),
                    user: u.as_str().to_owned(),
                    item: i.as_str().to_owned(),
                    second: s,
                    millis,
                });
            }
            _ => {
                bad.get_or_insert_with(|| format!("an unreadable change record: {row:?}"));
            }
        }
    })?;
    if let Some(message) = bad {
        return Err(RecError::BadData(message));
    }
    changes
        .events
        .sort_by(|a, b| (a.millis, &a.iri).cmp(&(b.millis, &b.iri)));
    Ok(changes)
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
    fn recording_times_keep_their_milliseconds() {
        for millis in [0, 1_733_340_000_123, 1_733_340_000_000, -1_500] {
            assert_eq!(
                datetime_to_millis(&millis_to_datetime(millis)),
                Some(millis)
            );
        }
        assert_eq!(
            datetime_to_millis("2024-12-04T19:20:00.5Z"),
            Some(1_733_340_000_500)
        );
    }

    #[test]
    fn events_land_in_the_store_and_can_be_forgotten() {
        let store = KgStore::in_memory().unwrap();
        let recorded = record_events(
            &store,
            &[
                event("urn:u1", "urn:p1"),
                event("urn:u2", "urn:p1"),
                event("urn:u1", "urn:p2"),
            ],
        )
        .unwrap();
        let mut iris: Vec<&str> = recorded.iter().map(|e| e.iri.as_str()).collect();
        iris.sort_unstable();
        iris.dedup();
        assert_eq!(iris.len(), 3);
        // The change log returns them by their second, and nothing outside it.
        let s = recorded[0].second;
        let changes = changes_between(&store, s - 1, s + 1).unwrap();
        let mut seen: Vec<RecordedEvent> = changes
            .events
            .into_iter()
            .map(|e| RecordedEvent { id: 0, ..e })
            .collect();
        seen.sort_by(|a, b| a.iri.cmp(&b.iri));
        let mut expected: Vec<RecordedEvent> = recorded
            .iter()
            .map(|e| RecordedEvent { id: 0, ..e.clone() })
            .collect();
        expected.sort_by(|a, b| a.iri.cmp(&b.iri));
        assert_eq!(seen, expected);
        assert!(changes_between(&store, s + 2, s + 3)
            .unwrap()
            .events
            .is_empty());
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
        record_forgetting(&store, "urn:u1").unwrap();
        let changes = changes_between(&store, s, now_second()).unwrap();
        let hashes: Vec<&str> = changes
            .forgotten
            .iter()
            .map(|f| f.user_hash.as_str())
            .collect();
        assert_eq!(hashes, [user_hash("urn:u1")]);
        assert_eq!(changes.events.len(), 1, "u1's events went with them");
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
        assert!(record_events(&store, &[event("urn:u3", "urn:p1"), bad]).is_err());
        assert_eq!(
            n("SELECT ?e WHERE { ?e <https://w3id.org/kgrec/ns#user> <urn:u3> }"),
            0
        );
    }
}
