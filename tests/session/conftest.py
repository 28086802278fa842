"""Sessions over the in-process sandbox, each with its own store file."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from layers_tui.config import Settings
from layers_tui.session.session import Session
from tests.conftest import BASE


class CountingTransport(httpx.AsyncBaseTransport):
    """The sandbox's ASGI transport, counting requests by path."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self.inner.handle_async_request(request)

    @property
    def lists(self) -> int:
        return sum(
            count
            for path, count in self.paths.items()
            if path.endswith(("/social-accounts", "/ad-accounts")) or path == "/v1/projects"
        )


@pytest.fixture
def make_session(sandbox_app, api_key, fake_clock, tmp_path):
    made: list[Session] = []

    def make(store_path=None, transport=None, **overrides) -> Session:
        settings = Settings(api_key=api_key, base_url=BASE, **overrides)
        session = Session(
            settings,
            clock=fake_clock,
            transport=transport or CountingTransport(sandbox_app),
            store_path=store_path if store_path is not None else tmp_path / "store.sqlite3",
        )
        made.append(session)
        return session

    yield make
    for session in made:
        session.store.close()
