"""The official OpenAI Python SDK's images, audio and rerank calls through the gateway (an OpenAI
channel on the mock; rerank on a Cohere channel, called over plain HTTP since the SDK has no
rerank method)."""

import io

import httpx
import pytest


def test_image_generation_url_and_b64(client):
    r = client.images.generate(model="dall-e-3", prompt="a red fox", size="1024x1024", quality="hd")
    assert r.data[0].url == "https://images.mock/0.png"
    r = client.images.generate(model="gpt-image-1", prompt="a red fox")
    assert r.data[0].b64_json
    assert r.usage.output_tokens == 1056


@pytest.mark.parametrize("model", ["dall-e-2", "gpt-image-1"])
def test_image_edit_and_variation(client, model):
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    png.name = "cat.png"
    r = client.images.edit(model=model, image=png, prompt="add a hat", n=2)
    assert len(r.data) == 2
    png.seek(0)
    r = client.images.create_variation(model="dall-e-2", image=png)
    assert len(r.data) == 1


def test_speech_streams_audio(client):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="Hello world"
    ) as resp:
        assert resp.headers["content-type"] == "audio/mpeg"
        audio = b"".join(resp.iter_bytes())
    assert len(audio) == 1100


@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json", "srt", "vtt"])
def test_transcription_formats(client, fmt):
    f = io.BytesIO(b"\x00" * 400)
    f.name = "a.mp3"
    r = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt)
    text = r if isinstance(r, str) else r.text
    assert "tok tok tok" in text


def test_transcription_stream_and_translation(client):
    f = io.BytesIO(b"\x00" * 400)
    f.name = "a.mp3"
    events = list(client.audio.transcriptions.create(model="gpt-4o-transcribe", file=f, stream=True))
    assert [e.type for e in events][-1] == "transcript.text.done"
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta") == "tok tok tok"
    assert events[-1].usage.output_tokens == 3
    f.seek(0)
    assert client.audio.translations.create(model="whisper-1", file=f).text == "tok tok tok"


def test_rerank(base_url, api_key):
    r = httpx.post(
        f"{base_url}/rerank",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "rerank-english-v3.0", "query": "cat", "documents": ["dog", "a cat"], "top_n": 1},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"][0]["index"] == 1
    assert body["results"][0]["document"]["text"] == "a cat"
    assert body["usage"]["prompt_tokens"] == 1


def test_realtime_session(client):
    """The SDK's realtime client (websockets) through the gateway: session.created, a text
    response streamed and finished with usage, a recoverable error that does not end it."""
    with client.realtime.connect(model="gpt-realtime") as conn:
        first = conn.recv()
        assert first.type == "session.created"
        conn.send({"type": "response.create"})
        deltas = []
        for event in conn:
            if event.type == "response.text.delta" or event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.done":
                assert event.response.usage.output_tokens == 3
                break
        assert "".join(deltas) == "tok tok tok "
