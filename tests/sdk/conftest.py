"""Fixtures for the SDK compatibility suite (OpenAI, Anthropic and Google Gen AI Python SDKs).

The suite talks to a running gateway; `crates/hub-testkit/tests/it/sdk.rs` starts one (with the
mock upstream behind it) and sets ONEHUB_BASE_URL (e.g. http://127.0.0.1:PORT/v1),
ONEHUB_ROOT_URL (the gateway origin, http://127.0.0.1:PORT) and ONEHUB_API_KEY (a token key,
`sk-...`). Without them every test is skipped.

Channels behind the gateway (all on the same mock upstream, see docs/dev/mock-upstream.md):
an OpenAI channel (type 1) serving the OpenAI suite's models and `m-openai`, an Anthropic
channel (type 14) serving `m-claude` and a Gemini channel (type 25) serving `m-gemini`.
"""

import os

import openai
import pytest

def _env():
    base = os.environ.get("ONEHUB_BASE_URL", "").strip()
    key = os.environ.get("ONEHUB_API_KEY", "").strip()
    root = os.environ.get("ONEHUB_ROOT_URL", "").strip()
    if not root and base.endswith("/v1"):
        root = base[: -len("/v1")]
    return base, root.rstrip("/"), key


def _require():
    base, root, key = _env()
    if not base or not key or not root:
        pytest.skip(
            "ONEHUB_BASE_URL / ONEHUB_ROOT_URL / ONEHUB_API_KEY are not set (run through cargo test)"
        )
    return base, root, key


@pytest.fixture(scope="session")
def base_url():
    return _require()[0]


@pytest.fixture(scope="session")
def root_url():
    """The gateway origin, without `/v1`."""
    return _require()[1]


@pytest.fixture(scope="session")
def api_key():
    return _require()[2]


@pytest.fixture(scope="session")
def client(base_url, api_key):
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
