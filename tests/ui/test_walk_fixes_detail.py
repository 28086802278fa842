"""Walk fix: a details screen whose account a flow just reconnected says so at once, not
"reauth required … press r" until the refresh after the flow brings the new data."""

from __future__ import annotations

import asyncio

import httpx

from layers_tui.ui.screens.detail import DetailScreen
from layers_tui.ui.screens.flow import FlowScreen
from tests.scenes import build, loaded, poll, select_account, settle


class HeldAccounts(httpx.AsyncBaseTransport):
    """Holds the social-accounts reads of one project until released: the one-project refresh
    after a flow, slow as it is behind a busy request budget."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.project_id: str | None = None
        self.release = asyncio.Event()
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.project_id and path.endswith(f"/projects/{self.project_id}/social-accounts"):
            self.held += 1
            await self.release.wait()
        return await self.inner.handle_async_request(request)


def head(details: DetailScreen) -> str:
    return str(details.query_one("#detail-head").render())


async def test_details_say_reconnected_when_the_flow_ends_before_the_refresh_lands():
    harness = build()
    held = HeldAccounts(harness.transport.inner)
    harness.transport.inner = held
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        await pilot.press("enter")
        await settle(pilot)
        details = harness.app.screen
        assert isinstance(details, DetailScreen)
        assert "reauth required" in head(details) and "press r" in head(details)
        await pilot.press("r")
        await settle(pilot)
        flow_screen = harness.app.screen
        assert isinstance(flow_screen, FlowScreen)
        await poll(pilot, harness, 3)
        await pilot.press("a")  # the owner approves
        await settle(pilot)

        held.project_id = details.row.project_id  # the refresh after the flow waits
        for _ in range(20):  # the poller's next polls, without waiting for the held refresh
            harness.clock.advance(0.5)
            await harness.app.engine.tick()
            await pilot.pause()
            if flow_screen.flow.status == "completed":
                break
        assert flow_screen.flow.status == "completed"
        await pilot.pause()
        assert held.held >= 1  # the refresh is under way, its data not here yet
        text = head(details)
        assert "✔ reconnected" in text and "fetching the account's new data" in text
        assert "reauth required" not in text and "press r" not in text

        held.release.set()
        await settle(pilot)
        text = head(details)
        assert "● connected" in text and "fetching" not in text
        assert details.row.status == "connected"
