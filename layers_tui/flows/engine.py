"""The pending-OAuth engine: one scheduler polls every pending state until it finishes.

No Textual here. Time comes from an injected Clock; HTTP from an injected poller (the
LayersClient in the app, fakes in tests). Every change is reported through `on_change`.

At scale (a bulk reauth of hundreds): first polls of flows minted together are spread over
one cadence, due polls run a few at a time concurrently, and no flow is ever polled sooner
than the 5 s floor after its previous poll, its last one at expiry included.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from layers_tui.api import ApiError
from layers_tui.api.retry import POLLER_BACKOFF
from layers_tui.clock import Clock
from layers_tui.domain.failures import explain
from layers_tui.models import AdAccount, AuthorizeLink, OAuthStatus, Page

from .budget import FLOW_CADENCE, RequestBudget
from .model import PendingFlow

FIRST_POLL_DELAY = 2.0
JITTER = 1.0
MAX_BACKOFF = 30.0
CONCURRENCY = 8  # polls in flight at once: 100 ms round trips allow ~80 polls/s, not ~10


class Poller(Protocol):
    async def oauth_status(self, state: str, *, max_retries: int | None = None) -> OAuthStatus: ...

    async def list_ad_accounts(
        self, project_id: str, platforms: list[str] | None = None
    ) -> Page[AdAccount]: ...


def new_flow(
    kind: str,
    link: AuthorizeLink,
    *,
    project_id: str,
    project_name: str,
    platform: str,
    now: datetime,
    social_account_id: str | None = None,
    account_label: str = "",
    timezone: str = "UTC",
    ad_baseline: Iterable[tuple[str, str]] = (),
) -> PendingFlow:
    """A flow for a freshly minted link (persist it before showing the link)."""
    expires = link.expires_at or now + timedelta(minutes=10)
    return PendingFlow(
        id=uuid.uuid4().hex,
        kind=kind,
        project_id=project_id,
        project_name=project_name,
        platform=platform,
        authorize_url=link.authorize_url,
        created_at=now,
        expires_at=expires,
        updated_at=now,
        state=link.state if kind != "ads" else None,
        social_account_id=social_account_id,
        account_label=account_label,
        timezone=timezone,
        next_poll_at=now + timedelta(seconds=FIRST_POLL_DELAY),
        ad_baseline=tuple(ad_baseline),
    )


class FlowEngine:
    """Polls due flows on each `tick()`; `run()` loops ticks until cancelled."""

    def __init__(
        self,
        poller: Poller,
        clock: Clock,
        on_change: Callable[[PendingFlow], None],
        budget: RequestBudget | None = None,
        rng: random.Random | None = None,
        on_halt: Callable[[ApiError], None] | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.poller = poller
        self.concurrency = concurrency
        self.clock = clock
        self.on_change = on_change
        self.on_halt = on_halt
        self.budget = budget
        self.rng = rng or random.Random()
        self.flows: dict[str, PendingFlow] = {}
        # The not-yet-finished ones, kept alongside: with hundreds of flows, scanning them
        # all on every poll was a tenth of the poller's CPU.
        self._pending: dict[str, PendingFlow] = {}
        self.halted: ApiError | None = None
        self.cooldown_until: datetime | None = None
        # While a flow added earlier still waits for its first poll, flows added now are
        # part of the same burst and have their first poll spread over one cadence.
        self._burst_until: datetime | None = None
        self._wake = asyncio.Event()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _track(self, flow: PendingFlow) -> None:
        self.flows[flow.id] = flow
        if flow.terminal:
            self._pending.pop(flow.id, None)
        else:
            self._pending[flow.id] = flow

    def _set(self, flow: PendingFlow) -> PendingFlow:
        self._track(flow)
        if self.budget is not None:
            self.budget.pending_flows = len(self._pending)
        self.on_change(flow)
        return flow

    def add(self, flow: PendingFlow) -> PendingFlow:
        """Track a freshly minted flow. Returns it as scheduled (its first poll may have been
        moved later to spread a burst)."""
        if not flow.terminal and flow.attempts == 0 and flow.next_poll_at is not None:
            flow = self._spread_first_poll(flow, flow.next_poll_at)
        self._set(flow)
        self._wake.set()
        return flow

    def _spread_first_poll(self, flow: PendingFlow, first: datetime) -> PendingFlow:
        """First poll at `first` for a lone flow; for one of a burst somewhere in
        [first, first + cadence), drawn from the engine's rng, so 200 flows minted in one
        second neither poll in that second nor keep polling in step afterwards."""
        if self._burst_until is not None and self.clock.now() <= self._burst_until:
            first = first + timedelta(seconds=self.rng.uniform(0.0, self.cadence()))
        if self._burst_until is None or first > self._burst_until:
            self._burst_until = first
        return flow.evolve(flow.updated_at, next_poll_at=first)

    def adopt(self, flows: Iterable[PendingFlow]) -> None:
        """Resume flows loaded from disk (expired ones are finished on the next tick). Overdue
        flows are spread like a burst: a restart with 200 saved flows is not one herd."""
        now = self.clock.now()
        for flow in flows:
            if not flow.terminal and self._due_at(flow) <= now:
                first = now
                if flow.last_polled_at is not None:
                    first = max(first, flow.last_polled_at + timedelta(seconds=FLOW_CADENCE))
                flow = self._spread_first_poll(flow, first)
            self._track(flow)
        if self.budget is not None:
            self.budget.pending_flows = len(self._pending)
        self._wake.set()

    def cancel(self, flow_id: str) -> PendingFlow | None:
        flow = self.flows.get(flow_id)
        if flow is None or flow.terminal:
            return flow
        reason = explain("cancelled")
        return self._set(
            flow.evolve(
                self.clock.now(),
                status="cancelled",
                code="cancelled",
                message=reason.title,
                next_poll_at=None,
                last_result="cancelled",
            )
        )

    def wake(self) -> None:
        """Check what is due now (after the clock jumped, e.g. in the demo)."""
        self._wake.set()

    def pending(self) -> list[PendingFlow]:
        return list(self._pending.values())

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def resume(self) -> None:
        """Lift a kill-switch halt (the user pressed retry after the key was restored)."""
        self.halted = None
        self._wake.set()

    # -- scheduling ---------------------------------------------------------------------------
    def cadence(self) -> float:
        return self.budget.flow_cadence() if self.budget is not None else 5.0

    @staticmethod
    def _due_at(flow: PendingFlow) -> datetime:
        return flow.next_poll_at or flow.expires_at

    def next_due(self) -> datetime | None:
        if not self._pending:
            return None
        soonest = min(self._due_at(flow) for flow in self._pending.values())
        if self.cooldown_until is not None:
            soonest = max(soonest, self.cooldown_until)
        return soonest

    def _stopped(self) -> bool:
        """Halted, or in a shared 429 cool-down: start no further polls."""
        if self.halted is not None:
            return True
        return self.cooldown_until is not None and self.clock.now() < self.cooldown_until

    async def tick(self) -> float | None:
        """Poll every due flow once, at most `concurrency` at a time. Returns seconds until
        the next one is due (None: idle)."""
        if self.halted is not None:
            return None
        now = self.clock.now()
        if self.cooldown_until is not None and now < self.cooldown_until:
            return (self.cooldown_until - now).total_seconds()
        due = deque(
            sorted(
                (flow for flow in self._pending.values() if self._due_at(flow) <= now),
                key=self._due_at,
            )
        )
        lanes = min(self.concurrency, len(due))
        if lanes == 1:
            await self._drain(due, now)
        elif lanes > 1:
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(lanes):
                        group.create_task(self._drain(due, now))
            except ExceptionGroup as errors:
                # A bug below the engine surfaces as itself (what the app's worker report
                # shows), not as a group; the TaskGroup has cancelled the other lanes.
                raise errors.exceptions[0] from None
        upcoming = self.next_due()
        if upcoming is None:
            return None
        return max(0.0, (upcoming - self.clock.now()).total_seconds())

    async def _drain(self, due: deque[PendingFlow], now: datetime) -> None:
        """One lane of a tick: poll due flows one after another until none is left."""
        while due and not self._stopped():
            flow = self._pending.get(due.popleft().id)
            if flow is None:
                continue  # finished (e.g. cancelled) while it waited its turn
            if self.budget is not None and not self.budget.try_take("flow"):
                wait = self.budget.wait_seconds("flow")
                self._set(flow.evolve(now, next_poll_at=now + timedelta(seconds=wait)))
                continue
            await self._poll(flow)

    async def run(self) -> None:
        """Long-lived loop for the app's `flows` worker."""
        while True:
            wait = await self.tick()
            self._wake.clear()
            timeout = 3600.0 if wait is None else max(wait, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    # -- polling ------------------------------------------------------------------------------
    async def _poll(self, flow: PendingFlow) -> None:
        final = self.clock.now() >= flow.expires_at
        try:
            if flow.kind == "ads":
                updated = await self._poll_ads(flow, final)
            else:
                status = await self.poller.oauth_status(flow.state or "", max_retries=0)
                updated = self._apply_status(flow, status, final)
        except ApiError as error:
            updated = self._apply_error(flow, error, final)
        if flow.id not in self._pending:
            return  # cancelled while the request was in flight: that outcome stands
        self._set(updated)

    @staticmethod
    def _next_poll(flow: PendingFlow, now: datetime, delay: float) -> datetime:
        """`delay` from now; a poll that would land within 5 s of expiry moves to expiry itself,
        so the final poll comes at expiry and still keeps the 5 s floor after this one."""
        wanted = now + timedelta(seconds=delay)
        if wanted <= flow.expires_at - timedelta(seconds=FLOW_CADENCE):
            return wanted
        return max(flow.expires_at, now + timedelta(seconds=FLOW_CADENCE))

    def _scheduled(self, flow: PendingFlow, now: datetime, **changes: object) -> PendingFlow:
        cadence = self.cadence()
        jitter = self.rng.uniform(0.0, JITTER)
        # Jitter spreads polls out; at the 5 s floor it may only add, above it it subtracts
        # so a budget-stretched cadence (e.g. 15 s) is still a promise, not an average.
        delay = cadence + jitter if cadence <= FLOW_CADENCE else cadence - jitter
        return flow.evolve(
            now,
            next_poll_at=self._next_poll(flow, now, delay),
            attempts=flow.attempts + 1,
            failures=0,
            last_polled_at=now,
            **changes,
        )

    @staticmethod
    def _finish(
        flow: PendingFlow, now: datetime, status: str, last_result: str, **changes: object
    ) -> PendingFlow:
        """A poll that ends the flow: it is never scheduled again."""
        return flow.evolve(
            now,
            status=status,
            attempts=flow.attempts + 1,
            last_polled_at=now,
            next_poll_at=None,
            last_result=last_result,
            **changes,
        )

    def _apply_status(self, flow: PendingFlow, status: OAuthStatus, final: bool) -> PendingFlow:
        now = self.clock.now()
        if status.status == "completed":
            return self._finish(
                flow,
                now,
                "completed",
                "completed",
                result_account_id=status.social_account_id,
                result_label=status.handle,
                failures=0,
            )
        if status.status == "failed":
            code = status.error.code if status.error else None
            terminal = "expired" if code == "state_expired" else "failed"
            message = (status.error.message if status.error else "") or explain(code).cause
            return self._finish(flow, now, terminal, f"failed: {code}", code=code, message=message)
        if final:
            return self._expire(flow, now)
        label = (
            "waiting for consent"
            if status.status == "pending"
            else f"status {status.status!r} (unknown; still waiting)"
        )
        return self._scheduled(flow, now, last_result=label)

    async def _poll_ads(self, flow: PendingFlow, final: bool) -> PendingFlow:
        page = await self.poller.list_ad_accounts(flow.project_id, [flow.platform])
        now = self.clock.now()
        baseline = dict(flow.ad_baseline)
        for account in page.items:
            if account.token_status == "valid" and baseline.get(account.ad_account_id) != "valid":
                return self._finish(
                    flow,
                    now,
                    "completed",
                    "completed",
                    failures=0,
                    result_account_id=account.ad_account_id,
                    result_label=account.name,
                )
        if final:
            return self._finish(
                flow,
                now,
                "failed",
                "no account by expiry",
                code="no_account",
                message=explain("no_account").cause,
            )
        return self._scheduled(flow, now, last_result="waiting for a valid ad account")

    def _expire(self, flow: PendingFlow, now: datetime) -> PendingFlow:
        return self._finish(
            flow,
            now,
            "expired",
            "expired",
            code="state_expired",
            message=explain("state_expired").cause,
        )

    def _apply_error(self, flow: PendingFlow, error: ApiError, final: bool) -> PendingFlow:
        now = self.clock.now()
        if error.code == "KILL_SWITCH":
            first_halt = self.halted is None  # other polls in flight may answer the same
            self.halted = error
            if first_halt and self.on_halt is not None:
                self.on_halt(error)
            return flow.evolve(
                now,
                last_result="stopped: API access disabled (KILL_SWITCH)",
                request_id=error.request_id,
                last_polled_at=now,
            )
        if error.code == "NOT_FOUND":
            return self._finish(
                flow,
                now,
                "failed",
                "404 NOT_FOUND",
                code="not_found",
                message=explain("not_found").cause,
                request_id=error.request_id,
            )
        if final:
            return self._expire(flow, now)
        failures = flow.failures + 1
        backoff = POLLER_BACKOFF.delay(failures, lambda low, high: high)
        wait = min(MAX_BACKOFF, max(error.retry_after or 0.0, backoff))
        if error.code == "RATE_LIMITED":
            # One cool-down for everybody: the bucket is per key, not per state.
            self.cooldown_until = now + timedelta(seconds=wait)
            result = f"rate limited, next try in {wait:.0f} s"
        else:
            result = f"{error.code}: retrying in {wait:.0f} s"
        return flow.evolve(
            now,
            failures=failures,
            attempts=flow.attempts + 1,
            last_polled_at=now,
            request_id=error.request_id,
            next_poll_at=self._next_poll(flow, now, wait),
            last_result=result,
        )
