"""The official Google Gen AI Python SDK (`google-genai`) against the gateway's native Gemini
routes.

`POST /gemini/{version}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`
must reach every channel type (the Gemini channel natively, the OpenAI and Anthropic channels
through conversion, docs/dev/conversion.md) and answer in Gemini's format;
`GET /gemini/{version}/models` lists the models as `{"models":[{"name":"models/<id>",…}]}`.

The mock upstream (docs/dev/mock-upstream.md) answers 3 chunks of "tok " and, when functions are
declared, one call with args {"city": "Paris"}. The prompt "say hello to the sdk" is 5 words,
which every protocol of the mock counts as 5 input tokens.
"""

import json

import httpx
import pytest
from google import genai
from google.genai import errors, types

# One model per channel type: Gemini (25), OpenAI (1), Anthropic (14), and the cloud platforms: Vertex AI (42) Claude and Gemini,
# Bedrock (32) Claude.
TARGET_MODELS = ["m-gemini", "m-openai", "m-claude", "vx-gemini", "vx-claude", "bedrock-claude"]

PROMPT = "say hello to the sdk"  # 5 words
PROMPT_WORDS = 5

WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather of a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
TOOL_CONFIG = types.GenerateContentConfig(
    tools=[WEATHER_TOOL],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)


def _make_client(root_url, key, api_version="v1beta"):
    return genai.Client(
        vertexai=False,
        api_key=key,
        http_options=types.HttpOptions(
            base_url=root_url + "/gemini", api_version=api_version, timeout=30_000
        ),
    )


@pytest.fixture(scope="module")
def gclient(root_url, api_key):
    return _make_client(root_url, api_key)


def _text_body(prompt=PROMPT):
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}


def _sse_objects(text):
    """The JSON objects of an SSE body (`data: {...}` frames, LF or CRLF)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("data:"):
            data = line[len("data:") :].strip()
            if data and data != "[DONE]":
                out.append(json.loads(data))
    return out


# --- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_generate_content(gclient, model):
    resp = gclient.models.generate_content(model=model, contents=PROMPT)
    assert resp.candidates and len(resp.candidates) == 1
    cand = resp.candidates[0]
    assert cand.content.role == "model"
    assert resp.text == "tok " * 3
    assert cand.finish_reason == types.FinishReason.STOP
    usage = resp.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == PROMPT_WORDS
    assert usage.candidates_token_count == 3
    assert usage.total_token_count == PROMPT_WORDS + 3


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_generate_content_stream(gclient, model):
    chunks = list(gclient.models.generate_content_stream(model=model, contents=PROMPT))
    assert chunks, "no chunks"
    text = "".join(c.text or "" for c in chunks)
    assert text == "tok " * 3
    finishes = [
        c.candidates[0].finish_reason
        for c in chunks
        if c.candidates and c.candidates[0].finish_reason
    ]
    assert finishes == [types.FinishReason.STOP], finishes
    last_usage = [c.usage_metadata for c in chunks if c.usage_metadata][-1]
    assert last_usage.prompt_token_count == PROMPT_WORDS
    assert last_usage.candidates_token_count == 3


# --- function calls -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_function_call(gclient, model):
    resp = gclient.models.generate_content(
        model=model, contents="weather in Paris?", config=TOOL_CONFIG
    )
    calls = resp.function_calls
    assert calls and len(calls) == 1, resp
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    assert resp.usage_metadata.prompt_token_count == 3  # "weather in Paris?"
    assert resp.usage_metadata.candidates_token_count == 5  # the mock counts a call as 5


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_function_call_streaming(gclient, model):
    calls = []
    finishes = []
    for chunk in gclient.models.generate_content_stream(
        model=model, contents="weather in Paris?", config=TOOL_CONFIG
    ):
        calls.extend(chunk.function_calls or [])
        if chunk.candidates and chunk.candidates[0].finish_reason:
            finishes.append(chunk.candidates[0].finish_reason)
    assert len(calls) == 1, calls
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}
    assert finishes == [types.FinishReason.STOP], finishes


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_function_response_round_trip(gclient, model):
    """A functionCall / functionResponse history is converted for every channel; with mode NONE
    the upstream answers text."""
    contents = [
        types.Content(role="user", parts=[types.Part(text="weather in Paris?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"})
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"weather": "sunny"}
                    )
                )
            ],
        ),
    ]
    config = types.GenerateContentConfig(
        tools=[WEATHER_TOOL],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.NONE
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    resp = gclient.models.generate_content(model=model, contents=contents, config=config)
    assert not resp.function_calls
    assert resp.text == "tok " * 3


# --- key in the query, raw HTTP -------------------------------------------------------------------


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_key_query_parameter(root_url, api_key, model):
    r = httpx.post(
        f"{root_url}/gemini/v1beta/models/{model}:generateContent",
        params={"key": api_key},
        json=_text_body(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    cand = body["candidates"][0]
    assert cand["content"]["role"] == "model"
    assert "".join(p.get("text", "") for p in cand["content"]["parts"]) == "tok " * 3
    assert cand["finishReason"] == "STOP"
    assert body["usageMetadata"]["promptTokenCount"] == PROMPT_WORDS
    assert body["usageMetadata"]["candidatesTokenCount"] == 3


@pytest.mark.parametrize("model", TARGET_MODELS)
def test_key_query_parameter_streaming(root_url, api_key, model):
    r = httpx.post(
        f"{root_url}/gemini/v1beta/models/{model}:streamGenerateContent",
        params={"alt": "sse", "key": api_key},
        json=_text_body(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("content-type", "").startswith("text/event-stream"), r.headers
    objs = _sse_objects(r.text)
    assert objs, r.text
    text = "".join(
        p.get("text", "")
        for o in objs
        for c in o.get("candidates", [])
        for p in c.get("content", {}).get("parts", [])
    )
    assert text == "tok " * 3
    assert objs[-1]["candidates"][0]["finishReason"] == "STOP"
    assert objs[-1]["usageMetadata"]["candidatesTokenCount"] > 0


def test_v1_version_path(root_url, api_key):
    c = _make_client(root_url, api_key, api_version="v1")
    resp = c.models.generate_content(model="m-gemini", contents=PROMPT)
    assert resp.text == "tok " * 3


# --- models ---------------------------------------------------------------------------------------


def test_models_list(gclient):
    models = list(gclient.models.list())
    names = {m.name for m in models}
    want = {f"models/{m}" for m in TARGET_MODELS}
    assert want <= names, f"missing {want - names}"


def test_models_list_raw_shape(root_url, api_key):
    r = httpx.get(
        f"{root_url}/gemini/v1beta/models", headers={"x-goog-api-key": api_key}, timeout=30
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("models"), list), body
    for m in body["models"]:
        assert m["name"].startswith("models/"), m


# --- errors ---------------------------------------------------------------------------------------


def test_bad_key_is_401(root_url):
    bad = _make_client(root_url, "sk-not-a-real-key")
    with pytest.raises(errors.ClientError) as info:
        bad.models.generate_content(model="m-gemini", contents=PROMPT)
    err = info.value
    assert err.code == 401
    assert err.status == "UNAUTHENTICATED"
    assert err.message


def test_bad_key_query_parameter_is_401(root_url):
    r = httpx.post(
        f"{root_url}/gemini/v1beta/models/m-gemini:generateContent",
        params={"key": "sk-not-a-real-key"},
        json=_text_body(),
        timeout=30,
    )
    assert r.status_code == 401, r.text
    err = r.json()["error"]
    assert err["code"] == 401
    assert err["status"] == "UNAUTHENTICATED"


def test_bad_key_models_list(root_url):
    bad = _make_client(root_url, "sk-not-a-real-key")
    with pytest.raises(errors.ClientError) as info:
        list(bad.models.list())
    assert info.value.code == 401


def test_unknown_model_is_503(gclient):
    with pytest.raises(errors.ServerError) as info:
        gclient.models.generate_content(model="no-such-model", contents=PROMPT)
    err = info.value
    assert err.code == 503
    assert err.status == "UNAVAILABLE"
    assert "无可用渠道" in err.message


def test_unknown_model_streaming_is_503(gclient):
    with pytest.raises(errors.ServerError) as info:
        list(gclient.models.generate_content_stream(model="no-such-model", contents=PROMPT))
    assert info.value.code == 503
