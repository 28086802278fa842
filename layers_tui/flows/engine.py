"""The pending-OAuth engine: one scheduler polls every pending state until it finishes.

No Textual here. Time comes from an injected Clock; HTTP from an injected poller (the
LayersClient in the app, fakes in tests). Every change is reported through `on_change`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
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
    ) -> None:
        self.poller = poller
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
        self._set(flow)
        self._wake.set()
        return flow

    def adopt(self, flows: Iterable[PendingFlow]) -> None:
        """Resume flows loaded from disk (expired ones are finished on the next tick)."""
        for flow in flows:
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

    def resume(self) -> None:
        """Lift a kill-switch halt (the user pressed retry after the key was restored)."""
        self.halted = None
        self._wake.set()

    # -- scheduling ---------------------------------------------------------------------------
    def cadence(self) -> float:
        return self.budget.flow_cadence() if self.budget is not None else 5.0

    def next_due(self) -> datetime | None:
        times = [flow.next_poll_at or flow.expires_at for flow in self.pending()]
        if not times:
            return None
        soonest = min(times)
        if self.cooldown_until is not None:
            soonest = max(soonest, self.cooldown_until)
        return soonest

    async def tick(self) -> float | None:
        """Poll every due flow once. Returns seconds until the next one is due (None: idle)."""
        if self.halted is not None:
            return None
        now = self.clock.now()
        if self.cooldown_until is not None and now < self.cooldown_until:
            return (self.cooldown_until - now).total_seconds()
        due = [
            flow
            for flow in self.pending()
            if (flow.next_poll_at or flow.expires_at) <= now or now >= flow.expires_at
        ]
        for flow in sorted(due, key=lambda f: f.next_poll_at or f.expires_at):
            if self.halted is not None:
                break
            if self.budget is not None and not self.budget.try_take("flow"):
                wait = self.budget.wait_seconds("flow")
                self._set(flow.evolve(now, next_poll_at=now + timedelta(seconds=wait)))
                continue
            await self._poll(flow)
        upcoming = self.next_due()
        if upcoming is None:
            return None
        return max(0.0, (upcoming - self.clock.now()).total_seconds())

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
        self._set(updated)

    def _scheduled(self, flow: PendingFlow, now: datetime, **changes: object) -> PendingFlow:
        cadence = self.cadence()
        jitter = self.rng.uniform(0.0, JITTER)
        # Jitter spreads polls out; at the 5 s floor it may only add, above it it subtracts
        # so a budget-stretched cadence (e.g. 15 s) is still a promise, not an average.
        delay = cadence + jitter if cadence <= FLOW_CADENCE else cadence - jitter
        next_poll = min(now + timedelta(seconds=delay), flow.expires_at)
        return flow.evolve(
            now,
            next_poll_at=next_poll,
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
            self.halted = error
            if self.on_halt is not None:
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
            next_poll_at=min(now + timedelta(seconds=wait), flow.expires_at),
            last_result=result,
        )
