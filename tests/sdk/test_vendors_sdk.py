"""The official OpenAI Python SDK through the Chinese vendors' channels on the mock upstream:
Zhipu GLM (type 16, JWT from `id.secret`), Ali DashScope native (17), Baidu ERNIE legacy (15,
access token from `APIKey|SecretKey`), Tencent Hunyuan (40, TC3 signature) and Coze (38).

The mock answers 3 chunks of "tok " and counts the 5 words of the prompt as its input tokens in
every vendor's own usage fields, so the usage the SDK sees must be exactly 5 / 3 (Coze reports
no usage; the gateway counts it). Where the vendor has tools (Zhipu, Baidu), the mock calls the
declared tool with {"city": "Paris"}.
"""

import json

import pytest

MESSAGES = [{"role": "user", "content": "say hello to the sdk"}]  # 5 words
EXACT_USAGE = ["glm-4-sdk", "qwen-plus-sdk", "ERNIE-4.0-8K", "hunyuan-lite"]
MODELS = EXACT_USAGE + ["coze-sdk"]
WITH_TOOLS = ["glm-4-sdk", "ERNIE-4.0-8K"]

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
