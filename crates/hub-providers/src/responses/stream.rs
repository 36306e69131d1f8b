//! IR (chat) chunks → the Responses event sequence (`relay-families.md` §7.3): `created`,
//! `in_progress`, then per output item `output_item.added`, its part and delta events and
//! `output_item.done`, then exactly one terminal event (`completed`, `incomplete` or `failed`)
//! carrying every finished item and the usage. Every payload has `type` and a
//! `sequence_number` that counts from 0.

use serde_json::{Value, json};

use super::{Echo, item_id, status_of, usage_from_openai};

#[derive(Debug)]
enum Open {
    Reasoning {
        id: String,
        text: String,
    },
    /// `refusal`: the part is a refusal, not output text.
    Message {
        id: String,
        text: String,
        refusal: bool,
    },
    Tool {
        id: String,
        chat_index: u64,
        call_id: String,
        name: String,
        args: String,
    },
}

/// The stateful converter for one stream.
#[derive(Debug)]
pub struct FromOpenAiStream {
    echo: Echo,
    model: String,
    id: String,
    created_at: u64,
    seq: u64,
    started: bool,
    done_items: Vec<Value>,
    open: Option<Open>,
    finish: Option<String>,
    usage: Option<Value>,
    /// Text seen, to count output tokens when the upstream reports no usage.
    text: String,
    ended: bool,
}

type Events = Vec<(String, Value)>;

impl FromOpenAiStream {
    pub fn new(model: &str, echo: Echo) -> Self {
        Self {
            echo,
            model: model.to_owned(),
            id: String::new(),
            created_at: crate::convert::now_secs(),
            seq: 0,
            started: false,
            done_items: Vec::new(),
            open: None,
            finish: None,
            usage: None,
            text: String::new(),
            ended: false,
        }
    }

    /// The request fields the Responses objects echo.
    pub fn set_echo(&mut self, echo: Echo) {
        self.echo = echo;
    }

    fn event(&mut self, out: &mut Events, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push((kind.to_owned(), data));
    }

    fn response(&self, status: &str) -> Value {
        self.echo
            .response(&self.id, self.created_at, &self.model, status)
    }

    fn start(&mut self, chat_id: Option<&str>, out: &mut Events) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = item_id("resp_", chat_id.unwrap_or("stream"));
        let r = self.response("in_progress");
        self.event(out, "response.created", json!({"response": r}));
        let r = self.response("in_progress");
        self.event(out, "response.in_progress", json!({"response": r}));
    }

    fn output_index(&self) -> usize {
        self.done_items.len()
    }

    /// Closes the open item: its `done` events, and the item joins the finished ones.
    fn close(&mut self, out: &mut Events) {
        let Some(open) = self.open.take() else {
            return;
        };
        let oi = self.output_index();
        let item = match open {
            Open::Reasoning { id, text } => {
                let part = json!({"type": "summary_text", "text": text});
                self.event(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                );
                self.event(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "part": part}),
                );
                json!({"type": "reasoning", "id": id, "summary": [part]})
            }
            Open::Message { id, text, refusal } => {
                let part = if refusal {
                    self.event(out, "response.refusal.done",
                        json!({"item_id": id, "output_index": oi, "content_index": 0, "refusal": text}));
                    json!({"type": "refusal", "refusal": text})
                } else {
                    self.event(out, "response.output_text.done",
                        json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text, "logprobs": []}));
                    json!({"type": "output_text", "text": text, "annotations": []})
                };
                self.event(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "part": part}),
                );
                json!({"type": "message", "id": id, "status": "completed", "role": "assistant", "content": [part]})
            }
            Open::Tool {
                id,
                call_id,
                name,
                args,
                ..
            } => {
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": oi, "arguments": args}),
                );
                json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
                       "arguments": args, "status": "completed"})
            }
        };
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": oi, "item": item.clone()}),
        );
        self.done_items.push(item);
    }

    fn reasoning(&mut self, delta: &str, out: &mut Events) {
        if !matches!(self.open, Some(Open::Reasoning { .. })) {
            self.close(out);
            let id = item_id("rs_", &self.id);
            let oi = self.output_index();
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": oi, "item": {"type": "reasoning", "id": id, "summary": []}}),
            );
            self.event(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": oi, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
            );
            self.open = Some(Open::Reasoning {
                id,
                text: String::new(),
            });
        }
        let oi = self.output_index();
        if let Some(Open::Reasoning { id, text }) = &mut self.open {
            text.push_str(delta);
            let id = id.clone();
            self.event(
                out,
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": oi, "summary_index": 0, "delta": delta}),
            );
        }
    }

    fn message(&mut self, delta: &str, refusal: bool, out: &mut Events) {
        let same = matches!(&self.open, Some(Open::Message { refusal: r, .. }) if *r == refusal);
        if !same {
            self.close(out);
            let id = item_id("msg_", &self.id);
            let oi = self.output_index();
            self.event(out, "response.output_item.added",
                json!({"output_index": oi, "item": {"type": "message", "id": id, "status": "in_progress",
                                                    "role": "assistant", "content": []}}));
            let part = if refusal {
                json!({"type": "refusal", "refusal": ""})
            } else {
                json!({"type": "output_text", "text": "", "annotations": []})
            };
            self.event(
                out,
                "response.content_part.added",
                json!({"item_id": id, "output_index": oi, "content_index": 0, "part": part}),
            );
            self.open = Some(Open::Message {
                id,
                text: String::new(),
                refusal,
            });
        }
        let oi = self.output_index();
        if let Some(Open::Message { id, text, .. }) = &mut self.open {
            text.push_str(delta);
            let id = id.clone();
            let kind = if refusal {
                "response.refusal.delta"
            } else {
                "response.output_text.delta"
            };
            self.event(out, kind,
                json!({"item_id": id, "output_index": oi, "content_index": 0, "delta": delta, "logprobs": []}));
        }
    }

    fn tool_call(&mut self, tc: &Value, out: &mut Events) {
        let index = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
        let fragment = tc
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let same =
            matches!(&self.open, Some(Open::Tool { chat_index, .. }) if *chat_index == index);
        if !same {
            self.close(out);
            let id = item_id("fc_", &self.id);
            let call_id = tc
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| item_id("call_", &self.id), str::to_owned);
            let name = tc
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let oi = self.output_index();
            self.event(out, "response.output_item.added",
                json!({"output_index": oi, "item": {"type": "function_call", "id": id, "call_id": call_id,
                                                    "name": name, "arguments": "", "status": "in_progress"}}));
            self.open = Some(Open::Tool {
                id,
                chat_index: index,
                call_id,
                name,
                args: String::new(),
            });
        }
        if fragment.is_empty() {
            return;
        }
        let oi = self.output_index();
        if let Some(Open::Tool { id, args, .. }) = &mut self.open {
            args.push_str(&fragment);
            let id = id.clone();
            self.event(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": oi, "delta": fragment}),
            );
        }
    }

    /// The events for one IR chunk.
    pub fn chunk(&mut self, c: &Value) -> Events {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if let Some(e) = c.get("error") {
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_owned);
            return self.fail(&message);
        }
        self.start(c.get("id").and_then(Value::as_str), &mut out);
        if let Some(u) = c.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let Some(choice) = c.pointer("/choices/0") else {
            return out;
        };
        let delta = choice.get("delta");
        let field = |k: &str| {
            delta
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(r) = field("reasoning_content").or_else(|| field("reasoning")) {
            self.reasoning(&r, &mut out);
        }
        if let Some(t) = field("content") {
            self.text.push_str(&t);
            self.message(&t, false, &mut out);
        }
        if let Some(t) = field("refusal") {
            self.message(&t, true, &mut out);
        }
        for tc in delta
            .and_then(|d| d.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.tool_call(tc, &mut out);
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(f.to_owned());
        }
        out
    }

    /// The stream ended: the open item closed and the terminal event.
    pub fn finish(&mut self) -> Events {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.ended = true;
        self.start(None, &mut out);
        self.close(&mut out);
        let (status, reason) = status_of(self.finish.as_deref());
        let mut r = self.response(status);
        r["output"] = Value::Array(self.done_items.clone());
        if let Some(reason) = reason {
            r["incomplete_details"] = json!({"reason": reason});
        }
        let usage = self.usage.clone().unwrap_or_else(|| {
            let n = hub_core::pricing::estimate_tokens(&self.text);
            json!({"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n})
        });
        r["usage"] = usage_from_openai(&usage);
        let kind = format!("response.{status}");
        self.event(&mut out, &kind, json!({"response": r}));
        out
    }

    /// The answer broke: the open item closed, then `response.failed` with the reason (Codex
    /// reads `response.error`; the bare `error` event goes first for other clients).
    pub fn fail(&mut self, message: &str) -> Events {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.ended = true;
        self.start(None, &mut out);
        self.close(&mut out);
        self.event(
            &mut out,
            "error",
            json!({"code": "server_error", "message": message, "param": null}),
        );
        let mut r = self.response("failed");
        r["output"] = Value::Array(self.done_items.clone());
        r["error"] = json!({"code": "server_error", "message": message});
        if let Some(u) = &self.usage {
            r["usage"] = usage_from_openai(u);
        }
        self.event(&mut out, "response.failed", json!({"response": r}));
        out
    }
}

/// A native Responses stream's events → IR (chat) chunks (`relay-families.md` §7.6), for a
/// chat client served by a channel's Responses API.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: crate::convert::Chunks,
    /// The chat index of the next function call.
    next_call: u64,
    calls: u64,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: crate::convert::Chunks::new("chatcmpl-responses", model),
            next_call: 0,
            calls: 0,
        }
    }

    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        let kind = d.get("type").and_then(Value::as_str).unwrap_or_default();
        let delta = || d.get("delta").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "response.created" => {
                if let Some(id) = d.pointer("/response/id").and_then(Value::as_str) {
                    self.chunks.id = id.to_owned();
                }
                vec![self.chunks.delta(json!({"role": "assistant", "content": ""}), None)]
            }
            "response.output_text.delta" => {
                vec![self.chunks.delta(json!({"content": delta()}), None)]
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                vec![self.chunks.delta(json!({"reasoning_content": delta()}), None)]
            }
            "response.output_item.added"
                if d.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                let item = &d["item"];
                self.calls += 1;
                vec![self.chunks.delta(
                    json!({"tool_calls": [{"index": self.next_call, "id": item.get("call_id").cloned().unwrap_or(json!("")),
                        "type": "function", "function": {"name": item.get("name").cloned().unwrap_or(json!("")), "arguments": ""}}]}),
                    None,
                )]
            }
            "response.function_call_arguments.delta" => vec![self.chunks.delta(
                json!({"tool_calls": [{"index": self.next_call, "function": {"arguments": delta()}}]}),
                None,
            )],
            "response.output_item.done"
                if d.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                self.next_call += 1;
                Vec::new()
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let r = &d["response"];
                let finish = if self.calls > 0 {
                    "tool_calls"
                } else {
                    match (
                        kind,
                        r.pointer("/incomplete_details/reason").and_then(Value::as_str),
                    ) {
                        ("response.incomplete", Some("max_output_tokens")) => "length",
                        ("response.completed", _) => "stop",
                        _ => "content_filter",
                    }
                };
                let mut out = vec![self.chunks.delta(json!({}), Some(finish))];
                if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
                    out.push(self.chunks.usage(
                        serde_json::to_value(super::usage_to_openai(u)).unwrap_or(Value::Null),
                    ));
                }
                out
            }
            "error" => vec![json!({"error": {"message": d.get("message").cloned().unwrap_or(json!("upstream error")),
                                             "type": "upstream_error", "code": d.get("code").cloned().unwrap_or(Value::Null)}})],
            _ => Vec::new(),
        }
    }
}
