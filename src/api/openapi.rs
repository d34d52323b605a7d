//! `/openapi.json`: the OpenAPI 3 description of every route. The integration tests call
//! each documented operation and check its status and body against this document.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::events::{MAX_TIME, MIN_TIME};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json", "GET").route(web::get().to(openapi)));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

fn error_responses(codes: &[&str]) -> Value {
    let text = |c: &str| match c {
        "400" => "Bad parameters or body",
        "401" => "An update without the configured bearer token",
        "404" => "Unknown user, item, brand or category",
        "406" => "No acceptable representation",
        "413" => "Body over the limit",
        "415" => "Unsupported body media type",
        "503" => "No model registered, or a query past its time limit",
        _ => "Error",
    };
    let mut out = serde_json::Map::new();
    for c in codes {
        out.insert(
            (*c).to_owned(),
            json!({
                "description": text(c),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
    }
    Value::Object(out)
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn query_param(name: &str, schema: Value, required: bool, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

fn id_param(description: &str, example: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"},
           "description": description, "example": example})
}

/// An absolute IRI.
fn iri_schema() -> Value {
    json!({"type": "string", "format": "uri", "pattern": "^[A-Za-z][A-Za-z0-9+.-]*:[^\\s<>\"{}|\\\\^`]+$"})
}

fn k_param() -> Value {
    query_param(
        "k",
        json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}),
        false,
        "How many items",
    )
}

fn filter_params() -> Vec<Value> {
    vec![
        query_param(
            "category",
            json!({"type": "string", "pattern": "\\S"}),
            false,
            "A category, by IRI or label",
        ),
        query_param(
            "brand",
            json!({"type": "string", "pattern": "\\S"}),
            false,
            "A brand, by IRI or name",
        ),
    ]
}

fn ranked_list(extra: Value) -> Value {
    json!({"description": "Ranked items", "content": {"application/json": {"schema":
        with(json!({"type": "object", "required": ["model", "items"], "properties": {
            "model": {"$ref": "#/components/schemas/ModelRef"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/RankedItem"}}
        }}), extra)}}})
}

/// The OpenAPI 3 document.
pub fn document() -> Value {
    let sparql_results = json!({
        "application/sparql-results+json": {"schema": {"type": "object"}},
        "application/sparql-results+xml": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "text/tab-separated-values": {"schema": {"type": "string"}},
        "text/turtle": {"schema": {"type": "string"}},
        "application/n-triples": {"schema": {"type": "string"}},
        "application/ld+json": {"schema": {"type": "object"}},
        "application/rdf+xml": {"schema": {"type": "string"}}
    });
    let mut recommend_params = vec![
        id_param("User IRI (percent-encoded) or the last segment of it", "U1"),
        k_param(),
        query_param(
            "exclude_seen",
            json!({"type": "boolean", "default": true}),
            false,
            "Leave out the items of the user's history",
        ),
        query_param(
            "explain",
            json!({"type": "boolean", "default": false}),
            false,
            "Add each item's KG paths",
        ),
    ];
    recommend_params.extend(filter_params());
    let mut similar_params = vec![
        id_param("Item IRI (percent-encoded) or the last segment of it", "P1"),
        k_param(),
    ];
    similar_params.extend(filter_params());
    let mut search_params = vec![
        query_param(
            "q",
            json!({"type": "string", "pattern": "\\S", "maxLength": 1000, "example": "nail polish"}),
            true,
            "The text query",
        ),
        k_param(),
        query_param(
            "user",
            json!({"type": "string", "pattern": "\\S"}),
            false,
            "Personalise for this user",
        ),
    ];
    search_params.extend(filter_params());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kgrec",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Knowledge-graph recommendations with explanations, and a SPARQL 1.1 endpoint."
        },
        "paths": {
            "/sparql": {
                "get": {
                    "summary": "SPARQL 1.1 query (protocol GET)",
                    "parameters": [
                        query_param("query", json!({"type": "string", "pattern": "\\S", "example": "ASK { ?s ?p ?o }"}), true, "The SPARQL query"),
                        query_param("default-graph-uri", iri_schema(), false, "Default graph (repeatable)"),
                        query_param("named-graph-uri", iri_schema(), false, "Named graph (repeatable)")
                    ],
                    "responses": with(json!({"200": {"description": "Results, by content negotiation", "content": sparql_results}}),
                        error_responses(&["400", "406", "503"]))
                },
                "post": {
                    "summary": "SPARQL 1.1 query or update (protocol POST)",
                    "requestBody": {"required": true, "content": {
                        "application/x-www-form-urlencoded": {"schema": {"type": "object",
                            "oneOf": [{"required": ["query"]}, {"required": ["update"]}],
                            "properties": {
                                "query": {"type": "string", "pattern": "\\S", "example": "ASK { ?s ?p ?o }"},
                                "update": {"type": "string", "pattern": "\\S"}}}},
                        "application/sparql-query": {"schema": {"type": "string"}},
                        "application/sparql-update": {"schema": {"type": "string"}}
                    }},
                    "security": [{}, {"bearer": []}],
                    "responses": with(json!({
                        "200": {"description": "Query results", "content": sparql_results},
                        "204": {"description": "Update applied"}
                    }), error_responses(&["400", "401", "406", "413", "415", "503"]))
                }
            },
            "/v1/users/{id}/recommendations": {"get": {
                "summary": "Recommendations for a user",
                "parameters": recommend_params,
                "responses": with(json!({"200": ranked_list(json!({}))}), error_responses(&["400", "404", "503"]))
            }},
            "/v1/items/{id}/similar": {"get": {
                "summary": "Items similar to an item (cosine of the model's item vectors)",
                "parameters": similar_params,
                "responses": with(json!({"200": ranked_list(json!({}))}), error_responses(&["400", "404", "503"]))
            }},
            "/v1/explain": {"get": {
                "summary": "The KG paths from a user to an item, with one sentence",
                "parameters": [
                    query_param("user", json!({"type": "string", "pattern": "\\S", "example": "U1"}), true, "User IRI or id"),
                    query_param("item", json!({"type": "string", "pattern": "\\S", "example": "P2"}), true, "Item IRI or id"),
                    query_param("paths", json!({"type": "integer", "minimum": 1, "maximum": 20, "default": 3}), false, "How many paths")
                ],
                "responses": with(json!({"200": {"description": "Paths", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["user", "item", "paths"], "properties": {
                        "user": {"type": "string"},
                        "item": {"$ref": "#/components/schemas/RankedItem"},
                        "model": {"$ref": "#/components/schemas/ModelRef"},
                        "paths": {"type": "array", "items": {"$ref": "#/components/schemas/ExplanationPath"}},
                        "sentence": {"type": "string", "nullable": true}
                    }}}}}}), error_responses(&["400", "404", "503"]))
            }},
            "/v1/search": {"get": {
                "summary": "Products by the meaning of a text query",
                "parameters": search_params,
                "responses": with(json!({"200": ranked_list(json!({}))}), error_responses(&["400", "404", "503"]))
            }},
            "/v1/events": {"post": {
                "summary": "Record interactions (durable before the reply)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Event"},
                    {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/Event"}},
                    {"type": "object", "required": ["events"], "additionalProperties": false, "properties": {"events": {
                        "type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/Event"}}}}
                ]}}}},
                "responses": with(json!({"201": {"description": "Recorded", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["recorded", "ids", "users"], "properties": {
                        "recorded": {"type": "integer"},
                        "ids": {"type": "array", "items": {"type": "integer"}},
                        "users": {"type": "array", "items": {"type": "string"}},
                        "new_items": {"type": "array", "items": {"type": "string"},
                            "description": "Products the model had not seen, now placed from their text"}
                    }}}}}}), error_responses(&["400", "404", "413", "415", "503"]))
            }},
            "/v1/users/{id}": {"delete": {
                "summary": "Forget a user: store and model files",
                "parameters": [id_param("User IRI (percent-encoded) or the last segment of it", "U3")],
                "responses": with(json!({"200": {"description": "What was removed", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["user", "removed"], "properties": {
                        "user": {"type": "string"},
                        "removed": {"type": "object", "properties": {
                            "store_quads": {"type": "integer"},
                            "model_versions": {"type": "integer"}}}
                    }}}}}}), error_responses(&["404", "503"]))
            }},
            "/health": {"get": {
                "summary": "Liveness and what is served",
                "responses": {"200": {"description": "Up", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"], "properties": {
                        "status": {"type": "string"}, "uptime_seconds": {"type": "number"},
                        "model": {"type": "object", "nullable": true}, "read_only": {"type": "boolean"}}}}}}}
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}}}}},
                "ModelRef": {"type": "object", "required": ["version", "name"], "properties": {
                    "version": {"type": "integer"}, "name": {"type": "string"}}},
                "RankedItem": {"type": "object", "required": ["item", "score", "categories"], "properties": {
                    "item": {"type": "string"},
                    "score": {"type": "number", "nullable": true},
                    "title": {"type": "string", "nullable": true},
                    "brand": {"type": "string", "nullable": true},
                    "categories": {"type": "array", "items": {"type": "object", "required": ["iri"], "properties": {
                        "iri": {"type": "string"}, "label": {"type": "string", "nullable": true}}}},
                    "explanation": {"type": "object", "properties": {
                        "paths": {"type": "array", "items": {"$ref": "#/components/schemas/ExplanationPath"}},
                        "sentence": {"type": "string", "nullable": true}}}
                }},
                "ExplanationPath": {"type": "object", "required": ["score", "hops", "steps"], "properties": {
                    "score": {"type": "number"},
                    "hops": {"type": "integer"},
                    "steps": {"type": "array", "items": {"type": "object", "required": ["entity"], "properties": {
                        "entity": {"type": "object", "required": ["iri", "type"], "properties": {
                            "iri": {"type": "string"}, "type": {"type": "string"},
                            "label": {"type": "string", "nullable": true}}},
                        "relation": {"type": "object", "nullable": true, "required": ["iri", "label", "inverse"], "properties": {
                            "iri": {"type": "string"}, "label": {"type": "string"}, "inverse": {"type": "boolean"}}}
                    }}}
                }},
                "Event": {"type": "object", "required": ["user", "item"], "additionalProperties": false, "properties": {
                    "user": {"type": "string", "pattern": "\\S", "example": "U1"},
                    "item": {"type": "string", "pattern": "\\S", "example": "P1"},
                    "kind": {"type": "string", "enum": ["purchase", "view", "rating", "review", "click"]},
                    "time": {"oneOf": [
                        {"type": "integer", "minimum": MIN_TIME, "maximum": MAX_TIME},
                        {"type": "string", "format": "date-time"}]},
                    "rating": {"type": "number"}
                }}
            }
        }
    })
}
