//! Server-sent events passed through chunk by chunk.
//!
//! [`SseProcessor`] cuts the upstream byte stream into frames (`\n\n` or `\r\n\r\n`), records
//! usage as frames pass, drops the final usage-only chunk when the client did not ask for it,
//! and renames the model when a mapping applies. Frames are forwarded as soon as they are
//! complete; nothing is buffered beyond one partial frame.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use std::borrow::Cow;

use bytes::Bytes;
use futures_util::Stream;
use hub_core::redact::Secrets;
use serde::Deserialize;
use serde_json::Value;

use crate::usage::Usage;

/// What to do with the frames.
#[derive(Debug, Clone, Default)]
pub struct SseOptions {
    /// Drop the `choices: []` chunk that only carries usage (the client did not ask for it).
    pub strip_usage_chunk: bool,
    /// Replace the `model` field of every chunk with this name.
    pub rename_model: Option<String>,
}

/// Frame-by-frame SSE rewriter with usage extraction.
#[derive(Debug, Default)]
pub struct SseProcessor {
    opts: SseOptions,
    buf: Vec<u8>,
    /// The last non-null usage seen.
    pub usage: Option<Usage>,
    /// `data: [DONE]` was seen.
    pub done: bool,
    /// Number of data frames forwarded (content chunks, roughly).
    pub frames: u64,
    /// Bytes of text content (`choices[].delta.content` / `text`) seen, for billing fallbacks.
    pub content: String,
    /// Keep the streamed text (only when the upstream may not report usage).
    pub collect_content: bool,
    /// The channel's secrets, masked in upstream error frames.
    pub secrets: Secrets,
}

/// End of the first complete SSE frame in `buf`: (end of its content, length of the separator),
/// accepting `\n\n` and `\r\n\r\n`.
pub(crate) fn find_frame_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some((i, 2));
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

/// Whether `needle` occurs in `hay` (SIMD search: bodies are scanned on every request).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

impl SseProcessor {
    pub fn new(opts: SseOptions) -> Self {
        Self {
            opts,
            ..Default::default()
        }
    }

    /// Feeds upstream bytes; appends every completed (possibly rewritten) frame to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some((end, sep)) = find_frame_end(&self.buf[start..]) {
            let frame_end = start + end;
            let next = frame_end + sep;
            let frame = self.buf[start..next].to_vec();
            self.process(&frame, end, out);
            start = next;
        }
        if start > 0 {
            self.buf.drain(..start);
        }
    }

    /// Flushes a trailing partial frame unchanged (an upstream that ended without a blank line).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let len = rest.len();
            self.process(&rest, len, out);
        }
    }

    /// `frame` is the frame with its separator; `content_len` excludes the separator.
    fn process(&mut self, frame: &[u8], content_len: usize, out: &mut Vec<u8>) {
        let content = &frame[..content_len];
        let Some(data) = data_payload(content) else {
            out.extend_from_slice(frame);
            return;
        };
        if data.trim_ascii() == b"[DONE]" {
            self.done = true;
            out.extend_from_slice(frame);
            return;
        }
        self.frames += 1;
        // An error frame (`"error"` in its data, or an `event: error` line) shows no secret.
        if !self.secrets.is_empty()
            && contains(content, b"error")
            && let Some(masked) = self.secrets.mask_bytes(data)
        {
            for (i, line) in content.split(|b| *b == b'\n').enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                if line.starts_with(b"data:") {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&masked);
                    if line.ends_with(b"\r") {
                        out.push(b'\r');
                    }
                } else {
                    out.extend_from_slice(line);
                }
            }
            out.extend_from_slice(&frame[content_len..]);
            return;
        }
        let has_usage = contains(data, b"\"usage\"") && !contains(data, b"\"usage\":null");
        if self.collect_content && self.usage.is_none() {
            // The text only sizes a fallback estimate for an upstream that sends no usage, so
            // it is gathered only until usage is seen.
            chunk_text(data, &mut self.content);
        }
        let needs_parse = has_usage || self.opts.rename_model.is_some();
        if !needs_parse {
            out.extend_from_slice(frame);
            return;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
            out.extend_from_slice(frame);
            return;
        };
        let mut usage_only = false;
        if has_usage && let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            if let Ok(u) = serde_json::from_value::<Usage>(u.clone()) {
                self.usage = Some(u);
            }
            usage_only = v
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty);
        }
        if usage_only && self.opts.strip_usage_chunk {
            return;
        }
        if let Some(name) = &self.opts.rename_model {
            if let Some(m) = v.get_mut("model") {
                *m = Value::String(name.clone());
            }
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
            out.extend_from_slice(&frame[content_len..]);
            return;
        }
        out.extend_from_slice(frame);
    }
}

/// An OpenAI stream chunk as far as its text goes; every other field is skipped unparsed.
#[derive(Deserialize)]
struct TextChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<TextChoice<'a>>,
}

#[derive(Deserialize)]
struct TextChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<TextDelta<'a>>,
    /// Completions chunks carry `text`.
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TextDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// Appends the text of an OpenAI chunk (`choices[].delta.content`, `choices[].text`) to `out`.
/// The frame is parsed as JSON (any spacing, any escapes); a frame that is not a chunk adds
/// nothing.
fn chunk_text(data: &[u8], out: &mut String) {
    let Ok(chunk) = serde_json::from_slice::<TextChunk<'_>>(data) else {
        return;
    };
    for c in chunk.choices {
        if let Some(t) = c.delta.and_then(|d| d.content) {
            out.push_str(&t);
        }
        if let Some(t) = c.text {
            out.push_str(&t);
        }
    }
}

/// The data of an upstream error frame with the channel's secrets masked, or `None` when the
/// frame is not an error or shows no secret. Only frames that mention `error` are looked at.
pub(crate) fn mask_error_data(secrets: &Secrets, data: &[u8]) -> Option<Vec<u8>> {
    if secrets.is_empty() || !contains(data, b"error") {
        return None;
    }
    secrets.mask_bytes(data)
}

/// The payload of a frame's `data:` line(s) when the frame has exactly one data line.
fn data_payload(frame: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    for line in frame.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            if found.is_some() {
                return None;
            }
            found = Some(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    found
}

/// A stateful byte transform with usage accounting.
pub trait StreamTransform: Send {
    /// Feeds upstream bytes; appends whatever is ready for the client to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>);
    /// The upstream ended: flush and close the inbound protocol's stream properly.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The last usage reported (OpenAI shape).
    fn usage(&self) -> Option<Usage>;
    /// Text content delivered so far (for counting when no usage comes).
    fn take_content(&mut self) -> String;
    /// Data frames seen.
    fn frames(&self) -> u64;
    /// The inbound protocol's error event for a stream that broke.
    fn error_frame(&mut self, message: &str) -> Vec<u8>;
    /// The channel's secrets, masked in upstream error frames and in `error_frame` messages.
    fn set_secrets(&mut self, secrets: Secrets);
    /// Hosted-tool calls the upstream reported (Responses API), billed per call: service →
    /// (calls, micro-USD per call).
    fn tool_calls(&self) -> std::collections::BTreeMap<String, (i64, i64)> {
        std::collections::BTreeMap::new()
    }
    /// The upstream signalled a proper end (OpenAI `[DONE]`; otherwise the end of the body).
    fn done(&self) -> bool {
        true
    }
}

impl StreamTransform for SseProcessor {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        SseProcessor::feed(self, chunk, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        SseProcessor::finish(self, out);
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
    fn done(&self) -> bool {
        self.done
    }
    fn error_frame(&mut self, message: &str) -> Vec<u8> {
        let message = self.secrets.mask_str(message);
        format!(
            "data: {}\n\n",
            serde_json::json!({"error": {"message": message, "type": "upstream_error"}})
        )
        .into_bytes()
    }
    fn set_secrets(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }
}

/// What happened to a relayed stream, reported once when it ends or is dropped.
#[derive(Debug, Clone, Default)]
pub struct StreamOutcome {
    pub usage: Option<Usage>,
    pub completed: bool,
    /// The client went away before the upstream finished.
    pub client_gone: bool,
    pub upstream_error: Option<String>,
    pub frames: u64,
    pub content: String,
    /// When the first bytes went to the client.
    pub first_at: Option<std::time::Instant>,
    /// Hosted-tool calls to bill per call (see [`StreamTransform::tool_calls`]).
    pub tool_calls: std::collections::BTreeMap<String, (i64, i64)>,
}

/// Wraps an upstream byte stream: rewrites frames as they pass and calls `on_end` exactly once.
pub struct RelayStream<S> {
    inner: Option<Pin<Box<S>>>,
    proc: Box<dyn StreamTransform>,
    on_end: Option<Box<dyn FnOnce(StreamOutcome) + Send>>,
    finished: bool,
    first_at: Option<std::time::Instant>,
}

impl<S> RelayStream<S> {
    pub fn new(
        inner: S,
        proc: Box<dyn StreamTransform>,
        on_end: Box<dyn FnOnce(StreamOutcome) + Send>,
    ) -> Self {
        Self {
            inner: Some(Box::pin(inner)),
            proc,
            on_end: Some(on_end),
            finished: false,
            first_at: None,
        }
    }

    fn report(&mut self, completed: bool, client_gone: bool, upstream_error: Option<String>) {
        if let Some(cb) = self.on_end.take() {
            cb(StreamOutcome {
                usage: self.proc.usage(),
                completed,
                client_gone,
                upstream_error,
                frames: self.proc.frames(),
                content: self.proc.take_content(),
                first_at: self.first_at,
                tool_calls: self.proc.tool_calls(),
            });
        }
    }
}

impl<S, E> Stream for RelayStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let mut out = Vec::with_capacity(chunk.len() + 16);
                    this.proc.feed(&chunk, &mut out);
                    if !out.is_empty() {
                        if this.first_at.is_none() {
                            this.first_at = Some(std::time::Instant::now());
                        }
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    this.inner = None;
                    let msg = format!("upstream stream error: {e}");
                    let frame = this.proc.error_frame(&msg);
                    this.report(false, false, Some(msg));
                    return Poll::Ready(Some(Ok(Bytes::from(frame))));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    this.inner = None;
                    let mut out = Vec::new();
                    this.proc.finish(&mut out);
                    let done = this.proc.done();
                    this.report(done, false, None);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<S> Drop for RelayStream<S> {
    fn drop(&mut self) {
        // Dropped before the upstream finished: the client went away. Dropping `inner` closes
        // the upstream connection, so nobody pays for tokens no one reads.
        if !self.finished {
            self.inner = None;
            self.report(false, true, None);
        }
    }
}

#[cfg(test)]
mod tests;
