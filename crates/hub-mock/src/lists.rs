//! Model lists in the wire formats of the families whose list is not OpenAI's `GET /v1/models`
//! (that one, and Gemini's `GET /v1beta/models`, are served by their protocol modules):
//! Anthropic (`GET /v1/models` with `x-api-key`), Cohere (`GET /v1/models?page_size=…`),
//! Azure OpenAI deployments (`GET /openai/deployments?api-version=…`), Ollama
//! (`GET /api/tags`) and GitHub Models (`GET /models`, a bare array).

use axum::{
    Json,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{failure_status, header_str, query_params};

/// Claude models of `GET /v1/models` (Anthropic), newest first as Anthropic lists them.
pub const ANTHROPIC_MODELS: [&str; 3] = [
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];
/// Cohere's models with their endpoints: `embed-v4.0` offers neither chat nor rerank.
pub const COHERE_MODELS: [(&str, &[&str]); 3] = [
    ("command-r-plus-08-2024", &["generate", "chat", "summarize"]),
    ("embed-v4.0", &["embed"]),
    ("rerank-v3.5", &["rerank"]),
];
/// Azure deployments (`id`) and the model each serves.
pub const AZURE_DEPLOYMENTS: [(&str, &str); 2] = [
    ("gpt-4o-prod", "gpt-4o"),
    ("embeddings", "text-embedding-3-small"),
];
/// Ollama's local models.
pub const OLLAMA_MODELS: [&str; 2] = ["llama3.2:latest", "qwen2.5:7b"];
/// GitHub Models' catalogue (`name`, publisher).
pub const GITHUB_MODELS: [(&str, &str); 2] = [("gpt-4o", "OpenAI"), ("Phi-4", "Microsoft")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListRoute {
    Anthropic,
    Cohere,
    AzureDeployments,
    OllamaTags,
    GitHub,
}

/// Which list a `GET` asks for, when it is one of these.
pub(crate) fn list_route(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<ListRoute> {
    if *method != Method::GET {
        return None;
    }
    match uri.path() {
        "/v1/models" if header_str(headers, "x-api-key").is_some() => Some(ListRoute::Anthropic),
        "/v1/models" if query_params(uri).contains_key("page_size") => Some(ListRoute::Cohere),
        "/openai/deployments" => Some(ListRoute::AzureDeployments),
        "/api/tags" => Some(ListRoute::OllamaTags),
        "/models" => Some(ListRoute::GitHub),
        _ => None,
    }
}

/// The key the family sends, or `None`.
fn key(route: ListRoute, headers: &HeaderMap) -> Option<&str> {
    match route {
        ListRoute::Anthropic => header_str(headers, "x-api-key"),
        ListRoute::AzureDeployments => header_str(headers, "api-key"),
        // A local Ollama takes any key, or none.
        ListRoute::OllamaTags => Some(
            header_str(headers, "authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or_default(),
        ),
        ListRoute::Cohere | ListRoute::GitHub => {
            header_str(headers, "authorization").and_then(|a| a.strip_prefix("Bearer "))
        }
    }
}

/// The family's error body.
fn error(route: ListRoute, status: StatusCode, message: &str) -> Response {
    let body = match route {
        ListRoute::Anthropic => json!({
            "type": "error",
            "error": {"type": crate::anthropic::anthropic_error_type(status), "message": message}
        }),
        ListRoute::Cohere => json!({"message": message}),
        ListRoute::OllamaTags => json!({"error": message}),
        ListRoute::AzureDeployments | ListRoute::GitHub => {
            json!({"error": {"code": status.as_u16().to_string(), "message": message}})
        }
    };
    (status, Json(body)).into_response()
}

pub(crate) fn list(route: ListRoute, headers: &HeaderMap) -> Response {
    let Some(key) = key(route, headers) else {
        return error(route, StatusCode::UNAUTHORIZED, "no API key was provided");
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return error(route, status, &format!("mock failure {}", status.as_u16()));
    }
    let body: Value = match route {
        ListRoute::Anthropic => {
            if header_str(headers, "anthropic-version").is_none() {
                return error(
                    route,
                    StatusCode::BAD_REQUEST,
                    "anthropic-version: header is required",
                );
            }
            let data: Vec<Value> = ANTHROPIC_MODELS
                .iter()
                .map(|id| {
                    json!({"type": "model", "id": id, "display_name": format!("Mock {id}"),
                           "created_at": "2025-02-19T00:00:00Z"})
                })
                .collect();
            json!({"data": data, "has_more": false,
                   "first_id": ANTHROPIC_MODELS.first(), "last_id": ANTHROPIC_MODELS.last()})
        }
        ListRoute::Cohere => {
            let models: Vec<Value> = COHERE_MODELS
                .iter()
                .map(|(name, endpoints)| {
                    json!({"name": name, "endpoints": endpoints, "finetuned": false,
                           "context_length": 128000.0,
                           "tokenizer_url": format!("https://storage.googleapis.com/cohere-public/tokenizers/{name}.json"),
                           "default_endpoints": [], "features": null})
                })
                .collect();
            json!({"models": models, "next_page_token": ""})
        }
        ListRoute::AzureDeployments => {
            let data: Vec<Value> = AZURE_DEPLOYMENTS
                .iter()
                .map(|(id, model)| {
                    json!({"scale_settings": {"scale_type": "standard"}, "model": model,
                           "owner": "organization-owner", "id": id, "status": "succeeded",
                           "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
                           "object": "deployment"})
                })
                .collect();
            json!({"data": data, "object": "list"})
        }
        ListRoute::OllamaTags => {
            let models: Vec<Value> = OLLAMA_MODELS
                .iter()
                .map(|name| {
                    json!({"name": name, "model": name,
                           "modified_at": "2026-01-01T00:00:00.000000Z", "size": 2_019_393_189u64,
                           "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                           "details": {"parent_model": "", "format": "gguf", "family": "llama",
                                       "families": ["llama"], "parameter_size": "3.2B",
                                       "quantization_level": "Q4_K_M"}})
                })
                .collect();
            json!({"models": models})
        }
        ListRoute::GitHub => Value::Array(
            GITHUB_MODELS
                .iter()
                .map(|(name, publisher)| {
                    json!({"id": format!("azureml://registries/azureml/models/{name}/versions/1"),
                           "name": name, "friendly_name": name, "model_version": 1,
                           "publisher": publisher, "model_family": publisher,
                           "model_registry": "azureml", "license": "custom",
                           "task": "chat-completion", "description": "", "summary": "",
                           "tags": []})
                })
                .collect(),
        ),
    };
    Json(body).into_response()
}
