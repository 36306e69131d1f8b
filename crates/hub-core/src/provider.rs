//! Which channel types this node serves, and each channel's provider configuration, parsed once
//! when the snapshot is built.
//!
//! A channel's `type`, `base_url` and `other` are read here and nowhere on the request path: the
//! snapshot holds a [`Provider`] (the wire family with its typed settings) or the reason the
//! channel is not served by this node ([`Unserved`]). An unserved channel is never routed to:
//! a fleet of One Hub (Go) and this gateway on one database may hold channel types we do not
//! serve (Midjourney, Suno, …), and sending those requests anywhere but to a channel we serve
//! would only turn them into errors.
//!
//! One Hub's rule for types without a provider of their own (its factory map has no entry for
//! 19, 43, 44, 46, 48 and 53, nor for ids it does not know): they are relayed as generic
//! OpenAI-compatible upstreams on `base_url`. A type One Hub serves natively that we do not
//! serve yet is *not* sent OpenAI-format requests: it is unserved.

use std::sync::Arc;

use base64::Engine as _;

use crate::channel_types::type_name;

/// The wire family a provider speaks upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's `/v1/...` API (also every OpenAI-compatible vendor).
    OpenAi,
    /// Azure OpenAI deployments (`/openai/deployments/{model}/...?api-version=`).
    Azure,
    /// Azure OpenAI v1 (`/openai/v1/...`, the model in the body).
    AzureV1,
    /// Azure Databricks serving endpoints (`/serving-endpoints/{model}/invocations`), OpenAI
    /// chat bodies.
    Databricks,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Google Vertex AI: Gemini and Claude models with a service account's OAuth token.
    Vertex,
    /// AWS Bedrock: Claude models through Bedrock's Anthropic body, SigV4 signed.
    Bedrock,
    /// Ollama's native API (`/api/chat`, `/api/embed`).
    Ollama,
    /// Cohere's v2 chat API.
    Cohere,
    /// Cloudflare Workers AI (account-scoped `ai/run/{model}`).
    Cloudflare,
    /// Coze bot chat (`/v2/chat`).
    Coze,
    /// Ali DashScope's native API (One Hub's OpenAI mode is `OpenAi` on the compatible mode).
    DashScope,
    /// Baidu Qianfan's legacy ERNIE API (One Hub's OpenAI mode is `OpenAi` on Qianfan v2).
    Baidu,
    /// Tencent Hunyuan (TC3-signed `ChatCompletions`).
    Hunyuan,
    /// Xunfei Spark: one WebSocket per request on an HMAC-signed URL.
    Xunfei,
    /// Jina: rerank only (as One Hub's Jina provider).
    Jina,
}

/// A type served natively: one row per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub kind: i64,
    pub family: Family,
    /// Origin without `/v1`, as One Hub stores base URLs; the relay appends the operation
    /// path. Empty: the channel's `base_url` is required.
    pub base: &'static str,
    /// How an OpenAI-family type differs from OpenAI's own API.
    pub quirks: OpenAiQuirks,
}

/// The differences of an OpenAI-compatible vendor from OpenAI's API, fixed per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiQuirks {
    /// Operation paths start with `/v1` (GitHub Models: they do not).
    pub v1: bool,
    /// Streamed requests carry `stream_options.include_usage` (forced on, so usage is exact);
    /// false: the field is removed (vendors that refuse it) and usage comes from the vendor's
    /// own last chunk, else it is counted locally.
    pub stream_usage: bool,
    /// The vendor offers the legacy `/completions` and `/moderations` operations (GitHub
    /// Models: chat and embeddings only).
    pub legacy_ops: bool,
    /// `completion_tokens` leaves reasoning out (xAI): completion is billed as
    /// `total_tokens − prompt_tokens`.
    pub completion_from_total: bool,
    /// `tools[].function.parameters` must be sent as a JSON *string* (MiniMax).
    pub tool_parameters_as_text: bool,
    /// Grok 4 and Grok 3 mini refuse `stop`, `frequency_penalty` and `presence_penalty`
    /// (Grok 4 also `reasoning_effort`); they are removed for those models (xAI).
    pub grok_reasoning_limits: bool,
    /// `plugin.other.provider` holds routing preferences per model vendor (OpenRouter).
    pub routing_preferences: bool,
    /// Authenticates with a JWT signed from the `id.secret` key instead of a bearer key (Zhipu).
    pub zhipu_jwt: bool,
    /// `temperature` and `top_p` are clamped to [0.01, 0.99] (Zhipu refuses 0 and 1).
    pub open_unit_sampling: bool,
    /// How the account's balance is queried (`GET /api/channel/update_balance/{id}`); `None`:
    /// the vendor offers no balance query.
    pub balance: Option<BalanceApi>,
    /// The upstream has OpenAI's whole API, not only chat: a Responses request is passed on
    /// rather than converted to chat, and images and audio are served (OpenAI, Custom and the
    /// generic types, as in One Hub).
    pub full_api: bool,
}

/// A vendor's balance endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceApi {
    /// `GET /v1/dashboard/billing/subscription` and `/usage`: `hard_limit_usd − total_usage/100`.
    OpenAiBilling,
    /// `GET /user/balance`: `balance_infos[0].total_balance` (account currency, not converted).
    DeepSeek,
    /// `GET /v1/users/me/balance`: `data.available_balance / 7` (CNY → USD at a fixed 7).
    Moonshot,
    /// `GET /v1/user/info`: `data.totalBalance` (CNY, not converted).
    SiliconFlow,
}

/// OpenAI's API as it is.
pub const OPENAI: OpenAiQuirks = OpenAiQuirks {
    v1: true,
    stream_usage: true,
    legacy_ops: true,
    completion_from_total: false,
    tool_parameters_as_text: false,
    grok_reasoning_limits: false,
    routing_preferences: false,
    zhipu_jwt: false,
    open_unit_sampling: false,
    balance: None,
    full_api: false,
};

/// OpenAI's API with OpenAI's billing endpoints (OpenAI, Custom and the generic types).
pub const OPENAI_BILLED: OpenAiQuirks = OpenAiQuirks {
    balance: Some(BalanceApi::OpenAiBilling),
    full_api: true,
    ..OPENAI
};

/// Vendors that refuse `stream_options` (One Hub removes it for them).
const NO_STREAM_OPTIONS: OpenAiQuirks = OpenAiQuirks {
    stream_usage: false,
    ..OPENAI
};

const fn row(kind: i64, family: Family, base: &'static str) -> Row {
    Row {
        kind,
        family,
        base,
        quirks: OPENAI,
    }
}

const fn quirky(kind: i64, base: &'static str, quirks: OpenAiQuirks) -> Row {
    Row {
        kind,
        family: Family::OpenAi,
        base,
        quirks,
    }
}

/// Every type served natively. Adding an OpenAI-compatible vendor is one row here (plus its
/// fixture in the provider tests).
pub const CATALOGUE: &[Row] = &[
    quirky(1, "https://api.openai.com", OPENAI_BILLED),
    row(3, Family::Azure, ""),
    quirky(8, "", OPENAI_BILLED),
    row(14, Family::Anthropic, "https://api.anthropic.com"),
    quirky(
        16,
        "https://open.bigmodel.cn/api/paas/v4",
        OpenAiQuirks {
            v1: false,
            legacy_ops: false,
            stream_usage: false,
            zhipu_jwt: true,
            open_unit_sampling: true,
            ..OPENAI
        },
    ),
    quirky(
        20,
        "https://openrouter.ai/api",
        OpenAiQuirks {
            routing_preferences: true,
            ..OPENAI
        },
    ),
    row(
        25,
        Family::Gemini,
        "https://generativelanguage.googleapis.com",
    ),
    quirky(26, "https://api.baichuan-ai.com", NO_STREAM_OPTIONS),
    quirky(
        27,
        "https://api.minimax.chat",
        OpenAiQuirks {
            stream_usage: false,
            tool_parameters_as_text: true,
            ..OPENAI
        },
    ),
    quirky(
        28,
        "https://api.deepseek.com",
        OpenAiQuirks {
            balance: Some(BalanceApi::DeepSeek),
            ..OPENAI
        },
    ),
    quirky(
        29,
        "https://api.moonshot.cn",
        OpenAiQuirks {
            balance: Some(BalanceApi::Moonshot),
            ..OPENAI
        },
    ),
    quirky(30, "https://api.mistral.ai", NO_STREAM_OPTIONS),
    quirky(31, "https://api.groq.com/openai", NO_STREAM_OPTIONS),
    quirky(33, "https://api.lingyiwanwu.com", NO_STREAM_OPTIONS),
    row(
        32,
        Family::Bedrock,
        "https://bedrock-runtime.%s.amazonaws.com",
    ),
    row(35, Family::Cloudflare, "https://api.cloudflare.com"),
    row(36, Family::Cohere, "https://api.cohere.ai"),
    row(15, Family::Baidu, "https://aip.baidubce.com"),
    row(17, Family::DashScope, "https://dashscope.aliyuncs.com"),
    row(38, Family::Coze, "https://api.coze.com/open_api"),
    row(39, Family::Ollama, "https://ollama.com"),
    row(40, Family::Hunyuan, "https://hunyuan.tencentcloudapi.com"),
    row(18, Family::Xunfei, "wss://spark-api.xf-yun.com"),
    row(47, Family::Jina, "https://api.jina.ai"),
    row(42, Family::Vertex, ""),
    quirky(
        45,
        "https://api.siliconflow.cn",
        OpenAiQuirks {
            stream_usage: false,
            balance: Some(BalanceApi::SiliconFlow),
            ..OPENAI
        },
    ),
    quirky(
        49,
        "https://models.inference.ai.azure.com",
        OpenAiQuirks {
            v1: false,
            stream_usage: false,
            legacy_ops: false,
            ..OPENAI
        },
    ),
    row(54, Family::Databricks, ""),
    row(55, Family::AzureV1, ""),
    quirky(
        56,
        "https://api.x.ai",
        // One Hub removes stream_options for xAI; xAI accepts it, and without it a stream's
        // reasoning tokens could only be estimated: it is kept (forced on).
        OpenAiQuirks {
            completion_from_total: true,
            grok_reasoning_limits: true,
            ..OPENAI
        },
    ),
];

/// Types One Hub has no factory for: relayed as generic OpenAI on the channel's `base_url`
/// (as is any type id One Hub does not know).
pub const GENERIC_TYPES: &[i64] = &[19, 43, 44, 46, 48, 53];

/// Azure OpenAI API version used when the channel's `other` is empty.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// Gemini API version used when the channel's `other` is empty.
pub const DEFAULT_GEMINI_VERSION: &str = "v1beta";

/// A served channel's provider with its typed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI or an OpenAI-compatible vendor; `routing`: OpenRouter's provider preferences
    /// per model vendor (the text before the model's first `/`), from the channel's plugin;
    /// `jwt`: Zhipu's `id.secret` key, from which each request's JWT is signed.
    OpenAi {
        base: String,
        quirks: OpenAiQuirks,
        routing: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
        jwt: Option<JwtKey>,
    },
    /// Azure OpenAI; `api_version` from `other`.
    Azure { base: String, api_version: String },
    /// Azure OpenAI v1; `api_version` from `other`, empty = none sent.
    AzureV1 { base: String, api_version: String },
    /// An Azure Databricks workspace.
    Databricks { base: String },
    /// Anthropic Messages.
    Anthropic { base: String },
    /// Google Gemini; `version` (`v1beta`, `v1`) from `other`.
    Gemini { base: String, version: String },
    /// Vertex AI; `region|project` from `other`, the service account from the key.
    Vertex {
        base: String,
        region: String,
        project: String,
        account: Arc<ServiceAccount>,
    },
    /// Ollama; `headers`: `plugin.headers` (e.g. Cloudflare Access credentials), sent with
    /// every request.
    Ollama {
        base: String,
        headers: Vec<(String, String)>,
    },
    /// Cohere.
    Cohere { base: String },
    /// Jina (rerank).
    Jina { base: String },
    /// Coze; `base` includes `/open_api` (One Hub's form).
    Coze { base: String },
    /// Tencent Hunyuan; key = `SecretId|SecretKey` (TC3 signing).
    Hunyuan {
        base: String,
        secret_id: String,
        secret_key: Secret,
    },
    /// Xunfei Spark; key = `APPID|APISecret|APIKey`; `version`: the channel's `other` (the
    /// API version used when the model name does not carry one).
    Xunfei {
        base: String,
        app_id: String,
        api_secret: Secret,
        api_key: Secret,
        version: Option<String>,
    },
    /// Baidu's legacy API; key = `APIKey|SecretKey`, exchanged for an access token.
    Baidu {
        base: String,
        api_key: String,
        secret: Secret,
    },
    /// Ali DashScope, native; `plugin_header`: `other` sent as `X-DashScope-Plugin`;
    /// `web_search`: `plugin.web_search.enable`.
    DashScope {
        base: String,
        plugin_header: Option<String>,
        web_search: bool,
    },
    /// Cloudflare Workers AI; key = `accountId|apiToken`. `base` is an origin, or One Hub's
    /// template with `%s` for the account and then the model.
    Cloudflare {
        base: String,
        account_id: String,
        token: Secret,
    },
    /// AWS Bedrock; region and credentials from the key.
    Bedrock {
        base: String,
        region: String,
        auth: BedrockAuth,
    },
}

/// A Google service account (the channel key's JSON), as needed for the JWT-bearer exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    /// The PKCS#8 DER of the JSON's PEM `private_key`.
    pub private_key_der: Vec<u8>,
    /// Where the signed assertion is exchanged for an access token.
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Zhipu's key: the API key id and the HMAC secret of `id.secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtKey {
    pub id: String,
    pub secret: Secret,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A credential held in a provider's configuration: shown as `<redacted>` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Google's token endpoint, used when the service-account JSON names none.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// How Bedrock requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum BedrockAuth {
    /// SigV4 with an access key (and a session token for temporary credentials).
    SigV4 {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
    /// A Bedrock API key, sent as a bearer token.
    ApiKey(String),
}

impl std::fmt::Debug for BedrockAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BedrockAuth::SigV4 { access_key_id, .. } => f
                .debug_struct("SigV4")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            BedrockAuth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

impl Provider {
    pub fn family(&self) -> Family {
        match self {
            Provider::OpenAi { .. } => Family::OpenAi,
            Provider::Azure { .. } => Family::Azure,
            Provider::AzureV1 { .. } => Family::AzureV1,
            Provider::Databricks { .. } => Family::Databricks,
            Provider::Anthropic { .. } => Family::Anthropic,
            Provider::Gemini { .. } => Family::Gemini,
            Provider::Vertex { .. } => Family::Vertex,
            Provider::Bedrock { .. } => Family::Bedrock,
            Provider::Ollama { .. } => Family::Ollama,
            Provider::Cohere { .. } => Family::Cohere,
            Provider::Coze { .. } => Family::Coze,
            Provider::DashScope { .. } => Family::DashScope,
            Provider::Baidu { .. } => Family::Baidu,
            Provider::Hunyuan { .. } => Family::Hunyuan,
            Provider::Xunfei { .. } => Family::Xunfei,
            Provider::Jina { .. } => Family::Jina,
            Provider::Cloudflare { .. } => Family::Cloudflare,
        }
    }

    /// How the provider's usage figures are read for billing.
    pub fn counting(&self) -> Counting {
        match self {
            Provider::OpenAi { quirks, .. } if quirks.completion_from_total => {
                Counting::CompletionFromTotal
            }
            _ => Counting::AsReported,
        }
    }

    /// The origin requests go to (the channel's `base_url`, else the type's default).
    pub fn base(&self) -> &str {
        match self {
            Provider::OpenAi { base, .. }
            | Provider::Azure { base, .. }
            | Provider::AzureV1 { base, .. }
            | Provider::Databricks { base }
            | Provider::Anthropic { base }
            | Provider::Gemini { base, .. }
            | Provider::Vertex { base, .. }
            | Provider::Bedrock { base, .. }
            | Provider::Ollama { base, .. }
            | Provider::Cohere { base }
            | Provider::Jina { base }
            | Provider::Coze { base }
            | Provider::DashScope { base, .. }
            | Provider::Baidu { base, .. }
            | Provider::Hunyuan { base, .. }
            | Provider::Xunfei { base, .. }
            | Provider::Cloudflare { base, .. } => base,
        }
    }
}

/// How a provider's usage object is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counting {
    /// `completion_tokens` as reported (OpenAI: reasoning included).
    #[default]
    AsReported,
    /// `total_tokens − prompt_tokens` (xAI leaves reasoning out of `completion_tokens`).
    CompletionFromTotal,
}

/// Why a channel is not served by this node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unserved {
    /// One Hub serves this type with a provider of its own; this gateway has none yet.
    #[error("channel type {kind} ({name}) is not served by this gateway")]
    NotServed { kind: i64, name: &'static str },
    /// The type is served but the channel's configuration cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// The channel fields a provider is configured from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelConfig<'a> {
    pub kind: i64,
    pub base_url: &'a str,
    pub other: &'a str,
    /// Read only by providers whose key is structured (Vertex's service account, Bedrock's
    /// credentials).
    pub key: &'a str,
    pub plugin: Option<&'a serde_json::Value>,
}

/// The provider of a channel of type `kind`, from its `base_url`, `other` and key.
pub fn resolve(kind: i64, base_url: &str, other: &str, key: &str) -> Result<Provider, Unserved> {
    resolve_channel(&ChannelConfig {
        kind,
        base_url,
        other,
        key,
        plugin: None,
    })
}

/// The provider of a channel.
pub fn resolve_channel(c: &ChannelConfig<'_>) -> Result<Provider, Unserved> {
    let (kind, base_url, other, key) = (c.kind, c.base_url, c.other, c.key);
    if let Some(p) = openai_mode(c) {
        return Ok(p);
    }
    let base_url = base_url.trim().trim_end_matches('/');
    let (family, default, quirks) = match CATALOGUE.iter().find(|r| r.kind == kind) {
        Some(r) => (r.family, r.base, r.quirks),
        None if GENERIC_TYPES.contains(&kind) || type_name(kind).is_none() => {
            (Family::OpenAi, "", OPENAI_BILLED)
        }
        None => {
            return Err(Unserved::NotServed {
                kind,
                name: type_name(kind).unwrap_or("unknown"),
            });
        }
    };
    let base = if base_url.is_empty() {
        default
    } else {
        base_url
    };
    match family {
        Family::Vertex => return vertex(base, other, key),
        Family::Cloudflare => return cloudflare(base, key),
        Family::Baidu => return baidu(base, key),
        Family::Hunyuan => return hunyuan(base, key),
        Family::Xunfei => return xunfei(base, other, key),
        Family::Bedrock => return bedrock(base, key),
        _ => {}
    }
    if base.is_empty() {
        return Err(Unserved::Invalid(format!(
            "channel type {kind} needs a base URL"
        )));
    }
    let base = base.to_owned();
    Ok(match family {
        Family::OpenAi => Provider::OpenAi {
            base,
            quirks,
            routing: if quirks.routing_preferences {
                routing(c.plugin)?
            } else {
                None
            },
            jwt: if quirks.zhipu_jwt {
                Some(zhipu_key(key)?)
            } else {
                None
            },
        },
        Family::Anthropic => Provider::Anthropic { base },
        Family::Azure => Provider::Azure {
            base,
            api_version: version(other, DEFAULT_AZURE_API_VERSION, "Azure API version")?,
        },
        Family::AzureV1 => Provider::AzureV1 {
            base,
            api_version: version(other, "", "Azure API version")?,
        },
        Family::Databricks => Provider::Databricks { base },
        Family::Ollama => Provider::Ollama {
            base,
            headers: plugin_headers(c.plugin),
        },
        Family::Gemini => Provider::Gemini {
            base,
            version: version(other, DEFAULT_GEMINI_VERSION, "Gemini API version")?,
        },
        Family::Cohere => Provider::Cohere { base },
        Family::Jina => Provider::Jina { base },
        Family::Coze => Provider::Coze { base },
        Family::DashScope => Provider::DashScope {
            base,
            plugin_header: Some(other.trim())
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
            web_search: plugin_flag(c.plugin, "web_search"),
        },
        Family::Vertex
        | Family::Bedrock
        | Family::Cloudflare
        | Family::Baidu
        | Family::Hunyuan
        | Family::Xunfei => {
            unreachable!("resolved above")
        }
    })
}

/// OpenRouter's `plugin.other.provider`: a JSON object (or JSON text of one) from model
/// vendor to routing preferences (`order`, `ignore`, `allow_fallbacks`, …).
fn routing(
    plugin: Option<&serde_json::Value>,
) -> Result<Option<Arc<serde_json::Map<String, serde_json::Value>>>, Unserved> {
    let Some(v) = plugin.and_then(|p| p.pointer("/other/provider")) else {
        return Ok(None);
    };
    let parsed = match v {
        serde_json::Value::String(t) if t.trim().is_empty() => return Ok(None),
        serde_json::Value::String(t) => serde_json::from_str(t).ok(),
        serde_json::Value::Null => return Ok(None),
        other => Some(other.clone()),
    };
    match parsed {
        Some(serde_json::Value::Object(m)) if m.values().all(serde_json::Value::is_object) => {
            Ok((!m.is_empty()).then(|| Arc::new(m)))
        }
        _ => Err(Unserved::Invalid(
            "OpenRouter channel: plugin.other.provider must be a JSON object of vendor → routing preferences"
                .to_owned(),
        )),
    }
}

/// `plugin.<name>.enable` is true.
fn plugin_flag(plugin: Option<&serde_json::Value>, name: &str) -> bool {
    plugin
        .and_then(|p| p.get(name))
        .and_then(|v| v.get("enable"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// Baidu (15) and Ali (17) with One Hub's OpenAI mode on (`plugin.use_openai_api.enable`): the
/// vendor's OpenAI-compatible API, `stream_options` forced. Baidu: `https://qianfan.baidubce.com`
/// then `/v2/…` (a `base_url` replaces the host); Ali: `https://dashscope.aliyuncs.com` (or the
/// `base_url`) then `/compatible-mode/v1/…`.
fn openai_mode(c: &ChannelConfig<'_>) -> Option<Provider> {
    if !matches!(c.kind, 15 | 17) || !plugin_flag(c.plugin, "use_openai_api") {
        return None;
    }
    let base_url = c.base_url.trim().trim_end_matches('/');
    let (origin, path) = match c.kind {
        15 => ("https://qianfan.baidubce.com", "/v2"),
        _ => ("https://dashscope.aliyuncs.com", "/compatible-mode"),
    };
    let origin = if base_url.is_empty() {
        origin
    } else {
        base_url
    };
    Some(Provider::OpenAi {
        base: format!("{origin}{path}"),
        quirks: OpenAiQuirks {
            v1: c.kind == 17,
            legacy_ops: false,
            ..OPENAI
        },
        routing: None,
        jwt: None,
    })
}

/// `plugin.headers`: its non-empty string entries (One Hub crashes on a null plugin; here it
/// is no headers).
fn plugin_headers(plugin: Option<&serde_json::Value>) -> Vec<(String, String)> {
    plugin
        .and_then(|p| p.get("headers"))
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let v = v.as_str()?.trim();
                    (!v.is_empty() && !k.trim().is_empty())
                        .then(|| (k.trim().to_owned(), v.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A region or project id as it may appear in a host name or URL path.
fn plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.')
}

/// `base` with its `%s` (if any) replaced by the region.
fn regional(base: &str, region: &str) -> String {
    base.replacen("%s", region, 1)
}

/// Vertex AI: `other` = `region|project`, key = the service-account JSON.
fn vertex(base: &str, other: &str, key: &str) -> Result<Provider, Unserved> {
    let invalid = |m: &str| Err(Unserved::Invalid(format!("Vertex AI channel: {m}")));
    let parts: Vec<&str> = other.split('|').map(str::trim).collect();
    let [region, project] = parts[..] else {
        return invalid("`other` must be `region|projectId`");
    };
    if !plain_id(region) || !plain_id(project) {
        return invalid("the region and project id in `other` must be plain ids");
    }
    let account =
        service_account(key).map_err(|m| Unserved::Invalid(format!("Vertex AI channel: {m}")))?;
    let base = if !base.is_empty() {
        regional(base, region)
    } else if region == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{region}-aiplatform.googleapis.com")
    };
    Ok(Provider::Vertex {
        base,
        region: region.to_owned(),
        project: project.to_owned(),
        account: Arc::new(account),
    })
}

/// The service account of a Vertex key (never echoing the key in the reason).
fn service_account(key: &str) -> Result<ServiceAccount, &'static str> {
    let v: serde_json::Value = serde_json::from_str(key.trim())
        .map_err(|_| "the key is not a service-account JSON object")?;
    let field = |name: &str| {
        v.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
    };
    let client_email = field("client_email")
        .filter(|s| !s.is_empty())
        .ok_or("the service-account JSON has no client_email")?;
    let pem = field("private_key").ok_or("the service-account JSON has no private_key")?;
    let body = pem
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|r| r.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
        .ok_or("the service account's private_key is not a PKCS#8 PEM key")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the service account's private_key is not valid base64 PEM")?;
    let token_uri = field("token_uri")
        .filter(|s| !s.is_empty())
        .unwrap_or(GOOGLE_TOKEN_URI);
    if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
        return Err("the service account's token_uri is not an http(s) URL");
    }
    Ok(ServiceAccount {
        client_email: client_email.to_owned(),
        private_key_id: field("private_key_id").unwrap_or_default().to_owned(),
        private_key_der: der,
        token_uri: token_uri.to_owned(),
    })
}

/// Xunfei Spark: key = `APPID|APISecret|APIKey`; `other`: the default API version (`v3.5`).
/// The base is a `ws://` or `wss://` origin (One Hub always uses Xunfei's; a `base_url` here is
/// honoured, e.g. for a relay or a test server).
fn xunfei(base: &str, other: &str, key: &str) -> Result<Provider, Unserved> {
    if !(base.starts_with("wss://") || base.starts_with("ws://")) {
        return Err(Unserved::Invalid(
            "Xunfei channel: the base URL must be a ws:// or wss:// origin".to_owned(),
        ));
    }
    let version = Some(other.trim()).filter(|o| !o.is_empty());
    if let Some(v) = version
        && !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
    {
        return Err(Unserved::Invalid(format!(
            "Xunfei channel: `{v}` is not an API version (e.g. v3.5)"
        )));
    }
    match key.trim().split('|').map(str::trim).collect::<Vec<_>>()[..] {
        [app, secret, api_key] if !app.is_empty() && !secret.is_empty() && !api_key.is_empty() => {
            Ok(Provider::Xunfei {
                base: base.to_owned(),
                app_id: app.to_owned(),
                api_secret: Secret(secret.to_owned()),
                api_key: Secret(api_key.to_owned()),
                version: version.map(str::to_owned),
            })
        }
        _ => Err(Unserved::Invalid(
            "Xunfei channel: the key must be `APPID|APISecret|APIKey`".to_owned(),
        )),
    }
}

/// Tencent Hunyuan: key = `SecretId|SecretKey`.
fn hunyuan(base: &str, key: &str) -> Result<Provider, Unserved> {
    match key.trim().split('|').map(str::trim).collect::<Vec<_>>()[..] {
        [id, sk] if !id.is_empty() && !sk.is_empty() => Ok(Provider::Hunyuan {
            base: base.to_owned(),
            secret_id: id.to_owned(),
            secret_key: Secret(sk.to_owned()),
        }),
        _ => Err(Unserved::Invalid(
            "Hunyuan channel: the key must be `SecretId|SecretKey`".to_owned(),
        )),
    }
}

/// Baidu's legacy API: key = `APIKey|SecretKey`.
fn baidu(base: &str, key: &str) -> Result<Provider, Unserved> {
    match key.trim().split('|').map(str::trim).collect::<Vec<_>>()[..] {
        [ak, sk] if !ak.is_empty() && !sk.is_empty() => Ok(Provider::Baidu {
            base: base.to_owned(),
            api_key: ak.to_owned(),
            secret: Secret(sk.to_owned()),
        }),
        _ => Err(Unserved::Invalid(
            "Baidu channel: the key must be `APIKey|SecretKey` (or turn on One Hub's OpenAI mode, plugin use_openai_api)".to_owned(),
        )),
    }
}

/// Zhipu: key = `id.secret`.
fn zhipu_key(key: &str) -> Result<JwtKey, Unserved> {
    match key.trim().split_once('.') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() && !secret.contains('.') => {
            Ok(JwtKey {
                id: id.to_owned(),
                secret: Secret(secret.to_owned()),
            })
        }
        _ => Err(Unserved::Invalid(
            "Zhipu channel: the key must be `id.secret`".to_owned(),
        )),
    }
}

/// Cloudflare Workers AI: key = `accountId|apiToken`.
fn cloudflare(base: &str, key: &str) -> Result<Provider, Unserved> {
    let parts: Vec<&str> = key.trim().split('|').map(str::trim).collect();
    match parts[..] {
        [account, token] if plain_id(account) && !token.is_empty() => Ok(Provider::Cloudflare {
            base: base.to_owned(),
            account_id: account.to_owned(),
            token: Secret(token.to_owned()),
        }),
        _ => Err(Unserved::Invalid(
            "Cloudflare Workers AI channel: the key must be `accountId|apiToken`".to_owned(),
        )),
    }
}

/// Bedrock: key = `region|accessKeyId|secretAccessKey[|sessionToken]` or `region|apiKey`.
fn bedrock(base: &str, key: &str) -> Result<Provider, Unserved> {
    let invalid = |m: &str| Err(Unserved::Invalid(format!("Bedrock channel: {m}")));
    let parts: Vec<&str> = key.trim().split('|').map(str::trim).collect();
    let auth = match parts[..] {
        [_, token] if !token.is_empty() => BedrockAuth::ApiKey(token.to_owned()),
        [_, ak, sk] | [_, ak, sk, ""] if !ak.is_empty() && !sk.is_empty() => BedrockAuth::SigV4 {
            access_key_id: ak.to_owned(),
            secret_access_key: sk.to_owned(),
            session_token: None,
        },
        [_, ak, sk, st] if !ak.is_empty() && !sk.is_empty() => BedrockAuth::SigV4 {
            access_key_id: ak.to_owned(),
            secret_access_key: sk.to_owned(),
            session_token: Some(st.to_owned()),
        },
        _ => {
            return invalid(
                "the key must be `region|accessKeyId|secretAccessKey[|sessionToken]` or `region|apiKey`",
            );
        }
    };
    let region = parts[0];
    if !plain_id(region) {
        return invalid("the region in the key must be a plain id such as us-east-1");
    }
    Ok(Provider::Bedrock {
        base: regional(base, region),
        region: region.to_owned(),
        auth,
    })
}

/// `other` as an API version (the default when empty). A version goes into a URL, so only plain
/// version strings are accepted (letters, digits, `-`, `.`, `_`, not starting with `.`).
fn version(other: &str, default: &str, what: &str) -> Result<String, Unserved> {
    let v = other.trim();
    let v = if v.is_empty() { default } else { v };
    let plain = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if plain && !v.starts_with('.') {
        Ok(v.to_owned())
    } else {
        Err(Unserved::Invalid(format!(
            "the {what} in `other` is not a plain version string (letters, digits, '-', '.', '_')"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]
    use super::*;

    #[test]
    fn catalogue_types_get_their_defaults() {
        assert_eq!(
            resolve(1, "", "", ""),
            Ok(Provider::OpenAi {
                base: "https://api.openai.com".into(),
                quirks: OPENAI_BILLED,
                routing: None,
                jwt: None
            })
        );
        assert_eq!(resolve(14, "", "", "").unwrap().family(), Family::Anthropic);
        assert_eq!(
            resolve(25, "https://g.example/", "v1", ""),
            Ok(Provider::Gemini {
                base: "https://g.example".into(),
                version: "v1".into()
            })
        );
        assert_eq!(
            resolve(3, "https://az.example", "", ""),
            Ok(Provider::Azure {
                base: "https://az.example".into(),
                api_version: DEFAULT_AZURE_API_VERSION.into()
            })
        );
        for r in CATALOGUE {
            assert!(!r.base.ends_with("/v1") && !r.base.ends_with('/'), "{r:?}");
            assert!(
                crate::channel_types::type_name(r.kind).is_some(),
                "{r:?} is a One Hub type"
            );
            assert_eq!(
                CATALOGUE.iter().filter(|o| o.kind == r.kind).count(),
                1,
                "{r:?} once"
            );
        }
    }

    #[test]
    fn one_hubs_generic_rule_and_unserved_types() {
        // No factory in One Hub, or an id One Hub does not know: generic OpenAI on base_url.
        for kind in [19, 43, 44, 46, 48, 53, 77, 1000] {
            assert_eq!(
                resolve(kind, "https://x.example", "", ""),
                Ok(Provider::OpenAi {
                    base: "https://x.example".into(),
                    quirks: OPENAI_BILLED,
                    routing: None,
                    jwt: None
                }),
                "{kind}"
            );
            assert!(matches!(
                resolve(kind, " ", "", ""),
                Err(Unserved::Invalid(_))
            ));
        }
        // Native in One Hub, no provider here: never sent OpenAI-format requests.
        for kind in [34, 41, 24] {
            let e = resolve(kind, "https://x.example", "", "").unwrap_err();
            assert!(matches!(e, Unserved::NotServed { .. }), "{kind}");
        }
        assert_eq!(
            resolve(34, "https://mj.example", "", "")
                .unwrap_err()
                .to_string(),
            "channel type 34 (Midjourney) is not served by this gateway"
        );
    }

    #[test]
    fn configuration_errors_say_why() {
        assert!(
            matches!(resolve(8, "", "", ""), Err(Unserved::Invalid(m)) if m.contains("base URL"))
        );
        assert!(matches!(resolve(3, "", "", ""), Err(Unserved::Invalid(_))));
        for bad in ["../x", "v1?x", ".hidden", "v 1", "v1/models"] {
            assert!(
                matches!(resolve(25, "", bad, ""), Err(Unserved::Invalid(m)) if m.contains("Gemini API version")),
                "{bad}"
            );
            assert!(resolve(3, "https://az", bad, "").is_err(), "{bad}");
        }
    }

    fn sa_json(extra: &str) -> String {
        // Any base64 body will do here: the RSA structure is checked when the key is used.
        format!(
            r#"{{"type":"service_account","project_id":"p","private_key_id":"kid1",{extra}"private_key":"-----BEGIN PRIVATE KEY-----\nAAEC\nAwQ=\n-----END PRIVATE KEY-----\n","client_email":"sa@p.iam.gserviceaccount.com"}}"#
        )
    }

    #[test]
    fn vertex_configuration() {
        let Provider::Vertex {
            base,
            region,
            project,
            account,
        } = resolve(42, "", "us-east5|proj-1", &sa_json("")).unwrap()
        else {
            panic!("vertex")
        };
        assert_eq!(base, "https://us-east5-aiplatform.googleapis.com");
        assert_eq!((region.as_str(), project.as_str()), ("us-east5", "proj-1"));
        assert_eq!(account.client_email, "sa@p.iam.gserviceaccount.com");
        assert_eq!(account.private_key_id, "kid1");
        assert_eq!(account.private_key_der, vec![0, 1, 2, 3, 4]);
        assert_eq!(account.token_uri, GOOGLE_TOKEN_URI);
        assert!(!format!("{account:?}").contains("AAEC"), "no key in Debug");
        let global = resolve(42, "", "global|p", &sa_json("")).unwrap();
        assert_eq!(global.base(), "https://aiplatform.googleapis.com");
        let over = resolve(
            42,
            "http://127.0.0.1:9/",
            "europe-west1|p",
            &sa_json(r#""token_uri":"http://127.0.0.1:9/token","#),
        )
        .unwrap();
        assert_eq!(over.base(), "http://127.0.0.1:9");
        let Provider::Vertex { account, .. } = over else {
            panic!()
        };
        assert_eq!(account.token_uri, "http://127.0.0.1:9/token");
        for (other, key, why) in [
            ("us-east5", sa_json("").as_str(), "region|projectId"),
            ("us/x|p", &sa_json(""), "plain ids"),
            ("r|p", "not json", "not a service-account JSON"),
            ("r|p", r#"{"client_email":"a@b"}"#, "no private_key"),
            (
                "r|p",
                r#"{"client_email":"a@b","private_key":"x"}"#,
                "PKCS#8",
            ),
        ] {
            let e = resolve(42, "", other, key).unwrap_err().to_string();
            assert!(e.contains(why), "{other} {key}: {e}");
            assert!(!e.contains("BEGIN"), "{e}");
        }
    }

    #[test]
    fn bedrock_configuration() {
        assert_eq!(
            resolve(32, "", "", "us-east-1|AKIA1|secret1").unwrap(),
            Provider::Bedrock {
                base: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
                region: "us-east-1".into(),
                auth: BedrockAuth::SigV4 {
                    access_key_id: "AKIA1".into(),
                    secret_access_key: "secret1".into(),
                    session_token: None
                }
            }
        );
        let Provider::Bedrock { auth, .. } =
            resolve(32, "http://127.0.0.1:9", "", "eu-west-3|AK|SK|tok").unwrap()
        else {
            panic!()
        };
        assert!(matches!(&auth, BedrockAuth::SigV4 { session_token: Some(t), .. } if t == "tok"));
        assert!(!format!("{auth:?}").contains("SK"), "no secret in Debug");
        assert_eq!(
            resolve(32, "", "", "us-west-2|brk-key").unwrap(),
            Provider::Bedrock {
                base: "https://bedrock-runtime.us-west-2.amazonaws.com".into(),
                region: "us-west-2".into(),
                auth: BedrockAuth::ApiKey("brk-key".into())
            }
        );
        for bad in [
            "",
            "us-east-1",
            "us-east-1|ak|",
            "us east|ak|sk",
            "r|a|b|c|d",
        ] {
            let e = resolve(32, "", "", bad).unwrap_err().to_string();
            assert!(e.starts_with("Bedrock channel:"), "{bad}: {e}");
            assert!(!e.contains("ak|"), "{e}");
        }
    }

    #[test]
    fn openrouter_routing_preferences_from_the_plugin() {
        let plugin = serde_json::json!({"other": {"provider":
            r#"{"anthropic":{"order":["Anthropic","Amazon Bedrock"],"allow_fallbacks":false}}"#}});
        let cfg = ChannelConfig {
            kind: 20,
            plugin: Some(&plugin),
            ..Default::default()
        };
        let Provider::OpenAi { routing, .. } = resolve_channel(&cfg).unwrap() else {
            panic!()
        };
        assert_eq!(routing.unwrap()["anthropic"]["order"][1], "Amazon Bedrock");
        let bad = serde_json::json!({"other": {"provider": "[1]"}});
        let e = resolve_channel(&ChannelConfig {
            plugin: Some(&bad),
            ..cfg
        })
        .unwrap_err();
        assert!(e.to_string().contains("plugin.other.provider"), "{e}");
        // Other vendors ignore it.
        let Provider::OpenAi { routing, .. } = resolve_channel(&ChannelConfig {
            kind: 1,
            plugin: Some(&plugin),
            ..Default::default()
        })
        .unwrap() else {
            panic!()
        };
        assert!(routing.is_none());
    }
}
