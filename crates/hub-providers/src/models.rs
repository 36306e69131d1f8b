//! The model list of a channel's upstream (`POST /api/channel/provider_models_list`, the
//! channel editor's "fetch models"), per wire family as One Hub asks for it, with the channel's
//! key, base URL, headers and proxy.

use hub_core::{provider::Provider, snapshot::ChannelRt};
use serde_json::Value;

use crate::upstream::{ANTHROPIC_VERSION, Clients};

/// Why no model list could be read; the messages are One Hub's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelListError {
    /// The channel's type has no provider on this node.
    #[error("provider not found")]
    NotFound,
    /// The channel's configuration cannot be used (the reason, never the key).
    #[error("{0}")]
    Invalid(String),
    /// The provider has no model list here.
    #[error("channel not implemented")]
    NotImplemented,
    /// The upstream refused or could not be read: its own message, or what went wrong.
    #[error("{0}")]
    Failed(String),
}

/// Azure's API version for listing deployments (One Hub's).
const AZURE_LIST_VERSION: &str = "2023-03-15-preview";

/// How the ids are read from the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `data[].id` (OpenAI, Anthropic, Azure deployments).
    DataIds,
    /// `models[].name` without `models/`, those that offer `generateContent` (Gemini).
    Gemini,
    /// `models[].model` (Ollama's `/api/tags`).
    Ollama,
    /// `models[].name` with the `chat` or `rerank` endpoint (Cohere).
    Cohere,
    /// `[].name` (GitHub Models).
    GitHub,
}

/// Where the list is asked for: URL, headers (sent after the channel's own) and answer shape.
struct ListRequest {
    url: String,
    headers: Vec<(&'static str, String)>,
    shape: Shape,
}

/// The request for the list.
fn request(channel: &ChannelRt) -> Result<ListRequest, ModelListError> {
    let provider = channel.provider.as_ref().map_err(|e| match e {
        hub_core::provider::Unserved::NotServed { .. } => ModelListError::NotFound,
        hub_core::provider::Unserved::Invalid(why) => ModelListError::Invalid(why.clone()),
    })?;
    let bearer = || vec![("authorization", format!("Bearer {}", channel.key))];
    let (url, headers, shape) = match provider {
        // Zhipu signs a JWT per request and has no list endpoint One Hub uses.
        Provider::OpenAi { jwt: Some(_), .. } => return Err(ModelListError::NotImplemented),
        Provider::OpenAi { base, .. } if channel.kind == 49 => {
            (format!("{base}/models"), bearer(), Shape::GitHub)
        }
        Provider::OpenAi { base, quirks, .. } => {
            let v1 = if quirks.v1 { "/v1" } else { "" };
            (format!("{base}{v1}/models"), bearer(), Shape::DataIds)
        }
        // One Hub asks Ali's host whatever the base URL; the channel's base URL (Ali's host by
        // default) is used here, so a regional endpoint is asked too.
        Provider::DashScope { base, .. } => (
            format!("{base}/compatible-mode/v1/models"),
            bearer(),
            Shape::DataIds,
        ),
        Provider::Azure { base, .. } => (
            format!("{base}/openai/deployments?api-version={AZURE_LIST_VERSION}"),
            vec![("api-key", channel.key.clone())],
            Shape::DataIds,
        ),
        Provider::Anthropic { base } => (
            format!("{base}/v1/models"),
            vec![
                ("x-api-key", channel.key.clone()),
                ("anthropic-version", ANTHROPIC_VERSION.to_owned()),
            ],
            Shape::DataIds,
        ),
        Provider::Gemini { base, .. } => (
            format!("{base}/v1beta/models?page_size=1000"),
            vec![("x-goog-api-key", channel.key.clone())],
            Shape::Gemini,
        ),
        Provider::Ollama { base, .. } => (
            format!("{base}/api/tags"),
            if channel.key.trim().is_empty() {
                Vec::new()
            } else {
                bearer()
            },
            Shape::Ollama,
        ),
        Provider::Cohere { base } => (
            format!("{base}/v1/models?page_size=1000"),
            bearer(),
            Shape::Cohere,
        ),
        _ => return Err(ModelListError::NotImplemented),
    };
    Ok(ListRequest {
        url,
        headers,
        shape,
    })
}

/// The model ids in an answer of `shape`, de-duplicated, in the upstream's order.
fn ids(shape: Shape, v: &Value) -> Vec<String> {
    let items = |key: &str| {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let offers = |item: &Value, key: &str, wanted: &[&str]| {
        item.get(key).and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|m| m.as_str().is_some_and(|m| wanted.contains(&m)))
        })
    };
    let all: Vec<String> = match shape {
        Shape::DataIds => items("data").iter().filter_map(|m| text(m, "id")).collect(),
        Shape::Gemini => items("models")
            .iter()
            .filter(|m| offers(m, "supportedGenerationMethods", &["generateContent"]))
            .filter_map(|m| text(m, "name"))
            .map(|n| n.strip_prefix("models/").map(str::to_owned).unwrap_or(n))
            .collect(),
        Shape::Ollama => items("models")
            .iter()
            .filter_map(|m| text(m, "model"))
            .collect(),
        Shape::Cohere => items("models")
            .iter()
            .filter(|m| offers(m, "endpoints", &["chat", "rerank"]))
            .filter_map(|m| text(m, "name"))
            .collect(),
        Shape::GitHub => v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| text(m, "name"))
            .collect(),
    };
    let mut seen = std::collections::HashSet::new();
    all.into_iter().filter(|m| seen.insert(m.clone())).collect()
}

/// Reads the model list of `channel`'s upstream.
pub async fn list(clients: &Clients, channel: &ChannelRt) -> Result<Vec<String>, ModelListError> {
    let ListRequest {
        url,
        headers: auth,
        shape,
    } = request(channel)?;
    let http = clients
        .get(&channel.proxy)
        .map_err(|e| ModelListError::Failed(e.to_string()))?;
    // The channel's own headers first; the protocol and auth headers win, as on the relay.
    let mut headers = crate::upstream::channel_headers(channel);
    for (k, v) in &auth {
        crate::upstream::put_header(&mut headers, k, v);
    }
    let req = http.get(url).headers(headers);
    let failed = |e: reqwest::Error| {
        let e = e.without_url();
        ModelListError::Failed(
            channel
                .secrets
                .mask_str(&crate::upstream::root_cause(&e))
                .into_owned(),
        )
    };
    let resp = req.send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(failed)?;
    if !(200..300).contains(&status) {
        return Err(ModelListError::Failed(
            crate::upstream::error_message(&body, &channel.secrets)
                .map_or_else(|| format!("HTTP {status}"), |(m, ..)| m),
        ));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ModelListError::Failed("the model list is not JSON".to_owned()))?;
    Ok(ids(shape, &v))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use hub_core::entity::Channel;
    use serde_json::json;

    use super::*;

    fn rt(kind: i64, base: &str) -> ChannelRt {
        ChannelRt::from_channel(&Channel {
            id: 1,
            kind,
            key: "k".into(),
            base_url: Some(base.into()),
            ..Default::default()
        })
    }

    #[test]
    fn requests_per_family() {
        let url = |kind, base| request(&rt(kind, base)).map(|r| r.url);
        assert_eq!(url(1, "http://h").unwrap(), "http://h/v1/models");
        assert_eq!(url(28, "").unwrap(), "https://api.deepseek.com/v1/models");
        assert_eq!(url(49, "http://h").unwrap(), "http://h/models");
        assert_eq!(
            url(17, "http://h").unwrap(),
            "http://h/compatible-mode/v1/models"
        );
        assert_eq!(
            url(3, "http://h").unwrap(),
            "http://h/openai/deployments?api-version=2023-03-15-preview"
        );
        assert_eq!(url(14, "http://h").unwrap(), "http://h/v1/models");
        assert_eq!(
            url(25, "http://h").unwrap(),
            "http://h/v1beta/models?page_size=1000"
        );
        assert_eq!(url(39, "http://h").unwrap(), "http://h/api/tags");
        assert_eq!(
            url(36, "http://h").unwrap(),
            "http://h/v1/models?page_size=1000"
        );
        assert_eq!(url(47, "http://h"), Err(ModelListError::NotImplemented));
        assert_eq!(url(34, "http://h"), Err(ModelListError::NotFound));
        assert!(matches!(url(3, ""), Err(ModelListError::Invalid(_))));
        let r = request(&rt(14, "http://h")).unwrap();
        assert_eq!(r.headers[0], ("x-api-key", "k".to_owned()));
    }

    #[test]
    fn ids_per_shape_deduplicated_in_order() {
        let v = json!({"data": [{"id": "b"}, {"id": "a"}, {"id": "b"}, {"x": 1}]});
        assert_eq!(ids(Shape::DataIds, &v), ["b", "a"]);
        let v = json!({"models": [
            {"name": "models/gemini-2.0-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]}
        ]});
        assert_eq!(ids(Shape::Gemini, &v), ["gemini-2.0-flash"]);
        let v = json!({"models": [{"name": "llama3:latest", "model": "llama3:latest"}]});
        assert_eq!(ids(Shape::Ollama, &v), ["llama3:latest"]);
        let v = json!({"models": [
            {"name": "command-r", "endpoints": ["generate", "chat"]},
            {"name": "rerank-v3.5", "endpoints": ["rerank"]},
            {"name": "embed-v4.0", "endpoints": ["embed"]}
        ]});
        assert_eq!(ids(Shape::Cohere, &v), ["command-r", "rerank-v3.5"]);
        let v = json!([{"name": "gpt-4o"}, {"name": "Phi-4"}]);
        assert_eq!(ids(Shape::GitHub, &v), ["gpt-4o", "Phi-4"]);
    }
}
