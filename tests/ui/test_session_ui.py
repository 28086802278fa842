"""The dashboard on the session: instant start from the store, one refresh pass at a time,
identity told to the dashboard whatever screen is on top, history in the details."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from layers_tui.session.store import Store
from layers_tui.ui.screens.detail import DetailScreen
from tests.scenes import build, loaded, screen_text, select_account, settle

SIZE = (120, 40)


class Gate(httpx.AsyncBaseTransport):
    """Holds account-list requests until opened; counts project-list requests."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.project_lists = 0
        self.free: set[str] = set()  # projects whose lists pass while it is closed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/projects":
            self.project_lists += 1
        held = not any(f"/{project_id}/" in request.url.path for project_id in self.free)
        if "social-accounts" in request.url.path and held:
            await self.open.wait()
        return await self.inner.handle_async_request(request)


async def test_full_refreshes_never_overlap_and_a_single_project_refresh_never_ends_one():
    harness = build()
    gate = Gate(harness.transport)
    harness.app._transport = gate
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        inventory = app.session.inventory
        assert gate.project_lists == 1
        gate.open.clear()
        harness.clock.advance(120)
        app.refresh_pass(force=True)
        for _ in range(5):
            await pilot.pause()
        assert inventory.progress.running
        app.refresh_pass(force=True)  # ctrl+r twice more while the pass runs
        await pilot.press("ctrl+r")
        project_id = inventory.projects[0].id
        single = app.refresh_pass([project_id])
        for _ in range(5):
            await pilot.pause()
        assert gate.project_lists == 2  # the two extra full passes did not start
        gate.open.set()
        await single.wait()
        await settle(pilot)
        assert not inventory.progress.running
        assert "refreshing" not in screen_text(app).splitlines()[1]


async def test_single_project_refresh_keeps_the_full_pass_running():
    harness = build()
    gate = Gate(harness.transport)
    harness.app._transport = gate
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app = harness.app
        inventory = app.session.inventory
        one = inventory.projects[-1].id
        gate.free.add(one)  # the pass waits on the others; this one comes through
        gate.open.clear()
        harness.clock.advance(120)
        full = app.refresh_pass(force=True)
        for _ in range(5):
            await pilot.pause()
        await app.refresh_pass([one]).wait()  # ends while the pass waits
        await pilot.pause()
        assert inventory.progress.running and inventory._pass_running
        assert "refreshing" in screen_text(app).splitlines()[1]
        gate.open.set()
        await full.wait()
        await settle(pilot)
        assert not inventory.progress.running


async def test_second_start_shows_the_store_before_any_request(tmp_path):
    first = build(state_dir=tmp_path)
    async with first.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        names = [row.name for row in first.app.screen.visible_rows]
    second = build(state_dir=tmp_path, clock=first.clock, sandbox=first.sandbox)
    second.transport.offline = True  # nothing can come from the API this time
    async with second.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = second.app.dashboard
        assert len(screen.board.projects) == 6
        await loaded(pilot)
        assert [row.name for row in screen.visible_rows] == names
        text = screen_text(second.app)
        assert "CONNECTION_FAILED" in text and "Loading" not in text


async def test_identity_failure_reaches_the_dashboard_while_help_is_open():
    harness = build()
    harness.transport.reject_key = True
    async with harness.app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await settle(pilot)
        assert harness.app.identity_error is not None
        await pilot.press("escape")
        await settle(pilot)
        assert harness.app.dashboard.error is not None
        assert "UNAUTHENTICATED" in screen_text(harness.app).splitlines()[1]


async def test_a_status_change_is_recorded_and_shown_in_the_details(tmp_path):
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        target = next(r for r in harness.app.screen.visible_rows if r.name == "acmecoffee")
        async with harness.control() as control:
            response = await control.post(f"/sandbox/social-accounts/{target.key}/expire-token")
            assert response.status_code < 300
        harness.clock.advance(120)
        await pilot.press("ctrl+r")
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        assert "seen since" in screen_text(harness.app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(harness.app.screen, DetailScreen)
        text = screen_text(harness.app)
        assert "History" in text and "connected → ✖ reauth_required" in text
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        changes = store.history(account_key=target.key)
        assert [c.new_status for c in changes][:1] == ["reauth_required"]
    finally:
        store.close()


async def test_mint_is_saved_once_and_journalled(tmp_path):
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        records = harness.app.store
        saves: list[int] = []
        save = records.save
        records.save = lambda flows, now: saves.append(len(list(flows))) or save(flows, now)
        await select_account(pilot, "acme_baristas")
        await pilot.press("r")
        await settle(pilot)
        assert saves == [1]
        journal = harness.app.session.store.journal()
        assert [entry.action for entry in journal][-1:] == ["reauth:minted"]


async def test_an_account_getting_worse_is_announced_once():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)  # first sightings are not news
        target = next(r for r in harness.app.screen.visible_rows if r.name == "acmecoffee")
        async with harness.control() as control:
            response = await control.post(f"/sandbox/social-accounts/{target.key}/expire-token")
            assert response.status_code < 300
        harness.clock.advance(120)
        await pilot.press("ctrl+r")
        await settle(pilot)
        notes = [n for n in harness.app._notifications if n.title == "Got worse"]
        assert [n.message for n in notes] == ["acmecoffee (TikTok): connected → reauth_required"]
        harness.clock.advance(120)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len([n for n in harness.app._notifications if n.title == "Got worse"]) == 1


async def test_before_anything_loaded_the_header_does_not_read_all_clear():
    harness = build()
    harness.transport.offline = True
    async with harness.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = screen_text(harness.app).splitlines()[0]
        assert "no data yet" in header and "✖ 0" not in header


async def test_the_dashboard_says_when_another_process_refreshes(tmp_path):
    import os
    import time

    other = Store.open(tmp_path / "state.sqlite3")
    assert other.try_lease("another-process", 30, time.time())
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        harness.app.follow_store()
        await settle(pilot)
        assert not harness.app.session.inventory.is_holder
        assert f"refreshed by layers-tui pid {os.getpid()}" in screen_text(harness.app)
        other.release_lease("another-process")
        harness.app.follow_store()  # the holder went away: this one takes over
        await settle(pilot)
        assert harness.app.session.inventory.is_holder
        assert "refreshed by" not in screen_text(harness.app)
    other.close()


async def test_a_rejected_key_on_first_start_says_what_to_do_not_retrying():
    harness = build()
    harness.transport.reject_key = True
    async with harness.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(harness.app)
        assert "layers-tui doctor" in text and "retrying on its own" not in text
        assert "All projects (empty)" not in text


async def fill_a_store(tmp_path, size=SIZE):
    """30 projects x 11 accounts fetched into the store at `tmp_path`, and as the whole
    table and the project list showed them then (a preview threshold under 330 makes the
    next start draw a preview)."""
    from layers_tui.sandbox import SandboxClock, create_app
    from layers_tui.ui.widgets.project_list import ProjectList

    first = build(state_dir=tmp_path)
    sandbox = create_app(
        clock=SandboxClock(base=first.clock.now),
        rng_seed=1,
        projects=30,
        accounts_per_project=10,
        tier="partner",
    )
    first = build(state_dir=tmp_path, clock=first.clock, sandbox=sandbox)
    async with first.app.run_test(size=size) as pilot:
        await loaded(pilot)
        assert not first.app.dashboard.board.previewing  # a store below the threshold
        rows = list(first.app.dashboard.visible_rows)
        listed = [option.id for option in first.app.dashboard.query_one(ProjectList).options]
    assert len(rows) == 330  # 10 social accounts and an ad account per project
    return first, rows, listed


def preview_above(monkeypatch, accounts: int, worst: int) -> None:
    from layers_tui.ui.screens import dashboard_start

    monkeypatch.setattr(dashboard_start, "PREVIEW_ABOVE_ACCOUNTS", accounts)
    monkeypatch.setattr(dashboard_start, "PREVIEW_WORST", worst)


@pytest.mark.parametrize("size", [(80, 24), SIZE])
async def test_a_large_store_is_drawn_first_from_its_worst_accounts_then_read_whole(
    tmp_path, monkeypatch, size
):
    from layers_tui.ui.screens import dashboard
    from layers_tui.ui.widgets.project_list import ProjectList

    first, rows, listed = await fill_a_store(tmp_path, size)
    everything = [(row.project_id, row.key) for row in rows]
    sandbox = first.sandbox

    preview_above(monkeypatch, 100, 25)
    seen: dict[str, object] = {}
    read_rest = dashboard.DashboardScreen._finish_start

    def when_the_preview_is_drawn(screen: dashboard.DashboardScreen) -> None:
        if not screen.board.previewing:
            return read_rest(screen)
        seen["rows"] = [(row.project_id, row.key) for row in screen.visible_rows]
        seen["projects"] = [option.id for option in screen.query_one(ProjectList).options]
        seen["previewing"] = screen.board.previewing
        project_list = screen.query_one(ProjectList)
        room = project_list.scrollable_content_region.width
        # Cut to the list's width as laid out (a width breakpoint moves it after the first
        # layout), not by the list's overflow.
        seen["overflow"] = [
            o.prompt.plain for o in project_list.options if o.prompt.cell_len >= room
        ]
        seen["text"] = screen_text(screen.app)
        read_rest(screen)

    monkeypatch.setattr(dashboard.DashboardScreen, "_finish_start", when_the_preview_is_drawn)
    second = build(state_dir=tmp_path, clock=first.clock, sandbox=sandbox)
    second.transport.offline = True
    async with second.app.run_test(size=size) as pilot:
        await loaded(pilot)
        screen = second.app.dashboard
        # Drawn first: the worst accounts in the order the whole table has them, the
        # project list's first screenful in its order, and what is still coming.
        assert seen["previewing"] == 330
        assert seen["rows"] == everything[:25]
        shown = seen["projects"]
        assert 1 < len(shown) <= size[1] + 1 and shown == listed[: len(shown)]
        assert seen["overflow"] == []
        assert "loading 330 rows…" in seen["text"]
        assert "✖" in seen["text"]  # the counts, from the store's saved severities
        # Then everything, as the first run had it.
        assert not screen.board.previewing
        assert [(row.project_id, row.key) for row in screen.visible_rows] == everything
        assert [option.id for option in screen.query_one(ProjectList).options] == listed
        assert "loading" not in screen_text(second.app)
        # The same columns throughout: the preview knew every status label.
        header = next(line for line in screen_text(second.app).splitlines() if "Status" in line)
        assert header in seen["text"]


async def test_a_pass_ending_during_the_preview_is_judged_against_the_whole_store(
    tmp_path, monkeypatch
):
    """A restart within the refresh interval ends its pass at once (nothing is due): its
    verdict on failed projects waits for the whole board, not the preview's few projects."""
    from layers_tui.api import ApiError
    from layers_tui.session.inventory import error_record

    first, rows, _ = await fill_a_store(tmp_path)
    worst = {row.project_id for row in rows[:5]}
    failing = next(row.project_id for row in reversed(rows) if row.project_id not in worst)
    store = Store.open(tmp_path / "state.sqlite3")
    error = ApiError(500, "INTERNAL", "boom", "req_PREVIEW0000000000000000001")
    store.save_project_error(failing, error_record(error), first.clock.now())
    store.close()

    preview_above(monkeypatch, 100, 5)
    second = build(state_dir=tmp_path, clock=first.clock, sandbox=first.sandbox)
    second.transport.offline = True
    async with second.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = second.app.dashboard
        assert not screen.board.previewing
        assert screen.last_error is not None and screen.last_error.code == "INTERNAL"
        assert "INTERNAL" in screen_text(second.app)


async def test_bulk_reauth_during_the_preview_lists_every_account_not_the_previews(
    tmp_path, monkeypatch
):
    from layers_tui.ui.screens import dashboard, dashboard_start
    from layers_tui.ui.screens.confirm import BulkReauthDialog

    first, rows, _ = await fill_a_store(tmp_path)
    broken = {row.key for row in rows if row.status == "reauth_required"}
    assert len(broken) > 5
    preview_above(monkeypatch, 100, 5)
    # The preview stays until a key needs the whole store.
    monkeypatch.setattr(dashboard.DashboardScreen, "_finish_after_preview", lambda screen: None)
    monkeypatch.setattr(dashboard_start, "PREVIEW_LONGEST", 600)
    second = build(state_dir=tmp_path, clock=first.clock, sandbox=first.sandbox)
    second.transport.offline = True
    async with second.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = second.app.dashboard
        assert screen.board.previewing and len(screen.visible_rows) == 5
        await pilot.press("R")
        await pilot.pause()
        dialog = second.app.screen
        assert isinstance(dialog, BulkReauthDialog)
        assert {row.key for row in dialog.rows} == broken
        assert not screen.board.previewing


async def test_the_details_bind_to_the_apps_staleness_and_say_when_refreshing_fails():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(harness.app.screen, DetailScreen)
        assert "refreshing fails" not in screen_text(harness.app)
        harness.transport.offline = True
        harness.clock.advance(600)
        harness.app.refresh_pass(force=True)  # the dashboard's pass, under the details
        await settle(pilot)
        assert harness.app.data_error is not None
        text = screen_text(harness.app)
        assert "Last good data (fetched 10 min ago): refreshing fails" in text
        assert "CONNECTION_FAILED" in text
        harness.transport.offline = False
        harness.app.refresh_pass(force=True)
        await settle(pilot)
        assert harness.app.data_error is None
        assert "refreshing fails" not in screen_text(harness.app)


async def test_a_corrupt_store_is_told_at_start_and_the_app_runs_on(tmp_path):
    (tmp_path / "state.sqlite3").write_bytes(b"not a database, " * 512)
    harness = build(state_dir=tmp_path)
    async with harness.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        problem = harness.app.store_problem
        assert problem and "moved" in problem.lower()
        titles = [n.title for n in harness.app._notifications]
        assert "Local store" in titles
        assert len(harness.app.dashboard.visible_rows) == 24  # the demo, from the API instead


async def test_following_another_process_its_data_replaces_an_error_our_own_pass_saw():
    from layers_tui.api import ApiError
    from layers_tui.session.inventory import ProjectUpdated

    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.dashboard
        outage = ApiError(0, "CONNECTION_FAILED", "Cannot reach the API", None)

        async def news() -> None:
            for snapshot in app.session.inventory.load_cached():
                app.inventory_event(ProjectUpdated(snapshot))
            await pilot.pause()

        screen.last_error = outage  # our own pass, while we held the lease
        await news()
        assert screen.last_error is outage  # still ours to tell: no other refresher
        app.refreshed_by = "layers-tui pid 4242"  # the lease went to another process
        await news()
        assert screen.last_error is None
        assert "CONNECTION_FAILED" not in screen_text(app)
