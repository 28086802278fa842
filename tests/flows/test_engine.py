"""The flow engine on a fake clock: cadence, jitter, backoff, TTL, kill switch, ads."""

from __future__ import annotations

import random
from datetime import timedelta

import httpx

from layers_tui.api import ApiError, LayersClient
from layers_tui.clock import FakeClock
from layers_tui.flows.budget import RequestBudget
from layers_tui.flows.engine import FlowEngine, new_flow
from layers_tui.models import AdAccount, AuthorizeLink, OAuthStatus, Page
from layers_tui.sandbox import SandboxClock, create_app
from tests.conftest import BASE, RETURN_URL


class FakePoller:
    """Answers oauth-status from a script: a callable (n, state) -> OAuthStatus | ApiError."""

    def __init__(self, script=None, ads=None):
        self.script = script or (lambda n, state: OAuthStatus(status="pending", state=state))
        self.ads = ads or (lambda n: [])
        self.calls: list[float] = []
        self.clock: FakeClock | None = None

    async def oauth_status(self, state, *, max_retries=None):
        self.calls.append(self.clock.monotonic())
        answer = self.script(len(self.calls), state)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    async def list_ad_accounts(self, project_id, platforms=None):
        self.calls.append(self.clock.monotonic())
        return Page[AdAccount](items=self.ads(len(self.calls)))


def setup(poller=None, budget=False, seed=3):
    clock = FakeClock()
    poller = poller or FakePoller()
    poller.clock = clock
    changes = []
    engine = FlowEngine(
        poller,
        clock,
        changes.append,
        budget=RequestBudget(clock, 6000) if budget else None,
        rng=random.Random(seed),
    )
    return clock, poller, engine, changes


def flow_for(clock, kind="connect", baseline=()):
    link = AuthorizeLink(
        authorize_url="http://localhost/x",
        state="st_A",
        expires_at=clock.now() + timedelta(minutes=10),
    )
    return new_flow(
        kind,
        link,
        project_id="prj_1",
        project_name="Acme",
        platform="tiktok",
        now=clock.now(),
        ad_baseline=baseline,
    )


async def run_for(clock, engine, seconds, step=0.5):
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        await engine.tick()
        clock.advance(step)


async def test_first_poll_soon_then_every_5s_with_bounded_jitter():
    clock, poller, engine, _ = setup()
    engine.add(flow_for(clock))
    await engine.tick()
    assert poller.calls == []
    await run_for(clock, engine, 60, step=0.1)
    start = 1000.0
    assert abs(poller.calls[0] - (start + 2.0)) < 0.11
    gaps = [b - a for a, b in zip(poller.calls, poller.calls[1:], strict=False)]
    assert gaps and all(5.0 <= gap <= 6.0 + 0.11 for gap in gaps)
    assert len(set(round(g, 1) for g in gaps)) > 1  # jitter is real


async def test_completion_stops_polling_and_reports_the_account():
    def script(n, s):
        return (
            OAuthStatus(
                status="completed",
                state=s,
                social_account_id="sa_1",
                handle="new_one",
            )
            if n == 3
            else OAuthStatus(status="pending")
        )

    clock, poller, engine, changes = setup(FakePoller(script))
    flow = engine.add(flow_for(clock))
    await run_for(clock, engine, 120)
    done = engine.flows[flow.id]
    assert done.status == "completed" and done.result_account_id == "sa_1"
    assert len(poller.calls) == 3 and done.next_poll_at is None
    assert changes[-1].status == "completed"


async def test_failed_state_carries_the_code():
    script = lambda n, s: OAuthStatus.model_validate(  # noqa: E731
        {"status": "failed", "error": {"code": "platform_denied", "message": "no"}}
    )
    clock, poller, engine, _ = setup(FakePoller(script))
    flow = engine.add(flow_for(clock))
    await run_for(clock, engine, 10)
    assert engine.flows[flow.id].status == "failed"
    assert engine.flows[flow.id].code == "platform_denied"
    assert len(poller.calls) == 1


async def test_expires_at_ten_minutes_and_is_never_polled_again():
    clock, poller, engine, _ = setup()
    flow = engine.add(flow_for(clock))
    await run_for(clock, engine, 600 - 0.5)
    assert engine.flows[flow.id].status == "pending"
    await run_for(clock, engine, 1)
    expired = engine.flows[flow.id]
    assert expired.status == "expired" and expired.code == "state_expired"
    assert poller.calls[-1] == 1000.0 + 600
    # The poll that would have come within 5 s of expiry moved to expiry itself.
    assert 5.0 <= poller.calls[-1] - poller.calls[-2] <= 11.0
    count = len(poller.calls)
    await run_for(clock, engine, 600)
    assert len(poller.calls) == count


async def test_retry_after_is_honoured_then_backoff_doubles_to_the_cap_and_resets():
    answers = {
        1: ApiError(429, "RATE_LIMITED", "slow", retry_after=12.0),
        2: ApiError(503, "UNAVAILABLE", "x"),
        3: ApiError(None, "TIMEOUT", "x"),
        4: ApiError(None, "CONNECTION_FAILED", "x"),
        5: ApiError(500, "INTERNAL", "x"),
        6: ApiError(429, "RATE_LIMITED", "slow", retry_after=None),
    }
    script = lambda n, s: answers.get(n, OAuthStatus(status="pending"))  # noqa: E731
    clock, poller, engine, _ = setup(FakePoller(script))
    engine.add(flow_for(clock))
    await run_for(clock, engine, 300, step=0.25)
    gaps = [round(b - a, 2) for a, b in zip(poller.calls, poller.calls[1:], strict=False)]
    assert gaps[:5] == [12.0, 10.0, 20.0, 30.0, 30.0]
    assert 5.0 <= gaps[6] <= 6.25  # reset after the success that followed


async def test_429_storm_shares_one_cooldown_and_stays_bounded():
    script = lambda n, s: ApiError(429, "RATE_LIMITED", "slow", retry_after=1.0)  # noqa: E731
    clock, poller, engine, changes = setup(FakePoller(script))
    for _ in range(5):
        engine.add(flow_for(clock))
    await run_for(clock, engine, 599, step=0.25)
    # Backoff reaches 30 s; five flows share the cool-down, so at most ~one poll per 30 s each.
    assert len(poller.calls) <= 5 * (599 / 30 + 4)
    assert "rate limited, next try in" in changes[-1].last_result


async def test_kill_switch_stops_everything():
    script = lambda n, s: ApiError(503, "KILL_SWITCH", "off", details={"scope": "key"})  # noqa: E731
    halted = []
    clock, poller, engine, _ = setup(FakePoller(script))
    engine.on_halt = halted.append
    engine.add(flow_for(clock))
    engine.add(flow_for(clock))
    await run_for(clock, engine, 600)
    assert len(poller.calls) == 1 and halted and engine.halted.code == "KILL_SWITCH"


async def test_not_found_finishes_the_flow():
    script = lambda n, s: ApiError(404, "NOT_FOUND", "gone", "req_1")  # noqa: E731
    clock, poller, engine, _ = setup(FakePoller(script))
    flow = engine.add(flow_for(clock))
    await run_for(clock, engine, 60)
    assert engine.flows[flow.id].code == "not_found" and len(poller.calls) == 1


async def test_ads_complete_on_a_newly_valid_row_only():
    def rows(n):
        valid_old = AdAccount(ad_account_id="A", platform="meta_ads", token_status="valid")
        if n < 3:
            return [
                valid_old,
                AdAccount(ad_account_id="B", platform="meta_ads", token_status="expired"),
            ]
        return [
            valid_old,
            AdAccount(
                ad_account_id="B", platform="meta_ads", token_status="valid", name="Acme Meta"
            ),
        ]

    clock, poller, engine, _ = setup(FakePoller(ads=rows))
    flow = engine.add(flow_for(clock, "ads", baseline=[("A", "valid"), ("B", "expired")]))
    await run_for(clock, engine, 60)
    done = engine.flows[flow.id]
    assert done.status == "completed" and done.result_account_id == "B"
    assert len(poller.calls) == 3


async def test_ads_without_a_row_fail_at_expiry():
    clock, poller, engine, _ = setup(FakePoller(ads=lambda n: []))
    flow = engine.add(flow_for(clock, "ads"))
    await run_for(clock, engine, 601)
    assert engine.flows[flow.id].code == "no_account"


async def test_cancel():
    clock, poller, engine, _ = setup()
    flow = engine.add(flow_for(clock))
    engine.cancel(flow.id)
    await run_for(clock, engine, 30)
    assert poller.calls == [] and engine.flows[flow.id].status == "cancelled"


def test_budget_cadence_and_refresh_plan():
    clock = FakeClock()
    budget = RequestBudget.for_tier(clock, "standard")
    budget.pending_flows = 20
    assert budget.flow_cadence() == 15.0
    plan = budget.refresh_plan(50, requested=60)
    assert plan.stretched and plan.reason == "refresh every 4 min to stay within 120 req/min"
    budget.pending_flows = 0
    assert budget.flow_cadence() == 5.0
    assert not RequestBudget.for_tier(clock, "partner").refresh_plan(50, 60).stretched


def test_budget_reserves_tokens_for_flows():
    clock = FakeClock()
    budget = RequestBudget(clock, 120)
    budget.pending_flows = 4
    while budget.try_take("background"):
        pass
    assert budget.try_take("visible")  # background stopped early, leaving a reserve
    while budget.try_take("visible"):
        pass
    assert budget.try_take("flow")


async def test_engine_against_the_sandbox_completes_a_real_state():
    fake = FakeClock()
    app = create_app(clock=SandboxClock(base=fake.now), rng_seed=2)
    key = app.state.sandbox.demo_key
    async with (
        LayersClient(BASE, key, transport=httpx.ASGITransport(app=app), clock=fake) as client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as browser,
    ):
        project = (await client.list_projects()).items[0]
        link = await client.social_oauth_url(project.id, "tiktok", RETURN_URL)
        engine = FlowEngine(client, fake, lambda flow: None)
        flow = engine.add(
            new_flow(
                "connect",
                link,
                project_id=project.id,
                project_name=project.name,
                platform="tiktok",
                now=fake.now(),
            )
        )
        await run_for(fake, engine, 12)
        assert engine.flows[flow.id].status == "pending"
        await browser.post(f"/sandbox/consent/{link.state}", data={"decision": "approve"})
        await run_for(fake, engine, 8)
        assert engine.flows[flow.id].status == "completed"
