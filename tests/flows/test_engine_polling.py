"""The flow engine at scale, on a fake clock: first polls of a burst are spread, due polls run
concurrently within a bound, and no flow is ever polled sooner than 5 s after its last poll."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import timedelta

import pytest

from layers_tui.api import ApiError
from layers_tui.clock import FakeClock
from layers_tui.flows.budget import RequestBudget
from layers_tui.flows.engine import FlowEngine, new_flow
from layers_tui.models import AuthorizeLink, OAuthStatus

START = 1000.0  # FakeClock's monotonic start


class GatedPoller:
    """A poller whose answers wait at a gate the test opens once per simulated round trip,
    counting the requests in flight. `script(n, state)` answers call number n (from 1)."""

    def __init__(self, clock: FakeClock, script=None) -> None:
        self.clock = clock
        self.script = script or (lambda n, state: OAuthStatus(status="pending", state=state))
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.peak = 0
        self.calls: list[tuple[str, float]] = []

    async def oauth_status(self, state, *, max_retries=None):
        self.calls.append((state, self.clock.monotonic()))
        answer = self.script(len(self.calls), state)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def list_ad_accounts(self, project_id, platforms=None):  # pragma: no cover
        raise AssertionError("no ads flows here")

    def open_gate(self) -> None:
        gate, self.gate = self.gate, asyncio.Event()
        gate.set()


class InstantPoller(GatedPoller):
    """Answers at once (the gate starts open), still counting what is in flight."""

    def __init__(self, clock: FakeClock, script=None) -> None:
        super().__init__(clock, script)
        self.gate.set()

    def open_gate(self) -> None:  # the gate never closes
        pass


async def yield_a_while(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def engine_for(poller, clock, *, concurrency=8, tier_rpm=6000, seed=7):
    changes = []
    engine = FlowEngine(
        poller,
        clock,
        changes.append,
        budget=RequestBudget(clock, tier_rpm) if tier_rpm else None,
        rng=random.Random(seed),
        concurrency=concurrency,
    )
    return engine, changes


def mint(engine, clock, count, *, ttl=600.0):
    flows = []
    for number in range(count):
        link = AuthorizeLink(
            authorize_url="http://localhost/x",
            state=f"st_{number:03d}",
            expires_at=clock.now() + timedelta(seconds=ttl),
        )
        flow = new_flow(
            "reauth",
            link,
            project_id="prj_1",
            project_name="Acme",
            platform="tiktok",
            now=clock.now(),
        )
        flows.append(engine.add(flow))
    return flows


async def drive(clock, engine, poller, seconds, step=0.25):
    """Tick as the run loop would; each step is one round trip for whatever is in flight."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        task = asyncio.ensure_future(engine.tick())
        while not task.done():
            await yield_a_while()
            poller.open_gate()
        await task
        clock.advance(step)


def first_polls(poller) -> dict[str, float]:
    first: dict[str, float] = {}
    for state, moment in poller.calls:
        first.setdefault(state, moment)
    return first


def gaps_by_state(poller) -> list[float]:
    times = defaultdict(list)
    for state, moment in poller.calls:
        times[state].append(moment)
    return [b - a for moments in times.values() for a, b in zip(moments, moments[1:], strict=False)]


# -- (a) a burst's first polls are spread over one cadence --------------------------------------
async def test_200_flows_minted_in_one_tick_first_poll_across_the_cadence():
    clock = FakeClock()
    poller = InstantPoller(clock)
    engine, _ = engine_for(poller, clock)
    flows = mint(engine, clock, 200)
    scheduled = [(f.next_poll_at - clock.now()).total_seconds() for f in flows]
    assert scheduled[0] == 2.0  # the first of the burst keeps the quick first poll
    assert all(2.0 <= delay < 2.0 + 5.0 for delay in scheduled)
    await drive(clock, engine, poller, 8, step=0.125)
    first = first_polls(poller)
    assert len(first) == 200
    seconds = {int(moment - START) for moment in first.values()}
    assert len(seconds) >= 4, seconds
    busiest = max(sum(1 for moment in first.values() if int(moment - START) == s) for s in seconds)
    assert busiest <= 80  # not one herd: about 40 a second


async def test_the_spread_is_deterministic_for_a_seed_and_differs_between_seeds():
    def schedule(seed):
        clock = FakeClock()
        engine, _ = engine_for(InstantPoller(clock), clock, seed=seed)
        return [flow.next_poll_at for flow in mint(engine, clock, 20)]

    assert schedule(1) == schedule(1)
    assert schedule(1) != schedule(2)


async def test_a_lone_flow_still_polls_after_two_seconds():
    clock = FakeClock()
    poller = InstantPoller(clock)
    engine, _ = engine_for(poller, clock)
    mint(engine, clock, 1)
    clock.advance(30)  # the first flow has been polled: the next mint is not a burst
    await drive(clock, engine, poller, 0.25)
    flow = mint(engine, clock, 1)[0]
    assert flow.next_poll_at == clock.now() + timedelta(seconds=2)


async def test_resumed_overdue_flows_are_spread_and_keep_the_floor():
    clock = FakeClock()
    saved_engine, _ = engine_for(InstantPoller(clock), clock)
    saved = mint(saved_engine, clock, 60)
    clock.advance(120)  # the app was closed for two minutes: all 60 are overdue
    recent = saved[0].evolve(clock.now(), last_polled_at=clock.now() - timedelta(seconds=1))
    poller = InstantPoller(clock)
    engine, _ = engine_for(poller, clock)
    engine.adopt([recent, *saved[1:]])
    resumed_at = clock.monotonic()
    await drive(clock, engine, poller, 8, step=0.125)
    first = first_polls(poller)
    assert len(first) == 60
    assert len({int(moment - resumed_at) for moment in first.values()}) >= 4
    assert first[recent.state] >= resumed_at + 4.0  # 5 s after its last poll, not at once


# -- (b) due polls run concurrently, within the bound --------------------------------------------
@pytest.mark.parametrize("bound", [1, 3, 8])
async def test_due_polls_run_concurrently_up_to_the_bound(bound):
    clock = FakeClock()
    poller = GatedPoller(clock)
    engine, _ = engine_for(poller, clock, concurrency=bound, tier_rpm=None)
    mint(engine, clock, 40)
    clock.advance(10)  # all 40 first polls are due in this one tick
    task = asyncio.ensure_future(engine.tick())
    round_trips = 0
    while not task.done():
        await yield_a_while()
        assert poller.in_flight <= bound
        if poller.in_flight:
            round_trips += 1
            poller.open_gate()
    await task
    assert len(poller.calls) == 40 and poller.peak == bound
    assert round_trips == -(-40 // bound)  # 40 serial round trips at 1, 5 at 8


def test_concurrency_must_be_positive():
    clock = FakeClock()
    with pytest.raises(ValueError):
        FlowEngine(InstantPoller(clock), clock, lambda flow: None, concurrency=0)


async def test_a_flow_cancelled_while_its_poll_is_in_flight_stays_cancelled():
    clock = FakeClock()
    poller = GatedPoller(clock)
    engine, changes = engine_for(poller, clock)
    flow = mint(engine, clock, 1)[0]
    clock.advance(3)
    task = asyncio.ensure_future(engine.tick())
    await yield_a_while()
    assert poller.in_flight == 1
    engine.cancel(flow.id)
    poller.open_gate()
    await task
    assert engine.flows[flow.id].status == "cancelled"
    assert changes[-1].status == "cancelled"
    assert engine.pending() == []


async def test_kill_switch_mid_batch_starts_no_more_polls_and_halts_once():
    clock = FakeClock()
    answers = lambda n, s: (  # noqa: E731
        ApiError(503, "KILL_SWITCH", "off") if n <= 8 else OAuthStatus(status="pending")
    )
    poller = GatedPoller(clock, answers)
    engine, _ = engine_for(poller, clock)
    halted = []
    engine.on_halt = halted.append
    mint(engine, clock, 40)
    clock.advance(10)
    await drive(clock, engine, poller, 600)
    assert len(poller.calls) == 8  # the eight in flight; none started after the answer
    assert len(halted) == 1 and engine.halted is not None


async def test_an_unexpected_error_below_the_engine_surfaces_as_itself():
    clock = FakeClock()
    poller = GatedPoller(
        clock, lambda n, s: RuntimeError("bug") if n == 3 else OAuthStatus(status="pending")
    )
    engine, _ = engine_for(poller, clock)
    mint(engine, clock, 20)
    clock.advance(10)
    with pytest.raises(RuntimeError, match="bug"):
        await drive(clock, engine, poller, 0.25)


# -- (c) never faster than the cadence; 429 and backoff still rule -------------------------------
async def test_no_flow_is_polled_twice_within_5_s_through_expiry():
    clock = FakeClock()
    poller = InstantPoller(clock)
    engine, _ = engine_for(poller, clock)
    mint(engine, clock, 200, ttl=60)
    await drive(clock, engine, poller, 70, step=0.125)
    gaps = gaps_by_state(poller)
    assert len(gaps) >= 200 * 9
    assert min(gaps) >= 5.0
    assert all(flow.status == "expired" for flow in engine.flows.values())


async def test_429_retry_after_holds_every_flow_and_the_floor_still_holds():
    clock = FakeClock()
    calls_at_429 = []

    def script(n, state):
        if n in (30, 250):
            calls_at_429.append(n)
            return ApiError(429, "RATE_LIMITED", "slow", retry_after=12.0)
        return OAuthStatus(status="pending", state=state)

    poller = GatedPoller(clock, script)
    engine, _ = engine_for(poller, clock)
    mint(engine, clock, 100, ttl=120)
    await drive(clock, engine, poller, 130, step=0.125)
    assert calls_at_429 == [30, 250]
    for number in calls_at_429:
        limited_at = poller.calls[number - 1][1]
        started_after = [moment for _, moment in poller.calls[number:] if moment > limited_at]
        # Polls already in flight finish; the next one starts after the 12 s Retry-After.
        assert started_after and min(started_after) >= limited_at + 12.0
    assert min(gaps_by_state(poller)) >= 5.0
