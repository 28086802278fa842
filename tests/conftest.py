"""Shared fixtures: an in-process sandbox, clients bound to it, isolated directories."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from layers_tui.api import LayersClient
from layers_tui.clock import FakeClock
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.sandbox.server import SandboxServer

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = "http://localhost:8787"
RETURN_URL = "http://localhost:8787/sandbox/return"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch) -> None:
    """A developer's real config, state or environment can never decide a result."""
    for name in list(os.environ):
        if name.startswith("LAYERS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAYERS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LAYERS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LAYERS_LOG_DIR", str(tmp_path / "log"))


@pytest.fixture
def sandbox_clock() -> SandboxClock:
    return SandboxClock(start=START)


@pytest.fixture
def sandbox_app(sandbox_clock) -> Starlette:
    return create_app(clock=sandbox_clock, rng_seed=1)


@pytest.fixture
def api_key(sandbox_app) -> str:
    return sandbox_app.state.sandbox.demo_key


@pytest.fixture
async def raw(sandbox_app, api_key) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx against the sandbox: for contract tests that must not trust our client."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {api_key}"},
    ) as http:
        yield http


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def client(sandbox_app, api_key, fake_clock) -> AsyncIterator[LayersClient]:
    async with LayersClient(
        BASE,
        api_key,
        transport=httpx.ASGITransport(app=sandbox_app),
        clock=fake_clock,
        jitter=lambda low, high: high,
    ) as api:
        yield api


@pytest.fixture
def live_server(sandbox_clock) -> Iterator[SandboxServer]:
    """The sandbox on a real loopback socket (for timeouts and dropped connections)."""
    server = SandboxServer(create_app(clock=sandbox_clock, rng_seed=1)).start()
    try:
        yield server
    finally:
        server.stop()
