//! The output limit a request sets, in each inbound protocol's own fields, and setting one when
//! the caller's balance pays for less than the model could write (see `docs/compatibility.md`,
//! Billing).

use serde_json::{Map, Value, json};

use crate::{protocol::Protocol, upstream::RelayMode};

/// What a request asks of the model's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputAsk {
    /// Tokens per answer the request allows (`None`: it sets no limit).
    pub limit: Option<i64>,
    /// Answers asked for (`n`, `best_of`, `candidateCount`; at least 1).
    pub answers: i64,
}

impl OutputAsk {
    /// No output at all (embeddings, moderations).
    pub const NONE: OutputAsk = OutputAsk {
        limit: Some(0),
        answers: 1,
    };
}

fn count(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_u64)
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The output limit and the number of answers of an inbound request body.
pub fn output_ask(inbound: Protocol, mode: RelayMode, body: &Map<String, Value>) -> OutputAsk {
    if !mode.can_stream() {
        return OutputAsk::NONE;
    }
    let (limit, answers) = match inbound {
        // Native wires are upstream-only: never an inbound protocol.
        Protocol::OpenAi | Protocol::Native(_) => {
            let limit = [
                count(body.get("max_completion_tokens")),
                count(body.get("max_tokens")),
            ]
            .into_iter()
            .flatten()
            .min();
            let answers = count(body.get("n"))
                .into_iter()
                .chain(count(body.get("best_of")))
                .max();
            (limit, answers)
        }
        Protocol::Claude => (count(body.get("max_tokens")), None),
        Protocol::Responses => (count(body.get("max_output_tokens")), None),
        Protocol::Gemini => {
            let gc = body.get("generationConfig");
            (
                count(gc.and_then(|g| g.get("maxOutputTokens"))),
                count(gc.and_then(|g| g.get("candidateCount"))),
            )
        }
    };
    OutputAsk {
        limit,
        answers: answers.unwrap_or(1).max(1),
    }
}

/// OpenAI models that take `max_completion_tokens` and refuse `max_tokens`.
fn wants_max_completion_tokens(model: &str) -> bool {
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| model.starts_with(p))
}

/// Sets the request's output limit to `limit` tokens per answer, in the inbound protocol's own
/// field (conversion carries it to any upstream). Only ever lowers: called when the request set
/// no limit or a larger one than the balance pays for.
pub fn set_output_limit(
    inbound: Protocol,
    mode: RelayMode,
    body: &mut Map<String, Value>,
    limit: i64,
    model: &str,
) {
    if !mode.can_stream() {
        return;
    }
    let limit = json!(limit.max(1));
    match inbound {
        Protocol::OpenAi | Protocol::Native(_) => {
            let present: Vec<&str> = ["max_completion_tokens", "max_tokens"]
                .into_iter()
                .filter(|k| body.contains_key(*k))
                .collect();
            let fields = if !present.is_empty() {
                present
            } else if mode == RelayMode::Chat && wants_max_completion_tokens(model) {
                vec!["max_completion_tokens"]
            } else {
                vec!["max_tokens"]
            };
            for f in fields {
                body.insert(f.to_owned(), limit.clone());
            }
        }
        Protocol::Claude => {
            body.insert("max_tokens".to_owned(), limit);
        }
        Protocol::Responses => {
            body.insert("max_output_tokens".to_owned(), limit);
        }
        Protocol::Gemini => {
            let gc = body
                .entry("generationConfig")
                .or_insert_with(|| Value::Object(Map::new()));
            if !gc.is_object() {
                *gc = Value::Object(Map::new());
            }
            if let Some(gc) = gc.as_object_mut() {
                gc.insert("maxOutputTokens".to_owned(), limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_each_protocols_fields() {
        let ask = |p, m, v| output_ask(p, m, &map(v));
        use {Protocol::*, RelayMode::*};
        assert_eq!(
            ask(
                OpenAi,
                Chat,
                json!({"max_tokens": 50, "max_completion_tokens": 40, "n": 3})
            ),
            OutputAsk {
                limit: Some(40),
                answers: 3
            }
        );
        assert_eq!(
            ask(OpenAi, Completions, json!({"n": 2, "best_of": 5})),
            OutputAsk {
                limit: None,
                answers: 5
            }
        );
        assert_eq!(
            ask(OpenAi, Chat, json!({"max_tokens": "x", "n": -1})),
            OutputAsk {
                limit: None,
                answers: 1
            }
        );
        assert_eq!(
            ask(OpenAi, Embeddings, json!({"max_tokens": 5})),
            OutputAsk::NONE
        );
        assert_eq!(
            ask(Claude, Chat, json!({"max_tokens": 7})),
            OutputAsk {
                limit: Some(7),
                answers: 1
            }
        );
        assert_eq!(
            ask(
                Gemini,
                Chat,
                json!({"generationConfig": {"maxOutputTokens": 9, "candidateCount": 2}})
            ),
            OutputAsk {
                limit: Some(9),
                answers: 2
            }
        );
    }

    #[test]
    fn sets_the_limit_where_each_protocol_reads_it() {
        use {Protocol::*, RelayMode::*};
        let set = |p, m, v, model| {
            let mut b = map(v);
            set_output_limit(p, m, &mut b, 33, model);
            Value::Object(b)
        };
        assert_eq!(set(OpenAi, Chat, json!({}), "gpt-4o")["max_tokens"], 33);
        let o = set(OpenAi, Chat, json!({}), "o3-mini");
        assert_eq!(
            (o["max_completion_tokens"].clone(), o.get("max_tokens")),
            (json!(33), None)
        );
        let both = set(
            OpenAi,
            Chat,
            json!({"max_tokens": 99, "max_completion_tokens": 98}),
            "x",
        );
        assert_eq!(
            (
                both["max_tokens"].clone(),
                both["max_completion_tokens"].clone()
            ),
            (json!(33), json!(33))
        );
        assert_eq!(set(OpenAi, Completions, json!({}), "o1")["max_tokens"], 33);
        assert_eq!(
            set(Claude, Chat, json!({"max_tokens": 1000}), "c")["max_tokens"],
            33
        );
        assert_eq!(
            set(
                Gemini,
                Chat,
                json!({"generationConfig": {"temperature": 1}}),
                "g"
            )["generationConfig"],
            json!({"temperature": 1, "maxOutputTokens": 33})
        );
        assert_eq!(set(OpenAi, Embeddings, json!({}), "e"), json!({}));
        for (p, v) in [
            (OpenAi, json!({})),
            (Claude, json!({})),
            (Gemini, json!({"generationConfig": "bad"})),
        ] {
            let mut b = map(v);
            set_output_limit(p, Chat, &mut b, 33, "m");
            assert_eq!(output_ask(p, Chat, &b).limit, Some(33), "{p:?}");
        }
    }
}
