//! Interaction data from the store: every `kgr:Interaction` and `kgr:NegativeSample` of the
//! interaction graphs, read once into [`InteractionData`]'s dense ids.

use oxigraph::model::Term;

use crate::error::RecError;
use crate::eval::data::{unix_seconds, DataSplit, Event, InteractionData, Negative};
use crate::kg::results::cell_literal as literal;
use crate::kg::vocab::{GRAPH, KGR, SPARQL_PREFIXES};
use crate::kg::KgStore;

/// Reads the interactions in the store; with `source`, only those of that import source
/// (its `graph/{source}/interactions` graph).
pub fn read_interactions(
    store: &KgStore,
    source: Option<&str>,
) -> Result<InteractionData, RecError> {
    let graph_filter = match source {
        Some(s) => format!("FILTER(?g = <{GRAPH}{s}/interactions>)"),
        None => String::new(),
    };
    read_interactions_where(store, &graph_filter)
}

/// Reads the interactions in the store except live events recorded in or after the Unix
/// second `second` (their `kgr:recordedSecond`): the snapshot a service loads before it
/// replays the change log from that second, so that no event is counted twice.
pub fn read_interactions_recorded_before(
    store: &KgStore,
    second: i64,
) -> Result<InteractionData, RecError> {
    read_interactions_where(
        store,
        &format!(
            "FILTER NOT EXISTS {{ GRAPH ?g {{ ?e kgr:recordedSecond ?recorded }} \
             FILTER(?recorded >= {second}) }}"
        ),
    )
}

fn read_interactions_where(
    store: &KgStore,
    graph_filter: &str,
) -> Result<InteractionData, RecError> {
    let mut data = InteractionData::default();
    let mut events = Vec::new();
    let positives = format!(
        "{SPARQL_PREFIXES}SELECT ?user ?item ?pos ?time ?split ?rating WHERE {{ GRAPH ?g {{ \
         ?e a kgr:Interaction ; kgr:user ?user ; kgr:item ?item . \
         OPTIONAL {{ ?e kgr:position ?pos }} OPTIONAL {{ ?e kgr:timestamp ?time }} \
         OPTIONAL {{ ?e kgr:split ?split }} OPTIONAL {{ ?e kgr:rating ?rating }} }} {graph_filter} }}"
    );
    let mut bad: Option<String> = None;
    store.for_each_solution(&positives, |row| {
        let (Some(Term::NamedNode(u)), Some(Term::NamedNode(i))) = (&row[0], &row[1]) else {
            return;
        };
        let position = match literal(&row[2]).map(|v| v.parse::<i64>()) {
            Some(Ok(p)) => Some(p),
            Some(Err(_)) => {
                bad.get_or_insert_with(|| format!("kgr:position on {u} is not an integer"));
                None
            }
            None => None,
        };
        let time = literal(&row[3]).and_then(unix_seconds);
        let rating = literal(&row[5]).and_then(|r| r.parse::<f32>().ok());
        let user = data.user_id_or_insert(u.as_str());
        let item = data.item_id_or_insert(i.as_str());
        events.push(Event {
            user,
            item,
            position,
            time,
            split: split(&row[4]),
            rating,
        });
    })?;
    if let Some(message) = bad {
        return Err(RecError::BadData(message));
    }
    let negatives = format!(
        "{SPARQL_PREFIXES}SELECT ?user ?item ?split WHERE {{ GRAPH ?g {{ \
         ?e a kgr:NegativeSample ; kgr:user ?user ; kgr:item ?item . \
         OPTIONAL {{ ?e kgr:split ?split }} }} {graph_filter} }}"
    );
    let mut negs = Vec::new();
    store.for_each_solution(&negatives, |row| {
        if let (Some(Term::NamedNode(u)), Some(Term::NamedNode(i))) = (&row[0], &row[1]) {
            negs.push((u.as_str().to_owned(), i.as_str().to_owned(), split(&row[2])));
        }
    })?;
    for (u, i, s) in negs {
        let user = data.user_id_or_insert(&u);
        let item = data.item_id_or_insert(&i);
        data.negatives.push(Negative {
            user,
            item,
            split: s,
        });
    }
    data.finish(events);
    Ok(data)
}

fn split(term: &Option<Term>) -> Option<DataSplit> {
    match term {
        Some(Term::NamedNode(n)) => match n.as_str().strip_prefix(KGR) {
            Some("Train") => Some(DataSplit::Train),
            Some("Valid") => Some(DataSplit::Valid),
            Some("Test") => Some(DataSplit::Test),
            _ => None,
        },
        _ => None,
    }
}
