//! Stateful stream converters: [`ToOpenAiStream`] turns a Gemini channel's
//! `streamGenerateContent?alt=sse` data objects into OpenAI chunks; [`FromOpenAiStream`] turns
//! OpenAI chunks into the data objects a Gemini client reads. Best effort, never failing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    Obj, args_object,
    fields::{get, get_arr, get_obj, get_str},
    gemini_id, new_id, now_secs,
    response::{
        block_text, candidate, digest, error_body, finish_from_openai, finish_to_openai,
        message_parts, openai_error, prompt_block, usage_from_openai, usage_to_openai,
    },
    tool_call,
};

// ---------------------------------------------------------------------------------------------
// Gemini data objects → OpenAI chunks
// ---------------------------------------------------------------------------------------------

/// Gemini `streamGenerateContent?alt=sse` data objects → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    model: String,
    id: String,
    created: u64,
    emitted: bool,
    started: BTreeSet<u64>,
    /// Tool calls sent so far, per choice (the next `tool_calls[].index`).
    calls: BTreeMap<u64, u64>,
    /// Choices that already carried content (a later filter needs no explanation).
    texted: BTreeSet<u64>,
    next_call: u64,
    usage: Option<Value>,
    finished: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            id: new_id(),
            created: now_secs(),
            emitted: false,
            started: BTreeSet::new(),
            calls: BTreeMap::new(),
            texted: BTreeSet::new(),
            next_call: 0,
            usage: None,
            finished: false,
        }
    }

    fn chunk(&mut self, choices: Vec<Value>) -> Value {
        self.emitted = true;
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// One upstream `data:` object; returns OpenAI chunk objects (at most one, or an
    /// `{"error":…}` object when Gemini reported an error mid-stream).
    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        let Some(o) = d.as_object() else {
            return Vec::new();
        };
        if let Some(err) = get(o, "error") {
            return vec![json!({ "error": openai_error(err) })];
        }
        if !self.emitted
            && let Some(r) = get_str(o, "responseId").filter(|r| !r.is_empty())
        {
            self.id = format!("chatcmpl-{r}");
        }
        if let Some(meta) = get_obj(o, "usageMetadata") {
            self.usage = Some(usage_to_openai(meta));
        }
        let candidates = get_arr(o, "candidates");
        if candidates.is_empty() {
            let Some(text) = prompt_block(o) else {
                return Vec::new();
            };
            let mut delta = Obj::new();
            if self.started.insert(0) {
                delta.insert("role".into(), json!("assistant"));
            }
            delta.insert("content".into(), json!(text));
            let choice = json!({ "index": 0, "delta": delta, "finish_reason": "content_filter" });
            return vec![self.chunk(vec![choice])];
        }
        let mut choices = Vec::new();
        for (pos, c) in candidates.iter().enumerate() {
            let Some(c) = c.as_object() else {
                continue;
            };
            let idx = get(c, "index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let d = digest(get(c, "content"));
            let mut delta = Obj::new();
            if self.started.insert(idx) {
                delta.insert("role".into(), json!("assistant"));
            }
            if !d.reasoning.is_empty() {
                delta.insert("reasoning_content".into(), json!(d.reasoning));
            }
            let mut text = d.text;
            if !d.calls.is_empty() {
                let mut calls = Vec::new();
                for (id, name, args) in &d.calls {
                    let id = id.clone().unwrap_or_else(|| {
                        self.next_call += 1;
                        format!("call_{}", self.next_call)
                    });
                    let n = self.calls.entry(idx).or_insert(0);
                    let mut call = tool_call(&id, name, args);
                    if let Value::Object(m) = &mut call {
                        m.insert("index".into(), json!(*n));
                    }
                    *n += 1;
                    calls.push(call);
                }
                delta.insert("tool_calls".into(), Value::Array(calls));
            }
            let reason = get_str(c, "finishReason");
            let has_calls = self.calls.contains_key(&idx);
            let finish = finish_to_openai(reason, has_calls);
            if finish == Some("content_filter")
                && text.is_empty()
                && !has_calls
                && !self.texted.contains(&idx)
            {
                text = block_text(
                    "response",
                    reason.unwrap_or("SAFETY"),
                    get_arr(c, "safetyRatings"),
                    get_str(c, "finishMessage"),
                );
            }
            if !text.is_empty() {
                self.texted.insert(idx);
                delta.insert("content".into(), json!(text));
            }
            choices.push(json!({ "index": idx, "delta": delta, "finish_reason": finish }));
        }
        if choices.is_empty() {
            return Vec::new();
        }
        vec![self.chunk(choices)]
    }

    /// After the last upstream object: the usage chunk (`choices: []`) when usage was seen.
    /// Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let Some(usage) = self.usage.clone() else {
            return Vec::new();
        };
        let mut chunk = self.chunk(Vec::new());
        if let Value::Object(m) = &mut chunk {
            m.insert("usage".into(), usage);
        }
        vec![chunk]
    }

    /// Usage seen so far (Gemini's is cumulative: the last `usageMetadata`), as OpenAI usage.
    pub fn usage(&self) -> Option<Value> {
        self.usage.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI chunks → Gemini data objects
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    args: String,
}

impl PendingCall {
    fn part(&self) -> Value {
        let mut call = Obj::new();
        call.insert("name".into(), json!(self.name));
        call.insert("args".into(), args_object(Some(&json!(self.args))));
        if !self.id.is_empty() {
            call.insert("id".into(), json!(self.id));
        }
        json!({ "functionCall": call })
    }
}

/// OpenAI chunks → Gemini `streamGenerateContent?alt=sse` data objects.
#[derive(Debug)]
pub struct FromOpenAiStream {
    model: String,
    response_id: Option<String>,
    /// Tool calls being assembled, by `(choice index, tool call index)`.
    calls: BTreeMap<(u64, u64), PendingCall>,
    /// Finish reasons seen (Gemini names), by choice index, waiting for the final object.
    finish: BTreeMap<u64, &'static str>,
    usage: Option<Value>,
    done: bool,
}

impl FromOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            response_id: None,
            calls: BTreeMap::new(),
            finish: BTreeMap::new(),
            usage: None,
            done: false,
        }
    }

    fn object(&self, candidates: Vec<Value>, usage: bool) -> Value {
        let mut o = Obj::new();
        o.insert("candidates".into(), Value::Array(candidates));
        if usage && let Some(u) = &self.usage {
            o.insert("usageMetadata".into(), u.clone());
        }
        o.insert("modelVersion".into(), json!(self.model));
        if let Some(id) = &self.response_id {
            o.insert("responseId".into(), json!(id));
        }
        Value::Object(o)
    }

    /// Removes and returns the finished calls of `choice` with a tool index below `below`.
    fn take_calls(&mut self, choice: u64, below: u64) -> Vec<Value> {
        let keys: Vec<(u64, u64)> = self
            .calls
            .range((choice, 0)..(choice, below))
            .map(|(k, _)| *k)
            .collect();
        keys.iter()
            .filter_map(|k| self.calls.remove(k))
            .map(|c| c.part())
            .collect()
    }

    /// One OpenAI chunk; returns Gemini objects to send.
    pub fn chunk(&mut self, c: &Value) -> Vec<Value> {
        let Some(o) = c.as_object() else {
            return Vec::new();
        };
        if let Some(err) = get(o, "error") {
            let e = err.as_object();
            let code = e
                .and_then(|e| get(e, "code"))
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            let message = e
                .and_then(|e| get_str(e, "message"))
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            return vec![error_body(code, &message)];
        }
        if self.response_id.is_none()
            && let Some(id) = get_str(o, "id")
        {
            self.response_id = Some(gemini_id(id));
        }
        let usage_here = get_obj(o, "usage").map(usage_from_openai);
        if let Some(u) = &usage_here {
            self.usage = Some(u.clone());
        }
        if self.done {
            return Vec::new();
        }
        let mut candidates = Vec::new();
        for (pos, ch) in get_arr(o, "choices").iter().enumerate() {
            let Some(ch) = ch.as_object() else {
                continue;
            };
            let idx = get(ch, "index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let empty = Obj::new();
            let delta = get_obj(ch, "delta").unwrap_or(&empty);
            let mut parts = Vec::new();
            for (k, tc) in get_arr(delta, "tool_calls").iter().enumerate() {
                let Some(tc) = tc.as_object() else {
                    continue;
                };
                let t = get(tc, "index").and_then(Value::as_u64).unwrap_or(k as u64);
                // A later call starting means the earlier ones are complete.
                parts.extend(self.take_calls(idx, t));
                let entry = self.calls.entry((idx, t)).or_default();
                if let Some(id) = get_str(tc, "id").filter(|s| !s.is_empty()) {
                    entry.id = id.to_string();
                }
                if let Some(f) = get_obj(tc, "function") {
                    if let Some(n) = get_str(f, "name").filter(|s| !s.is_empty()) {
                        entry.name = n.to_string();
                    }
                    if let Some(a) = get_str(f, "arguments") {
                        entry.args.push_str(a);
                    }
                }
            }
            let mut text_parts = message_parts(&text_only(delta));
            if !text_parts.is_empty() {
                // Content after a call means the call is complete.
                parts.extend(self.take_calls(idx, u64::MAX));
                parts.append(&mut text_parts);
            }
            if let Some(f) = get_str(ch, "finish_reason") {
                self.finish.insert(idx, finish_from_openai(f));
            }
            if !parts.is_empty() {
                candidates.push(candidate(idx, parts, None));
            }
        }
        let mut out = Vec::new();
        if !candidates.is_empty() {
            out.push(self.object(candidates, false));
        }
        if usage_here.is_some() && !self.finish.is_empty() {
            out.extend(self.final_object());
        }
        out
    }

    fn final_object(&mut self) -> Vec<Value> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut choices: BTreeSet<u64> = self.finish.keys().copied().collect();
        choices.extend(self.calls.keys().map(|(c, _)| *c));
        let candidates: Vec<Value> = choices
            .into_iter()
            .map(|idx| {
                let parts = self.take_calls(idx, u64::MAX);
                candidate(idx, parts, self.finish.get(&idx).copied())
            })
            .collect();
        if candidates.is_empty() && self.usage.is_none() {
            return Vec::new();
        }
        vec![self.object(candidates, true)]
    }

    /// After the last chunk (or `[DONE]`): the final object with pending tool calls,
    /// `finishReason` and `usageMetadata`, unless already sent. Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        self.final_object()
    }
}

/// The text-bearing fields of a delta (no tool calls: those are assembled separately).
fn text_only(delta: &Obj) -> Obj {
    delta
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "content" | "reasoning_content" | "reasoning" | "refusal"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
