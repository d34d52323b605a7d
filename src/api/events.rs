//! `POST /v1/events` records interactions (one, a list, or `{"events": [...]}`), durable in
//! the store before the reply, and visible to the user's next recommendations at once.
//! `DELETE /v1/users/{id}` forgets a user everywhere.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::error::{ApiError, BodyErrors, ForgetErrors};
use super::{read_body, resource, AppState};
use crate::error::RecError;
use crate::eval::data::unix_seconds;
use crate::kg::vocab::{InteractionKind, IriMinter};
use crate::serve::events::{LiveEvent, EVENTS_SOURCE};
use crate::serve::recommender::Recommender;

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// Earliest event time accepted: 0001-01-01T00:00:00Z, in Unix seconds.
pub const MIN_TIME: i64 = -62_135_596_800;
/// Latest event time accepted: 9999-12-31T23:59:59Z, in Unix seconds.
pub const MAX_TIME: i64 = 253_402_300_799;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/events", "POST").route(web::post().to(post_events)))
        .service(resource("/v1/users/{id}", "DELETE").route(web::delete().to(delete_user)));
}

/// One event as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Event)]
pub struct EventIn {
    /// A known user (IRI or id), or a new user's id or IRI.
    #[schema(pattern = r"\S", example = "U1")]
    user: String,
    /// A known product (IRI or id), or a new product's IRI.
    #[schema(pattern = r"\S", example = "P1")]
    item: String,
    /// `purchase` (default), `view`, `rating`, `review` or `click`.
    #[schema(value_type = EventKind, required = false)]
    kind: Option<String>,
    /// Unix seconds or an ISO 8601 date-time; now when absent (not null).
    #[schema(value_type = EventTime, required = false)]
    time: Option<Value>,
    /// Explicit rating.
    #[schema(value_type = f32, required = false)]
    rating: Option<f32>,
}

/// The kinds of interaction an event may name (the store's own list).
pub struct EventKind;

impl PartialSchema for EventKind {
    fn schema() -> RefOr<Schema> {
        let names = InteractionKind::ALL.map(InteractionKind::as_str);
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .into()
    }
}

impl ToSchema for EventKind {}

/// An event's time: Unix seconds in the years 1 to 9999, or an ISO 8601 date-time.
pub struct EventTime;

impl PartialSchema for EventTime {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(MIN_TIME))
                    .maximum(Some(MAX_TIME)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .into()
    }
}

impl ToSchema for EventTime {}

/// The body of `POST /v1/events`: one event, a list of 1 to [`MAX_BATCH`] of them, or
/// `{"events": [...]}` with such a list.
pub struct EventsBody;

impl PartialSchema for EventsBody {
    fn schema() -> RefOr<Schema> {
        let list = || {
            ArrayBuilder::new()
                .items(Ref::from_schema_name(EventIn::name()))
                .min_items(Some(1))
                .max_items(Some(MAX_BATCH))
        };
        OneOfBuilder::new()
            .item(Ref::from_schema_name(EventIn::name()))
            .item(list())
            .item(
                ObjectBuilder::new()
                    .property("events", list())
                    .required("events")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .into()
    }
}

impl ToSchema for EventsBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((EventIn::name().into_owned(), EventIn::schema()));
        EventIn::schemas(schemas);
    }
}

/// The body of a `POST /v1/events` reply.
#[derive(Serialize, ToSchema)]
pub struct EventsRecorded {
    /// How many events were recorded.
    recorded: usize,
    /// Their ids, in the order sent.
    ids: Vec<u64>,
    /// The users they named, sorted.
    users: Vec<String>,
    /// Products the model had not seen, now placed from their text.
    new_items: Vec<String>,
}

/// The body of a `DELETE /v1/users/{id}` reply.
#[derive(Serialize, ToSchema)]
pub struct UserForgotten {
    /// The user's IRI.
    user: String,
    /// What was removed.
    removed: Removed,
}

/// What forgetting a user removed.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// Quads removed from the store.
    store_quads: usize,
    /// Registered versions whose id maps and files no longer name them.
    model_versions: usize,
}

/// The events of a body: an object, a list, or `{"events": [...]}`.
fn parse_events(body: &[u8]) -> Result<Vec<EventIn>, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad_body", m);
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let list = match v {
        Value::Array(list) => list,
        Value::Object(mut o) if o.contains_key("events") && o.len() == 1 => {
            match o.remove("events") {
                Some(Value::Array(list)) => list,
                _ => return Err(bad("\"events\" must be a list of events".into())),
            }
        }
        one @ Value::Object(_) => vec![one],
        _ => {
            return Err(bad(
                "send an event object, a list of them, or {\"events\": [...]}".into(),
            ))
        }
    };
    if list.is_empty() {
        return Err(bad("no events".into()));
    }
    if list.len() > MAX_BATCH {
        return Err(bad(format!(
            "{} events in one request; at most {MAX_BATCH}",
            list.len()
        )));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, e)| {
            // A null would read as absent (`time` as now); say it is wrong instead.
            if let Some((field, _)) = e
                .as_object()
                .and_then(|o| o.iter().find(|(_, v)| v.is_null()))
            {
                return Err(bad(format!(
                    "event {i}: {field} is null: leave it out instead"
                )));
            }
            serde_json::from_value(e).map_err(|err| bad(format!("event {i}: {err}")))
        })
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether an identifier is an absolute IRI rather than a short id.
fn is_iri(id: &str) -> bool {
    id.contains(':') && oxigraph::model::NamedNode::new(id).is_ok()
}

/// Resolves ids, validates kinds, times and ratings: the events to record, or the first
/// problem (nothing is written then).
fn resolve(r: &Recommender, events: Vec<EventIn>) -> Result<Vec<LiveEvent>, ApiError> {
    let minter = IriMinter::new(EVENTS_SOURCE);
    let bad = |i: usize, m: String| ApiError::bad_request("bad_body", format!("event {i}: {m}"));
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let user = match r.resolve_user(&e.user) {
                Ok(iri) => iri,
                Err(RecError::NotFound(_)) if is_iri(&e.user) => e.user.clone(),
                Err(RecError::NotFound(_)) if !e.user.trim().is_empty() => {
                    minter.user(e.user.trim()).as_str().to_owned()
                }
                Err(RecError::NotFound(_)) => return Err(bad(i, "the user is empty".into())),
                Err(other) => return Err(bad(i, other.to_string())),
            };
            let item = match r.resolve_item(&e.item) {
                Ok(row) => r.item(row).map(|c| c.iri).unwrap_or_default(),
                Err(RecError::NotFound(_)) if is_iri(&e.item) => e.item.clone(),
                Err(RecError::NotFound(_)) => {
                    return Err(ApiError::NotFound(format!(
                        "event {i}: item {} is unknown (a new product is given by its full IRI)",
                        e.item
                    )))
                }
                Err(other) => return Err(bad(i, other.to_string())),
            };
            let kind = e.kind.unwrap_or_else(|| "purchase".into());
            if InteractionKind::from_name(&kind).is_none() {
                let known: Vec<&str> = InteractionKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(bad(i, format!("kind {kind:?} is not one of {known:?}")));
            }
            let time = match e.time {
                None | Some(Value::Null) => now(),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .ok_or_else(|| bad(i, format!("time {n} is not whole seconds")))?,
                Some(Value::String(s)) => unix_seconds(&s)
                    .ok_or_else(|| bad(i, format!("time {s:?} is not an ISO 8601 date-time")))?,
                Some(other) => return Err(bad(i, format!("time {other} is not a time"))),
            };
            if !(MIN_TIME..=MAX_TIME).contains(&time) {
                return Err(bad(
                    i,
                    format!("time {time} is outside the years 1 to 9999"),
                ));
            }
            if e.rating.is_some_and(|x| !x.is_finite()) {
                return Err(bad(i, "the rating is not a number".into()));
            }
            Ok(LiveEvent {
                user,
                item,
                kind,
                time,
                rating: e.rating,
            })
        })
        .collect()
}

/// Record interactions (durable before the reply).
#[utoipa::path(
    post,
    path = "/v1/events",
    request_body(content = EventsBody, content_type = "application/json"),
    responses((status = 201, description = "Recorded", body = EventsRecorded), BodyErrors)
)]
pub async fn post_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let media = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media.trim_start().starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "POST /v1/events takes application/json".into(),
        ));
    }
    let body = read_body(&req, body, state.settings.max_body_bytes).await?;
    let events = parse_events(&body)?;
    let state2 = state.clone();
    let (ids, users, placed) = web::block(move || -> Result<_, ApiError> {
        let r = state2.recommender()?;
        let live = state2.live()?;
        let events = resolve(&r, events)?;
        // Written to the store (durable), then applied here; the other replicas apply them
        // from the change log. Products the model never saw are placed from their text (cold
        // start); one that cannot be placed is still recorded.
        let (recorded, placed) = live.record(&events)?;
        let ids = recorded.iter().map(|e| e.id).collect::<Vec<_>>();
        let mut users: Vec<String> = events.iter().map(|e| e.user.clone()).collect();
        users.sort();
        users.dedup();
        Ok((ids, users, placed))
    })
    .await??;
    Ok(HttpResponse::Created().json(EventsRecorded {
        recorded: ids.len(),
        ids,
        users,
        new_items: placed,
    }))
}

/// Forget a user: store and model files.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    params(("id" = String, Path, description = "User IRI (percent-encoded) or the last segment of it", example = "U3")),
    responses((status = 200, description = "What was removed", body = UserForgotten), ForgetErrors)
)]
pub async fn delete_user(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || -> Result<_, ApiError> {
        let r = state.recommender()?;
        let live = state.live()?;
        let user = r.resolve_user(&id)?;
        let node = oxigraph::model::NamedNode::new(user.as_str())
            .map_err(|e| ApiError::Internal(format!("stored user IRI {user}: {e}")))?;
        // The store first, then the record other replicas follow, then the model files, and
        // this replica's memory last: a failure midway leaves the user known here, so that
        // the same request can be sent again.
        let quads = state.store.delete_user(&node)?;
        let record = crate::serve::events::record_forgetting(&state.store, &user)?;
        let versions = live.registry().forget_user(&user)?;
        live.forget_in_memory(&user, &record)?;
        Ok(UserForgotten {
            user,
            removed: Removed {
                store_quads: quads,
                model_versions: versions,
            },
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_of_every_shape_and_clear_errors() {
        let one = parse_events(br#"{"user":"U1","item":"P1"}"#).unwrap();
        assert_eq!(one.len(), 1);
        let list =
            parse_events(br#"[{"user":"U1","item":"P1"},{"user":"U2","item":"P2","kind":"view"}]"#)
                .unwrap();
        assert_eq!(list.len(), 2);
        let wrapped = parse_events(br#"{"events":[{"user":"U1","item":"P1","time":5}]}"#).unwrap();
        assert_eq!(wrapped.len(), 1);
        for (body, needle) in [
            (&b"[]"[..], "no events"),
            (b"{", "not JSON"),
            (br#"{"user":"U1","item":"P1","time":null}"#, "time is null"),
            (
                br#"[{"user":"U1","item":"P1","rating":null}]"#,
                "rating is null",
            ),
            (b"3", "send an event"),
            (br#"[{"user":"U1"}]"#, "event 0: missing field `item`"),
            (
                br#"{"user":"U1","item":"P1","colour":"red"}"#,
                "unknown field",
            ),
        ] {
            let err = parse_events(body).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        assert!(is_iri("https://x.org/u/1") && !is_iri("U1") && !is_iri("a:b c"));
    }
}
