"""Fixtures for the OpenAI SDK compatibility suite.

The suite talks to a running gateway; `crates/hub-testkit/tests/sdk.rs` starts one (with the
mock upstream behind it) and sets ONEHUB_BASE_URL (e.g. http://127.0.0.1:PORT/v1) and
ONEHUB_API_KEY (a token key, `sk-...`). Without them every test is skipped.
"""

import os

import openai
import pytest


def _env():
    base = os.environ.get("ONEHUB_BASE_URL", "").strip()
    key = os.environ.get("ONEHUB_API_KEY", "").strip()
    return base, key


@pytest.fixture(scope="session")
def base_url():
    base, key = _env()
    if not base or not key:
        pytest.skip("ONEHUB_BASE_URL / ONEHUB_API_KEY are not set (run through cargo test)")
    return base


@pytest.fixture(scope="session")
def client(base_url):
    _, key = _env()
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
