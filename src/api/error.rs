//! The one place that maps errors to HTTP. Every error leaves the service as JSON,
//! `{"error": {"code": "...", "message": "..."}}`, with the status its code implies.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use crate::error::RecError;
use crate::kg::KgError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `bad_parameter`, `not_found`, `unavailable`, ….
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The error responses an operation documents: status and when it happens, each with an
/// [`ErrorBody`].
fn error_responses(
    statuses: &[(u16, &str)],
) -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    statuses
        .iter()
        .map(|(status, when)| {
            let response = ResponseBuilder::new()
                .description(*when)
                .content("application/json", body.clone())
                .build();
            (status.to_string(), response.into())
        })
        .collect()
}

const BAD_PARAMETERS: (u16, &str) = (400, "Bad parameters or body");
const UNKNOWN: (u16, &str) = (404, "Unknown user, item, brand or category");
const AMBIGUOUS: (u16, &str) = (
    409,
    "A short id that names several users or items: give the full IRI",
);
const TOO_LARGE: (u16, &str) = (413, "Body over the limit");
const MEDIA_TYPE: (u16, &str) = (415, "Unsupported body media type");
const NO_MODEL: (u16, &str) = (503, "No model registered");

/// The errors of a look-up by user, item or text (the `/v1` read routes).
pub struct LookupErrors;

impl IntoResponses for LookupErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[BAD_PARAMETERS, UNKNOWN, AMBIGUOUS, NO_MODEL])
    }
}

/// The errors of a request with a body (`POST /v1/events`).
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[BAD_PARAMETERS, UNKNOWN, TOO_LARGE, MEDIA_TYPE, NO_MODEL])
    }
}

/// The errors of forgetting a user.
pub struct ForgetErrors;

impl IntoResponses for ForgetErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[UNKNOWN, AMBIGUOUS, NO_MODEL])
    }
}

/// The errors of the data-quality routes.
pub struct QualityErrors;

impl IntoResponses for QualityErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[BAD_PARAMETERS])
    }
}

/// The errors of a SPARQL request.
pub struct SparqlErrors;

impl IntoResponses for SparqlErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        error_responses(&[
            (400, "A malformed query or update, or one that failed"),
            (401, "An update without the configured bearer token"),
            (406, "No acceptable representation"),
            TOO_LARGE,
            MEDIA_TYPE,
            (503, "A query past its time limit"),
        ])
    }
}

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed parameters, query or body (400).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code, e.g. `bad_parameter`, `bad_query`.
        code: &'static str,
        /// What was wrong, for a person.
        message: String,
    },
    /// An unknown user, item, brand, category or route (404).
    #[error("{0}")]
    NotFound(String),
    /// A short id that names several users or items (409): the full IRI resolves it.
    #[error("{0}")]
    Conflict(String),
    /// The route exists but not for this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// An update without the configured bearer token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// No representation the client accepts (406).
    #[error("{0}")]
    NotAcceptable(String),
    /// The request body is over the configured limit (413).
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A body in a media type the route does not take (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A query ran past the configured time limit (503).
    #[error("query {query} did not finish within {after:?} and was cancelled")]
    QueryTimeout {
        /// The query, shortened, so that the client knows which one.
        query: String,
        /// The limit it ran past.
        after: Duration,
    },
    /// The service has no model to answer with yet (503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the service itself, never of the request (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "ambiguous_id",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotAcceptable(_) => "not_acceptable",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::QueryTimeout { .. } => "query_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// A store error met while running `query` (named in a timeout).
    pub fn from_query(error: KgError, query: &str) -> Self {
        match error {
            KgError::Timeout(after) => Self::query_timeout(query, after),
            other => other.into(),
        }
    }

    /// `query` ran past `after`.
    pub fn query_timeout(query: &str, after: Duration) -> Self {
        ApiError::QueryTimeout {
            query: shorten(query),
            after,
        }
    }
}

/// The first line of a query, at most 120 characters, for error messages.
fn shorten(query: &str) -> String {
    let flat: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("\"{}…\"", flat.chars().take(119).collect::<String>())
    } else {
        format!("\"{flat}\"")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::QueryTimeout { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(message) = self {
            tracing::error!(error = %message, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        });
        if let ApiError::Unauthorized(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kgrec\""),
            );
        }
        response
    }
}

impl From<KgError> for ApiError {
    fn from(e: KgError) -> Self {
        match e {
            KgError::Syntax(_) => ApiError::bad_request("bad_query", e.to_string()),
            KgError::Parameter(_) => ApiError::bad_request("bad_parameter", e.to_string()),
            KgError::Evaluation(_) | KgError::Update(_) | KgError::NotSelect => {
                ApiError::bad_request("query_failed", e.to_string())
            }
            KgError::TooManyResults(_) => ApiError::bad_request("too_many_results", e.to_string()),
            KgError::RemoteRefused { .. } => ApiError::bad_request("query_failed", e.to_string()),
            KgError::Unsupported(_) => ApiError::bad_request("unsupported", e.to_string()),
            KgError::RemoteFailed { .. } => ApiError::Unavailable(e.to_string()),
            KgError::Format(_) => ApiError::NotAcceptable(e.to_string()),
            KgError::Timeout(after) => ApiError::QueryTimeout {
                query: "(unnamed)".into(),
                after,
            },
            other => ApiError::Internal(cause_chain(&other)),
        }
    }
}

/// An error with each cause it wraps that its own message does not already say, joined by
/// ": ", for the log line of a 5xx.
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

impl From<RecError> for ApiError {
    fn from(e: RecError) -> Self {
        match e {
            RecError::NotFound(_) => ApiError::NotFound(e.to_string()),
            RecError::Ambiguous(_) => ApiError::Conflict(e.to_string()),
            RecError::BadData(_) | RecError::InvalidConfig(_) => {
                ApiError::bad_request("bad_parameter", e.to_string())
            }
            RecError::Store(k) => k.into(),
            // A model that failed, a model file that cannot be read, state left unusable by
            // a failed request, the registry: the service's faults, never the client's.
            other => ApiError::Internal(cause_chain(&other)),
        }
    }
}

/// A blocking task that panicked or was cancelled: the service's fault.
impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("a worker failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn every_error_is_json_with_code_and_message() {
        let e = ApiError::QueryTimeout {
            query: shorten("SELECT *\n WHERE { ?s ?p ?o }"),
            after: Duration::from_secs(2),
        };
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let body = e.error_response().into_body().try_into_bytes().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "query_timeout");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"SELECT * WHERE { ?s ?p ?o }\""));
    }

    #[test]
    fn user_input_errors_are_not_server_faults() {
        let syntax = crate::kg::KgStore::in_memory()
            .unwrap()
            .query("SELECT WHERE", &[], false)
            .err()
            .unwrap();
        assert_eq!(
            ApiError::from(syntax).status_code(),
            StatusCode::BAD_REQUEST
        );
        let ambiguous = RecError::Ambiguous("user id U1 is shared by several users".into());
        assert_eq!(
            ApiError::from(ambiguous).status_code(),
            StatusCode::CONFLICT
        );
        let missing = RecError::NotFound("user <x>".into());
        assert_eq!(ApiError::from(missing).status_code(), StatusCode::NOT_FOUND);
        // A corrupt model file is the service's fault, and the message names the file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"not a safetensors file").unwrap();
        let config = crate::model::SequentialConfig::default();
        let Err(corrupt) = crate::model::SequentialModel::load(&path, &config) else {
            panic!("a corrupt model file loaded");
        };
        let e = ApiError::from(RecError::from(corrupt));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let poisoned = ApiError::from(RecError::Poisoned("the user table"));
        assert_eq!(poisoned.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let long = shorten(&"x".repeat(500));
        assert!(long.chars().count() < 130);
    }
}
