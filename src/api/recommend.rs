//! `/v1/users/{id}/recommendations` and `/v1/items/{id}/similar`: ranked products with their
//! title, brand and categories, and with `explain=true` the KG paths behind each. `{id}` is a full IRI (percent-encoded) or the last segment of
//! one.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, LookupErrors};
use super::{resource, AppState};
use crate::eval::ItemId;
use crate::serve::catalogue::CatalogueItem;
use crate::serve::explain::Explanation;
use crate::serve::filter::ItemFilter;
use crate::serve::recommender::{Recommender, ScoredItem};

/// Most items one request may ask for.
pub const MAX_K: usize = 1000;

/// Paths given per item with `explain=true`.
const PATHS_PER_ITEM: usize = 3;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/v1/users/{id}/recommendations", "GET").route(web::get().to(recommendations)),
    )
    .service(resource("/v1/users/{id}/history", "GET").route(web::get().to(history)))
    .service(resource("/v1/items/{id}/similar", "GET").route(web::get().to(similar)));
}

/// Query parameters of the recommendation route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecommendParams {
    /// How many items.
    #[param(minimum = 1, maximum = 1000, default = 10)]
    k: Option<usize>,
    /// A category, by IRI or label.
    #[param(pattern = r"\S")]
    category: Option<String>,
    /// A brand, by IRI or name.
    #[param(pattern = r"\S")]
    brand: Option<String>,
    /// Leave out the items of the user's history.
    #[param(default = true)]
    exclude_seen: Option<bool>,
    /// Add each item's KG paths.
    #[param(default = false)]
    explain: Option<bool>,
}

/// Query parameters of the similar-items route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// How many items.
    #[param(minimum = 1, maximum = 1000, default = 10)]
    k: Option<usize>,
    /// A category, by IRI or label.
    #[param(pattern = r"\S")]
    category: Option<String>,
    /// A brand, by IRI or name.
    #[param(pattern = r"\S")]
    brand: Option<String>,
}

/// A ranked product as the JSON API shows it: its card, its score, and why when asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankedItem {
    /// The product.
    #[serde(flatten)]
    pub card: ItemCard,
    /// The model's score (null when the model cannot score the pair).
    #[schema(value_type = Option<f32>, required = true)]
    pub score: f32,
    /// Why, when asked for (`explain=true`): the KG paths from the user to the item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// A category the product is filed under.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef {
    /// Category IRI.
    pub iri: String,
    /// Its label, if any.
    pub label: Option<String>,
}

/// Which model answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelRef {
    /// Registered version.
    version: u64,
    /// Model kind (`kgrec`, `sasrec`, …).
    name: String,
}

/// The served model's version and name.
pub fn model_ref(r: &Recommender) -> ModelRef {
    ModelRef {
        version: r.entry().version,
        name: r.entry().model.clone(),
    }
}

/// Reads `k` (default 10, 1 to [`MAX_K`]).
pub fn read_k(k: Option<usize>) -> Result<usize, ApiError> {
    match k.unwrap_or(10) {
        k @ 1..=MAX_K => Ok(k),
        k => Err(ApiError::bad_request(
            "bad_parameter",
            format!("k must be between 1 and {MAX_K}, not {k}"),
        )),
    }
}

/// The `category` and `brand` parameters as a filter; an empty value is a 400.
pub fn read_filter(
    category: Option<String>,
    brand: Option<String>,
) -> Result<ItemFilter, ApiError> {
    let value = |name: &str, v: Option<String>| match v {
        Some(s) if s.trim().is_empty() => Err(ApiError::bad_request(
            "bad_parameter",
            format!("{name} is empty"),
        )),
        other => Ok(other.map(|s| s.trim().to_owned())),
    };
    Ok(ItemFilter {
        category: value("category", category)?,
        brand: value("brand", brand)?,
    })
}

/// A product as a list shows it: IRI, name, brand and categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemCard {
    /// Product IRI.
    pub item: String,
    /// Product name.
    pub title: Option<String>,
    /// Brand name.
    pub brand: Option<String>,
    /// Categories, each with its label; root first where the store holds the category tree.
    pub categories: Vec<CategoryRef>,
    /// Whether `categories` is one path down the category tree (`Beauty › Makeup › Lips`).
    pub category_path: bool,
    /// Its lowest offered price, as written in the store (a decimal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// That price's currency (`USD`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// The card of the product at model row `row`, known as `iri` (only the IRI when the
/// catalogue has no entry for the row).
pub fn card(r: &Recommender, row: ItemId, iri: String) -> ItemCard {
    card_from(r, iri, r.item(row))
}

/// The card of the product at model row `row`; a row without a catalogue entry is the
/// service's fault.
pub fn card_at(r: &Recommender, row: ItemId) -> Result<ItemCard, ApiError> {
    let info = r
        .item(row)
        .ok_or_else(|| ApiError::Internal(format!("item row {row} has no catalogue entry")))?;
    Ok(card_from(r, info.iri.clone(), Some(info)))
}

fn card_from(r: &Recommender, iri: String, info: Option<CatalogueItem>) -> ItemCard {
    let Some(info) = info else {
        return ItemCard {
            item: iri,
            title: None,
            brand: None,
            categories: Vec::new(),
            category_path: false,
            price: None,
            currency: None,
        };
    };
    ItemCard {
        categories: info
            .categories
            .iter()
            .map(|c| CategoryRef {
                iri: c.clone(),
                label: r.category_label(c).map(str::to_owned),
            })
            .collect(),
        title: info.title,
        brand: info.brand,
        category_path: info.category_path,
        price: info.price,
        currency: info.currency,
        item: iri,
    }
}

/// The display form of ranked items.
pub fn ranked(r: &Recommender, items: Vec<ScoredItem>) -> Vec<RankedItem> {
    items
        .into_iter()
        .map(|s| RankedItem {
            card: card(r, s.row, s.item),
            score: s.score,
            explanation: None,
        })
        .collect()
}

/// The body of `/v1/users/{id}/history`.
#[derive(Serialize, ToSchema)]
pub struct UserHistory {
    /// The user's IRI.
    user: String,
    /// What the served model ranks from, oldest first (events since it was trained included;
    /// products the model does not rank are left out).
    items: Vec<ItemCard>,
}

/// A user's history as the served model sees it, oldest first.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/history",
    params(
        ("id" = String, Path, description = "User IRI (percent-encoded) or the last segment of it", example = "U1"),
    ),
    responses((status = 200, description = "The history, oldest first", body = UserHistory), LookupErrors)
)]
pub async fn history(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user, r, _) = state.model_for(&id)?;
    let rows = r.history(&user)?.unwrap_or_default();
    let items = rows
        .into_iter()
        .map(|row| card_at(&r, row))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(UserHistory { user, items }))
}

/// Recommendations for a user.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/recommendations",
    params(
        ("id" = String, Path, description = "User IRI (percent-encoded) or the last segment of it", example = "U1"),
        RecommendParams,
    ),
    responses((status = 200, description = "Ranked items", body = UserRanking), LookupErrors)
)]
pub async fn recommendations(
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<RecommendParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let k = read_k(p.k)?;
    let filter = read_filter(p.category, p.brand)?;
    let exclude_seen = p.exclude_seen.unwrap_or(true);
    let explain = p.explain.unwrap_or(false);
    // Sub-millisecond CPU work: answered on the worker, without a hop to the blocking pool.
    let (user, r, arm) = state.model_for(&id)?;
    let scored = r.recommend(&user, k, &filter, exclude_seen)?;
    let rows: Vec<_> = scored.iter().map(|s| s.row).collect();
    let mut items = ranked(&r, scored);
    if explain {
        for (item, row) in items.iter_mut().zip(rows) {
            item.explanation = Some(r.explain(&user, row, PATHS_PER_ITEM)?);
        }
    }
    if let Some(a) = &arm {
        let shown = items.iter().map(|i| i.card.item.clone()).collect();
        state.live()?.expose(a, &user, shown)?;
    }
    Ok(HttpResponse::Ok().json(UserRanking {
        user,
        model: model_ref(&r),
        arm,
        items,
    }))
}

/// The body of `/v1/users/{id}/recommendations`, serialised straight from the struct.
#[derive(Serialize, ToSchema)]
pub struct UserRanking {
    /// The user's IRI.
    user: String,
    /// The model that ranked.
    model: ModelRef,
    /// The A/B test arm that served the answer, when one is running.
    #[serde(skip_serializing_if = "Option::is_none")]
    arm: Option<crate::serve::live::ServedArm>,
    /// Best first.
    items: Vec<RankedItem>,
}

/// The body of `/v1/items/{id}/similar`.
#[derive(Serialize, ToSchema)]
pub struct ItemRanking {
    /// The item's IRI.
    item: String,
    /// The model whose vectors compared.
    model: ModelRef,
    /// Most similar first.
    items: Vec<RankedItem>,
}

/// Items similar to an item (cosine of the model's item vectors).
#[utoipa::path(
    get,
    path = "/v1/items/{id}/similar",
    params(
        ("id" = String, Path, description = "Item IRI (percent-encoded) or the last segment of it", example = "P1"),
        SimilarParams,
    ),
    responses((status = 200, description = "Ranked items", body = ItemRanking), LookupErrors)
)]
pub async fn similar(
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<SimilarParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let k = read_k(p.k)?;
    let filter = read_filter(p.category, p.brand)?;
    let r = state.recommender()?;
    let row = r.resolve_item(&id)?;
    let items = ranked(&r, r.similar(row, k, &filter)?);
    let item = r
        .item(row)
        .map(|i| i.iri)
        .ok_or_else(|| ApiError::Internal(format!("item row {row} has no catalogue entry")))?;
    Ok(HttpResponse::Ok().json(ItemRanking {
        item,
        model: model_ref(&r),
        items,
    }))
}
