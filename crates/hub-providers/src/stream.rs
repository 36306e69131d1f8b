//! Stream transforms: what happens to upstream SSE bytes on their way to the client.
//!
//! - OpenAI → OpenAI: [`crate::sse::SseProcessor`] (frames pass through, usage recorded).
//! - Claude → Claude and Gemini → Gemini: [`Passthrough`] (bytes unchanged, usage recorded).
//! - Any other pair: [`Converting`] (upstream events → OpenAI chunks → inbound events).

use hub_core::redact::Secrets;
use serde_json::Value;

use crate::{
    claude, gemini,
    protocol::Native,
    protocol::Protocol,
    sse::{StreamTransform, find_frame_end, mask_error_data},
    usage::Usage,
};

/// The inbound protocol's error event.
pub fn error_frame(p: Protocol, message: &str) -> Vec<u8> {
    match p {
        Protocol::OpenAi | Protocol::Native(_) => format!(
            "data: {}\n\n",
            serde_json::json!({"error": {"message": message, "type": "upstream_error"}})
        )
        .into_bytes(),
        Protocol::Claude => format!(
            "event: error\ndata: {}\n\n",
            claude::error_body("api_error", message)
        )
        .into_bytes(),
        Protocol::Gemini => {
            format!("data: {}\r\n\r\n", gemini::error_body(500, message)).into_bytes()
        }
        Protocol::Responses => crate::responses::failed_event(message, 0),
    }
}

/// One parsed SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

/// Cuts a byte stream into SSE events; frames end with `\n\n` or `\r\n\r\n`.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.buf[start..];
            let Some((end, sep)) = find_frame_end(rest) else {
                break;
            };
            if let Some(e) = parse_event(&rest[..end]) {
                events.push(e);
            }
            start += end + sep;
        }
        self.buf.drain(..start);
        events
    }

    /// A trailing frame without its blank line.
    pub fn finish(&mut self) -> Option<Event> {
        let rest = std::mem::take(&mut self.buf);
        parse_event(&rest)
    }
}

fn parse_event(frame: &[u8]) -> Option<Event> {
    let text = String::from_utf8_lossy(frame);
    let mut name = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if data.is_empty() && name.is_none() {
        return None;
    }
    Some(Event {
        name,
        data: data.join("\n"),
    })
}

/// Usage of a native event (Claude or Gemini), folded into `acc` (OpenAI shape).
fn native_usage(p: Protocol, name: Option<&str>, data: &Value, acc: &mut Option<Usage>) {
    match p {
        Protocol::Claude => {
            // message_start carries input (and cache) tokens; message_delta the output so far.
            let u = match name {
                Some("message_start") => data.pointer("/message/usage"),
                Some("message_delta") => data.get("usage"),
                _ => None,
            };
            if let Some(u) = u {
                let n = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
                let cur = acc.get_or_insert_with(Usage::default);
                if name == Some("message_start") || n("input_tokens") > 0 {
                    let cache_read = n("cache_read_input_tokens");
                    cur.prompt_tokens =
                        n("input_tokens") + n("cache_creation_input_tokens") + cache_read;
                    cur.prompt_tokens_details.cached_tokens = cache_read;
                }
                if n("output_tokens") > 0 {
                    cur.completion_tokens = n("output_tokens");
                }
                cur.total_tokens = cur.prompt_tokens + cur.completion_tokens;
            }
        }
        Protocol::Gemini => {
            if data.get("usageMetadata").is_some() {
                let ir = gemini::response_to_openai(data, "");
                if let Some(u) = ir
                    .get("usage")
                    .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok())
                {
                    *acc = Some(u);
                }
            }
        }
        Protocol::Responses => {
            if let Some(u) = crate::responses::event_usage(data) {
                *acc = Some(u);
            }
        }
        Protocol::OpenAi | Protocol::Native(_) => {}
    }
}

fn text_of_ir_chunk(c: &Value, out: &mut String) {
    if let Some(choices) = c.get("choices").and_then(Value::as_array) {
        for ch in choices {
            if let Some(t) = ch
                .get("delta")
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str)
            {
                out.push_str(t);
            }
        }
    }
}

/// Claude → Claude or Gemini → Gemini: frames unchanged (forwarded as each completes), usage
/// and text recorded; an upstream error frame has the channel's secrets masked.
pub struct Passthrough {
    protocol: Protocol,
    buf: Vec<u8>,
    usage: Option<Usage>,
    content: String,
    frames: u64,
    secrets: Secrets,
    /// Claude: the model name `message_start` reports (the requested name, when the channel
    /// mapped it to another upstream model).
    rename: Option<String>,
    /// Responses: the hosted-tool calls of the terminal event, and the upstream model they are
    /// priced for.
    tool_calls: std::collections::BTreeMap<String, (i64, i64)>,
    upstream_model: String,
}

impl Passthrough {
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            buf: Vec::new(),
            usage: None,
            content: String::new(),
            frames: 0,
            secrets: Secrets::default(),
            rename: None,
            tool_calls: std::collections::BTreeMap::new(),
            upstream_model: String::new(),
        }
    }

    /// Responses: the model the upstream was asked for (hosted-tool prices depend on it).
    pub fn for_model(mut self, model: &str) -> Self {
        self.upstream_model = model.to_owned();
        self
    }

    /// Reports `model` as the model of a Claude stream (`message_start.message.model`).
    pub fn renaming(mut self, model: Option<String>) -> Self {
        self.rename = model;
        self
    }

    /// A Claude `message_start` (or a Responses event's `response`) data with the model
    /// renamed, when a rename applies.
    fn renamed(&self, e: &Event) -> Option<Vec<u8>> {
        let model = self.rename.as_deref()?;
        let pointer = match (self.protocol, e.name.as_deref()) {
            (Protocol::Claude, Some("message_start")) => "/message/model",
            (Protocol::Responses, _) if e.data.contains("\"response\"") => "/response/model",
            _ => return None,
        };
        let mut v: Value = serde_json::from_str(&e.data).ok()?;
        *v.pointer_mut(pointer)? = Value::String(model.to_owned());
        serde_json::to_vec(&v).ok()
    }

    /// Forwards one frame (`content` without its separator `sep`), masked when it is an error
    /// event that shows a secret.
    fn forward(&mut self, content: &[u8], sep: &[u8], out: &mut Vec<u8>) {
        let Some(e) = parse_event(content) else {
            out.extend_from_slice(content);
            out.extend_from_slice(sep);
            return;
        };
        self.observe(&e);
        let masked = if e.name.as_deref() == Some("error") {
            self.secrets.mask_bytes(e.data.as_bytes())
        } else if let Some(renamed) = self.renamed(&e) {
            Some(renamed)
        } else {
            mask_error_data(&self.secrets, e.data.as_bytes())
        };
        match masked {
            Some(masked) => {
                if let Some(name) = &e.name {
                    out.extend_from_slice(b"event: ");
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'\n');
                }
                // One `data:` line per line of the payload (masked text may span lines).
                for (i, line) in masked.split(|b| *b == b'\n').enumerate() {
                    if i > 0 {
                        out.push(b'\n');
                    }
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line);
                }
                out.extend_from_slice(if sep.is_empty() { b"\n\n" } else { sep });
            }
            None => {
                out.extend_from_slice(content);
                out.extend_from_slice(sep);
            }
        }
    }

    fn observe(&mut self, e: &Event) {
        let Ok(data) = serde_json::from_str::<Value>(&e.data) else {
            return;
        };
        self.frames += 1;
        native_usage(self.protocol, e.name.as_deref(), &data, &mut self.usage);
        // Text for estimates: Claude text deltas; Gemini candidate text parts.
        match self.protocol {
            Protocol::Claude => {
                if let Some(t) = data
                    .get("delta")
                    .and_then(|d| d.get("text"))
                    .and_then(Value::as_str)
                {
                    self.content.push_str(t);
                }
            }
            Protocol::Responses => match data.get("type").and_then(Value::as_str) {
                Some("response.output_text.delta") => {
                    if let Some(t) = data.get("delta").and_then(Value::as_str) {
                        self.content.push_str(t);
                    }
                }
                Some("response.completed" | "response.incomplete" | "response.failed") => {
                    if let Some(r) = data.get("response") {
                        self.tool_calls = crate::responses::tool_calls(r, &self.upstream_model);
                    }
                }
                _ => {}
            },
            Protocol::Gemini => {
                let ir = gemini::response_to_openai(&data, "");
                if let Some(t) = ir
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                {
                    self.content.push_str(t);
                }
            }
            Protocol::OpenAi | Protocol::Native(_) => {}
        }
    }
}

impl StreamTransform for Passthrough {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.buf.extend_from_slice(chunk);
        let buf = std::mem::take(&mut self.buf);
        let mut start = 0;
        while let Some((end, sep)) = find_frame_end(&buf[start..]) {
            let content = &buf[start..start + end];
            let separator = &buf[start + end..start + end + sep];
            self.forward(content, separator, out);
            start += end + sep;
        }
        self.buf = buf;
        self.buf.drain(..start);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            self.forward(&rest, b"", out);
        }
    }
    fn usage(&self) -> Option<Usage> {
        self.usage
    }
    fn take_content(&mut self) -> String {
        std::mem::take(&mut self.content)
    }
    fn frames(&self) -> u64 {
        self.frames
    }
    fn error_frame(&mut self, message: &str) -> Vec<u8> {
        error_frame(self.protocol, &self.secrets.mask_str(message))
    }
    fn tool_calls(&self) -> std::collections::BTreeMap<String, (i64, i64)> {
        self.tool_calls.clone()
    }
    fn set_secrets(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }
}

enum Upstream {
    OpenAi,
    Claude(claude::ToOpenAiStream),
    Gemini(gemini::ToOpenAiStream),
    Ollama(crate::ollama::ToOpenAiStream),
    Cohere(crate::cohere::ToOpenAiStream),
    Cloudflare(crate::cloudflare::ToOpenAiStream),
    Coze(crate::coze::ToOpenAiStream),
    DashScope(crate::dashscope::ToOpenAiStream),
    Baidu(crate::baidu::ToOpenAiStream),
    Hunyuan(crate::hunyuan::ToOpenAiStream),
    Xunfei(crate::xunfei::ToOpenAiStream),
    Responses(crate::responses::ToOpenAiStream),
}

enum Inbound {
    OpenAi { include_usage: bool, done: bool },
    Claude(claude::FromOpenAiStream),
    Gemini(gemini::FromOpenAiStream),
    Responses(crate::responses::FromOpenAiStream),
}

/// Any other pair: upstream events → OpenAI chunks (IR) → inbound events.
pub struct Converting {
    parser: SseParser,
    /// NDJSON upstreams (Ollama): the unfinished line; `None` for SSE upstreams.
    lines: Option<Vec<u8>>,
    up: Upstream,
    inbound: Inbound,
    inbound_protocol: Protocol,
    usage: Option<Usage>,
    content: String,
    frames: u64,
    /// The requested model name, written into every outgoing chunk.
    model: String,
    finished: bool,
    secrets: Secrets,
}

impl Converting {
    /// `include_usage`: an OpenAI client asked for the usage chunk.
    pub fn new(upstream: Protocol, inbound: Protocol, model: &str, include_usage: bool) -> Self {
        let up = match upstream {
            Protocol::OpenAi => Upstream::OpenAi,
            Protocol::Claude => Upstream::Claude(claude::ToOpenAiStream::new()),
            Protocol::Gemini => Upstream::Gemini(gemini::ToOpenAiStream::new(model)),
            Protocol::Responses => {
                Upstream::Responses(crate::responses::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Ollama) => {
                Upstream::Ollama(crate::ollama::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Cohere) => {
                Upstream::Cohere(crate::cohere::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Cloudflare) => {
                Upstream::Cloudflare(crate::cloudflare::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Coze) => {
                Upstream::Coze(crate::coze::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::DashScope) => {
                Upstream::DashScope(crate::dashscope::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Baidu) => {
                Upstream::Baidu(crate::baidu::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Hunyuan) => {
                Upstream::Hunyuan(crate::hunyuan::ToOpenAiStream::new(model))
            }
            Protocol::Native(Native::Xunfei) => {
                Upstream::Xunfei(crate::xunfei::ToOpenAiStream::new(model))
            }
        };
        let lines = matches!(upstream, Protocol::Native(Native::Ollama));
        let inb = match inbound {
            Protocol::OpenAi | Protocol::Native(_) => Inbound::OpenAi {
                include_usage,
                done: false,
            },
            Protocol::Claude => Inbound::Claude(claude::FromOpenAiStream::new(model)),
            Protocol::Gemini => Inbound::Gemini(gemini::FromOpenAiStream::new(model)),
            Protocol::Responses => Inbound::Responses(crate::responses::FromOpenAiStream::new(
                model,
                crate::responses::Echo::default(),
            )),
        };
        Self {
            parser: SseParser::default(),
            lines: lines.then(Vec::new),
            up,
            inbound: inb,
            inbound_protocol: inbound,
            usage: None,
            content: String::new(),
            frames: 0,
            model: model.to_owned(),
            finished: false,
            secrets: Secrets::default(),
        }
    }

    fn ir_chunks(&mut self, e: &Event) -> Vec<Value> {
        if e.data.trim() == "[DONE]" {
            return Vec::new();
        }
        let Ok(data) = serde_json::from_str::<Value>(&e.data) else {
            return Vec::new();
        };
        self.frames += 1;
        match &mut self.up {
            Upstream::OpenAi => vec![data],
            Upstream::Claude(c) => c.event(e.name.as_deref().unwrap_or_default(), &data),
            Upstream::Gemini(g) => g.data(&data),
            Upstream::Ollama(o) => o.line(&data),
            Upstream::Cohere(c) => c.event(e.name.as_deref(), &data),
            Upstream::Cloudflare(c) => c.data(&data),
            Upstream::Coze(c) => c.data(&data),
            Upstream::DashScope(c) => c.data(&data),
            Upstream::Baidu(c) => c.data(&data),
            Upstream::Hunyuan(c) => c.data(&data),
            Upstream::Xunfei(c) => c.data(&data),
            Upstream::Responses(c) => c.data(&data),
        }
    }

    /// NDJSON: each complete line is one event's data.
    fn feed_lines(&mut self, chunk: &[u8], out: &mut Vec<u8>, last: bool) {
        let Some(mut buf) = self.lines.take() else {
            return;
        };
        buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(n) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(&buf[start..start + n])
                .trim()
                .to_owned();
            start += n + 1;
            if !line.is_empty() {
                let chunks = self.ir_chunks(&Event {
                    name: None,
                    data: line,
                });
                self.emit(chunks, out);
            }
        }
        buf.drain(..start);
        if last && !buf.is_empty() {
            let line = String::from_utf8_lossy(&buf).trim().to_owned();
            buf.clear();
            if !line.is_empty() {
                let chunks = self.ir_chunks(&Event {
                    name: None,
                    data: line,
                });
                self.emit(chunks, out);
            }
        }
        self.lines = Some(buf);
    }

    fn emit(&mut self, chunks: Vec<Value>, out: &mut Vec<u8>) {
        for mut c in chunks {
            if c.get("error").is_some() {
                // An upstream error event, converted: no field may carry a secret.
                self.secrets.mask_value(&mut c);
            }
            if let Some(u) = c
                .get("usage")
                .filter(|u| !u.is_null())
                .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok())
            {
                self.usage = Some(u);
            }
            text_of_ir_chunk(&c, &mut self.content);
            if let Some(m) = c.get_mut("model") {
                *m = Value::String(self.model.clone());
            }
            match &mut self.inbound {
                Inbound::OpenAi { include_usage, .. } => {
                    let usage_only = c
                        .get("choices")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
                        && c.get("usage").is_some_and(|u| !u.is_null());
                    if usage_only && !*include_usage {
                        continue;
                    }
                    out.extend_from_slice(format!("data: {c}\n\n").as_bytes());
                }
                Inbound::Claude(conv) => {
                    for (name, data) in conv.chunk(&c) {
                        out.extend_from_slice(
                            format!("event: {name}\ndata: {data}\n\n").as_bytes(),
                        );
                    }
                }
                Inbound::Gemini(conv) => {
                    for data in conv.chunk(&c) {
                        out.extend_from_slice(format!("data: {data}\r\n\r\n").as_bytes());
                    }
                }
                Inbound::Responses(conv) => write_events(conv.chunk(&c), out),
            }
        }
    }
}

/// Responses events as SSE: `event: <type>` and the JSON payload.
fn write_events(events: Vec<(String, Value)>, out: &mut Vec<u8>) {
    for (name, data) in events {
        out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
    }
}

impl Converting {
    /// A Responses client: the request whose fields the Responses objects echo.
    pub fn responding_to(mut self, request: &serde_json::Map<String, Value>) -> Self {
        if let Inbound::Responses(conv) = &mut self.inbound {
            conv.set_echo(crate::responses::Echo::of(request));
        }
        self
    }
}

impl StreamTransform for Converting {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.lines.is_some() {
            return self.feed_lines(chunk, out, false);
        }
        for e in self.parser.push(chunk) {
            let chunks = self.ir_chunks(&e);
            self.emit(chunks, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.lines.is_some() {
            self.feed_lines(&[], out, true);
        } else if let Some(e) = self.parser.finish() {
            let chunks = self.ir_chunks(&e);
            self.emit(chunks, out);
        }
        let tail = match &mut self.up {
            Upstream::Gemini(g) => g.finish(),
            Upstream::Cloudflare(c) => c.finish(),
            _ => Vec::new(),
        };
        self.emit(tail, out);
        match &mut self.inbound {
            Inbound::OpenAi { done, .. } => {
                if !*done {
                    *done = true;
                    out.extend_from_slice(b"data: [DONE]\n\n");
                }
            }
            Inbound::Claude(conv) => {
                for (name, data) in conv.finish() {
                    out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
                }
            }
            Inbound::Gemini(conv) => {
                for data in conv.finish() {
                    out.extend_from_slice(format!("data: {data}\r\n\r\n").as_bytes());
                }
            }
            Inbound::Responses(conv) => write_events(conv.finish(), out),
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
    fn take_content(&mut self) -> String {
        std::mem::take(&mut self.content)
    }
    fn frames(&self) -> u64 {
        self.frames
    }
    fn error_frame(&mut self, message: &str) -> Vec<u8> {
        let message = self.secrets.mask_str(message);
        if let Inbound::Responses(conv) = &mut self.inbound {
            let mut out = Vec::new();
            write_events(conv.fail(&message), &mut out);
            return out;
        }
        error_frame(self.inbound_protocol, &message)
    }
    fn set_secrets(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }
}
