//! `/v1/quality` and `/v1/quality/issues`: what `kgrec check` recorded in the quality graph,
//! in short and finding by finding (filtered, paged with an opaque cursor).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, QualityErrors};
use super::{resource, AppState};
use crate::quality::record::{self, IssueFilter, QualitySummary, RecordedIssue};
use crate::quality::{Check, IssueKind, Severity};

/// Findings per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;
/// Most findings per page.
const MAX_LIMIT: usize = 1000;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/quality", "GET").route(web::get().to(summary)))
        .service(resource("/v1/quality/issues", "GET").route(web::get().to(issues)));
}

/// What the checks found, counted by kind and severity, and when each check last ran.
#[utoipa::path(
    get,
    path = "/v1/quality",
    responses((status = 200, description = "Counts per kind and severity", body = QualitySummary), QualityErrors)
)]
pub async fn summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = web::block(move || record::summary(&state.store)).await??;
    Ok(HttpResponse::Ok().json(body))
}

/// Query parameters of `/v1/quality/issues`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueParams {
    /// Only this kind (`near-duplicate`, `shilling`, …) or check (`duplicates`, `behaviour`, …).
    #[param(
        pattern = "^(shapes|text|duplicates|outliers|behaviour|shape-violation|html-entity|markup|control-character|mojibake|all-caps|empty-name|exact-duplicate|near-duplicate|price-outlier|category-mismatch|unlinked-brand|burst|heavy-activity|constant-rating|copied-sequence|shilling|random-activity|item-spike)$",
        example = "near-duplicate"
    )]
    kind: Option<String>,
    /// Only this severity.
    #[param(inline)]
    severity: Option<Severity>,
    /// Only findings about this node (a product, user, brand or category IRI).
    #[param(pattern = r"\S")]
    focus: Option<String>,
    /// Findings per page.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<usize>,
    /// Where to continue: `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,15}$")]
    cursor: Option<String>,
}

/// A page of findings.
#[derive(Serialize, ToSchema)]
pub struct IssuePage {
    /// Most severe first, then the highest score.
    issues: Vec<RecordedIssue>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request("bad_parameter", message)
}

/// The findings, filtered and paged.
#[utoipa::path(
    get,
    path = "/v1/quality/issues",
    params(IssueParams),
    responses((status = 200, description = "A page of findings", body = IssuePage), QualityErrors)
)]
pub async fn issues(
    state: web::Data<AppState>,
    params: web::Query<IssueParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let kinds = match p.kind.as_deref() {
        None => Vec::new(),
        Some(k) => match (IssueKind::parse(k), Check::parse(k)) {
            (Some(kind), _) => vec![kind],
            (None, Ok(check)) => IssueKind::ALL
                .into_iter()
                .filter(|x| x.check() == check)
                .collect(),
            (None, Err(_)) => {
                return Err(bad(format!(
                    "unknown kind '{k}': expected a check ({}) or a kind ({})",
                    Check::ALL.map(Check::as_str).join(", "),
                    IssueKind::ALL.map(IssueKind::as_str).join(", ")
                )))
            }
        },
    };
    let severity = p.severity;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let offset = match p.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|_| c.len() <= 15)
            .ok_or_else(|| bad(format!("cursor '{c}' is not one this service gave")))?,
    };
    let focus = match p.focus {
        Some(f) if f.trim().is_empty() => {
            return Err(bad("focus must name a node (an IRI)".into()));
        }
        other => other.map(|f| f.trim().to_owned()),
    };
    let filter = IssueFilter {
        kinds,
        severity,
        focus,
        limit,
        offset,
    };
    let (issues, more) = web::block(move || record::issues(&state.store, &filter)).await??;
    let next_cursor = more.then(|| (offset + limit).to_string());
    Ok(HttpResponse::Ok().json(IssuePage {
        issues,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    /// The documented `kind` pattern names every check and every kind, no more.
    #[test]
    fn the_kind_pattern_lists_every_check_and_kind() {
        let doc = serde_json::to_value(crate::api::openapi::ApiDoc::openapi()).unwrap();
        let params = doc["paths"]["/v1/quality/issues"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let kind = params.iter().find(|p| p["name"] == "kind").unwrap();
        let pattern = kind["schema"]["pattern"].as_str().unwrap();
        let mut documented: Vec<&str> = pattern
            .trim_start_matches("^(")
            .trim_end_matches(")$")
            .split('|')
            .collect();
        documented.sort_unstable();
        let mut names: Vec<&str> = Check::ALL.map(Check::as_str).to_vec();
        names.extend(IssueKind::ALL.map(IssueKind::as_str));
        names.sort_unstable();
        assert_eq!(documented, names);
    }
}
