"""The official OpenAI Python SDK against the gateway, with the hub-testkit mock upstream behind it.

Run by `cargo test -p hub-testkit --test it -- sdk::` (which starts the mock and the gateway and creates
an OpenAI channel serving gpt-4o-mini, text-embedding-3-small, omni-moderation-latest and
gpt-3.5-turbo-instruct (and m-openai), an Anthropic channel serving m-claude, a Gemini channel
serving m-gemini, plus an unlimited token). The mock's behaviour is documented in
docs/dev/mock-upstream.md: content chunks are "tok ", the default stream has 3 of them,
tool calls answer {"city": "Paris"}, embeddings have 8 dimensions.
"""

import json

import openai
import pytest

CHAT_MODEL = "gpt-4o-mini"
COMPLETION_MODEL = "gpt-3.5-turbo-instruct"
EMBEDDING_MODEL = "text-embedding-3-small"
MODERATION_MODEL = "omni-moderation-latest"
CHANNEL_MODELS = {CHAT_MODEL, COMPLETION_MODEL, EMBEDDING_MODEL, MODERATION_MODEL}

MESSAGES = [{"role": "user", "content": "say hello to the sdk"}]  # 5 words
PROMPT_WORDS = 5

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


# --- chat completions ---------------------------------------------------------------------------


def test_chat_non_streaming(client):
    resp = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert resp.object == "chat.completion"
    assert resp.model == CHAT_MODEL
    assert resp.id
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "tok " * 3
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == PROMPT_WORDS
    assert resp.usage.completion_tokens == 3
    assert resp.usage.total_tokens == PROMPT_WORDS + 3


def test_chat_request_id_header(client):
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    assert raw.status_code == 200
    rid = raw.headers.get("x-oneapi-request-id")
    assert rid, f"no x-oneapi-request-id header in {dict(raw.headers)}"
    parsed = raw.parse()
    assert parsed.choices[0].message.content == "tok " * 3


def test_chat_streaming_without_usage(client):
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert chunks, "no chunks"
    for c in chunks:
        assert c.object == "chat.completion.chunk"
        assert c.model == CHAT_MODEL
        assert c.usage is None, f"usage sent although include_usage was not asked: {c}"
        assert len(c.choices) == 1, f"a chunk without choices: {c}"
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == "tok " * 3
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_streaming_with_usage(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == PROMPT_WORDS
    assert last.usage.completion_tokens == 3
    assert last.usage.total_tokens == PROMPT_WORDS + 3
    for c in chunks[:-1]:
        assert c.usage is None
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "tok " * 3


def test_chat_stream_chunk_count_from_extra_body(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        stream=True,
        extra_body={"mock": {"chunks": 5}},
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 5
    assert "".join(c.choices[0].delta.content for c in content_chunks) == "tok " * 5


def test_chat_tools_non_streaming(client):
    resp = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_chat_tools_streaming(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    calls = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            acc = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                acc["id"] = tc.id
            if tc.function is not None:
                if tc.function.name:
                    acc["name"] = tc.function.name
                if tc.function.arguments:
                    acc["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}


# --- legacy completions ---------------------------------------------------------------------------


def test_completions_non_streaming(client):
    resp = client.completions.create(model=COMPLETION_MODEL, prompt="once upon a time")
    assert resp.object == "text_completion"
    assert resp.model == COMPLETION_MODEL
    assert resp.choices[0].text == "tok " * 3
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 4
    assert resp.usage.completion_tokens == 3


def test_completions_streaming(client):
    stream = client.completions.create(
        model=COMPLETION_MODEL, prompt="once upon a time", stream=True
    )
    chunks = list(stream)
    assert chunks
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "tok " * 3
    assert chunks[-1].choices[0].finish_reason == "stop"


# --- embeddings -----------------------------------------------------------------------------------


def _check_vector(vec):
    assert len(vec) == 8
    for v in vec:
        assert -0.5 <= v < 0.5
        assert (v * 256) == int(v * 256), f"{v} is not a multiple of 1/256"


def test_embeddings_default_encoding(client):
    # The SDK asks for base64 when no encoding_format is given and decodes it to floats.
    resp = client.embeddings.create(model=EMBEDDING_MODEL, input=["hello", "world"])
    assert resp.object == "list"
    assert resp.model == EMBEDDING_MODEL
    assert [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert isinstance(d.embedding, list)
        _check_vector(d.embedding)
    assert resp.data[0].embedding != resp.data[1].embedding
    assert resp.usage.prompt_tokens == 2


def test_embeddings_float_matches_base64(client):
    flt = client.embeddings.create(
        model=EMBEDDING_MODEL, input="hello", encoding_format="float"
    )
    assert len(flt.data) == 1
    _check_vector(flt.data[0].embedding)
    b64 = client.embeddings.create(model=EMBEDDING_MODEL, input="hello")
    assert b64.data[0].embedding == flt.data[0].embedding


# --- moderations ----------------------------------------------------------------------------------


def test_moderations(client):
    resp = client.moderations.create(
        model=MODERATION_MODEL, input=["I will kill the process", "a nice day"]
    )
    assert resp.id.startswith("modr-")
    assert resp.model == MODERATION_MODEL
    assert len(resp.results) == 2
    flagged, clean = resp.results
    assert flagged.flagged is True
    assert flagged.categories.violence is True
    assert clean.flagged is False
    assert clean.categories.violence is False


# --- models ---------------------------------------------------------------------------------------


def test_models_list(client):
    models = list(client.models.list())
    ids = {m.id for m in models}
    assert CHANNEL_MODELS <= ids, f"missing {CHANNEL_MODELS - ids}"
    for m in models:
        assert m.object == "model"
        assert isinstance(m.owned_by, str) and m.owned_by


def test_models_retrieve(client):
    m = client.models.retrieve(CHAT_MODEL)
    assert m.id == CHAT_MODEL
    assert m.object == "model"
    assert m.owned_by


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_model_is_503(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    err = info.value
    assert isinstance(err, openai.InternalServerError)
    assert err.status_code == 503
    assert "无可用渠道" in err.message
    assert isinstance(err.body, dict) and "无可用渠道" in err.body.get("message", "")
    assert err.response.headers.get("x-oneapi-request-id")


def test_bad_key_is_authentication_error(base_url):
    bad = openai.OpenAI(base_url=base_url, api_key="sk-not-a-real-key", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert info.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


# --- cross-protocol: chat completions to Anthropic (m-claude) and Gemini (m-gemini) channels -------
# The gateway converts the request to the channel's protocol and the answer back
# (docs/dev/conversion.md); the mock answers 3 × "tok ", counts 5 prompt words, and calls the
# declared tool with {"city": "Paris"} in every protocol.

CROSS_MODELS = ["m-claude", "m-gemini", "vx-claude", "vx-gemini", "bedrock-claude"]


@pytest.mark.parametrize("model", CROSS_MODELS)
def test_cross_chat_non_streaming(client, model):
    resp = client.chat.completions.create(model=model, messages=MESSAGES)
    assert resp.object == "chat.completion"
    assert resp.model == model
    assert resp.id
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "tok " * 3
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == PROMPT_WORDS
    assert resp.usage.completion_tokens == 3
    assert resp.usage.total_tokens == PROMPT_WORDS + 3


@pytest.mark.parametrize("model", CROSS_MODELS)
def test_cross_chat_streaming_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "no chunks"
    for c in chunks:
        assert c.object == "chat.completion.chunk"
        assert c.model == model
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "tok " * 3
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"], finishes
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == PROMPT_WORDS
    assert last.usage.completion_tokens == 3


@pytest.mark.parametrize("model", CROSS_MODELS)
def test_cross_tools_non_streaming(client, model):
    resp = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not choice.message.content
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1, choice.message
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


@pytest.mark.parametrize("model", CROSS_MODELS)
def test_cross_tools_streaming(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    calls = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for tc in choice.delta.tool_calls or []:
            acc = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                acc["id"] = tc.id
            if tc.function is not None:
                if tc.function.name:
                    acc["name"] = tc.function.name
                if tc.function.arguments:
                    acc["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert list(calls) == [0], calls
    call = calls[0]
    assert call["id"]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize("model", CROSS_MODELS)
def test_cross_tool_result_round_trip(client, model):
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny and warm"},
    ]
    resp = client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], tool_choice="none"
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "tok " * 3
    assert not choice.message.tool_calls
