"""The official OpenAI Python SDK through the Chinese vendors' channels on the mock upstream:
Zhipu GLM (type 16, JWT from `id.secret`), Ali DashScope native (17), Baidu ERNIE legacy (15,
access token from `APIKey|SecretKey`), Tencent Hunyuan (40, TC3 signature), Coze (38) and
Xunfei Spark (18, a WebSocket on an HMAC-signed URL).

The mock answers 3 chunks of "tok " and counts the 5 words of the prompt as its input tokens in
every vendor's own usage fields, so the usage the SDK sees must be exactly 5 / 3 (Coze reports
no usage; the gateway counts it). Where the vendor has tools (Zhipu, Baidu), the mock calls the
declared tool with {"city": "Paris"}.

The vendors' own errors reach the SDK as its typed exceptions: a prompt containing
`mock:content_filter` makes the mock refuse the content in the vendor's own way (an error, or a
moderated answer that finishes with `content_filter`), `mock:rate_limit` makes it answer the
vendor's rate-limit error, which the SDK must see as a 429 `RateLimitError` with the vendor's
code. (The rate-limit tests come last: a throttled channel rests for a while.)
"""

import json

import openai
import pytest

MESSAGES = [{"role": "user", "content": "say hello to the sdk"}]  # 5 words
EXACT_USAGE = ["glm-4-sdk", "qwen-plus-sdk", "ERNIE-4.0-8K", "hunyuan-lite", "SparkDesk-v3.5"]
MODELS = EXACT_USAGE + ["coze-sdk"]
WITH_TOOLS = ["glm-4-sdk", "ERNIE-4.0-8K", "SparkDesk-v3.5"]
# The vendor's content refusal: an error (status, vendor code) or a moderated answer (None).
CONTENT_REFUSED = {
    "glm-4-sdk": (400, "1301"),
    "qwen-plus-sdk": (400, "DataInspectionFailed"),
    "SparkDesk-v3.5": (400, "10013"),
    "ERNIE-4.0-8K": None,
    "hunyuan-lite": None,
}
# The vendor's rate-limit code.
RATE_LIMITED = {
    "glm-4-sdk": "1302",
    "qwen-plus-sdk": "Throttling.RateQuota",
    "ERNIE-4.0-8K": "18",
    "hunyuan-lite": "LimitExceeded",
    "coze-sdk": "4013",
    "SparkDesk-v3.5": "11202",
}

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


@pytest.mark.parametrize("model", MODELS)
def test_chat(client, model):
    r = client.chat.completions.create(model=model, messages=MESSAGES)
    assert r.choices[0].message.content == "tok tok tok "
    assert r.model == model
    if model in EXACT_USAGE:
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (5, 3)


@pytest.mark.parametrize("model", MODELS)
def test_chat_streaming(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text == "tok tok tok "
    if model in EXACT_USAGE:
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (5, 3)


@pytest.mark.parametrize("model", WITH_TOOLS)
def test_tool_call(client, model):
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert r.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", sorted(CONTENT_REFUSED))
@pytest.mark.parametrize("stream", [False, True])
def test_content_refused(client, model, stream):
    messages = [{"role": "user", "content": "mock:content_filter please"}]
    expected = CONTENT_REFUSED[model]
    if expected is None:
        if stream:
            finish = None
            for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
        else:
            finish = client.chat.completions.create(model=model, messages=messages).choices[0].finish_reason
        assert finish == "content_filter"
        return
    status, code = expected
    with pytest.raises(openai.BadRequestError) as e:
        r = client.chat.completions.create(model=model, messages=messages, stream=stream)
        for _ in r:
            pass
    assert e.value.status_code == status
    assert str(e.value.code) == code
    assert isinstance(e.value.message, str) and e.value.message


@pytest.mark.parametrize("model", sorted(RATE_LIMITED))
def test_rate_limit_is_a_429(client, model):
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "mock:rate_limit now"}]
        )
    assert e.value.status_code == 429
    assert str(e.value.code) == RATE_LIMITED[model]
