//! Stateful stream converters: [`ToOpenAiStream`] turns a Claude channel's SSE events into OpenAI
//! chunks; [`FromOpenAiStream`] turns OpenAI chunks into the SSE events a Claude client reads.
//! Best effort, never failing.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{
    claude_id, error_body, finish_reason_to_openai, fresh_suffix, now_secs, openai_error,
    openai_id, stop_reason_from_openai, str_of, u64_of, usage_from_openai, usage_to_openai,
};

// ---------------------------------------------------------------------------------------------
// Anthropic events → OpenAI chunks
// ---------------------------------------------------------------------------------------------

/// Anthropic SSE events → OpenAI `chat.completion.chunk` objects.
#[derive(Debug)]
pub struct ToOpenAiStream {
    id: String,
    model: String,
    created: u64,
    started: bool,
    /// Input tokens, cache creation, cache read (from `message_start`, or `message_delta`).
    input: Option<(u64, u64, u64)>,
    output: Option<u64>,
    /// Anthropic block index → OpenAI tool call index.
    tool_index: HashMap<u64, usize>,
    usage_sent: bool,
}

impl Default for ToOpenAiStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ToOpenAiStream {
    pub fn new() -> Self {
        Self {
            id: openai_id(None),
            model: String::new(),
            created: now_secs(),
            started: false,
            input: None,
            output: None,
            tool_index: HashMap::new(),
            usage_sent: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    fn start_chunk(&mut self, out: &mut Vec<Value>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        }
    }

    fn read_usage(&mut self, u: &Value) {
        if u.get("input_tokens").is_some_and(Value::is_u64) {
            self.input = Some((
                u64_of(Some(u), "input_tokens"),
                u64_of(Some(u), "cache_creation_input_tokens"),
                u64_of(Some(u), "cache_read_input_tokens"),
            ));
        }
        if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
            self.output = Some(o);
        }
    }

    /// One upstream event (`event:` name and parsed `data:`); returns OpenAI chunk objects.
    pub fn event(&mut self, name: &str, data: &Value) -> Vec<Value> {
        let name = if name.is_empty() {
            str_of(data, "type").unwrap_or_default()
        } else {
            name
        };
        let mut out = Vec::new();
        match name {
            "message_start" => {
                let msg = data.get("message");
                if let Some(id) = msg.and_then(|m| str_of(m, "id")) {
                    self.id = openai_id(Some(id));
                }
                if let Some(model) = msg.and_then(|m| str_of(m, "model")) {
                    self.model = model.to_owned();
                }
                if let Some(u) = msg.and_then(|m| m.get("usage")) {
                    self.read_usage(u);
                }
                self.start_chunk(&mut out);
            }
            "content_block_start" => {
                self.start_chunk(&mut out);
                let Some(block) = data.get("content_block") else {
                    return out;
                };
                match str_of(block, "type") {
                    Some("text") => {
                        if let Some(t) = str_of(block, "text").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"content": t}), Value::Null));
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) = str_of(block, "thinking").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"reasoning_content": t}), Value::Null));
                        }
                    }
                    Some("tool_use") => {
                        let block_index = u64_of(Some(data), "index");
                        let n = self.tool_index.len();
                        let n = *self.tool_index.entry(block_index).or_insert(n);
                        let args = match block.get("input") {
                            Some(Value::Object(o)) if !o.is_empty() => {
                                Value::Object(o.clone()).to_string()
                            }
                            _ => String::new(),
                        };
                        out.push(self.chunk(
                            json!({"tool_calls": [{
                                "index": n,
                                "id": str_of(block, "id").unwrap_or_default(),
                                "type": "function",
                                "function": {"name": str_of(block, "name").unwrap_or_default(), "arguments": args},
                            }]}),
                            Value::Null,
                        ));
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                self.start_chunk(&mut out);
                let Some(delta) = data.get("delta") else {
                    return out;
                };
                match str_of(delta, "type") {
                    Some("text_delta") => {
                        if let Some(t) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"content": t}), Value::Null));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = str_of(delta, "thinking").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"reasoning_content": t}), Value::Null));
                        }
                    }
                    Some("input_json_delta") => {
                        let block_index = u64_of(Some(data), "index");
                        let part = str_of(delta, "partial_json").unwrap_or_default();
                        if let Some(&n) = self.tool_index.get(&block_index)
                            && !part.is_empty()
                        {
                            out.push(self.chunk(
                                json!({"tool_calls": [{"index": n, "function": {"arguments": part}}]}),
                                Value::Null,
                            ));
                        }
                    }
                    // signature_delta, citations_delta, …: nothing to say in OpenAI terms.
                    _ => {}
                }
            }
            "message_delta" => {
                self.start_chunk(&mut out);
                if let Some(u) = data.get("usage") {
                    self.read_usage(u);
                }
                let stop = data.get("delta").and_then(|d| str_of(d, "stop_reason"));
                if stop.is_some() {
                    out.push(self.chunk(json!({}), finish_reason_to_openai(stop)));
                }
                if !self.usage_sent
                    && self.output.is_some()
                    && self.input.is_some()
                    && let Some(usage) = self.usage()
                {
                    self.usage_sent = true;
                    out.push(json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage,
                    }));
                }
            }
            "error" => out.push(json!({"error": openai_error(data.get("error"))})),
            // ping, content_block_stop, message_stop and unknown events.
            _ => {}
        }
        out
    }

    /// Usage seen so far (input from `message_start`, output from `message_delta`), as OpenAI
    /// usage.
    pub fn usage(&self) -> Option<Value> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let (input, write, read) = self.input.unwrap_or_default();
        Some(usage_to_openai(Some(&json!({
            "input_tokens": input,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": self.output.unwrap_or(0),
        }))))
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI chunks → Anthropic events
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text(u64),
    Thinking(u64),
    /// A tool call's block (its Anthropic block index).
    Tool(u64),
}

impl Block {
    fn index(self) -> u64 {
        match self {
            Block::Text(i) | Block::Thinking(i) | Block::Tool(i) => i,
        }
    }
}

/// OpenAI chunks → Anthropic SSE events (`(event name, data)` pairs).
#[derive(Debug)]
pub struct FromOpenAiStream {
    model: String,
    started: bool,
    finished: bool,
    open: Option<Block>,
    next_index: u64,
    /// OpenAI tool call index → Anthropic block index.
    tool_blocks: HashMap<u64, u64>,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

fn event(name: &str, data: Value) -> (String, Value) {
    (name.to_owned(), data)
}

impl FromOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            started: false,
            finished: false,
            open: None,
            next_index: 0,
            tool_blocks: HashMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<(String, Value)>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(event(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": claude_id(id),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        ));
    }

    fn close(&mut self, out: &mut Vec<(String, Value)>) {
        if let Some(b) = self.open.take() {
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": b.index()}),
            ));
        }
    }

    /// Makes a text (or thinking) block the open block, starting it when needed; returns its
    /// index.
    fn open_block(&mut self, thinking: bool, out: &mut Vec<(String, Value)>) -> u64 {
        match self.open {
            Some(Block::Text(i)) if !thinking => return i,
            Some(Block::Thinking(i)) if thinking => return i,
            _ => {}
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        let content_block = if thinking {
            self.open = Some(Block::Thinking(index));
            json!({"type": "thinking", "thinking": ""})
        } else {
            self.open = Some(Block::Text(index));
            json!({"type": "text", "text": ""})
        };
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        index
    }

    fn delta(index: u64, delta: Value) -> (String, Value) {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn tool_call(&mut self, pos: usize, tc: &Value, out: &mut Vec<(String, Value)>) {
        let tool = tc
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let f = tc.get("function");
        let args = f.and_then(|f| str_of(f, "arguments")).unwrap_or_default();
        let index = match self.tool_blocks.get(&tool) {
            Some(&index) => index,
            None => {
                self.close(out);
                let index = self.next_index;
                self.next_index += 1;
                self.tool_blocks.insert(tool, index);
                self.open = Some(Block::Tool(index));
                let id = str_of(tc, "id")
                    .filter(|id| !id.is_empty())
                    .map_or_else(|| format!("toolu_{}", fresh_suffix()), str::to_owned);
                let name = f.and_then(|f| str_of(f, "name")).unwrap_or_default();
                out.push(event(
                    "content_block_start",
                    json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}},
                    }),
                ));
                index
            }
        };
        if !args.is_empty() {
            // A piece for an earlier, already closed call (interleaved calls) still names that
            // call's block: the best that can be done once its block is closed.
            out.push(Self::delta(
                index,
                json!({"type": "input_json_delta", "partial_json": args}),
            ));
        }
    }

    /// One OpenAI chunk; returns `(event name, data)` pairs to send.
    pub fn chunk(&mut self, chunk: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            self.finished = true;
            let kind = str_of(err, "type").unwrap_or("api_error");
            let message = str_of(err, "message").unwrap_or("upstream error");
            out.push(event("error", error_body(kind, message)));
            return out;
        }
        self.start(str_of(chunk, "id"), &mut out);
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| u64_of(Some(c), "index") == 0));
        let Some(choice) = choice else {
            return out;
        };
        if let Some(delta) = choice.get("delta") {
            let reasoning =
                str_of(delta, "reasoning_content").or_else(|| str_of(delta, "reasoning"));
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                let i = self.open_block(true, &mut out);
                out.push(Self::delta(
                    i,
                    json!({"type": "thinking_delta", "thinking": r}),
                ));
            }
            for key in ["content", "refusal"] {
                if let Some(t) = str_of(delta, key).filter(|t| !t.is_empty()) {
                    let i = self.open_block(false, &mut out);
                    out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (pos, tc) in calls.iter().enumerate() {
                    self.tool_call(pos, tc, &mut out);
                }
            }
        }
        if let Some(reason) = str_of(choice, "finish_reason") {
            self.finish_reason = Some(reason.to_owned());
        }
        out
    }

    /// After the last chunk (or `[DONE]`): closes open blocks, `message_delta` (stop_reason,
    /// usage) and `message_stop`. Idempotent.
    pub fn finish(&mut self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        self.start(None, &mut out);
        self.close(&mut out);
        let stop =
            stop_reason_from_openai(self.finish_reason.as_deref(), !self.tool_blocks.is_empty());
        out.push(event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": usage_from_openai(self.usage.as_ref()),
            }),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
        out
    }
}
