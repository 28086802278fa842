"""The inventory over the sandbox: store-backed, one pass at a time, priorities, progress."""

from __future__ import annotations

import asyncio
import gc
import math
from dataclasses import replace

import httpx

from layers_tui.api import ApiError
from layers_tui.session.inventory import (
    ProgressUpdated,
    ProjectsUpdated,
    ProjectUpdated,
    StatusChanged,
)
from tests.session.conftest import CountingTransport


async def test_a_pass_fills_the_store_and_a_second_start_needs_no_lists(
    make_session, sandbox_app, tmp_path
):
    first = make_session()
    result = await first.inventory.refresh()
    assert len(result.refreshed) == 6 and not result.failed
    await first.aclose()

    counting = CountingTransport(sandbox_app)
    second = make_session(transport=counting)
    snapshots = second.inventory.load_cached()
    assert len(snapshots) == 6
    assert sum(len(s.social) + len(s.ads) for s in snapshots) == 24
    assert all(s.fetched_at is not None for s in snapshots)
    again = await second.inventory.refresh(max_age=600)
    assert again.refreshed == [] and counting.lists == 0


async def test_status_changes_are_recorded_with_their_time(make_session, raw, fake_clock):
    session = make_session()
    events = []
    session.inventory.listeners.append(events.append)
    await session.inventory.refresh()
    snapshots = session.inventory.load_cached()
    target = next(
        a for s in snapshots for a in s.social if a.status == "connected" and a.token_expires_at
    )
    response = await raw.post(f"/sandbox/social-accounts/{target.social_account_id}/expire-token")
    assert response.status_code < 300
    fake_clock.advance(120)
    events.clear()
    await session.inventory.refresh()
    changed = [c for e in events if isinstance(e, StatusChanged) for c in e.changes]
    assert [(c.account_key, c.new_status) for c in changed] == [
        (target.social_account_id, "reauth_required")
    ]
    history = session.store.history(account_key=target.social_account_id)
    assert history[0].new_status == "reauth_required"
    assert history[0].at == fake_clock.now().timestamp()


class GatedTransport(CountingTransport):
    """Holds social-account lists until released, so passes can be made to overlap."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.gate = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/social-accounts"):
            await self.gate.wait()
        return await super().handle_async_request(request)


async def test_a_single_project_refresh_never_ends_a_full_pass(make_session, sandbox_app):
    gated = GatedTransport(sandbox_app)
    session = make_session(transport=gated, concurrency=1)  # the pass reads one at a time
    inventory = session.inventory
    listed = asyncio.Event()
    inventory.listeners.append(lambda e: listed.set() if isinstance(e, ProjectsUpdated) else None)
    full = asyncio.ensure_future(inventory.refresh())
    await listed.wait()
    one = asyncio.ensure_future(inventory.refresh_project(inventory.projects[-1].id))
    await asyncio.sleep(0.05)
    gated.gate.set()
    await one
    # The full pass is still running: a second full pass is skipped, not started alongside.
    assert not full.done()
    skipped = await inventory.refresh()
    assert skipped.refreshed == [] and skipped.failed == []
    result = await full
    assert len(result.refreshed) + 1 >= 6
    assert gated.paths["/v1/projects"] == 1


async def test_one_project_failing_in_any_way_stays_with_that_project(make_session, monkeypatch):
    session = make_session()
    inventory = session.inventory
    await inventory.list_projects()
    victim = inventory.projects[1].id
    original = session.client.list_ad_accounts

    async def broken(project_id, platforms=None):
        if project_id == victim:
            raise KeyError("a bug, not an API error")
        return await original(project_id, platforms)

    monkeypatch.setattr(session.client, "list_ad_accounts", broken)
    result = await inventory.refresh()
    assert result.failed == [victim] and len(result.refreshed) == 5
    record = next(r for r in session.store.projects() if r.id == victim)
    assert record.error["code"] == "INTERNAL_CLIENT"


async def test_priority_focus_then_problems_then_oldest(make_session):
    session = make_session(concurrency=1)
    inventory = session.inventory
    order = []
    inventory.listeners.append(
        lambda e: order.append(e.snapshot.project.id) if isinstance(e, ProjectUpdated) else None
    )
    await inventory.refresh()
    problems = [
        r.id
        for r in session.store.projects()
        if session.store.count_where("severity >= 2", project_ids=[r.id])
    ]
    calm = [p.id for p in inventory.projects if p.id not in problems]
    inventory.focus_project = calm[-1]
    order.clear()
    await inventory.refresh()
    assert order[0] == calm[-1]
    assert set(order[1 : 1 + len(problems)]) == set(problems)


async def test_progress_counts_and_estimates(make_session):
    session = make_session()
    progress = []
    session.inventory.listeners.append(
        lambda e: progress.append(e.progress) if isinstance(e, ProgressUpdated) else None
    )
    await session.inventory.refresh()
    running = [p for p in progress if p.running]
    assert running[0].done == 0 and running[0].total == 6
    assert running[0].eta_seconds is not None and running[0].eta_seconds > 0
    assert progress[-1].running is False and progress[-1].done == 6


async def test_a_follower_sees_what_the_holder_writes(make_session, tmp_path):
    path = tmp_path / "shared.sqlite3"
    holder = make_session(store_path=path)
    follower = make_session(store_path=path)
    follower.inventory.load_cached()
    seen = []
    follower.inventory.listeners.append(seen.append)
    told = []
    holder.inventory.listeners.append(told.append)
    await holder.inventory.refresh()
    assert follower.inventory.follow() == 6
    followed = [e.snapshot for e in seen if isinstance(e, ProjectUpdated)]
    assert len(followed) == 6
    assert follower.inventory.follow() == 0
    # With the documents hash the holder's own snapshots carry: a follower's board knows an
    # unchanged project without comparing its account models.
    fetched = {e.snapshot.project.id: e.snapshot for e in told if isinstance(e, ProjectUpdated)}
    for snapshot in followed:
        assert snapshot.documents_hash is not None
        assert snapshot.documents_hash == fetched[snapshot.project.id].documents_hash
        assert snapshot.social == fetched[snapshot.project.id].social


async def test_refresh_respects_a_deadline(make_session, fake_clock):
    session = make_session(concurrency=1)
    inventory = session.inventory
    await inventory.list_projects()
    session.budget.set_tier("standard")
    session.budget._tokens = 0  # an exhausted budget: nothing fits before the deadline
    result = await inventory.refresh(deadline=fake_clock.monotonic() + 0.5)
    assert result.refreshed == [] and len(result.skipped) == 6


async def test_listing_failure_keeps_the_stored_projects(make_session, monkeypatch):
    session = make_session()
    await session.inventory.refresh()

    async def down(*args, **kwargs):
        raise ApiError(None, "CONNECTION_FAILED", "Cannot reach the API.")

    monkeypatch.setattr(session.client, "list_projects", down)
    result = await session.inventory.refresh(relist=True, max_age=None)
    assert result.listing_error is not None
    assert len(session.inventory.projects) == 6


async def test_a_follower_hears_the_status_changes_the_holder_records(
    make_session, tmp_path, raw, fake_clock
):
    path = tmp_path / "shared.sqlite3"
    holder = make_session(store_path=path)
    follower = make_session(store_path=path)
    await holder.inventory.refresh()
    follower.inventory.load_cached()
    seen = []
    follower.inventory.listeners.append(seen.append)
    follower.inventory.follow()  # first look: what was already there is not news
    assert not [e for e in seen if isinstance(e, StatusChanged)]
    target = next(
        a
        for s in holder.inventory.load_cached()
        for a in s.social
        if a.status == "connected" and a.token_expires_at
    )
    response = await raw.post(f"/sandbox/social-accounts/{target.social_account_id}/expire-token")
    assert response.status_code < 300
    fake_clock.advance(120)
    await holder.inventory.refresh()
    follower.inventory.follow()
    changed = [c for e in seen if isinstance(e, StatusChanged) for c in e.changes]
    assert [(c.account_key, c.new_status) for c in changed] == [
        (target.social_account_id, "reauth_required")
    ]
    follower.inventory.follow()
    assert len([e for e in seen if isinstance(e, StatusChanged)]) == 1  # told once


class HoldAllBut(CountingTransport):
    """Holds every project's account lists but one project's until released."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.holding = False
        self.free: str | None = None
        self.gate = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        held = path.endswith(("/social-accounts", "/ad-accounts")) and not (
            self.free and self.free in path
        )
        if self.holding and held:
            await self.gate.wait()
        return await super().handle_async_request(request)


async def test_a_project_asked_for_during_a_pass_is_refreshed_now_and_not_twice(
    make_session, sandbox_app
):
    transport = HoldAllBut(sandbox_app)
    session = make_session(transport=transport, concurrency=1)
    inventory = session.inventory
    await inventory.refresh()
    transport.holding = True
    transport.paths.clear()
    full = asyncio.ensure_future(inventory.refresh(relist=False))
    for _ in range(20):
        await asyncio.sleep(0)
    assert inventory._pass_running and len(inventory._in_flight) == 1  # one waits, held
    target = next(p.id for p in inventory.projects if p.id not in inventory._in_flight)
    transport.free = target
    single = await inventory.refresh_project(target)  # the pass has not reached it yet
    assert single.refreshed == [target]
    transport.gate.set()
    result = await full
    assert target not in result.refreshed and target not in result.skipped
    assert len(result.refreshed) == len(inventory.projects) - 1
    fetched = sum(
        n for p, n in transport.paths.items() if p.endswith("/social-accounts") and target in p
    )
    assert fetched == 1  # by the single refresh only
    assert not inventory._in_flight


async def test_the_holder_serves_a_refresh_asked_through_the_store_during_its_pass(
    make_session, sandbox_app, tmp_path, fake_clock
):
    path = tmp_path / "shared.sqlite3"
    transport = HoldAllBut(sandbox_app)
    holder = make_session(store_path=path, transport=transport, concurrency=1)
    asker = make_session(store_path=path)
    await holder.inventory.refresh()
    transport.holding = True
    fake_clock.advance(3600)  # everything is old: the loop's first pass is due at once
    runner = asyncio.ensure_future(holder.inventory.run())
    try:
        for _ in range(50):
            await asyncio.sleep(0)
            if holder.inventory._pass_running and holder.inventory._in_flight:
                break
        assert holder.inventory._pass_running
        target = next(
            p.id for p in holder.inventory.projects if p.id not in holder.inventory._in_flight
        )
        transport.free = target
        before = asker.store.project(target).refreshed_at
        asker.inventory.request_refresh([target])  # not the holder: asks through the store
        for _ in range(200):
            await asyncio.sleep(0)
            record = asker.store.project(target)
            if record.refreshed_at != before:
                break
        assert asker.store.project(target).refreshed_at != before
        assert holder.inventory._pass_running  # served while the pass still waits
    finally:
        transport.gate.set()
        runner.cancel()


async def test_a_project_without_data_comes_before_known_problems(make_session):
    session = make_session(concurrency=1)
    inventory = session.inventory
    await inventory.list_projects()
    unknown = inventory.projects[-1].id
    await inventory.refresh([p.id for p in inventory.projects[:-1]])
    order = []
    inventory.listeners.append(
        lambda e: order.append(e.snapshot.project.id) if isinstance(e, ProjectUpdated) else None
    )
    await inventory.refresh(relist=False)
    assert order[0] == unknown


async def test_budget_taken_for_a_project_another_pass_got_is_given_back(make_session, sandbox_app):
    counting = CountingTransport(sandbox_app)
    session = make_session(transport=counting, concurrency=2)
    inventory, budget = session.inventory, session.budget
    await inventory.list_projects()
    taken = {"acquired": 0, "refunded": 0}
    acquire, refund = budget.acquire, budget.refund

    async def counting_acquire(priority: str, cost: int = 1) -> None:
        await acquire(priority, cost)
        taken["acquired"] += cost

    def counting_refund(cost: int = 1) -> None:
        refund(cost)
        taken["refunded"] += cost

    budget.acquire, budget.refund = counting_acquire, counting_refund
    budget.per_minute, budget._tokens = 60, 0.0  # every fetch waits: passes overtake each other
    before = sum(counting.paths.values())
    ids = [p.id for p in inventory.projects]
    await asyncio.gather(inventory.refresh(relist=False), inventory.refresh(ids))
    sent = sum(counting.paths.values()) - before
    assert taken["acquired"] - taken["refunded"] == sent  # nothing paid for and not sent


async def test_loading_the_store_leaves_the_collector_running_and_the_data_out_of_its_passes(
    make_session,
):
    first = make_session()
    await first.inventory.refresh()
    await first.aclose()
    second = make_session()
    gc.unfreeze()
    try:
        snapshots = second.inventory.load_cached()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was loaded is out of the collector's passes
        assert [s.project for s in snapshots] == second.inventory.projects
        assert all(
            s.project is p for s, p in zip(snapshots, second.inventory.projects, strict=True)
        )
        gc.disable()
        second.inventory.load_cached()
        assert not gc.isenabled()  # a collector paused by someone else stays paused
    finally:
        gc.enable()
        gc.unfreeze()


def test_progress_says_how_many_projects_a_pass_leaves_alone_as_fresh():
    from layers_tui.session.inventory import Progress

    line = Progress(True, 9, 276, 0, None, "", fresh=24).describe("refreshing")
    assert line == "refreshing 9 of 276 projects due (24 still fresh)"
    assert Progress(True, 9, 300).describe("refreshing") == "refreshing 9 of 300 projects"


async def test_a_quiet_refresh_is_known_by_its_documents_hash(
    make_session, raw, fake_clock, monkeypatch
):
    """What the store loads and what a pass fetches carry the same hash when nothing changed
    (so the dashboard needn't compare 20 account models per project), and a different one
    for the project whose account changed."""
    from layers_tui.models import SocialAccount
    from layers_tui.ui.board import Board

    session = make_session()
    await session.inventory.refresh()
    loaded = {s.project.id: s for s in session.inventory.load_cached()}
    assert all(s.documents_hash is not None for s in loaded.values())
    some = next(s for s in loaded.values() if s.social)
    edited = replace(some, social=some.social[1:])  # other lists: the hash vouches for none
    assert edited.documents_hash is None and replace(some, error=None).documents_hash
    board = Board(session.inventory.thresholds)
    for snapshot in loaded.values():
        board.put(snapshot)

    project_id, target = next(
        (pid, a) for pid, s in loaded.items() for a in s.social if a.status == "connected"
    )
    response = await raw.post(f"/sandbox/social-accounts/{target.social_account_id}/expire-token")
    assert response.status_code < 300
    fake_clock.advance(120)
    events = []
    session.inventory.listeners.append(events.append)
    await session.inventory.refresh()
    fetched = {e.snapshot.project.id: e.snapshot for e in events if isinstance(e, ProjectUpdated)}
    assert set(fetched) == set(loaded)
    changed = {pid for pid in fetched if fetched[pid].documents_hash != loaded[pid].documents_hash}
    assert changed == {project_id}

    def no_model_compare(self, other):
        raise AssertionError("compared account models for an unchanged project")

    monkeypatch.setattr(SocialAccount, "__eq__", no_model_compare)
    quiet = [board.put(fetched[pid]) for pid in fetched if pid != project_id]
    assert quiet and not any(quiet)
    monkeypatch.undo()
    assert board.put(fetched[project_id]) is True


async def test_a_project_listed_but_never_fetched_loads_as_not_yet_loaded(make_session):
    """A pass cut short (the dashboard killed mid-pass): on the next start the projects it
    never reached have no snapshot (shown as loading), not an empty one (shown as a project
    without accounts: "(empty)", "press c to connect one")."""
    first = make_session()
    projects = await first.inventory.list_projects()
    await first.inventory.refresh([projects[0].id])
    await first.aclose()

    second = make_session()
    snapshots = second.inventory.load_cached()
    assert [s.project.id for s in snapshots] == [projects[0].id]
    assert [p.id for p in second.inventory.projects] == [p.id for p in projects]


async def test_projects_asked_for_by_name_go_ahead_of_a_passs_background_share(make_session):
    """A project asked for (through the store by a `check`, ctrl+r, a completed flow) took
    5-16 s behind a holder's long pass racing it for the same budget: it is fetched at the
    'visible' priority, which the background share must leave room for."""
    session = make_session()
    projects = await session.inventory.list_projects()
    taken: list[str] = []
    acquire = session.inventory.budget.acquire

    async def recording(priority: str, cost: int = 1) -> None:
        taken.append(priority)
        await acquire(priority, cost)

    session.inventory.budget.acquire = recording
    await session.inventory.refresh([projects[0].id])
    assert taken == ["visible"]
    taken.clear()
    await session.inventory.refresh()
    assert set(taken) == {"background"}


async def test_a_follower_sees_the_holders_pass_progress_and_its_end(make_session, tmp_path):
    """A dashboard following `watch` showed only "refreshed by pid N" during a 36-minute
    pass: the holder writes where its pass is (every few seconds and at its end), followers
    tell it as `HolderProgress` (never as their own `ProgressUpdated`)."""
    from layers_tui.session.inventory import LEASE_TTL, HolderProgress, Progress

    path = tmp_path / "shared.sqlite3"
    holder = make_session(store_path=path)
    follower = make_session(store_path=path)
    assert holder.inventory.take_lease() and not follower.inventory.take_lease()
    seen = []
    follower.inventory.listeners.append(seen.append)

    told_mid_pass = []

    def peek(event) -> None:
        if isinstance(event, ProjectUpdated) and not told_mid_pass:
            follower.inventory.follow()
            told_mid_pass.extend(e.progress for e in seen if isinstance(e, HolderProgress))

    holder.inventory.listeners.append(peek)
    await holder.inventory.refresh()
    assert told_mid_pass and told_mid_pass[-1].running and told_mid_pass[-1].total == 6
    assert not any(isinstance(e, ProgressUpdated) for e in seen)  # not its own pass

    seen.clear()
    follower.inventory.follow()
    ended = [e.progress for e in seen if isinstance(e, HolderProgress)]
    assert ended and not ended[-1].running and ended[-1].done == 6

    # A holder that died mid-pass: its last word, older than a lease, is not a pass running.
    holder.inventory._progress_written = -math.inf  # written at once, not 2 s later
    holder.inventory._set_progress(Progress(running=True, done=1, total=6))
    seen.clear()
    follower.inventory.follow()
    assert [e.progress.done for e in seen if isinstance(e, HolderProgress)] == [1]
    wall = follower.inventory._wall
    follower.inventory._wall = lambda: wall() + LEASE_TTL + 1
    seen.clear()
    follower.inventory.follow()
    assert [e.progress.running for e in seen if isinstance(e, HolderProgress)] == [False]


async def test_a_project_asked_for_while_a_fetch_reads_it_is_read_again_after(
    make_session, sandbox_app
):
    """A flow completes while the pass is reading that project: the fetch may have started
    before the consent, so the asked refresh reads it again once that fetch lands (it was
    dropped as "in flight", leaving 'reauth required' on screen until the next pass)."""
    gated = GatedTransport(sandbox_app)
    session = make_session(transport=gated)
    inventory = session.inventory
    await inventory.list_projects()
    target = inventory.projects[0].id
    full = asyncio.ensure_future(inventory.refresh())
    for _ in range(200):  # until the pass's fetch of `target` is in flight (gated)
        if target in inventory._in_flight:
            break
        await asyncio.sleep(0)
    assert target in inventory._in_flight
    asked = asyncio.ensure_future(inventory.refresh([target]))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not asked.done()  # waits for the fetch in flight
    gated.gate.set()
    await full
    result = await asked
    assert result.refreshed == [target]
    reads = sum(
        count
        for path, count in gated.paths.items()
        if target in path and path.endswith("/social-accounts")
    )
    assert reads == 2
