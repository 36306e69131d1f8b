//! Addressing and sending a request to a channel's upstream.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use hub_core::{redact::Secrets, snapshot::ChannelRt};
use serde_json::{Map, Value};

use base64::Engine as _;

use crate::catalogue::{Provider, Unserved};
use hub_core::provider::BedrockAuth;

/// The relay operation, with One Hub's relay-mode numbers (used by `plugin.customize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    Chat,
    Completions,
    Embeddings,
    Moderations,
    /// `/v1/responses`.
    Responses,
    /// `/v1/rerank` (Cohere/Jina shape).
    Rerank,
    /// `/v1/images/generations`.
    ImagesGenerations,
    /// `/v1/audio/speech`.
    Speech,
    /// `/v1/images/edits` (multipart, or JSON).
    ImagesEdits,
    /// `/v1/images/variations` (multipart).
    ImagesVariations,
    /// `/v1/audio/transcriptions` (multipart).
    Transcriptions,
    /// `/v1/audio/translations` (multipart).
    Translations,
}

impl RelayMode {
    pub fn onehub_code(self) -> &'static str {
        match self {
            RelayMode::Chat => "1",
            RelayMode::Completions => "2",
            RelayMode::Embeddings => "3",
            RelayMode::Moderations => "4",
            RelayMode::Responses => "16",
            RelayMode::Rerank => "13",
            RelayMode::ImagesGenerations => "5",
            RelayMode::Speech => "9",
            RelayMode::ImagesEdits => "6",
            RelayMode::ImagesVariations => "7",
            RelayMode::Transcriptions => "10",
            RelayMode::Translations => "11",
        }
    }

    /// The OpenAI path after `/v1`.
    pub fn path(self) -> &'static str {
        match self {
            RelayMode::Chat => "/chat/completions",
            RelayMode::Completions => "/completions",
            RelayMode::Embeddings => "/embeddings",
            RelayMode::Moderations => "/moderations",
            RelayMode::Responses => "/responses",
            RelayMode::Rerank => "/rerank",
            RelayMode::ImagesGenerations => "/images/generations",
            RelayMode::Speech => "/audio/speech",
            RelayMode::ImagesEdits => "/images/edits",
            RelayMode::ImagesVariations => "/images/variations",
            RelayMode::Transcriptions => "/audio/transcriptions",
            RelayMode::Translations => "/audio/translations",
        }
    }

    /// True for operations that can stream.
    pub fn can_stream(self) -> bool {
        matches!(
            self,
            RelayMode::Chat
                | RelayMode::Completions
                | RelayMode::Responses
                | RelayMode::Transcriptions
        )
    }
}

pub use hub_core::provider::{DEFAULT_AZURE_API_VERSION, DEFAULT_GEMINI_VERSION};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// The channel's provider does not offer this operation.
    #[error("channel type {0} does not offer this operation here")]
    Unsupported(i64),
    /// The channel is not served by this node (its type, or a configuration that cannot be
    /// used); such a channel is not routed to, so only a pinned request gets here.
    #[error("{0}")]
    Unserved(#[from] Unserved),
    /// A model (deployment) name that cannot be one URL path segment (`.`, `..`, empty).
    #[error("model name '{0}' cannot be used in an upstream URL")]
    BadModel(String),
}

/// `s` as one URL path segment (or query value): every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) is percent-encoded, so `/`, `?`, `#`, `%`, `:`, spaces, control
/// characters and non-ASCII text can never start a new segment, a query or a fragment. `.` and
/// `..` (which a URL parser would resolve as dot segments) and the empty string are refused.
pub fn path_segment(s: &str) -> Option<String> {
    if s.is_empty() || s == "." || s == ".." {
        return None;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    Some(out)
}

/// Where and how to send one upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub url: String,
    /// Authentication and protocol headers.
    pub headers: Vec<(&'static str, String)>,
}

/// Anthropic API version sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The URL and headers for `mode` on `channel` with the upstream model name `model`.
pub fn address(
    channel: &ChannelRt,
    mode: RelayMode,
    model: &str,
    stream: bool,
) -> Result<Address, AddressError> {
    let provider = channel.provider.as_ref().map_err(|e| e.clone())?;
    let base = provider.base();
    match provider {
        Provider::OpenAi { quirks, jwt, .. } => {
            if !quirks.legacy_ops && matches!(mode, RelayMode::Completions | RelayMode::Moderations)
            {
                return Err(AddressError::Unsupported(channel.kind));
            }
            // The families beyond chat, where One Hub serves them on this wire: rerank on
            // SiliconFlow and the Rerank type, images on the full API and xAI, speech on the
            // full API and SiliconFlow.
            let served = match mode {
                RelayMode::Rerank => matches!(channel.kind, 45 | 48),
                RelayMode::ImagesGenerations => quirks.full_api || channel.kind == 56,
                RelayMode::Speech | RelayMode::Transcriptions => {
                    quirks.full_api || channel.kind == 45
                }
                RelayMode::ImagesEdits | RelayMode::ImagesVariations | RelayMode::Translations => {
                    quirks.full_api
                }
                _ => true,
            };
            if !served {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let v1 = if quirks.v1 { "/v1" } else { "" };
            let url = match channel.customize.get(mode.onehub_code()) {
                Some(path) if !path.is_empty() => format!("{base}{path}"),
                _ => format!("{base}{v1}{}", mode.path()),
            };
            // Zhipu: the JWT is signed when the request is sent (`send`).
            let headers = if jwt.is_some() {
                Vec::new()
            } else {
                vec![("authorization", format!("Bearer {}", channel.key))]
            };
            Ok(Address { url, headers })
        }
        Provider::Azure { api_version, .. } => {
            if mode == RelayMode::Rerank {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let model = path_segment(model).ok_or_else(|| AddressError::BadModel(model.into()))?;
            let url = format!(
                "{base}/openai/deployments/{model}{}?api-version={api_version}",
                mode.path()
            );
            Ok(Address {
                url,
                headers: vec![("api-key", channel.key.clone())],
            })
        }
        Provider::AzureV1 { api_version, .. } => {
            if matches!(mode, RelayMode::Moderations | RelayMode::Rerank) {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let query = if api_version.is_empty() {
                String::new()
            } else {
                format!("?api-version={api_version}")
            };
            Ok(Address {
                url: format!("{base}/openai/v1{}{query}", mode.path()),
                headers: vec![
                    ("api-key", channel.key.clone()),
                    ("authorization", format!("Bearer {}", channel.key)),
                ],
            })
        }
        Provider::Databricks { .. } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let model = path_segment(model).ok_or_else(|| AddressError::BadModel(model.into()))?;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("token:{}", channel.key));
            Ok(Address {
                url: format!("{base}/serving-endpoints/{model}/invocations"),
                headers: vec![("authorization", format!("Basic {token}"))],
            })
        }
        Provider::Anthropic { .. } => match mode {
            RelayMode::Chat => Ok(Address {
                url: format!("{base}/v1/messages"),
                headers: vec![
                    ("x-api-key", channel.key.clone()),
                    ("anthropic-version", ANTHROPIC_VERSION.to_owned()),
                ],
            }),
            _ => Err(AddressError::Unsupported(channel.kind)),
        },
        Provider::Vertex {
            region, project, ..
        } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let (publisher, name, action) = if model.starts_with("gemini") {
                let action = if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                };
                ("google", model.to_owned(), action)
            } else if model.starts_with("claude") {
                let action = if stream {
                    "streamRawPredict"
                } else {
                    "rawPredict"
                };
                ("anthropic", crate::vertex::claude_model(model), action)
            } else {
                return Err(AddressError::Unsupported(channel.kind));
            };
            // `@` (Claude versions on Vertex) is a valid path character; keep it readable.
            let name = path_segment(&name)
                .ok_or_else(|| AddressError::BadModel(model.into()))?
                .replace("%40", "@");
            Ok(Address {
                url: format!(
                    "{base}/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{name}:{action}"
                ),
                // The bearer token is added when the request is sent (`send`).
                headers: Vec::new(),
            })
        }
        Provider::Bedrock { auth, .. } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let id =
                crate::bedrock::model_id(model).ok_or(AddressError::Unsupported(channel.kind))?;
            let id = path_segment(&id).ok_or_else(|| AddressError::BadModel(model.into()))?;
            let action = if stream {
                "invoke-with-response-stream"
            } else {
                "invoke"
            };
            let headers = match auth {
                BedrockAuth::ApiKey(k) => vec![("authorization", format!("Bearer {k}"))],
                // Signed when the request is sent (`send`), over the final body.
                BedrockAuth::SigV4 { .. } => Vec::new(),
            };
            Ok(Address {
                url: format!("{base}/model/{id}/{action}"),
                headers,
            })
        }
        Provider::Hunyuan { .. } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let mut headers = vec![
                ("x-tc-action", crate::hunyuan::ACTION.to_owned()),
                ("x-tc-version", crate::hunyuan::VERSION.to_owned()),
            ];
            if stream {
                headers.push(("accept", "text/event-stream".to_owned()));
            }
            // Signed when the request is sent (`send`), over the final body.
            Ok(Address {
                url: format!("{base}/"),
                headers,
            })
        }
        Provider::Xunfei { version, .. } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let v = crate::xunfei::version(model, version.as_deref());
            let v = path_segment(v).ok_or_else(|| AddressError::BadModel(model.into()))?;
            // Signed when the request is sent (`send`): the date is part of the signature.
            Ok(Address {
                url: format!("{base}/{v}/chat"),
                headers: Vec::new(),
            })
        }
        Provider::Baidu { .. } => {
            if mode == RelayMode::Embeddings {
                let model =
                    path_segment(model).ok_or_else(|| AddressError::BadModel(model.into()))?;
                return Ok(Address {
                    url: format!("{base}/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/{model}"),
                    headers: Vec::new(),
                });
            }
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let endpoint = path_segment(crate::baidu::endpoint(model))
                .ok_or_else(|| AddressError::BadModel(model.into()))?;
            let mut headers = Vec::new();
            if stream {
                headers.push(("accept", "text/event-stream".to_owned()));
            }
            // The access token is added when the request is sent (`send`).
            Ok(Address {
                url: format!("{base}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}"),
                headers,
            })
        }
        Provider::DashScope { plugin_header, .. } => {
            let path = match mode {
                RelayMode::Chat if crate::dashscope::is_vision(model) => {
                    "/api/v1/services/aigc/multimodal-generation/generation"
                }
                RelayMode::Chat => "/api/v1/services/aigc/text-generation/generation",
                RelayMode::Embeddings => {
                    "/api/v1/services/embeddings/text-embedding/text-embedding"
                }
                _ => return Err(AddressError::Unsupported(channel.kind)),
            };
            let mut headers = vec![("authorization", format!("Bearer {}", channel.key))];
            if let Some(p) = plugin_header {
                headers.push(("x-dashscope-plugin", p.clone()));
            }
            if stream {
                headers.push(("x-dashscope-sse", "enable".to_owned()));
                headers.push(("accept", "text/event-stream".to_owned()));
            }
            Ok(Address {
                url: format!("{base}{path}"),
                headers,
            })
        }
        Provider::Coze { .. } => match mode {
            RelayMode::Chat => Ok(Address {
                url: format!("{base}/v2/chat"),
                headers: vec![("authorization", format!("Bearer {}", channel.key))],
            }),
            _ => Err(AddressError::Unsupported(channel.kind)),
        },
        Provider::Cohere { .. } => match mode {
            RelayMode::Chat => Ok(Address {
                url: format!("{base}/v2/chat"),
                headers: vec![("authorization", format!("Bearer {}", channel.key))],
            }),
            RelayMode::Rerank => Ok(Address {
                url: format!("{base}/v1/rerank"),
                headers: vec![("authorization", format!("Bearer {}", channel.key))],
            }),
            _ => Err(AddressError::Unsupported(channel.kind)),
        },
        Provider::Jina { .. } => match mode {
            RelayMode::Rerank => Ok(Address {
                url: format!("{base}/v1/rerank"),
                headers: vec![("authorization", format!("Bearer {}", channel.key))],
            }),
            _ => Err(AddressError::Unsupported(channel.kind)),
        },
        Provider::Cloudflare {
            account_id, token, ..
        } => {
            if mode != RelayMode::Chat {
                return Err(AddressError::Unsupported(channel.kind));
            }
            let model = crate::cloudflare::model_path(model)
                .ok_or_else(|| AddressError::BadModel(model.into()))?;
            let url = if base.contains("%s") {
                base.replacen("%s", account_id, 1).replacen("%s", &model, 1)
            } else {
                format!("{base}/client/v4/accounts/{account_id}/ai/run/{model}")
            };
            Ok(Address {
                url,
                headers: vec![("authorization", format!("Bearer {}", token.0))],
            })
        }
        Provider::Ollama { .. } => {
            let path = match mode {
                RelayMode::Chat => "/api/chat",
                RelayMode::Embeddings => "/api/embed",
                _ => return Err(AddressError::Unsupported(channel.kind)),
            };
            let headers = if channel.key.trim().is_empty() {
                Vec::new()
            } else {
                vec![("authorization", format!("Bearer {}", channel.key))]
            };
            Ok(Address {
                url: format!("{base}{path}"),
                headers,
            })
        }
        Provider::Gemini { version, .. } => {
            let model = path_segment(model).ok_or_else(|| AddressError::BadModel(model.into()))?;
            let action = match (mode, stream) {
                (RelayMode::Chat, false) => "generateContent",
                (RelayMode::Chat, true) => "streamGenerateContent?alt=sse",
                (RelayMode::Embeddings, _) => "batchEmbedContents",
                _ => return Err(AddressError::Unsupported(channel.kind)),
            };
            Ok(Address {
                url: format!("{base}/{version}/models/{model}:{action}"),
                headers: vec![("x-goog-api-key", channel.key.clone())],
            })
        }
    }
}

/// Applies the channel's rewrites to a parsed request body: upstream model name,
/// `custom_parameter` (top-level keys override), and `stream_options.include_usage` forced on
/// for streamed OpenAI-family requests. Returns whether the client had asked for usage.
pub fn prepare_body(
    body: &mut Map<String, Value>,
    channel: &ChannelRt,
    upstream_model: &str,
    stream: bool,
) -> bool {
    body.insert("model".to_owned(), Value::String(upstream_model.to_owned()));
    if let Some(extra) = &channel.custom_parameter {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    let mut vendor = Map::new();
    vendor_fields(channel, body, upstream_model, &mut vendor);
    body.extend(vendor);
    let removed = removed_fields(channel, stream, upstream_model);
    let mut client_asked = false;
    if stream && removed.contains(&"stream_options") {
        client_asked = asked_usage(body.get("stream_options"));
    } else if stream {
        let opts = body
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if !opts.is_object() {
            *opts = Value::Object(Map::new());
        }
        if let Some(o) = opts.as_object_mut() {
            client_asked = o
                .get("include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            o.insert("include_usage".to_owned(), Value::Bool(true));
        }
    }
    for k in removed {
        body.remove(*k);
    }
    client_asked
}

/// The client's bytes as they came, when an OpenAI request to an OpenAI-wire channel needs
/// nothing changed: the model name is the upstream's, the channel adds no custom parameters or
/// vendor fields and removes no field the body has, and it does not stream (a stream gets
/// `stream_options.include_usage`). The same request [`openai_body`] would send, without
/// building and re-serialising the body's JSON map.
pub fn openai_body_unchanged(
    body: &crate::body::ReqBody,
    channel: &ChannelRt,
    upstream_model: &str,
    stream: bool,
) -> Option<bytes::Bytes> {
    if stream {
        return None;
    }
    let raw = body.unchanged_raw()?;
    if body.field("model").and_then(Value::as_str) != Some(upstream_model) {
        return None;
    }
    if channel
        .custom_parameter
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return None;
    }
    if let Ok(Provider::OpenAi {
        quirks, routing, ..
    }) = &channel.provider
        && (routing.is_some() || quirks.open_unit_sampling || quirks.tool_parameters_as_text)
    {
        return None;
    }
    if removed_fields(channel, stream, upstream_model)
        .iter()
        .any(|k| body.has_key(k))
    {
        return None;
    }
    Some(raw.clone())
}

/// The OpenAI body for an OpenAI upstream, serialised straight from the client's parsed body:
/// the same result as [`prepare_body`] on a copy, without copying the body (the hot path of an
/// OpenAI → OpenAI relay). Returns the bytes and whether the client asked for usage.
pub fn openai_body(
    body: &Map<String, Value>,
    channel: &ChannelRt,
    upstream_model: &str,
    stream: bool,
) -> Result<(Vec<u8>, bool), serde_json::Error> {
    // What replaces or adds to the client's fields, in prepare_body's order.
    let mut over = Map::new();
    over.insert("model".to_owned(), Value::String(upstream_model.to_owned()));
    if let Some(extra) = &channel.custom_parameter {
        for (k, v) in extra {
            over.insert(k.clone(), v.clone());
        }
    }
    let mut vendor = Map::new();
    vendor_fields(channel, body, upstream_model, &mut vendor);
    over.extend(vendor);
    let removed = removed_fields(channel, stream, upstream_model);
    let mut client_asked = false;
    if stream && removed.contains(&"stream_options") {
        client_asked = asked_usage(
            over.get("stream_options")
                .or_else(|| body.get("stream_options")),
        );
    } else if stream {
        let mut opts = match over
            .get("stream_options")
            .or_else(|| body.get("stream_options"))
        {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        client_asked = opts
            .get("include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        opts.insert("include_usage".to_owned(), Value::Bool(true));
        over.insert("stream_options".to_owned(), Value::Object(opts));
    }
    struct Merged<'a>(
        &'a Map<String, Value>,
        &'a Map<String, Value>,
        &'a [&'a str],
    );
    impl serde::Serialize for Merged<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (body, over, removed) = (self.0, self.1, self.2);
            s.collect_map(
                body.iter()
                    .filter(|(k, _)| !over.contains_key(k.as_str()))
                    .chain(over.iter())
                    .filter(|(k, _)| !removed.contains(&k.as_str())),
            )
        }
    }
    Ok((
        serde_json::to_vec(&Merged(body, &over, removed))?,
        client_asked,
    ))
}

/// Fields of the OpenAI body this channel's upstream must not receive: `stream_options` in
/// requests that do not stream (OpenAI refuses it there) and in streams for vendors that refuse
/// it ([`hub_core::provider::OpenAiQuirks::stream_usage`]),
/// the sampling fields Grok's reasoning models refuse, and `model` for Databricks (the
/// serving endpoint is in the URL). The other families take
/// what they need from the intermediate body when converting.
fn removed_fields(channel: &ChannelRt, stream: bool, model: &str) -> &'static [&'static str] {
    const GROK_4: &[&str] = &[
        "stream_options",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "reasoning_effort",
    ];
    const GROK_3_MINI: &[&str] = &[
        "stream_options",
        "stop",
        "frequency_penalty",
        "presence_penalty",
    ];
    match (&channel.provider, stream) {
        (Ok(Provider::OpenAi { quirks, .. }), _)
            if quirks.grok_reasoning_limits && model.starts_with("grok-4") =>
        {
            GROK_4
        }
        (Ok(Provider::OpenAi { quirks, .. }), _)
            if quirks.grok_reasoning_limits && model.starts_with("grok-3-mini") =>
        {
            GROK_3_MINI
        }
        (Ok(Provider::OpenAi { quirks, .. }), true) if !quirks.stream_usage => &["stream_options"],
        (Ok(Provider::Databricks { .. }), _) => &["model", "stream_options"],
        // OpenAI refuses `stream_options` on a request that does not stream: a client that
        // sends it with `stream: false` would get a 400 for nothing.
        (_, false) => &["stream_options"],
        _ => &[],
    }
}

/// Fields a vendor needs rewritten or added, given the body as it stands: OpenRouter's routing
/// preferences for the model's vendor (`provider`, unless the client chose its own), MiniMax's
/// tool parameters as JSON text.
fn vendor_fields(
    channel: &ChannelRt,
    body: &Map<String, Value>,
    upstream_model: &str,
    out: &mut Map<String, Value>,
) {
    let Ok(Provider::OpenAi {
        quirks, routing, ..
    }) = &channel.provider
    else {
        return;
    };
    if let Some(routing) = routing
        && !body.contains_key("provider")
        && let Some((vendor, _)) = upstream_model.split_once('/')
        && let Some(prefs) = routing.get(vendor)
    {
        out.insert("provider".to_owned(), prefs.clone());
    }
    if quirks.open_unit_sampling {
        for k in ["temperature", "top_p"] {
            if let Some(v) = out.get(k).or_else(|| body.get(k)).and_then(Value::as_f64) {
                out.insert(k.to_owned(), Value::from(v.clamp(0.01, 0.99)));
            }
        }
    }
    if quirks.tool_parameters_as_text
        && let Some(Value::Array(tools)) = out.get("tools").or_else(|| body.get("tools"))
    {
        let mut tools = tools.clone();
        for t in &mut tools {
            if let Some(p) = t.pointer_mut("/function/parameters")
                && p.is_object()
            {
                *p = Value::String(p.to_string());
            }
        }
        out.insert("tools".to_owned(), Value::Array(tools));
    }
}

/// `stream_options.include_usage` as the client sent it.
fn asked_usage(opts: Option<&Value>) -> bool {
    opts.and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// One pooled HTTP client per proxy setting (HTTP/2 negotiated where the upstream offers it).
#[derive(Debug)]
pub struct Clients {
    connect_timeout: Duration,
    total_timeout: Option<Duration>,
    by_proxy: Mutex<HashMap<String, reqwest::Client>>,
    /// Parsed upstream URLs (a channel's few endpoints), so a request does not parse its URL.
    uris: Mutex<HashMap<String, http::Uri>>,
    /// hyper's client for channels without a proxy (`None` when TLS could not be set up:
    /// reqwest serves them then).
    direct: Option<crate::direct::DirectClient>,
    /// Vertex AI access tokens, per service account.
    pub tokens: crate::vertex::Tokens,
    /// Zhipu JWTs, per API key id.
    pub zhipu: crate::zhipu::Jwts,
    /// Baidu access tokens, per API key.
    pub baidu: crate::token_cache::TokenCache<crate::baidu::TokenError>,
}

/// The URL cache is cleared when it reaches this many entries (Gemini URLs embed the model).
const MAX_CACHED_URLS: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("invalid channel proxy: {0}")]
pub struct ProxyError(String);

impl Clients {
    /// `CONNECT_TIMEOUT` and `RELAY_TIMEOUT` (0 = none).
    pub fn new(connect_timeout_secs: u64, relay_timeout_secs: u64) -> Self {
        Self {
            connect_timeout: Duration::from_secs(connect_timeout_secs.max(1)),
            total_timeout: (relay_timeout_secs > 0)
                .then(|| Duration::from_secs(relay_timeout_secs)),
            by_proxy: Mutex::new(HashMap::new()),
            uris: Mutex::new(HashMap::new()),
            direct: match crate::direct::build(Duration::from_secs(connect_timeout_secs.max(1))) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the direct upstream client could not be set up; reqwest serves every channel");
                    None
                }
            },
            tokens: crate::vertex::Tokens::default(),
            zhipu: crate::zhipu::Jwts::default(),
            baidu: crate::token_cache::TokenCache::default(),
        }
    }

    /// `CONNECT_TIMEOUT`.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `url` as an `http::Uri`, from the cache when seen before.
    fn uri(&self, url: &str) -> Option<http::Uri> {
        let mut map = self.uris.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = map.get(url) {
            return Some(u.clone());
        }
        let parsed = http::Uri::try_from(url).ok()?;
        // Only absolute http(s) URLs.
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return None;
        }
        if map.len() >= MAX_CACHED_URLS {
            map.clear();
        }
        map.insert(url.to_owned(), parsed.clone());
        Some(parsed)
    }

    /// The client for `proxy` ("" = direct), built once and reused.
    pub fn get(&self, proxy: &str) -> Result<reqwest::Client, ProxyError> {
        let mut map = self.by_proxy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(proxy) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            // An API answer is never followed elsewhere: a redirect is relayed as the
            // upstream's answer, and the channel's credentials go to its own host only.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy();
        if let Some(t) = self.total_timeout {
            b = b.timeout(t);
        }
        if !proxy.is_empty() {
            let p =
                reqwest::Proxy::all(proxy).map_err(|_| ProxyError(hub_core::redact::url(proxy)))?;
            b = b.proxy(p);
        }
        let client = b.build().map_err(|e| ProxyError(e.to_string()))?;
        map.insert(proxy.to_owned(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use hub_core::entity::Channel;

    use super::*;

    fn rt(kind: i64, base: &str, other: &str) -> ChannelRt {
        ChannelRt::from_channel(&Channel {
            id: 1,
            kind,
            key: "k".into(),
            base_url: Some(base.into()),
            other: other.into(),
            ..Default::default()
        })
    }

    #[test]
    fn addresses() {
        let a = address(&rt(1, "", ""), RelayMode::Chat, "m", false).unwrap();
        assert_eq!(a.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(a.headers, vec![("authorization", "Bearer k".to_owned())]);
        let a = address(
            &rt(28, "http://x:1/", ""),
            RelayMode::Embeddings,
            "m",
            false,
        )
        .unwrap();
        assert_eq!(a.url, "http://x:1/v1/embeddings", "trailing slash trimmed");
        let a = address(
            &rt(3, "https://az.example", "2024-06-01"),
            RelayMode::Chat,
            "gpt4",
            false,
        )
        .unwrap();
        assert_eq!(
            a.url,
            "https://az.example/openai/deployments/gpt4/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(a.headers[0].0, "api-key");
        assert!(matches!(
            address(&rt(8, "", ""), RelayMode::Chat, "m", false),
            Err(AddressError::Unserved(Unserved::Invalid(_)))
        ));
        let a = address(&rt(14, "", ""), RelayMode::Chat, "claude-x", true).unwrap();
        assert_eq!(a.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(
            a.headers[1],
            ("anthropic-version", ANTHROPIC_VERSION.to_owned())
        );
        assert!(matches!(
            address(&rt(14, "", ""), RelayMode::Embeddings, "m", false),
            Err(AddressError::Unsupported(14))
        ));
        let a = address(&rt(25, "", ""), RelayMode::Chat, "gemini-2.0-flash", true).unwrap();
        assert_eq!(
            a.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            a.headers,
            vec![("x-goog-api-key", "k".to_owned())],
            "the key never goes in the URL"
        );
        let mut custom = rt(8, "http://c", "");
        custom.customize.insert("1".into(), "/api/chat".into());
        assert_eq!(
            address(&custom, RelayMode::Chat, "m", false).unwrap().url,
            "http://c/api/chat"
        );
    }

    #[test]
    fn models_and_versions_are_one_encoded_segment() {
        assert_eq!(
            path_segment("gemini-2.0-flash").unwrap(),
            "gemini-2.0-flash"
        );
        assert_eq!(
            path_segment("g/../p?x#y%2F:z \u{7f}é").unwrap(),
            "g%2F..%2Fp%3Fx%23y%252F%3Az%20%7F%C3%A9"
        );
        for dot in ["", ".", ".."] {
            assert_eq!(path_segment(dot), None, "{dot:?}");
        }
        let a = address(
            &rt(25, "http://g", ""),
            RelayMode::Chat,
            "gflash/../gpro",
            false,
        )
        .unwrap();
        assert_eq!(
            a.url,
            "http://g/v1beta/models/gflash%2F..%2Fgpro:generateContent"
        );
        let a = address(&rt(3, "http://az", ""), RelayMode::Chat, "d?x=1#f", false).unwrap();
        assert_eq!(
            a.url,
            "http://az/openai/deployments/d%3Fx%3D1%23f/chat/completions?api-version=2024-10-21"
        );
        for kind in [3, 25] {
            assert_eq!(
                address(&rt(kind, "http://x", ""), RelayMode::Chat, "..", false),
                Err(AddressError::BadModel("..".into()))
            );
            for version in ["v1/../x", "v1?a=b", "2024&x=1", "..", "v 1"] {
                assert!(
                    matches!(
                        address(&rt(kind, "http://x", version), RelayMode::Chat, "m", false),
                        Err(AddressError::Unserved(Unserved::Invalid(_)))
                    ),
                    "{version}"
                );
            }
        }
    }

    #[test]
    fn error_fields_are_all_masked() {
        let secrets = hub_core::redact::Secrets::of_channel("sk-live-0123456789", "");
        let body = br#"{"error":{"message":"bad sk-live-0123456789","type":"sk-live-0123456789","code":{"k":"sk-live-0123456789"}}}"#;
        let (msg, kind, code) = error_message(body, &secrets).unwrap();
        let all = format!("{msg} {kind:?} {code:?}");
        assert!(!all.contains("0123456789"), "{all}");
        let ok = bytes::Bytes::from_static(br#"{"id":"x","choices":[]}"#);
        assert_eq!(mask_error_body(ok.clone(), &secrets), ok);
        let bad = bytes::Bytes::from_static(br#"{"error":"sk-live-0123456789"}"#);
        assert_eq!(&mask_error_body(bad, &secrets)[..], br#"{"error":"***"}"#);
    }

    #[test]
    fn body_rewrites() {
        let mut c = rt(1, "", "");
        c.custom_parameter =
            Some(serde_json::from_str(r#"{"temperature":0.1,"extra":true}"#).unwrap());
        let mut body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"a","temperature":1,"unknown_field":{"x":1},"stream":true}"#,
        )
        .unwrap();
        let asked = prepare_body(&mut body, &c, "b", true);
        assert!(!asked);
        assert_eq!(body["model"], "b");
        assert_eq!(body["temperature"], 0.1);
        assert_eq!(
            body["unknown_field"]["x"], 1,
            "unknown fields are preserved"
        );
        assert_eq!(body["stream_options"]["include_usage"], true);
        let mut body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"a","stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert!(prepare_body(&mut body, &rt(1, "", ""), "a", true));
    }

    #[test]
    fn azure_v1_and_databricks() {
        let a = address(
            &rt(55, "https://az", "preview"),
            RelayMode::Chat,
            "gpt",
            true,
        )
        .unwrap();
        assert_eq!(
            a.url,
            "https://az/openai/v1/chat/completions?api-version=preview"
        );
        assert_eq!(
            a.headers,
            vec![
                ("api-key", "k".to_owned()),
                ("authorization", "Bearer k".to_owned())
            ]
        );
        let a = address(&rt(55, "https://az", ""), RelayMode::Embeddings, "e", false).unwrap();
        assert_eq!(
            a.url, "https://az/openai/v1/embeddings",
            "no version, no query"
        );
        assert_eq!(
            address(
                &rt(55, "https://az", ""),
                RelayMode::Moderations,
                "m",
                false
            ),
            Err(AddressError::Unsupported(55))
        );
        assert!(matches!(
            address(&rt(55, "", ""), RelayMode::Chat, "m", false),
            Err(AddressError::Unserved(_))
        ));
        let a = address(
            &rt(54, "https://adb.example", ""),
            RelayMode::Chat,
            "my/ep",
            false,
        )
        .unwrap();
        assert_eq!(
            a.url,
            "https://adb.example/serving-endpoints/my%2Fep/invocations"
        );
        // base64("token:k")
        assert_eq!(
            a.headers,
            vec![("authorization", "Basic dG9rZW46aw==".to_owned())]
        );
        assert_eq!(
            address(
                &rt(54, "https://adb", ""),
                RelayMode::Embeddings,
                "m",
                false
            ),
            Err(AddressError::Unsupported(54))
        );
        let mut body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#,
        )
        .unwrap();
        assert!(prepare_body(
            &mut body,
            &rt(54, "http://db", ""),
            "ep",
            true
        ));
        assert_eq!(
            body.keys().collect::<Vec<_>>(),
            vec!["messages", "stream"],
            "no model, no stream_options"
        );
    }

    #[test]
    fn vendor_quirks() {
        // GitHub Models: no `/v1`, and no stream_options.
        let a = address(&rt(49, "", ""), RelayMode::Chat, "m", true).unwrap();
        assert_eq!(
            a.url,
            "https://models.inference.ai.azure.com/chat/completions"
        );
        let a = address(&rt(49, "", ""), RelayMode::Embeddings, "m", false).unwrap();
        assert_eq!(a.url, "https://models.inference.ai.azure.com/embeddings");
        for mode in [RelayMode::Completions, RelayMode::Moderations] {
            assert_eq!(
                address(&rt(49, "", ""), mode, "m", false),
                Err(AddressError::Unsupported(49))
            );
        }
        for kind in [30, 33, 49] {
            let mut body: Map<String, Value> = serde_json::from_str(
                r#"{"model":"a","stream":true,"stream_options":{"include_usage":true}}"#,
            )
            .unwrap();
            assert!(
                prepare_body(&mut body, &rt(kind, "", ""), "a", true),
                "{kind}"
            );
            assert!(!body.contains_key("stream_options"), "{kind}: {body:?}");
            let mut body: Map<String, Value> =
                serde_json::from_str(r#"{"model":"a","stream":true}"#).unwrap();
            assert!(!prepare_body(&mut body, &rt(kind, "", ""), "a", true));
            assert!(!body.contains_key("stream_options"));
        }
        // Not streamed: OpenAI refuses `stream_options` without `stream`, so it is not sent.
        for kind in [1, 30] {
            let mut body: Map<String, Value> =
                serde_json::from_str(r#"{"model":"a","stream_options":{"x":1}}"#).unwrap();
            prepare_body(&mut body, &rt(kind, "", ""), "a", false);
            assert!(!body.contains_key("stream_options"), "{kind}: {body:?}");
        }
    }

    #[test]
    fn openai_body_equals_prepare_body_on_a_copy() {
        let mut custom = rt(1, "", "");
        custom.custom_parameter = Some(
            serde_json::from_value(serde_json::json!({"temperature": 0.1, "model": "forced", "stream_options": {"x": 1}}))
                .unwrap(),
        );
        let bodies = [
            serde_json::json!({"model": "a", "messages": [], "unknown": {"k": [1, 2]}}),
            serde_json::json!({"model": "a", "stream": true, "stream_options": {"include_usage": true, "y": 2}}),
            serde_json::json!({"model": "a", "stream": true, "stream_options": "bad"}),
            // The upstream's own model name: nothing to change on a plain channel.
            serde_json::json!({"model": "up", "messages": [{"role": "user", "content": "x"}]}),
            serde_json::json!({"model": "up", "stream_options": {"include_usage": true}}),
        ];
        let mut raw_sent = 0;
        let mut mistral_custom = rt(30, "", "");
        mistral_custom.custom_parameter = custom.custom_parameter.clone();
        let mut databricks_custom = rt(54, "http://db", "");
        databricks_custom.custom_parameter = custom.custom_parameter.clone();
        for channel in [
            rt(1, "", ""),
            custom,
            rt(30, "", ""),
            mistral_custom,
            rt(54, "http://db", ""),
            databricks_custom,
        ] {
            for b in &bodies {
                for stream in [false, true] {
                    let Value::Object(map) = b.clone() else {
                        unreachable!()
                    };
                    let mut copy = map.clone();
                    let asked = prepare_body(&mut copy, &channel, "up", stream);
                    let (bytes, asked2) = openai_body(&map, &channel, "up", stream).unwrap();
                    let got: Value = serde_json::from_slice(&bytes).unwrap();
                    assert_eq!(got, Value::Object(copy.clone()), "{b} stream={stream}");
                    assert_eq!(asked, asked2);
                    // The client's bytes are sent as they are only when they are that body.
                    let req = crate::body::ReqBody::parse(b.to_string().into()).unwrap();
                    if let Some(raw) = openai_body_unchanged(&req, &channel, "up", stream) {
                        let sent: Value = serde_json::from_slice(&raw).unwrap();
                        assert_eq!(sent, Value::Object(copy), "{b} stream={stream}");
                        assert!(!asked);
                        raw_sent += 1;
                    }
                }
            }
        }
        // The plain OpenAI and Mistral channels, the body already naming "up", not streamed.
        assert_eq!(raw_sent, 2);
    }
}

/// Why a request did not get an HTTP answer from the upstream.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SendError {
    #[error("cannot connect to the upstream: {0}")]
    Connect(String),
    #[error("the upstream did not answer in time")]
    Timeout,
    #[error("upstream request failed: {0}")]
    Other(String),
    /// The channel's credentials could not be turned into a request's authorization (an OAuth
    /// token exchange failed, a signature could not be made).
    #[error("the channel's credentials cannot be used: {0}")]
    Credentials(String),
}

impl SendError {
    fn from_reqwest(e: reqwest::Error) -> Self {
        let e = e.without_url();
        // A connection not set up in time never reached the upstream: a connection failure
        // (another channel may serve), not a timeout of a request the upstream may be serving.
        if e.is_connect() {
            SendError::Connect(root_cause(&e))
        } else if e.is_timeout() {
            SendError::Timeout
        } else {
            SendError::Other(root_cause(&e))
        }
    }
}

/// The innermost cause of an error, as text.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An upstream answer whose headers have arrived.
pub struct Upstream {
    body: Body,
}

enum Body {
    Http(reqwest::Response),
    /// An answer through the direct client; the body is read by the relay timeout's deadline.
    Direct {
        resp: http::Response<hyper::body::Incoming>,
        deadline: Option<tokio::time::Instant>,
    },
    /// An error answer made from a non-HTTP exchange (a refused WebSocket handshake, an error
    /// frame): its status and OpenAI-shaped body.
    Fixed {
        status: u16,
        body: bytes::Bytes,
    },
    /// Xunfei Spark's answer frames, as they arrive.
    Frames(crate::xunfei::Frames),
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.body {
            Body::Http(r) => f.debug_tuple("Upstream").field(r).finish(),
            Body::Direct { resp, .. } => f.debug_tuple("Upstream").field(resp).finish(),
            Body::Fixed { status, .. } => write!(f, "Upstream(error {status})"),
            Body::Frames(_) => f.write_str("Upstream(frames)"),
        }
    }
}

fn baidu_cache_key(base: &str, api_key: &str, secret: &str) -> String {
    format!("{base}\n{api_key}\n{secret}")
}

/// After an answer that says the channel's cached access token is no longer valid (Baidu's
/// 110/111), forgets that token so the next request exchanges a new one.
pub fn token_refused(clients: &Clients, channel: &ChannelRt, body: &[u8]) {
    if let Ok(Provider::Baidu {
        base,
        api_key,
        secret,
    }) = &channel.provider
        && crate::baidu::token_rejected(body)
    {
        tracing::info!(
            channel = channel.id,
            "Baidu refused the cached access token; it will be exchanged again"
        );
        clients
            .baidu
            .forget(&baidu_cache_key(base, api_key, &secret.0));
    }
}

/// Where an OpenAI object-API request (`/v1/files…`, `/v1/batches…`, …) goes on a channel: the
/// same path and query on an OpenAI-type channel (OpenAI, Custom, the generic types), or
/// `/openai/<path without /v1>?api-version=` on Azure; `None` for other types. The auth headers
/// come with it.
pub fn passthrough_address(
    channel: &ChannelRt,
    path: &str,
    query: Option<&str>,
) -> Option<(String, Vec<(&'static str, String)>)> {
    let q = query.filter(|q| !q.is_empty());
    match channel.provider.as_ref().ok()? {
        Provider::OpenAi { base, quirks, .. } if quirks.full_api => Some((
            match q {
                Some(q) => format!("{base}{path}?{q}"),
                None => format!("{base}{path}"),
            },
            vec![("authorization", format!("Bearer {}", channel.key))],
        )),
        Provider::Azure { base, api_version } => {
            let rest = path.strip_prefix("/v1").unwrap_or(path);
            let extra = q.map(|q| format!("&{q}")).unwrap_or_default();
            Some((
                format!("{base}/openai{rest}?api-version={api_version}{extra}"),
                vec![("api-key", channel.key.clone())],
            ))
        }
        _ => None,
    }
}

/// Sends a request as the caller made it (method, headers given, body streamed) to `url`
/// through the channel's proxy client; for the object APIs passed on as they are.
pub async fn send_raw(
    clients: &Clients,
    channel: &ChannelRt,
    method: reqwest::Method,
    url: &str,
    headers: Vec<(String, String)>,
    body: impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) -> Result<Upstream, SendError> {
    let body = reqwest::Body::wrap_stream(body);
    let client = clients
        .get(&channel.proxy)
        .map_err(|e| SendError::Other(e.to_string()))?;
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(&v),
        ) {
            map.insert(n, v);
        }
    }
    let resp = client
        .request(method, url)
        .headers(map)
        .body(body)
        .send()
        .await
        .map_err(SendError::from_reqwest)?;
    Ok(Upstream {
        body: Body::Http(resp),
    })
}

impl Upstream {
    /// The upstream's response headers worth passing on to the caller (content type and
    /// disposition, OpenAI's request id and rate-limit headers).
    pub fn passable_headers(&self) -> Vec<(String, String)> {
        let headers = match &self.body {
            Body::Http(r) => r.headers(),
            Body::Direct { resp, .. } => resp.headers(),
            _ => return Vec::new(),
        };
        headers
            .iter()
            .filter(|(n, _)| {
                let n = n.as_str();
                matches!(
                    n,
                    "content-type"
                        | "content-disposition"
                        | "openai-processing-ms"
                        | "x-request-id"
                ) || n.starts_with("x-ratelimit-")
            })
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect()
    }
}

/// Xunfei: signs the URL with the moment's date and exchanges frames over a WebSocket.
async fn send_xunfei(
    clients: &Clients,
    channel: &ChannelRt,
    addr: &Address,
    api_key: &str,
    api_secret: &str,
    body: Vec<u8>,
) -> Result<Upstream, SendError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let url = crate::xunfei::signed_url(
        &addr.url,
        api_key,
        api_secret,
        &crate::xunfei::http_date(now),
    )
    .ok_or_else(|| SendError::Other("the channel's base URL is not a valid URL".to_owned()))?;
    use crate::xunfei::{OpenError, Opened};
    match crate::xunfei::open(
        &url,
        &channel.proxy,
        body,
        clients.connect_timeout,
        clients.total_timeout,
    )
    .await
    {
        Ok(Opened::Refused { status, body }) => Ok(Upstream {
            body: Body::Fixed { status, body },
        }),
        Ok(Opened::Frames(f)) => Ok(Upstream {
            body: Body::Frames(f),
        }),
        Err(OpenError::Timeout) => Err(SendError::Timeout),
        Err(OpenError::Connect(e)) => Err(SendError::Connect(e)),
        Err(OpenError::Other(e)) => Err(SendError::Other(e)),
    }
}

/// Sets header `k` to `v`, replacing one of the same name; a name or value that HTTP cannot
/// carry is skipped.
pub(crate) fn put_header(headers: &mut reqwest::header::HeaderMap, k: &str, v: &str) {
    if let (Ok(n), Ok(v)) = (
        reqwest::header::HeaderName::from_bytes(k.as_bytes()),
        reqwest::header::HeaderValue::from_str(v),
    ) {
        headers.insert(n, v);
    }
}

/// The channel's own headers: `model_headers`, and Ollama's `plugin.headers`. The gateway's
/// protocol and auth headers are put over them.
pub(crate) fn channel_headers(channel: &ChannelRt) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &channel.model_headers {
        put_header(&mut headers, k, v);
    }
    if let Ok(Provider::Ollama { headers: extra, .. }) = &channel.provider {
        for (k, v) in extra {
            put_header(&mut headers, k, v);
        }
    }
    headers
}

/// Sends `body` to `url` through the channel's proxy client with the channel's headers.
pub async fn send(
    clients: &Clients,
    channel: &ChannelRt,
    addr: &Address,
    body: Vec<u8>,
) -> Result<Upstream, SendError> {
    if let Ok(Provider::Xunfei {
        api_key,
        api_secret,
        ..
    }) = &channel.provider
    {
        return send_xunfei(clients, channel, addr, &api_key.0, &api_secret.0, body).await;
    }
    // reqwest's client for this proxy: token exchanges and the proxied send (not needed on the
    // direct path of most requests).
    let reqwest_client = || {
        clients
            .get(&channel.proxy)
            .map_err(|e| SendError::Other(e.to_string()))
    };
    let mut target = std::borrow::Cow::Borrowed(addr.url.as_str());
    if let Ok(Provider::Baidu {
        base,
        api_key,
        secret,
    }) = &channel.provider
    {
        let token = clients
            .baidu
            .get(
                &baidu_cache_key(base, api_key, &secret.0),
                "Baidu access token exchange",
                || async {
                    let client =
                        reqwest_client().map_err(|e| crate::baidu::TokenError(e.to_string()))?;
                    crate::baidu::exchange(&client, base, api_key, &secret.0).await
                },
            )
            .await
            .map_err(|e| SendError::Credentials(e.to_string()))?;
        target = std::borrow::Cow::Owned(with_query(&addr.url, "access_token", &token));
    }
    let bad_url = || SendError::Other("the channel's base URL is not a valid URL".to_owned());
    let uri = clients.uri(&target).ok_or_else(bad_url)?;
    let content_type = match &channel.provider {
        Ok(Provider::Hunyuan { .. }) => crate::hunyuan::CONTENT_TYPE,
        _ => "application/json",
    };
    // The channel's own headers first; then the gateway's protocol and auth headers, which
    // replace any of the same name: auth always wins, as in One Hub.
    let mut headers = channel_headers(channel);
    let mut put = |k: &str, v: &str| put_header(&mut headers, k, v);
    put("content-type", content_type);
    for (k, v) in &addr.headers {
        put(k, v);
    }
    match &channel.provider {
        Ok(Provider::Hunyuan {
            secret_id,
            secret_key,
            ..
        }) => {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let host = match (uri.host(), uri.port_u16()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            };
            put("x-tc-timestamp", &ts.to_string());
            put(
                "authorization",
                &crate::hunyuan::authorization(secret_id, &secret_key.0, &host, &body, ts),
            );
        }
        Ok(Provider::OpenAi { jwt: Some(k), .. }) => {
            put("authorization", &clients.zhipu.token(k));
        }
        Ok(Provider::Vertex { account, .. }) => {
            let token = clients
                .tokens
                .bearer(&reqwest_client()?, account)
                .await
                .map_err(|e| SendError::Credentials(e.to_string()))?;
            put("authorization", &format!("Bearer {token}"));
        }
        Ok(Provider::Bedrock {
            region,
            auth:
                BedrockAuth::SigV4 {
                    access_key_id,
                    secret_access_key,
                    session_token,
                },
            ..
        }) => {
            let creds = crate::bedrock::SigV4 {
                region,
                access_key_id,
                secret_access_key,
                session_token: session_token.as_deref(),
            };
            let signed = crate::bedrock::sign_headers(
                &creds,
                &addr.url,
                &[("content-type", "application/json")],
                &body,
                std::time::SystemTime::now(),
            )
            .map_err(SendError::Credentials)?;
            for (k, v) in signed {
                put(&k, &v);
            }
        }
        _ => {}
    }
    // A base URL with credentials in it (`http://user:pass@host`) goes through reqwest, which
    // sends them as Basic authorization (unless the channel's own authorization replaces it).
    let userinfo = uri.authority().is_some_and(|a| a.as_str().contains('@'));
    if channel.proxy.is_empty()
        && !userinfo
        && let Some(direct) = &clients.direct
    {
        let deadline = clients
            .total_timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut req = http::Request::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let sent = direct.request(req);
        let resp = match deadline {
            Some(d) => tokio::time::timeout_at(d, sent)
                .await
                .map_err(|_| SendError::Timeout)?,
            None => sent.await,
        }
        .map_err(|e| match crate::direct::describe(&e) {
            (true, cause) => SendError::Connect(cause),
            (false, cause) => SendError::Other(cause),
        })?;
        return Ok(Upstream {
            body: Body::Direct { resp, deadline },
        });
    }
    // Proxied channels and base URLs with credentials (reqwest parses the URL itself).
    let url = reqwest::Url::parse(&target).map_err(|_| bad_url())?;
    let req = reqwest_client()?.post(url).headers(headers);
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(SendError::from_reqwest)?;
    Ok(Upstream {
        body: Body::Http(resp),
    })
}

/// `url` with `name=value` appended to its query (`value` percent-encoded).
fn with_query(url: &str, name: &str, value: &str) -> String {
    use std::fmt::Write as _;
    let (base, frag) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let mut out = String::with_capacity(url.len() + name.len() + value.len() + 2);
    out.push_str(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    out.push_str(name);
    out.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    if let Some(f) = frag {
        out.push('#');
        out.push_str(f);
    }
    out
}

impl Upstream {
    pub fn status(&self) -> u16 {
        match &self.body {
            Body::Http(r) => r.status().as_u16(),
            Body::Direct { resp, .. } => resp.status().as_u16(),
            Body::Fixed { status, .. } => *status,
            Body::Frames(_) => 200,
        }
    }

    pub fn content_type(&self) -> Option<String> {
        match &self.body {
            Body::Direct { resp, .. } => resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Body::Http(r) => r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Body::Fixed { .. } => Some("application/json".to_owned()),
            // Relayed as SSE events when streamed (see `into_stream`).
            Body::Frames(_) => Some("text/event-stream".to_owned()),
        }
    }

    /// The whole body (non-streamed answers and error bodies). Xunfei's frames come as one
    /// JSON array.
    pub async fn bytes(self) -> Result<bytes::Bytes, SendError> {
        use futures_util::StreamExt as _;
        match self.body {
            Body::Http(r) => r.bytes().await.map_err(SendError::from_reqwest),
            Body::Direct { resp, deadline } => crate::direct::collect(resp.into_body(), deadline)
                .await
                .map_err(|e| match e {
                    crate::direct::BodyError::Timeout => SendError::Timeout,
                    crate::direct::BodyError::Read(e) => SendError::Other(e),
                }),
            Body::Fixed { body, .. } => Ok(body),
            Body::Frames(mut frames) => {
                let mut out = vec![b'['];
                while let Some(f) = frames.next().await {
                    let f = f.map_err(SendError::Other)?;
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&f);
                }
                out.push(b']');
                Ok(bytes::Bytes::from(out))
            }
        }
    }

    /// The body as it arrives, unchanged (binary answers such as speech audio).
    pub fn into_raw_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + use<> {
        use futures_util::{StreamExt as _, TryStreamExt as _, future::Either};
        match self.body {
            Body::Http(r) => Either::Left(r.bytes_stream().map_err(std::io::Error::other)),
            Body::Direct { resp, deadline } => Either::Right(
                crate::direct::frames(resp.into_body(), deadline)
                    .map_err(std::io::Error::other)
                    .boxed(),
            ),
            Body::Fixed { body, .. } => Either::Right(
                futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) }).boxed(),
            ),
            Body::Frames(frames) => Either::Right(frames.map_err(std::io::Error::other).boxed()),
        }
    }

    /// The body as a relayed SSE stream (Xunfei's frames each as one `data:` event).
    pub fn into_stream(
        self,
        proc: Box<dyn crate::sse::StreamTransform>,
        on_end: Box<dyn FnOnce(crate::sse::StreamOutcome) + Send>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + use<> {
        use futures_util::{StreamExt as _, TryStreamExt as _, future::Either};
        let inner = match self.body {
            Body::Http(r) => Either::Left(r.bytes_stream().map_err(|e| e.to_string())),
            Body::Direct { resp, deadline } => {
                Either::Right(crate::direct::frames(resp.into_body(), deadline).boxed())
            }
            Body::Fixed { body, .. } => Either::Right(
                futures_util::stream::once(async move { Ok::<_, String>(body) }).boxed(),
            ),
            Body::Frames(frames) => Either::Right(
                frames
                    .map_ok(|f| {
                        let mut e = Vec::with_capacity(f.len() + 8);
                        e.extend_from_slice(b"data: ");
                        e.extend_from_slice(&f);
                        e.extend_from_slice(b"\n\n");
                        bytes::Bytes::from(e)
                    })
                    .boxed(),
            ),
        };
        crate::sse::RelayStream::new(inner, proc, on_end)
    }
}

/// The error message, type and code inside an upstream error body (OpenAI's
/// `{"error":{"message"}}` and similar shapes), with the channel's secrets masked in every
/// field (the whole body is masked before anything is taken from it).
pub fn error_message(
    body: &[u8],
    secrets: &Secrets,
) -> Option<(String, Option<Value>, Option<Value>)> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    secrets.mask_value(&mut v);
    // OpenAI's `{"error":{…}}`, Cloudflare's `{"errors":[{…}]}`, or the body itself.
    let err = v
        .get("error")
        .or_else(|| v.pointer("/errors/0"))
        .unwrap_or(&v);
    let msg = match err {
        Value::String(s) => s.clone(),
        // `message`, or Coze's `msg`.
        _ => err
            .get("message")
            .or_else(|| err.get("msg"))
            .and_then(Value::as_str)
            .map(str::to_owned)?,
    };
    Some((msg, err.get("type").cloned(), err.get("code").cloned()))
}

/// The `param` of an upstream error body (OpenAI's `{"error":{"param"}}`), masked like
/// [`error_message`]; One Hub disables a channel whose error names `PERMISSIONDENIED`.
pub fn error_param(body: &[u8], secrets: &Secrets) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let param = v.get("error")?.get("param")?.as_str()?;
    Some(secrets.mask_str(param).into_owned())
}

/// A 2xx non-streamed body with the channel's secrets masked when it carries an `error`
/// (some OpenAI-compatible upstreams answer errors with 200). Bodies without `"error"` are
/// returned as they are, after one byte scan.
pub fn mask_error_body(body: bytes::Bytes, secrets: &Secrets) -> bytes::Bytes {
    let has_error = crate::sse::contains(&body, b"\"error\"");
    if !has_error {
        return body;
    }
    match secrets.mask_bytes(&body) {
        Some(masked) => bytes::Bytes::from(masked),
        None => body,
    }
}
