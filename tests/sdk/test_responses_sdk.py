"""The official OpenAI Python SDK's Responses API (`client.responses`) through the gateway.

`gpt-4o-mini` is on an OpenAI channel: the request is passed on to the mock's `/v1/responses`.
The other models are on channels without a Responses API, so the gateway converts: Anthropic
(`m-claude`), Gemini (`m-gemini`), Ali DashScope's native API (`qwen-plus-sdk`) and Xunfei
Spark's WebSocket (`SparkDesk-v3.5`). Every answer is "tok tok tok "; the SDK's own stream
helper (`client.responses.stream`) rebuilds the response from the events, so it checks that
item and content indexes are consistent.
"""

import json

import pytest

MODELS = ["gpt-4o-mini", "m-claude", "m-gemini", "qwen-plus-sdk", "SparkDesk-v3.5"]
WITH_TOOLS = ["gpt-4o-mini", "m-claude", "m-gemini", "SparkDesk-v3.5"]

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize("model", MODELS)
def test_create(client, model):
    r = client.responses.create(
        model=model, instructions="Be brief.", input="say hello to the sdk", max_output_tokens=64
    )
    assert r.object == "response"
    assert r.status == "completed"
    assert r.output_text == "tok tok tok "
    assert r.usage.output_tokens == 3
    assert r.usage.input_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_stream_helper_rebuilds_the_response(client, model):
    deltas = []
    with client.responses.stream(model=model, input="say hello to the sdk") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == "tok tok tok "
    assert final.output_text == "tok tok tok "
    assert final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == 3


@pytest.mark.parametrize("model", MODELS)
def test_raw_event_sequence(client, model):
    events = list(client.responses.create(model=model, input="say hello", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.id == events[0].response.id


@pytest.mark.parametrize("model", WITH_TOOLS)
@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip(client, model, stream):
    if stream:
        with client.responses.stream(model=model, input="weather in Paris?", tools=[WEATHER]) as s:
            for _ in s:
                pass
            r = s.get_final_response()
    else:
        r = client.responses.create(model=model, input="weather in Paris?", tools=[WEATHER])
    calls = [i for i in r.output if i.type == "function_call"]
    assert len(calls) == 1, r.output
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    # The next turn sends the call and its output back.
    follow = client.responses.create(
        model=model,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert follow.status == "completed"
