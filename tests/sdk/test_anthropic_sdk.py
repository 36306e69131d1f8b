"""The official Anthropic Python SDK against the gateway's native Messages routes.

`POST /v1/messages` and `POST /claude/v1/messages` must reach every channel type (the Anthropic
channel natively, the OpenAI and Gemini channels through conversion, docs/dev/conversion.md) and
answer in Anthropic's format; `GET /claude/v1/models` lists the models in Anthropic's shape.

The mock upstream (docs/dev/mock-upstream.md) answers 3 chunks of "tok " and, when tools are
declared, one call with input {"city": "Paris"}. The prompt "say hello to the sdk" is 5 words,
which every protocol of the mock counts as 5 input tokens.

Authentication: this SDK version sends `api_key` as `Authorization: Bearer`, like `auth_token`;
the `x-api-key` clients below therefore drop Authorization and set `x-api-key` themselves, so
both headers are exercised.
"""

import json

import anthropic
import httpx
import pytest

# One model per channel type: Anthropic (14), OpenAI (1), Gemini (25), and the cloud platforms: Vertex AI (42) Claude and Gemini,
# Bedrock (32) Claude.
TARGET_MODELS = ["m-claude", "m-openai", "m-gemini", "vx-claude", "vx-gemini", "bedrock-claude"]

MESSAGES = [{"role": "user", "content": "say hello to the sdk"}]  # 5 words
PROMPT_WORDS = 5
MAX_TOKENS = 256

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_MESSAGES = [{"role": "user", "content": "weather in Paris?"}]

# (prefix after the gateway origin, how the key is sent)
CLIENT_KINDS = [
    ("", "x-api-key"),  # → /v1/messages
    ("/claude", "x-api-key"),  # → /claude/v1/messages
    ("", "bearer"),
    ("/claude", "bearer"),
]


def _make_client(root_url, key, prefix, auth):
    base = root_url + prefix
    if auth == "bearer":
        return anthropic.Anthropic(base_url=base, auth_token=key, max_retries=0, timeout=30)
    return anthropic.Anthropic(
        base_url=base,
        api_key=key,
        default_headers={"Authorization": anthropic.Omit(), "x-api-key": key},
        max_retries=0,
        timeout=30,
    )


@pytest.fixture(
    scope="module",
    params=CLIENT_KINDS,
    ids=[f"{p or '/v1'}-{a}" for p, a in CLIENT_KINDS],
)
def aclient(request, root_url, api_key):
    prefix, auth = request.param
    return _make_client(root_url, api_key, prefix, auth)


@pytest.fixture(scope="module")
def claude_client(root_url, api_key):
    return _make_client(root_url, api_key, "/claude", "x-api-key")


def _check_event_sequence(events):
    """A well-formed Messages stream: message_start first, message_stop last, one message_delta
    before it, every content block started and stopped in order with increasing indices."""
    types = [e.type for e in events]
    assert types, "no events"
    assert types[0] == "message_start", types
    assert types[-1] == "message_stop", types
    assert types.count("message_start") == 1, types
    assert types.count("message_stop") == 1, types
    assert types.count("message_delta") == 1, types
    assert types.index("message_delta") == len(types) - 2, types
    open_index = None
    started = []
    for e in events:
        if e.type == "content_block_start":
            assert open_index is None, f"block {e.index} started while {open_index} is open"
            assert not started or e.index > started[-1], f"indices not increasing: {types}"
            open_index = e.index
            started.append(e.index)
        elif e.type == "content_block_delta":
            assert e.index == open_index, f"delta for block {e.index}, open is {open_index}"
        elif e.type == "content_block_stop":
            assert e.index == open_index, f"stop for block {e.index}, open is {open_index}"
            open_index = None
        elif e.type == "message_delta":
            assert open_index is None, "message_delta while a block is open"
    assert started, f"no content block: {types}"
    assert started[0] == 0, started


# --- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_messages_non_streaming(aclient, model):
    resp = aclient.messages.create(model=model, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert resp.type == "message"
    assert resp.role == "assistant"
    assert resp.id
    assert resp.model == model
    assert [b.type for b in resp.content] == ["text"], resp.content
    assert resp.content[0].text == "tok " * 3
    assert resp.stop_reason == "end_turn"
    assert resp.usage.input_tokens == PROMPT_WORDS
    assert resp.usage.output_tokens == 3


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_messages_streaming(aclient, model):
    with aclient.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "tok " * 3
    assert final.role == "assistant"
    assert final.model == model
    assert [b.type for b in final.content] == ["text"], final.content
    assert final.content[0].text == "tok " * 3
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == PROMPT_WORDS
    assert final.usage.output_tokens == 3


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_messages_streaming_events(claude_client, model):
    events = list(
        claude_client.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
        )
    )
    _check_event_sequence(events)
    start = events[0].message
    assert start.role == "assistant"
    assert start.content == []
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "tok " * 3
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0


# --- tools ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_tool_use_non_streaming(aclient, model):
    resp = aclient.messages.create(
        model=model, max_tokens=MAX_TOKENS, messages=WEATHER_MESSAGES, tools=[WEATHER_TOOL]
    )
    assert resp.stop_reason == "tool_use"
    uses = [b for b in resp.content if b.type == "tool_use"]
    assert len(uses) == 1, resp.content
    use = uses[0]
    assert use.id
    assert use.name == "get_weather"
    assert use.input == {"city": "Paris"}
    assert resp.usage.input_tokens == 3  # "weather in Paris?"
    assert resp.usage.output_tokens == 5  # the mock counts a call as 5 tokens


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_tool_use_streaming(aclient, model):
    events = list(
        aclient.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            messages=WEATHER_MESSAGES,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
            stream=True,
        )
    )
    _check_event_sequence(events)
    blocks = {}
    stop_reason = None
    for e in events:
        if e.type == "content_block_start":
            blocks[e.index] = {"block": e.content_block, "json": ""}
        elif e.type == "content_block_delta" and e.delta.type == "input_json_delta":
            blocks[e.index]["json"] += e.delta.partial_json
        elif e.type == "message_delta":
            stop_reason = e.delta.stop_reason
    uses = [b for b in blocks.values() if b["block"].type == "tool_use"]
    assert len(uses) == 1, [b["block"] for b in blocks.values()]
    use = uses[0]
    assert use["block"].id
    assert use["block"].name == "get_weather"
    assert json.loads(use["json"]) == {"city": "Paris"}
    assert stop_reason == "tool_use"


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_tool_use_streaming_helper(claude_client, model):
    with claude_client.messages.stream(
        model=model, max_tokens=MAX_TOKENS, messages=WEATHER_MESSAGES, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 1, final.content
    assert uses[0].name == "get_weather"
    assert uses[0].input == {"city": "Paris"}
    assert final.usage.input_tokens == 3
    assert final.usage.output_tokens == 5


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_tool_result_round_trip(claude_client, model):
    """A tool_use / tool_result history is converted for every channel; with tool_choice none
    the upstream answers text."""
    messages = WEATHER_MESSAGES + [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny and warm"}
            ],
        },
    ]
    resp = claude_client.messages.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
    )
    assert resp.stop_reason == "end_turn"
    assert [b.type for b in resp.content] == ["text"], resp.content
    assert resp.content[0].text == "tok " * 3
    assert resp.usage.input_tokens > 0


# --- models ---------------------------------------------------------------------------------------


def test_models_list(claude_client):
    models = list(claude_client.models.list())
    ids = {m.id for m in models}
    assert set(TARGET_MODELS) <= ids, f"missing {set(TARGET_MODELS) - ids}"
    for m in models:
        assert m.type == "model"


def test_models_list_raw_shape(root_url, api_key):
    r = httpx.get(
        root_url + "/claude/v1/models",
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body.get("has_more") is False, body
    assert isinstance(body.get("data"), list)
    for m in body["data"]:
        assert m.get("type") == "model", m
        assert isinstance(m.get("id"), str) and m["id"], m


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix,auth", CLIENT_KINDS, ids=[f"{p or '/v1'}-{a}" for p, a in CLIENT_KINDS])
def test_bad_key_is_authentication_error(root_url, prefix, auth):
    bad = _make_client(root_url, "sk-not-a-real-key", prefix, auth)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model="m-claude", max_tokens=MAX_TOKENS, messages=MESSAGES)
    err = info.value
    assert err.status_code == 401
    assert isinstance(err.body, dict), err.body
    assert err.body.get("type") == "error", err.body
    assert err.body["error"]["type"] == "authentication_error", err.body
    assert err.body["error"]["message"]


def test_bad_key_models_list(root_url):
    bad = _make_client(root_url, "sk-not-a-real-key", "/claude", "x-api-key")
    with pytest.raises(anthropic.AuthenticationError):
        list(bad.models.list())


@pytest.mark.parametrize("prefix", ["", "/claude"])
def test_model_without_channel_is_503(root_url, api_key, prefix):
    c = _make_client(root_url, api_key, prefix, "x-api-key")
    with pytest.raises(anthropic.APIStatusError) as info:
        c.messages.create(model="no-such-model", max_tokens=MAX_TOKENS, messages=MESSAGES)
    err = info.value
    assert err.status_code == 503
    assert isinstance(err.body, dict), err.body
    assert err.body.get("type") == "error", err.body
    assert err.body["error"]["type"] == "overloaded_error", err.body
    assert "无可用渠道" in err.body["error"]["message"]


def test_model_without_channel_streaming_is_503(claude_client):
    with pytest.raises(anthropic.APIStatusError) as info:
        with claude_client.messages.stream(
            model="no-such-model", max_tokens=MAX_TOKENS, messages=MESSAGES
        ) as stream:
            list(stream)
    assert info.value.status_code == 503
