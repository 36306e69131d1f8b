//! The channel quality check (admin API contract §2.8): for each model, five chat requests sent
//! through one channel exactly as the relay sends them ([`hub_relay::probe::probe_chat`];
//! nothing billed, logged or counted on the channel), each judged by One Hub's rules, streamed
//! to the admin as Server-Sent Events, one `result` per model, a `heartbeat` every 10 s while
//! a model is being checked, and `done` at the end.
//!
//! The probes: `基础检测` (usage, model name and id of an ordinary answer), `错误检测` (an
//! invalid request must be refused with an error the gateway can read), `根据图片判断中转` (an
//! image served by this node at `/api/image/<id>`: who fetched it names the relays between
//! the channel and the model), `json格式检测` (`response_format` `json_object`), `函数调用检测`
//! (two tools offered, a tool call expected).
//!
//! A result's `status` is One Hub's, which its UI colours: [`FAILED`] (0), [`PASSED`] (1),
//! [`UNKNOWN`] (2, the answer does not allow a judgement).
//!
//! The check runs inside the response stream: when the client goes away the stream is dropped,
//! and with it the request in flight. Each request is bounded by [`PROBE_TIMEOUT`].

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::Stream;
use hub_core::snapshot::{ChannelRt, Snapshot};
use hub_relay::{
    RelayError,
    probe::{ProbeError, probe_chat},
};
use rand::{Rng, distr::Alphanumeric};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};

use crate::AppState;

/// A result's status: the check failed.
pub const FAILED: u8 = 0;
/// A result's status: the check passed.
pub const PASSED: u8 = 1;
/// A result's status: the answer does not allow a judgement.
pub const UNKNOWN: u8 = 2;

/// The longest one probe request may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a heartbeat is sent while a model is being checked.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long an image id answers after it was issued (One Hub's).
pub const IMAGE_TTL: Duration = Duration::from_secs(10 * 60);
/// The most image ids kept at once (the oldest is forgotten first).
const MAX_IMAGE_IDS: usize = 10_000;
/// The most fetches recorded per image id (the route is public).
const MAX_FETCHES: usize = 16;

/// The image served to the image probe's fetchers: a 16×16 PNG.
pub const CHECK_PNG: &[u8] = include_bytes!("check.png");

/// One judgement of a probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: u8,
    pub remark: String,
}

fn result(name: &str, status: u8, remark: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.to_owned(),
        status,
        remark: remark.into(),
    }
}

/// One probe: its name, its judgements and the chat completion it got (`null` on an error).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessResult {
    pub name: &'static str,
    pub results: Vec<CheckResult>,
    pub response: Option<Value>,
}

/// Every probe of one model: the `data` of a `result` event.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub process: Vec<ProcessResult>,
}

/// Who fetched a check image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub user_agent: String,
    pub ip: String,
}

#[derive(Debug)]
struct Issued {
    expires: Instant,
    fetches: Vec<Fetch>,
}

/// This node's quality checks: the image ids issued (kept [`IMAGE_TTL`]) with their fetches,
/// and how many checks are streaming now.
#[derive(Debug, Default)]
pub struct ChannelChecks {
    images: Mutex<HashMap<String, Issued>>,
    running: AtomicUsize,
}

impl ChannelChecks {
    /// A new image id (10 random alphanumerics), answered for [`IMAGE_TTL`].
    pub fn issue_image(&self) -> String {
        let id: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(10)
            .map(char::from)
            .collect();
        let now = Instant::now();
        let mut images = self.images.lock().unwrap_or_else(PoisonError::into_inner);
        images.retain(|_, i| i.expires > now);
        if images.len() >= MAX_IMAGE_IDS
            && let Some(oldest) = images
                .iter()
                .min_by_key(|(_, i)| i.expires)
                .map(|(k, _)| k.clone())
        {
            images.remove(&oldest);
        }
        images.insert(
            id.clone(),
            Issued {
                expires: now + IMAGE_TTL,
                fetches: Vec::new(),
            },
        );
        id
    }

    /// Records a fetch of image `id`; false when the id is unknown or expired.
    pub fn record_fetch(&self, id: &str, fetch: Fetch) -> bool {
        let mut images = self.images.lock().unwrap_or_else(PoisonError::into_inner);
        match images.get_mut(id) {
            Some(i) if i.expires > Instant::now() => {
                if i.fetches.len() < MAX_FETCHES {
                    i.fetches.push(fetch);
                }
                true
            }
            _ => false,
        }
    }

    /// The fetches of image `id` so far.
    pub fn fetches(&self, id: &str) -> Vec<Fetch> {
        let images = self.images.lock().unwrap_or_else(PoisonError::into_inner);
        images
            .get(id)
            .map(|i| i.fetches.clone())
            .unwrap_or_default()
    }

    /// How many checks are streaming on this node now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

/// Counts a streaming check while it lives.
struct Running(AppState);

impl Running {
    fn new(state: AppState) -> Self {
        state.channel_checks.running.fetch_add(1, Ordering::SeqCst);
        Running(state)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.channel_checks.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The five probes, in One Hub's order.
#[derive(Debug, Clone)]
enum Probe {
    Basic,
    Error,
    Image { id: String, url: String },
    Json,
    Tool,
}

/// The prompt of the image probe (One Hub's).
const IMAGE_PROMPT: &str =
    "Can you see my picture? Please answer 1 or 0. Do not output irrelevant content.";

impl Probe {
    fn name(&self) -> &'static str {
        match self {
            Probe::Basic => "基础检测",
            Probe::Error => "错误检测",
            Probe::Image { .. } => "根据图片判断中转",
            Probe::Json => "json格式检测",
            Probe::Tool => "函数调用检测",
        }
    }

    /// The chat request of the probe for `model`.
    fn request(&self, model: &str) -> Value {
        match self {
            Probe::Basic => {
                let mut body =
                    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
                // Reasoning models refuse `max_tokens`.
                let limit = if reasoning_model(model) {
                    "max_completion_tokens"
                } else {
                    "max_tokens"
                };
                body[limit] = json!(1);
                body
            }
            Probe::Error => json!({"model": model, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "user11", "content": "hi"}
            ]}),
            Probe::Image { url, .. } => {
                json!({"model": model, "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": IMAGE_PROMPT}
                ]}]})
            }
            Probe::Json => json!({"model": model, "messages": [
                {"role": "system", "content": "You are a helpful math tutor. Reply in JSON."},
                {"role": "user", "content": "how can I solve 8x + 7 = -23"}
            ], "response_format": {"type": "json_object"}}),
            Probe::Tool => {
                let params = json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]});
                json!({"model": model, "messages": [
                    {"role": "user", "content": "3 * 12是多少?然后11 + 49又是多少? 请使用函数调用"}
                ], "tools": [
                    {"type": "function", "function": {"name": "add", "description": "Adds a and b.", "parameters": params}},
                    {"type": "function", "function": {"name": "multiply", "description": "Multiplies a and b.", "parameters": params}}
                ]})
            }
        }
    }

    /// Judges the probe's outcome; `fetches` are the image fetches seen (image probe only).
    fn judge(
        &self,
        model: &str,
        outcome: &Result<Value, ProbeError>,
        fetches: &[Fetch],
    ) -> Vec<CheckResult> {
        match self {
            Probe::Basic => judge_basic(model, outcome),
            Probe::Error => vec![judge_error(outcome)],
            Probe::Image { .. } => {
                let mut r = vec![judge_image_answer(outcome)];
                r.push(judge_fetches(fetches));
                r
            }
            Probe::Json => vec![judge_json(outcome)],
            Probe::Tool => vec![judge_tool(outcome)],
        }
    }
}

/// OpenAI's reasoning models (`o1`, `o3-mini`, …), which take `max_completion_tokens`.
fn reasoning_model(model: &str) -> bool {
    let mut c = model.chars();
    model.contains("o1") || (c.next() == Some('o') && c.next().is_some_and(|d| d.is_ascii_digit()))
}

/// The vendor a model's name belongs to, as One Hub guesses it for the basic probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    OpenAi,
    Anthropic,
    Other,
}

fn vendor_of(model: &str) -> Vendor {
    if ["gpt-", "chatgpt-", "o1-"]
        .iter()
        .any(|p| model.starts_with(p))
    {
        if ["-all", "-realtime", "-instruct"]
            .iter()
            .any(|s| model.contains(s))
        {
            return Vendor::Other;
        }
        return Vendor::OpenAi;
    }
    if model.starts_with("claude-") {
        return Vendor::Anthropic;
    }
    Vendor::Other
}

/// The failure of a probe that expected an answer: `响应`, failed, with the upstream's message.
fn failed_answer(e: &ProbeError) -> CheckResult {
    result("响应", FAILED, e.message())
}

/// The text of the first choice's message (a string, or the text parts of an array).
fn first_content(answer: &Value) -> Option<String> {
    let content = answer.pointer("/choices/0/message/content")?;
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn has_choices(answer: &Value) -> bool {
    answer
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
}

/// At most `n` characters of `s`, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().nth(n).is_some() {
        out.push('…');
    }
    out
}

fn judge_basic(model: &str, outcome: &Result<Value, ProbeError>) -> Vec<CheckResult> {
    let answer = match outcome {
        Ok(a) => a,
        Err(e) => return vec![failed_answer(e)],
    };
    let mut out = Vec::new();
    let tokens = |f: &str| answer.pointer(f).and_then(Value::as_i64).unwrap_or(0);
    let (prompt, completion) = (
        tokens("/usage/prompt_tokens"),
        tokens("/usage/completion_tokens"),
    );
    out.push(if prompt > 0 && completion > 0 {
        result(
            "响应",
            PASSED,
            format!("用量：输入 {prompt}，输出 {completion} tokens"),
        )
    } else {
        result("响应", FAILED, "用量数据为空")
    });
    let vendor = vendor_of(model);
    let got = answer
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    out.push(if got.is_empty() {
        result("模型检测", FAILED, "返回模型为空")
    } else if vendor == Vendor::OpenAi {
        // OpenAI answers a dated name for an alias (`gpt-4o` → `gpt-4o-2024-08-06`) and the
        // same name for a dated one.
        if dated(model) {
            if got == model {
                result("模型检测", PASSED, "SUCCESS")
            } else {
                result("模型检测", FAILED, "请求模型与响应模型应该一致(azure除外)")
            }
        } else if got == model {
            result(
                "模型检测",
                FAILED,
                "请求模型与响应模型不应该一致(azure除外)",
            )
        } else if got.starts_with(model) {
            result("模型检测", PASSED, "SUCCESS")
        } else {
            result(
                "模型检测",
                FAILED,
                "响应模型的前缀应该等于请求模型(azure除外)",
            )
        }
    } else if got == model {
        result("模型检测", PASSED, "SUCCESS")
    } else {
        result(
            "模型检测",
            UNKNOWN,
            format!("请求模型与响应模型({got})不一致(不是绝对的，自行判断)"),
        )
    });
    let id = answer.get("id").and_then(Value::as_str).unwrap_or_default();
    let expected = match vendor {
        Vendor::OpenAi => Some("chatcmpl-"),
        Vendor::Anthropic => Some("msg_"),
        Vendor::Other => None,
    };
    out.push(match expected {
        _ if id.is_empty() => result("ID检测", UNKNOWN, "ID为空(不是绝对的，比如gemini没有ID)"),
        Some(prefix) if !id.starts_with(prefix) => {
            result("ID检测", FAILED, format!("ID应该以{prefix}开头"))
        }
        _ => result("ID检测", PASSED, "SUCCESS"),
    });
    out
}

/// Whether a model name ends with a version: 4 digits (`gpt-4-0613`) or a date
/// (`gpt-4o-mini-2024-07-18`).
fn dated(model: &str) -> bool {
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    (n >= 4 && digits(&b[n - 4..]))
        || (n >= 10
            && digits(&b[n - 10..n - 6])
            && b[n - 6] == b'-'
            && digits(&b[n - 5..n - 3])
            && b[n - 3] == b'-'
            && digits(&b[n - 2..]))
}

fn judge_error(outcome: &Result<Value, ProbeError>) -> CheckResult {
    const NAME: &str = "错误";
    match outcome {
        Ok(_) => result(
            NAME,
            FAILED,
            "应该有报错，但是没有报错（不是绝对的，自行判断）",
        ),
        Err(ProbeError::Failed(RelayError {
            fault: Some(fault), ..
        })) if !fault.message.is_empty() => {
            let ids = fault.message.matches("request id:").count();
            result(
                NAME,
                PASSED,
                format!(
                    "上游返回了错误（HTTP {}）：{}；错误中存在 {ids} 个 request id（此指标表示经过多少个类 One API 程序）",
                    fault.status,
                    clip(&fault.message, 200)
                ),
            )
        }
        Err(ProbeError::Failed(RelayError {
            fault: Some(fault), ..
        })) => result(
            NAME,
            FAILED,
            format!(
                "上游返回了错误（HTTP {}），但错误不是 OpenAI 格式",
                fault.status
            ),
        ),
        Err(e) => result(NAME, UNKNOWN, format!("无法判断：{}", e.message())),
    }
}

fn judge_image_answer(outcome: &Result<Value, ProbeError>) -> CheckResult {
    let answer = match outcome {
        Ok(a) => a,
        Err(e) => return failed_answer(e),
    };
    if !has_choices(answer) {
        return result("响应", FAILED, "未返回响应数据");
    }
    match first_content(answer).as_deref().map(str::trim) {
        Some("1") => result("响应", PASSED, "模型看到了图片"),
        Some("0") => result("响应", FAILED, "模型没有看到图片"),
        Some(other) => result(
            "响应",
            FAILED,
            format!("模型的回答不符合要求：{}", clip(other, 100)),
        ),
        None => result("响应", FAILED, "获取响应数据失败"),
    }
}

/// Who a fetch of the check image came from, by its User-Agent.
pub fn relay_of(user_agent: &str) -> String {
    if user_agent.contains("OpenAI Image Downloader") {
        "OpenAI".to_owned()
    } else if user_agent.contains("IPS/1.0") {
        "Azure".to_owned()
    } else if user_agent.contains("Go-http-client") {
        "Go中转".to_owned()
    } else if user_agent.is_empty() {
        "未知".to_owned()
    } else {
        clip(user_agent, 100)
    }
}

fn judge_fetches(fetches: &[Fetch]) -> CheckResult {
    const NAME: &str = "图片请求检测";
    if fetches.is_empty() {
        return result(NAME, FAILED, "没有任何请求记录（没有人下载检测图片）");
    }
    let mut lines = vec![format!("经过: {} 次中转", fetches.len())];
    for (i, f) in fetches.iter().enumerate() {
        lines.push(format!(
            "第 {} 次中转: IP({}), 请求头({}), 判断结果({})",
            i + 1,
            f.ip,
            clip(&f.user_agent, 200),
            relay_of(&f.user_agent)
        ));
    }
    result(NAME, PASSED, lines.join("\n"))
}

fn judge_json(outcome: &Result<Value, ProbeError>) -> CheckResult {
    const NAME: &str = "JSON格式";
    let answer = match outcome {
        Ok(a) => a,
        Err(e) => return failed_answer(e),
    };
    if !has_choices(answer) {
        return result(NAME, FAILED, "未返回响应数据");
    }
    let content = first_content(answer).unwrap_or_default();
    match serde_json::from_str::<Value>(&content) {
        Ok(Value::Object(_)) => result(NAME, PASSED, "回答是 JSON 对象"),
        _ => result(NAME, FAILED, "回答不是 JSON 对象"),
    }
}

fn judge_tool(outcome: &Result<Value, ProbeError>) -> CheckResult {
    const NAME: &str = "函数判断";
    let answer = match outcome {
        Ok(a) => a,
        Err(e) => return failed_answer(e),
    };
    if !has_choices(answer) {
        return result(NAME, FAILED, "未返回响应数据");
    }
    let calls = answer
        .pointer("/choices/0/message/tool_calls")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if calls == 0 {
        result(NAME, FAILED, "没有使用函数调用")
    } else {
        result(
            NAME,
            PASSED,
            format!("使用了 {calls} 个函数调用（2 个说明模型理解能力强）"),
        )
    }
}

/// The image URL of image `id`: `{ServerAddress}/api/image/<id>`.
fn image_url(snap: &Snapshot, id: &str) -> String {
    let base = snap
        .options
        .get("ServerAddress")
        .map(|s| s.trim().trim_end_matches('/'))
        .unwrap_or_default();
    format!("{base}/api/image/{id}")
}

/// Sends every probe for `model` to `channel`, one after the other, and judges the answers.
async fn check_model(
    state: AppState,
    snap: Arc<Snapshot>,
    channel: Arc<ChannelRt>,
    model: String,
) -> ModelResult {
    let image_id = state.channel_checks.issue_image();
    let probes = [
        Probe::Basic,
        Probe::Error,
        Probe::Image {
            url: image_url(&snap, &image_id),
            id: image_id,
        },
        Probe::Json,
        Probe::Tool,
    ];
    let mut process = Vec::with_capacity(probes.len());
    for probe in probes {
        let body = probe.request(&model);
        let outcome = match tokio::time::timeout(
            PROBE_TIMEOUT,
            probe_chat(&state.engine, &snap, &channel, body),
        )
        .await
        {
            Ok(o) => o,
            Err(_) => Err(ProbeError::Failed(RelayError::local(
                504,
                format!("请求超时（{} 秒）", PROBE_TIMEOUT.as_secs()),
            ))),
        };
        let fetches = match &probe {
            Probe::Image { id, .. } => state.channel_checks.fetches(id),
            _ => Vec::new(),
        };
        let results = probe.judge(&model, &outcome, &fetches);
        process.push(ProcessResult {
            name: probe.name(),
            results,
            response: outcome.ok(),
        });
    }
    ModelResult { model, process }
}

/// One SSE event as gin writes it: `event:message`, the JSON on one `data:` line.
fn event(data: &Value) -> Result<Bytes, Infallible> {
    Ok(Bytes::from(format!("event:message\ndata:{data}\n\n")))
}

type ModelFuture = Pin<Box<dyn Future<Output = ModelResult> + Send>>;

/// A check in progress.
struct Run {
    guard: Running,
    snap: Arc<Snapshot>,
    channel: Arc<ChannelRt>,
    models: VecDeque<String>,
    current: Option<ModelFuture>,
    heartbeat: tokio::time::Interval,
    done: bool,
}

/// The models of a check: the comma-separated names, trimmed, empty ones dropped.
pub fn models_of(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The event stream of a check of `channel` with `models`: a `result` per model, heartbeats
/// while one is in progress, `done` at the end. Dropping the stream stops the check.
pub fn check_stream(
    state: AppState,
    snap: Arc<Snapshot>,
    channel: ChannelRt,
    models: Vec<String>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let run = Run {
        guard: Running::new(state),
        snap,
        channel: Arc::new(channel),
        models: models.into(),
        current: None,
        heartbeat,
        done: false,
    };
    futures_util::stream::unfold(run, |mut run| async move {
        if run.done {
            return None;
        }
        let Some(model) = run.models.front().cloned() else {
            run.done = true;
            return Some((event(&json!({"type": "done", "data": "completed"})), run));
        };
        let current = run.current.get_or_insert_with(|| {
            Box::pin(check_model(
                run.guard.0.clone(),
                run.snap.clone(),
                run.channel.clone(),
                model,
            ))
        });
        let finished = tokio::select! {
            r = current => Some(r),
            _ = run.heartbeat.tick() => None,
        };
        let frame = match finished {
            Some(r) => {
                run.current = None;
                run.models.pop_front();
                event(&json!({"type": "result", "data": r}))
            }
            None => event(&json!({"type": "heartbeat", "data": "ping"})),
        };
        Some((frame, run))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content: Value) -> Value {
        json!({"id": "chatcmpl-1", "model": "gpt-4o-2024-08-06",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    }

    fn upstream_error(status: u16, message: &str) -> ProbeError {
        ProbeError::Failed(
            RelayError::upstream(3, status, "x", json!("c"), "t").with_fault(
                hub_core::health::UpstreamFault {
                    status,
                    message: message.into(),
                    ..Default::default()
                },
            ),
        )
    }

    #[test]
    fn basic_probe_follows_one_hubs_rules() {
        let r = judge_basic("gpt-4o", &Ok(answer(json!("h"))));
        assert_eq!(
            r.iter().map(|c| c.status).collect::<Vec<_>>(),
            [PASSED, PASSED, PASSED]
        );
        // An alias answered with the same name, an id of another vendor.
        let mut a = answer(json!("h"));
        a["model"] = json!("gpt-4o");
        a["id"] = json!("msg_1");
        a["usage"] = json!(null);
        let r = judge_basic("gpt-4o", &Ok(a.clone()));
        assert_eq!(r[0], result("响应", FAILED, "用量数据为空"));
        assert_eq!(r[1].status, FAILED);
        assert_eq!(r[2], result("ID检测", FAILED, "ID应该以chatcmpl-开头"));
        // A dated name must come back as it was sent; other vendors' names are compared.
        assert_eq!(
            judge_basic("gpt-4o-2024-08-06", &Ok(answer(json!("h"))))[1].status,
            PASSED
        );
        assert_eq!(
            judge_basic("gpt-4-0613", &Ok(answer(json!("h"))))[1].status,
            FAILED
        );
        let r = judge_basic("qwen-max", &Ok(a));
        assert_eq!((r[1].status, r[2].status), (UNKNOWN, PASSED));
        let r = judge_basic("gpt-4o", &Err(upstream_error(401, "bad key")));
        assert_eq!(r, [result("响应", FAILED, "bad key")]);
    }

    #[test]
    fn error_probe_wants_a_readable_error() {
        assert_eq!(judge_error(&Ok(json!({}))).status, FAILED);
        let r = judge_error(&Err(upstream_error(
            400,
            "Invalid value (request id: a) (request id: b)",
        )));
        assert_eq!(r.status, PASSED);
        assert!(r.remark.contains("HTTP 400") && r.remark.contains("存在 2 个 request id"));
        assert_eq!(judge_error(&Err(upstream_error(500, ""))).status, FAILED);
        let r = judge_error(&Err(ProbeError::Failed(RelayError::local(504, "timeout"))));
        assert_eq!(
            (r.status, r.remark.as_str()),
            (UNKNOWN, "无法判断：timeout")
        );
    }

    #[test]
    fn image_json_and_tool_probes() {
        assert_eq!(judge_image_answer(&Ok(answer(json!("1")))).status, PASSED);
        assert_eq!(
            judge_image_answer(&Ok(answer(json!(" 0\n")))).remark,
            "模型没有看到图片"
        );
        assert_eq!(
            judge_image_answer(&Ok(answer(json!("tok tok")))).remark,
            "模型的回答不符合要求：tok tok"
        );
        assert_eq!(judge_fetches(&[]).status, FAILED);
        let r = judge_fetches(&[
            Fetch {
                user_agent: "Mozilla/5.0 (compatible; OpenAI Image Downloader)".into(),
                ip: "1.2.3.4".into(),
            },
            Fetch {
                user_agent: "curl/8".into(),
                ip: "5.6.7.8".into(),
            },
        ]);
        assert_eq!(r.status, PASSED);
        assert_eq!(
            r.remark,
            "经过: 2 次中转\n第 1 次中转: IP(1.2.3.4), 请求头(Mozilla/5.0 (compatible; OpenAI Image Downloader)), 判断结果(OpenAI)\n第 2 次中转: IP(5.6.7.8), 请求头(curl/8), 判断结果(curl/8)"
        );
        assert_eq!(relay_of("IPS/1.0"), "Azure");
        assert_eq!(relay_of(""), "未知");
        assert_eq!(judge_json(&Ok(answer(json!("{\"x\":1}")))).status, PASSED);
        assert_eq!(judge_json(&Ok(answer(json!("x = -3")))).status, FAILED);
        assert_eq!(
            judge_json(&Ok(json!({"choices": []}))).remark,
            "未返回响应数据"
        );
        let mut a = answer(json!(null));
        a["choices"][0]["message"]["tool_calls"] = json!([{"id": "c"}, {"id": "d"}]);
        assert_eq!(
            judge_tool(&Ok(a)).remark,
            "使用了 2 个函数调用（2 个说明模型理解能力强）"
        );
        assert_eq!(
            judge_tool(&Ok(answer(json!("36")))).remark,
            "没有使用函数调用"
        );
    }

    #[test]
    fn probe_requests() {
        let b = Probe::Basic.request("gpt-4o");
        assert_eq!(b["max_tokens"], 1);
        assert_eq!(Probe::Basic.request("o3-mini")["max_completion_tokens"], 1);
        assert_eq!(Probe::Error.request("m")["messages"][1]["role"], "user11");
        let i = Probe::Image {
            id: "x".into(),
            url: "http://h/api/image/x".into(),
        }
        .request("m");
        assert_eq!(
            i["messages"][0]["content"][0]["image_url"]["url"],
            "http://h/api/image/x"
        );
        assert_eq!(
            Probe::Json.request("m")["response_format"]["type"],
            "json_object"
        );
        assert_eq!(
            Probe::Tool.request("m")["tools"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(dated("gpt-4o-mini-2024-07-18") && dated("gpt-4-0613") && !dated("gpt-4o"));
        assert_eq!(models_of(" a, ,b,"), ["a", "b"]);
    }

    #[test]
    fn image_ids_expire_and_record_fetches() {
        let checks = ChannelChecks::default();
        let id = checks.issue_image();
        assert_eq!(id.len(), 10);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        let f = Fetch {
            user_agent: "ua".into(),
            ip: "1.1.1.1".into(),
        };
        assert!(checks.record_fetch(&id, f.clone()));
        assert!(!checks.record_fetch("unknown", f.clone()));
        for _ in 0..40 {
            checks.record_fetch(&id, f.clone());
        }
        assert_eq!(checks.fetches(&id).len(), MAX_FETCHES, "bounded");
    }
}
